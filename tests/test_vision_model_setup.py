"""The vision model inside Home Assistant: options, analysis into entities, budget, repairs."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from custom_components.homesec_nvr.const import DOMAIN
from custom_components.homesec_nvr.diagnostics import async_get_config_entry_diagnostics
from custom_components.homesec_nvr.hub import HomeSecHub

from .conftest import SetupHub, camera_subentry
from .core.openai_server import DEFAULT_MODEL, OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter, enable_entities, open_options
from .video import write_clip

HIGH_RISK = analysis_json(
    risk_level="high",
    activity_type="suspicious_behavior",
    summary="Someone tries the handle of the front door and looks around.",
)


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[OpenAIServer]:
    """A local OpenAI-compatible server (the real openai SDK talks to it)."""
    async with OpenAIServer() as running:
        yield running


def vlm_options(server: OpenAIServer, **extra: Any) -> dict[str, Any]:
    """Hub options with the vision model pointed at the local server."""
    return {
        "vlm_enabled": True,
        "vlm_base_url": server.url,
        "vlm_model": DEFAULT_MODEL,
        "vlm_run_mode": "always",
        "vlm_request_timeout_s": 5,
        **extra,
    }


def vision_form(server: OpenAIServer) -> dict[str, Any]:
    """Every field of the vision model page."""
    return {
        "vlm_enabled": True,
        "vlm_base_url": server.url,
        "vlm_model": DEFAULT_MODEL,
        "vlm_run_mode": "trigger_only",
        "vlm_max_frames": 4,
        "vlm_max_image_side": 512,
        "vlm_jpeg_quality": 70,
        "vlm_image_detail": "low",
        "vlm_request_timeout_s": 5,
        "vlm_max_output_tokens": 800,
        "vlm_temperature": 0.1,
        "vlm_price_prompt_per_million": 0.15,
        "vlm_price_completion_per_million": 0.6,
        "vlm_max_calls_per_day": 100,
        "vlm_max_tokens_per_day": 0,
    }


async def test_vision_step_checks_the_server_before_saving(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer
) -> None:
    # Given a running hub and a server that requires a key
    entry = await setup_hub()
    server.api_key = "sk-right"
    form = vision_form(server)
    cases = [
        ({"vlm_api_key": "sk-wrong"}, "invalid_auth"),
        ({"vlm_api_key": "sk-right", "vlm_model": "no-such-model"}, "model_not_found"),
        ({"vlm_api_key": "sk-right", "vlm_base_url": "http://127.0.0.1:9/v1"}, "cannot_connect"),
    ]
    for change, error in cases:
        # When the user enters wrong settings
        result = await open_options(hass, entry.entry_id, "vision_model")
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**form, **change}
        )
        # Then the form says what is wrong
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": error}, change

    # And right settings are saved: the key in the entry data, everything else in the options
    result = await open_options(hass, entry.entry_id, "vision_model")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**form, "vlm_api_key": "sk-right"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data["vlm_api_key"] == "sk-right"
    assert "vlm_api_key" not in entry.options
    assert entry.options["vlm_model"] == DEFAULT_MODEL
    assert entry.options["vlm_max_frames"] == 4
    # and after the reload the vision model's sensors exist
    assert hass.states.get("sensor.homesec_vision_model_calls_today").state == "0"


async def test_analysis_reaches_entities_events_and_notification(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, server: OpenAIServer
) -> None:
    # Given a camera with context, a vision model that sees someone trying the door, prices
    phone: list[ServiceCall] = []

    async def _phone(call: ServiceCall) -> None:
        phone.append(call)

    hass.services.async_register("notify", "phone", _phone)
    server.default_content = HIGH_RISK
    entry = await setup_hub(
        [camera_subentry("Front door", incoming, camera_context="Front door of a family home")],
        entry_data={"vlm_api_key": None},
        notify_services=["notify.phone"],
        **vlm_options(
            server, vlm_price_prompt_per_million=1.0, vlm_price_completion_per_million=2.0
        ),
    )
    await enable_entities(hass, entry, "sensor.homesec_vision_model_tokens_today")
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the analysis is in the payload, the sensors and the notification (risk first)
    assert payload["risk_level"] == "high"
    assert payload["activity_type"] == "suspicious_behavior"
    assert payload["reason"] == "risk level high >= minimum medium"
    assert hass.states.get("sensor.front_door_last_risk_level").state == "high"
    assert hass.states.get("sensor.front_door_last_activity").state == "suspicious_behavior"
    summary = hass.states.get("sensor.front_door_last_summary")
    assert summary.state.startswith("Someone tries the handle")
    assert summary.attributes["timeline"][0]["type"] == "person"
    assert phone[0].data["title"] == "HIGH RISK at Front door"
    assert phone[0].data["message"].startswith("HIGH RISK. Front door at ")
    # and the request carried the camera's context and the clip's frames
    prompt = str(server.chat_bodies[-1]["messages"])
    assert "Front door of a family home" in prompt
    assert "data:image/jpeg;base64," in prompt
    # and the usage sensors count the call, its tokens and its cost
    assert hass.states.get("sensor.homesec_vision_model_calls_today").state == "1"
    assert hass.states.get("sensor.homesec_vision_model_tokens_today").state == "1350"
    cost = float(hass.states.get("sensor.homesec_vision_model_cost_today").state)
    assert cost == pytest.approx((1200 * 1.0 + 150 * 2.0) / 1e6)
    processed.close()


async def test_daily_budget_skips_analyses_and_survives_a_reload(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, server: OpenAIServer
) -> None:
    # Given a budget of one analysis per day, already used by a first clip
    entry = await setup_hub(**vlm_options(server, vlm_max_calls_per_day=1))
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await processed.wait(1)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.homesec_vision_model_budget_spent").state == "on"

    # When Home Assistant reloads HomeSec and another clip arrives
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.async_add_executor_job(write_clip, incoming / "b.mp4")
    payload = (await processed.wait(2))[1].data

    # Then it is not analysed, says why, and the filter-only rule decides: this camera has
    # no object filter, so only "Alert on every clip" would alert (no hidden rule)
    assert payload["analysis_skipped_reason"] == "budget_exhausted"
    assert payload["risk_level"] is None
    assert payload["alert"] is False
    assert "only 'Alert on every clip' alerts" in payload["reason"]
    assert len(server.chat_bodies) == 1
    assert hass.states.get("sensor.homesec_vision_model_calls_today").state == "1"
    processed.close()


def reauth_flows(hass: HomeAssistant) -> list[Any]:
    """HomeSec's reauthentication flows in progress."""
    return [
        f
        for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if f["context"]["source"] == SOURCE_REAUTH
    ]


async def start_reauth(hass: HomeAssistant, entry: ConfigEntry) -> Any:
    """Open the entry's reauthentication flow the way Home Assistant does."""
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_REAUTH, "entry_id": entry.entry_id}, data=entry.data
    )


async def test_rejected_key_asks_for_a_new_one(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, server: OpenAIServer
) -> None:
    # Given a vision model whose key the server refuses
    server.api_key = "sk-new"
    entry = await setup_hub(entry_data={"vlm_api_key": "sk-old"}, **vlm_options(server))
    processed = EventWaiter(hass)

    # When two clips are analysed
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_add_executor_job(write_clip, incoming / "b.mp4")
    await processed.wait(2)
    await hass.async_block_till_done()

    # Then Home Assistant asks for a new key, once, for this entry (no repair issue of ours)
    (flow,) = reauth_flows(hass)
    assert flow["context"]["entry_id"] == entry.entry_id
    assert flow["step_id"] == "reauth_confirm"
    assert ir.async_get(hass).async_get_issue(DOMAIN, "vlm_invalid_auth") is None
    # and the clip fell back to the filter rule, without a retry and without the key in logs
    assert payload["analysis_skipped_reason"] == "vlm_failed"
    events = await entry.runtime_data.store.events(payload["clip_id"])
    assert [e.will_retry for e in events if e.event_type.value == "vlm_failed"] == [False]
    assert "sk-old" not in str([e.error_message for e in events])
    processed.close()


async def test_reauthentication_checks_the_new_key_and_reloads_once(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a hub whose key the server refuses, its reauthentication started, hub starts counted
    server.api_key = "sk-new"
    entry = await setup_hub(entry_data={"vlm_api_key": "sk-old"}, **vlm_options(server))
    result = await start_reauth(hass, entry)
    starts: list[object] = []
    real_start = HomeSecHub.async_start

    async def counting_start(self: HomeSecHub) -> None:
        starts.append(self)
        await real_start(self)

    monkeypatch.setattr(HomeSecHub, "async_start", counting_start)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["base_url"] == server.url
    assert result["description_placeholders"]["model"] == DEFAULT_MODEL

    # When the user enters another wrong key
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"vlm_api_key": "sk-still-wrong"}
    )
    # Then the form says the server refused it, and nothing was saved
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert entry.data["vlm_api_key"] == "sk-old"

    # When the user enters the right key (with stray spaces)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"vlm_api_key": "  sk-new "}
    )
    await hass.async_block_till_done()

    # Then it is saved in the entry data (never the options) and the hub restarted once
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["vlm_api_key"] == "sk-new"
    assert "vlm_api_key" not in entry.options
    assert len(starts) == 1
    assert reauth_flows(hass) == []


async def test_reauthentication_says_when_the_server_cannot_be_reached(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer
) -> None:
    # Given the reauthentication of a hub whose vision model server has gone away
    entry = await setup_hub(entry_data={"vlm_api_key": "sk-old"}, **vlm_options(server))
    result = await start_reauth(hass, entry)
    await server.close()

    # When the user enters a key
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"vlm_api_key": "sk-new"}
    )

    # Then the form says the server cannot be reached, and the old key stays
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data["vlm_api_key"] == "sk-old"


async def test_unknown_model_raises_a_repair_issue_until_it_works(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, server: OpenAIServer
) -> None:
    # Given a vision model the server does not know (yet)
    server.models = ["some-other-model"]
    await setup_hub(**vlm_options(server))
    processed = EventWaiter(hass)

    # When a clip is analysed
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then a repair issue names the model and the server, and no reauthentication starts
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "vlm_model_not_found")
    assert issue is not None
    assert issue.translation_placeholders == {"model": DEFAULT_MODEL, "base_url": server.url}
    assert payload["analysis_skipped_reason"] == "vlm_failed"
    assert reauth_flows(hass) == []

    # And once the server has the model, the next analysis clears the issue
    server.models = [DEFAULT_MODEL]
    await hass.async_add_executor_job(write_clip, incoming / "b.mp4")
    await processed.wait(2)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, "vlm_model_not_found") is None
    processed.close()


async def test_rate_limit_is_retried_after_the_asked_delay(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, server: OpenAIServer
) -> None:
    # Given a server that rate-limits the first request with Retry-After 1 s
    server.script(Reply(status=429, headers={"Retry-After": "1"}, error_code="rate_limit"))
    entry = await setup_hub(**vlm_options(server))
    processed = EventWaiter(hass)

    # When a clip is analysed
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data

    # Then the second attempt succeeded and the history shows the retry
    assert payload["risk_level"] == "low"
    events = await entry.runtime_data.store.events(payload["clip_id"])
    vlm = [(e.event_type.value, e.will_retry) for e in events if "vlm" in e.event_type.value]
    assert ("vlm_failed", True) in vlm
    assert vlm[-1] == ("vlm_completed", None)
    processed.close()


async def test_diagnostics_show_the_vision_model_without_its_key(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer
) -> None:
    # Given a hub with a vision model and an API key
    entry = await setup_hub(entry_data={"vlm_api_key": "sk-secret-123"}, **vlm_options(server))

    # When the diagnostics are built
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)

    # Then they show the model and today's usage, and never the key
    assert diagnostics["vision_model"]["usage_today"]["calls"] == 0
    assert diagnostics["entry"]["data"]["vlm_api_key"] == "**REDACTED**"
    assert "sk-secret-123" not in str(diagnostics)


async def test_what_the_server_accepts_is_remembered_across_restarts(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, server: OpenAIServer
) -> None:
    # Given a local server without json_schema support, learned by a first analysis
    server.accepted_formats = {"json_object", "text", "none"}
    entry = await setup_hub(**vlm_options(server))
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await processed.wait(1)
    first_run = [b.get("response_format", {}).get("type") for b in server.chat_bodies]

    # When HomeSec restarts and analyses another clip
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await hass.async_add_executor_job(write_clip, incoming / "b.mp4")
    await processed.wait(2)
    second_run = [b.get("response_format", {}).get("type") for b in server.chat_bodies][
        len(first_run) :
    ]

    # Then the first run learned json_object after one rejection; the second asked it directly
    assert first_run == ["json_schema", "json_object"]
    assert second_run == ["json_object"]
    processed.close()


async def test_saving_the_vision_model_reloads_the_hub_once(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a running hub, and a count of hub starts
    entry = await setup_hub()
    starts: list[object] = []
    real_start = HomeSecHub.async_start

    async def counting_start(self: HomeSecHub) -> None:
        starts.append(self)
        await real_start(self)

    monkeypatch.setattr(HomeSecHub, "async_start", counting_start)

    # When the vision model page is saved (the key goes to the data, the rest to the options)
    result = await open_options(hass, entry.entry_id, "vision_model")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**vision_form(server), "vlm_api_key": "sk-1"}
    )
    await hass.async_block_till_done()

    # Then it was saved and the hub was started again exactly once
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data["vlm_api_key"] == "sk-1"
    assert entry.options["vlm_max_frames"] == 4
    assert len(starts) == 1


async def test_noisy_diagnostics_are_disabled_by_default(
    hass: HomeAssistant, setup_hub: SetupHub, server: OpenAIServer
) -> None:
    # Given a new hub with a camera and the vision model
    entry = await setup_hub(**vlm_options(server))

    # When its entities are registered
    disabled = {
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    }

    # Then the counters most users never look at are disabled, to be enabled when wanted
    assert disabled == {
        "sensor.homesec_clips_in_flight",
        "sensor.homesec_clips_queued",
        "sensor.homesec_vision_model_tokens_today",
        "sensor.homesec_vision_model_latency",
        # (the incident calendar is an option too, see test_calendar.py)
        "calendar.homesec_incidents",
    }
    # and the primary sensors, the last error and the vision model's calls and cost show
    for entity_id in (
        "sensor.homesec_last_error",
        "sensor.homesec_vision_model_calls_today",
        "sensor.homesec_vision_model_cost_today",
        "binary_sensor.homesec_vision_model_budget_spent",
        "sensor.front_door_last_summary",
        "sensor.front_door_last_risk_level",
        "binary_sensor.front_door_alert",
    ):
        assert hass.states.get(entity_id) is not None, entity_id
