"""The shipped notification blueprint (blueprints/automation/homesec_nvr/), loaded by Home
Assistant's automation integration: HomeSec's `homesec_nvr_alert` events (from real clips, or
built by core/payload.py) go through it to a companion-app phone's notify action, the
boundary where Home Assistant would push to the phone."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from homeassistant.core import Event, HomeAssistant, ServiceCall, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util import slugify
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.homesec_nvr.core.models import (
    AlertDecision,
    ClipState,
    ClipStatus,
    FilterResult,
)
from custom_components.homesec_nvr.core.payload import MediaLinks, clip_payload

from .conftest import SetupHub, camera_subentry
from .core.openai_server import OpenAIServer, Reply, analysis_json
from .helpers import EventWaiter, find_device
from .test_vision_model_setup import server, vlm_options  # noqa: F401  (fixture)
from .video import write_clip

BLUEPRINT = (
    Path(__file__).parent.parent
    / "blueprints"
    / "automation"
    / "homesec_nvr"
    / "notify_on_homesec_alert.yaml"
)


def register_phone(hass: HomeAssistant, name: str) -> tuple[str, list[ServiceCall]]:
    """A phone as the companion app leaves it in Home Assistant: a mobile_app entry and
    device named after the phone, and its notify action `notify.mobile_app_<name>` (the
    boundary: what it is given would be pushed to the phone). Returns the device id and the
    calls of that action."""
    entry = MockConfigEntry(domain="mobile_app", title=name, data={"device_name": name})
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={("mobile_app", f"{slugify(name)}-id")},
        name=name,
        manufacturer="Test",
        model="Phone",
    )
    return device.id, async_mock_service(hass, "notify", f"mobile_app_{slugify(name)}")


def local_time(payload: dict[str, Any]) -> str:
    """A clip's start as the blueprint shows it (Home Assistant's local time)."""
    start = dt_util.parse_datetime(payload["start_time"])
    assert start is not None
    return dt_util.as_local(start).strftime("%H:%M:%S")


async def wait_for_calls(
    hass: HomeAssistant, *calls: list[ServiceCall], timeout: float = 10.0
) -> None:
    """Let the automations finish: each list of calls has one, then nothing is pending."""
    deadline = time.monotonic() + timeout
    while not all(calls):
        if time.monotonic() > deadline:
            raise AssertionError(f"notify calls after {timeout} s: {[len(c) for c in calls]}")
        await asyncio.sleep(0.05)
    await hass.async_block_till_done()


async def setup_blueprint_automations(hass: HomeAssistant, *inputs: dict[str, Any]) -> None:
    """Install the blueprint where the UI's import puts it and create one automation per
    input set from it."""
    folder = Path(hass.config.path("blueprints/automation/homesec_nvr"))
    await hass.async_add_executor_job(lambda: folder.mkdir(parents=True, exist_ok=True))
    await hass.async_add_executor_job(shutil.copy, BLUEPRINT, folder / BLUEPRINT.name)
    automations = [
        {
            "id": f"homesec_alert_{index}",
            "alias": f"HomeSec alert {index}",
            "use_blueprint": {"path": f"homesec_nvr/{BLUEPRINT.name}", "input": given},
        }
        for index, given in enumerate(inputs)
    ]
    assert await async_setup_component(hass, "automation", {"automation": automations})
    await hass.async_block_till_done()
    for index in range(len(inputs)):
        assert hass.states.get(f"automation.homesec_alert_{index}").state == "on"


async def drive_clip(
    hass: HomeAssistant,
    server: OpenAIServer,  # noqa: F811
    alerts: EventWaiter,
    folder: Path,
    name: str,
    risk: str,
) -> dict[str, Any]:
    """One real clip through HomeSec, analysed at `risk`; returns its alert's payload."""
    server.script(Reply(content=analysis_json(risk_level=risk, summary=f"{risk} risk: {name}")))
    count = len(alerts.events) + 1
    await hass.async_add_executor_job(write_clip, folder / f"{name}.mp4")
    payload: dict[str, Any] = (await alerts.wait(count, timeout=30))[-1].data
    return payload


async def test_the_blueprint_sends_an_alert_of_the_chosen_camera_and_risk_to_the_phone(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    server: OpenAIServer,  # noqa: F811
    incoming: Path,
    tmp_path: Path,
) -> None:
    # Given HomeSec with two cameras, analysed by a vision model, alerting from low risk up
    garage_folder = tmp_path / "garage"
    garage_folder.mkdir()
    entry = await setup_hub(
        [camera_subentry("Front door", incoming), camera_subentry("Garage", garage_folder)],
        min_risk_level="low",
        **vlm_options(server),
    )
    cameras = {camera.name: camera_id for camera_id, camera in entry.runtime_data.cameras.items()}
    front_door = find_device(hass, entry.entry_id, cameras["Front door"])
    assert front_door is not None
    # And two phones with the companion app
    pixel, pixel_calls = register_phone(hass, "Pixel 9")
    iphone, iphone_calls = register_phone(hass, "Anna's iPhone")
    # And, from the blueprint: the front door from high risk to the Pixel (plus an action of
    # the user's own), and every camera from critical risk to the iPhone
    extra_events: list[Event[Any]] = []

    @callback
    def _extra(event: Event[Any]) -> None:
        extra_events.append(event)

    hass.bus.async_listen("user_extra_action", _extra)
    await setup_blueprint_automations(
        hass,
        {
            "camera": front_door.id,
            "min_risk_level": "high",
            "notify_device": pixel,
            "extra_actions": [
                {
                    "event": "user_extra_action",
                    "event_data": {"clip": "{{ trigger.event.data.clip_id }}"},
                }
            ],
        },
        {"min_risk_level": "critical", "notify_device": iphone},
    )
    alerts = EventWaiter(hass, "homesec_nvr_alert")

    # When the front door alerts at medium risk, the garage at critical, the front door at high
    medium = await drive_clip(hass, server, alerts, incoming, "door-medium", "medium")
    critical = await drive_clip(hass, server, alerts, garage_folder, "garage-critical", "critical")
    high = await drive_clip(hass, server, alerts, incoming, "door-high", "high")
    await wait_for_calls(hass, pixel_calls, iphone_calls)
    alerts.close()

    # Then HomeSec alerted all three (the blueprint, not HomeSec, left some out)
    assert [a["risk_level"] for a in (medium, critical, high)] == ["medium", "critical", "high"]
    # And the Pixel got only the front door's high-risk alert, with its snapshot, clip and tag
    assert len(pixel_calls) == 1, [c.data for c in pixel_calls]
    sent = pixel_calls[0].data
    assert sent["title"] == "HIGH RISK at Front door"
    assert sent["message"] == f"{local_time(high)}: high risk: door-high"
    data = sent["data"]
    assert data["tag"] == f"homesec_{high['clip_id']}"
    assert data["image"] == high["snapshot_url"]
    assert data["image"].startswith(f"/api/homesec_nvr/clips/{high['clip_id']}/snapshot?")
    assert data["url"] == data["clickAction"] == high["media_url"]
    assert data["actions"] == [
        {"action": "URI", "title": "Open clip", "uri": high["media_url"]},
        {"action": f"HOMESEC_SNOOZE_{cameras['Front door']}", "title": "Snooze 1 h"},
    ]
    # And the user's own action ran once, for that clip
    assert [e.data["clip"] for e in extra_events] == [high["clip_id"]]
    # And the iPhone (every camera, critical only) got only the garage's critical alert
    assert [c.data["data"]["tag"] for c in iphone_calls] == [f"homesec_{critical['clip_id']}"]
    assert iphone_calls[0].data["title"] == "CRITICAL RISK at Garage"
    assert iphone_calls[0].data["message"] == (
        f"{local_time(critical)}: critical risk: garage-critical"
    )


def unanalysed_alert(camera_id: str, camera_name: str, clip_id: str) -> dict[str, Any]:
    """The alert event's payload of a clip the object filter alone alerted on (no vision
    model), built as the hub builds it."""
    start = datetime(2026, 12, 1, 3, 4, 5, tzinfo=UTC)
    state = ClipState(
        clip_id=clip_id,
        camera_id=camera_id,
        camera_name=camera_name,
        source_type="local_folder",
        source_path=f"/incoming/{clip_id}.mp4",
        status=ClipStatus.FILTERED,
        start_ts=start,
        end_ts=start,
        created_at=start,
        updated_at=start,
        filter_result=FilterResult(
            detected_classes=("person", "dog"),
            best_confidence={"person": 0.9, "dog": 0.7},
            detections=(),
            frames_sampled=4,
            model="yolo11n",
            duration_ms=40,
        ),
        analysis_skipped_reason="vlm_not_configured",
        alert_decision=AlertDecision(
            True, "no analysis; filter detected trigger class(es): person"
        ),
    )
    links = MediaLinks(
        media_url=f"/api/homesec_nvr/clips/{clip_id}/clip?exp=1&sig=ab",
        snapshot_url=f"/api/homesec_nvr/clips/{clip_id}/snapshot?exp=1&sig=cd",
    )
    return clip_payload(state, links)


async def test_an_alert_without_a_risk_level_is_sent_whatever_the_minimum(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a HomeSec camera without a vision model, and the blueprint for its alerts from
    # critical risk up (and a second camera it was not chosen for)
    entry = await setup_hub()
    camera_id = next(iter(entry.runtime_data.cameras))
    front_door = find_device(hass, entry.entry_id, camera_id)
    assert front_door is not None
    phone, calls = register_phone(hass, "Pixel 9")
    await setup_blueprint_automations(
        hass, {"camera": front_door.id, "min_risk_level": "critical", "notify_device": phone}
    )

    # When the object filter alone alerts on a clip of another camera, then of the chosen one
    hass.bus.async_fire("homesec_nvr_alert", unanalysed_alert("other-camera", "Shed", "shed-1"))
    door = unanalysed_alert(camera_id, "Front door", "door-1")
    hass.bus.async_fire("homesec_nvr_alert", door)
    await wait_for_calls(hass, calls)

    # Then only the chosen camera's alert is sent, saying what the filter saw
    assert len(calls) == 1, [c.data for c in calls]
    sent = calls[0].data
    assert sent["title"] == "HomeSec: Front door"
    assert sent["message"] == f"{local_time(door)}: person, dog detected"
    assert sent["data"]["tag"] == "homesec_door-1"
    assert sent["data"]["image"] == "/api/homesec_nvr/clips/door-1/snapshot?exp=1&sig=cd"
