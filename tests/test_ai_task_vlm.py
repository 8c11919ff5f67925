"""Home Assistant's AI Task as the vision model: a real AI Task entity of a test integration
analyses clips that come through the hub (HA 2025.8+ only)."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

if importlib.util.find_spec("homeassistant.components.ai_task") is None:
    pytest.skip(
        "this Home Assistant line has no AI Task (added in 2025.8)", allow_module_level=True
    )

from homeassistant.components.ai_task import AITaskEntityFeature
from homeassistant.components.ai_task.const import DATA_PREFERENCES
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir

from custom_components.homesec_nvr.const import DOMAIN, VLM_USAGE_STORAGE_KEY
from custom_components.homesec_nvr.core.vlm.openai_compatible import VLMSettings
from custom_components.homesec_nvr.diagnostics import async_get_config_entry_diagnostics
from custom_components.homesec_nvr.vision_model import VisionModel

from .ai_task_rig import VisionTaskEntity, ai_task_integration
from .conftest import SetupHub
from .helpers import EventWaiter, open_options
from .video import write_clip

TEST_DOMAIN = "homesec_test_ai"
HIGH_RISK: dict[str, Any] = {
    "observations": ["A person walks to the front door", "They try the handle"],
    "entities": [
        {
            "type": "person",
            "first_seen_s": 0.0,
            "last_seen_s": 1.0,
            "description": "dark hoodie",
            "movement": "approaching",
            "location": "at the door",
            "interaction": "tries the handle",
        }
    ],
    "summary": "Someone tries the handle of the front door.",
    "activity_type": "suspicious_behavior",
    "risk_level": "high",
    "requires_review": True,
}


@pytest.fixture
async def ai_entities(hass: HomeAssistant) -> AsyncGenerator[dict[str, VisionTaskEntity]]:
    """A test integration with two AI Task entities: `ai_task.vision` takes images,
    `ai_task.text_only` does not."""
    entities = {
        "ai_task.vision": VisionTaskEntity("Vision", HIGH_RISK),
        "ai_task.text_only": VisionTaskEntity(
            "Text only", HIGH_RISK, AITaskEntityFeature.GENERATE_DATA
        ),
    }
    async with ai_task_integration(hass, TEST_DOMAIN, list(entities.values())):
        assert hass.states.get("ai_task.vision") is not None
        yield entities


def ai_task_options(entity_id: str = "ai_task.vision", **extra: Any) -> dict[str, Any]:
    """Hub options with the vision model on AI Task."""
    return {
        "vlm_enabled": True,
        "vlm_backend": "ai_task",
        "vlm_ai_task_entity": entity_id,
        "vlm_run_mode": "always",
        "vlm_max_frames": 3,
        "vlm_request_timeout_s": 5,
        **extra,
    }


async def failed_events(hass: HomeAssistant, entry: ConfigEntry, clip_id: str) -> list[Any]:
    """The clip's vlm_failed events."""
    events = await entry.runtime_data.store.events(clip_id)
    return [e for e in events if e.event_type.value == "vlm_failed"]


async def test_analysis_lands_with_the_frames_as_attachments(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    ai_entities: dict[str, VisionTaskEntity],
) -> None:
    # Given HA's preferred AI Task entity takes images, and HomeSec uses the preferred one
    hass.data[DATA_PREFERENCES].async_set_preferences(gen_data_entity_id="ai_task.vision")
    entry = await setup_hub(**ai_task_options(entity_id=""))
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the entity's analysis is the clip's
    assert payload["risk_level"] == "high"
    assert payload["activity_type"] == "suspicious_behavior"
    assert payload["summary"] == "Someone tries the handle of the front door."
    assert hass.states.get("sensor.front_door_last_risk_level").state == "high"
    # and the entity got HomeSec's frames as JPEG attachments, with HomeSec's structure
    entity = ai_entities["ai_task.vision"]
    (task,) = entity.tasks
    frames = entry.runtime_data.vision.analyzer.last_frames.frames
    assert len(task.attachments or []) == len(frames) >= 1
    assert [mime for mime, _ in entity.images[0]] == ["image/jpeg"] * len(frames)
    assert [data for _, data in entity.images[0]] == [frame.jpeg for frame in frames]
    assert task.structure is not None
    assert task.structure({**HIGH_RISK})["risk_level"] == "high"
    assert "Front door" in task.instructions
    # and the temporary frame files are gone once the analysis is over
    assert not any(a.path.exists() for a in task.attachments or [])
    # and the budget counted the analysis (AI Task reports no tokens)
    assert hass.states.get("sensor.homesec_vision_model_calls_today").state == "1"
    # and diagnostics name the backend and the entity that answered
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    analyzer = diagnostics["vision_model"]["analyzer"]
    assert analyzer["backend"] == "ai_task"
    assert analyzer["resolved_entity_id"] == "ai_task.vision"
    processed.close()


async def test_budget_counts_ai_task_analyses(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    ai_entities: dict[str, VisionTaskEntity],
) -> None:
    # Given a budget of one analysis per day on AI Task
    await setup_hub(**ai_task_options(vlm_max_calls_per_day=1))
    processed = EventWaiter(hass)

    # When two clips arrive
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await processed.wait(1)
    await hass.async_add_executor_job(write_clip, incoming / "b.mp4")
    second = (await processed.wait(2))[1].data

    # Then the second is not sent to the entity: the budget is spent
    assert second["analysis_skipped_reason"] == "budget_exhausted"
    assert len(ai_entities["ai_task.vision"].tasks) == 1
    processed.close()


async def test_garbage_answer_falls_back_to_the_filter_rule(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    ai_entities: dict[str, VisionTaskEntity],
) -> None:
    # Given an entity that answers with something that is not an analysis
    entity = ai_entities["ai_task.vision"]
    entity.answer = {"risk_level": "purple", "summary": ""}
    entry = await setup_hub(**ai_task_options())
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data

    # Then it was asked once more with the problems, then the filter rule decided, with why
    assert len(entity.tasks) == 2
    assert "risk_level must be one of" in entity.tasks[1].instructions
    assert payload["analysis_skipped_reason"] == "vlm_failed"
    assert payload["risk_level"] is None
    (failed,) = await failed_events(hass, entry, payload["clip_id"])
    assert "without a valid analysis" in (failed.error_message or "")
    assert failed.will_retry is False
    processed.close()


async def test_an_entity_that_does_not_answer_in_time_fails_the_analysis(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    ai_entities: dict[str, VisionTaskEntity],
) -> None:
    # Given an entity slower than the request timeout, and one attempt per clip
    ai_entities["ai_task.vision"].delay_s = 5
    entry = await setup_hub(**ai_task_options(vlm_request_timeout_s=0.5, max_attempts=1))
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data

    # Then the analysis timed out and the filter rule decided
    assert payload["analysis_skipped_reason"] == "vlm_failed"
    (failed,) = await failed_events(hass, entry, payload["clip_id"])
    assert "did not answer within 0.5 s" in (failed.error_message or "")
    processed.close()


async def test_a_removed_entity_raises_a_repair_issue(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    ai_entities: dict[str, VisionTaskEntity],
) -> None:
    # Given a hub on an AI Task entity whose integration is then removed
    entry = await setup_hub(**ai_task_options())
    (test_entry,) = hass.config_entries.async_entries(TEST_DOMAIN)
    assert await hass.config_entries.async_remove(test_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("ai_task.vision") is None
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the filter rule decided, at once, and a repair issue names the entity
    assert payload["analysis_skipped_reason"] == "vlm_failed"
    (failed,) = await failed_events(hass, entry, payload["clip_id"])
    assert failed.will_retry is False
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "vlm_ai_task_entity_missing")
    assert issue is not None
    assert issue.translation_placeholders == {"entity_id": "ai_task.vision"}
    processed.close()


async def test_an_entity_without_images_raises_a_repair_issue_until_fixed(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    ai_entities: dict[str, VisionTaskEntity],
) -> None:
    # Given a hub on an AI Task entity that cannot take attachments
    entry = await setup_hub(**ai_task_options("ai_task.text_only"))
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then nothing is sent to it, the filter rule decides and a repair issue says why
    assert ai_entities["ai_task.text_only"].tasks == []
    assert payload["analysis_skipped_reason"] == "vlm_failed"
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, "vlm_ai_task_no_attachments") is not None

    # And once the options name an entity that takes images, the next analysis clears it
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "vlm_ai_task_entity": "ai_task.vision"}
    )
    await hass.async_block_till_done()
    await hass.async_add_executor_job(write_clip, incoming / "b.mp4")
    assert (await processed.wait(2))[1].data["risk_level"] == "high"
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, "vlm_ai_task_no_attachments") is None
    processed.close()


async def test_options_offer_ai_task_and_check_the_entity(
    hass: HomeAssistant, setup_hub: SetupHub, ai_entities: dict[str, VisionTaskEntity]
) -> None:
    # Given a running hub without a vision model
    entry = await setup_hub()
    result = await open_options(hass, entry.entry_id, "vision_model")
    # Then the vision model page offers the backend choice and an AI Task entity
    fields = {str(key) for key in result["data_schema"].schema}
    assert {"vlm_backend", "vlm_ai_task_entity"} <= fields
    form = {
        "vlm_enabled": True,
        "vlm_backend": "ai_task",
        "vlm_base_url": "https://api.openai.com/v1",
        "vlm_model": "gpt-4o-mini",
        "vlm_run_mode": "always",
        "vlm_max_frames": 4,
        "vlm_max_image_side": 512,
        "vlm_jpeg_quality": 70,
        "vlm_image_detail": "auto",
        "vlm_request_timeout_s": 30,
        "vlm_max_output_tokens": 800,
        "vlm_temperature": 0.2,
        "vlm_price_prompt_per_million": 0,
        "vlm_price_completion_per_million": 0,
        "vlm_max_calls_per_day": 0,
        "vlm_max_tokens_per_day": 0,
    }
    cases = [
        ("ai_task.text_only", "ai_task_no_attachments"),
        ("ai_task.nowhere", "ai_task_entity_missing"),
    ]
    for entity_id, error in cases:
        # When the user picks an entity that cannot analyse images
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**form, "vlm_ai_task_entity": entity_id}
        )
        # Then the form says why, and nothing is saved
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"vlm_ai_task_entity": error}, entity_id
        assert "vlm_backend" not in entry.options

    # When the user picks an entity that takes images
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**form, "vlm_ai_task_entity": "ai_task.vision"}
    )
    await hass.async_block_till_done()

    # Then it is saved and the reloaded hub analyses with AI Task
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["vlm_backend"] == "ai_task"
    assert entry.options["vlm_ai_task_entity"] == "ai_task.vision"
    assert entry.runtime_data.vision.analyzer.name == "ai_task"


async def test_switching_to_ai_task_keeps_what_the_server_taught(
    hass: HomeAssistant, hass_storage: dict[str, Any], ai_entities: dict[str, VisionTaskEntity]
) -> None:
    # Given what an OpenAI-compatible server taught HomeSec, stored by an earlier run
    learned = {
        "base_url": "http://127.0.0.1:11434/v1",
        "model": "llava",
        "response_mode": "json_object",
        "limit_parameter": "max_tokens",
        "sends_temperature": True,
    }
    hass_storage[VLM_USAGE_STORAGE_KEY] = {
        "version": 1,
        "key": VLM_USAGE_STORAGE_KEY,
        "data": {
            "day": "2020-01-01",
            "calls": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "learned": learned,
        },
    }

    # When the vision model runs on AI Task and saves its usage
    vision = VisionModel(
        hass,
        VLMSettings(base_url="", model=""),
        lambda camera_id: None,
        lambda: None,
        backend="ai_task",
        ai_task_entity="ai_task.vision",
    )
    await vision.async_restore_usage()
    await vision.async_close()

    # Then what the server taught is still stored, for a switch back
    assert vision.analyzer.name == "ai_task"
    assert hass_storage[VLM_USAGE_STORAGE_KEY]["data"]["learned"] == learned
