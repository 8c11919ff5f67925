"""Marking clips reviewed or a false alarm: the `homesec_nvr.review` service action, and the
notifications' "Mark reviewed" button (the companion apps' `mobile_app_notification_action`)."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util

from custom_components.homesec_nvr.const import DB_RELATIVE_PATH, DOMAIN, EVENT_CLIP_REVIEWED
from custom_components.homesec_nvr.core.models import ReviewState
from custom_components.homesec_nvr.schema_compat import vol

from .conftest import SetupHub
from .helpers import EventWaiter
from .test_translations import ROOT, _strings
from .video import write_clip

SUMMARY = "sensor.front_door_last_summary"


async def _clip(hass: HomeAssistant, incoming: Path, name: str, waiter: EventWaiter) -> Any:
    await hass.async_add_executor_job(write_clip, incoming / name)
    await waiter.wait(len(waiter.events) + 1)
    await hass.async_block_till_done()
    return waiter.events[-1].data


async def _review(hass: HomeAssistant, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN, "review", data, blocking=True, return_response=True
    )


async def test_the_review_service_marks_a_false_alarm_reviewed_and_clears_it(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a processed clip, and a listener for review events
    entry = await setup_hub()
    store = entry.runtime_data.store
    processed = EventWaiter(hass)
    reviewed = EventWaiter(hass, EVENT_CLIP_REVIEWED)
    clip_id = (await _clip(hass, incoming, "a.mp4", processed))["clip_id"]
    summary = hass.states.get(SUMMARY)
    assert summary is not None and summary.attributes["review"] is None
    before = dt_util.utcnow()

    # When it is marked a false alarm
    response = await _review(hass, clip_id=clip_id, review="false_alarm")

    # Then the response names it, the store keeps it, an event says it and the sensor shows it
    assert response["review"] == "false_alarm"
    assert response["unknown"] == []
    [item] = response["updated"]
    assert (item["clip_id"], item["camera"], item["review"]) == (
        clip_id,
        "Front door",
        "false_alarm",
    )
    reviewed_at = dt_util.parse_datetime(item["reviewed_at"])
    assert reviewed_at is not None and reviewed_at >= before.replace(microsecond=0)
    stored = await store.get_state(clip_id)
    assert stored is not None and stored.review is ReviewState.FALSE_ALARM
    await reviewed.wait(1)
    assert reviewed.events[0].data == {
        "clip_id": clip_id,
        "camera": "Front door",
        "camera_id": next(iter(entry.runtime_data.cameras)),
        "review": "false_alarm",
    }
    summary = hass.states.get(SUMMARY)
    assert summary is not None and summary.attributes["review"] == "false_alarm"

    # When it is marked with the default verdict, together with an unknown id
    response = await _review(hass, clip_id=[clip_id, "no-such-clip"])

    # Then it is reviewed, and the unknown id is reported, not an error
    assert response["review"] == "reviewed"
    assert [i["clip_id"] for i in response["updated"]] == [clip_id]
    assert response["unknown"] == ["no-such-clip"]
    stored = await store.get_state(clip_id)
    assert stored is not None and stored.review is ReviewState.REVIEWED

    # When its review is cleared
    response = await _review(hass, clip_id=clip_id, review="none")

    # Then it is not reviewed any more, and the event and the sensor say so
    assert response["review"] is None
    assert response["updated"][0]["review"] is None
    assert response["updated"][0]["reviewed_at"] is None
    stored = await store.get_state(clip_id)
    assert stored is not None and (stored.review, stored.reviewed_at) == (None, None)
    await reviewed.wait(3)
    assert [e.data["review"] for e in reviewed.events] == ["false_alarm", "reviewed", None]
    summary = hass.states.get(SUMMARY)
    assert summary is not None and summary.attributes["review"] is None
    processed.close()
    reviewed.close()


async def test_reviewing_only_unknown_clips_is_a_translated_validation_error(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub, and a listener for review events
    await setup_hub()
    reviewed = EventWaiter(hass, EVENT_CLIP_REVIEWED)

    # When clips it never had are marked reviewed
    with pytest.raises(ServiceValidationError) as err:
        await _review(hass, clip_id=["ghost-1", "ghost-2"])

    # Then HomeSec's translated message names them, and no event fires
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "unknown_clips"
    assert err.value.translation_placeholders == {"clip_ids": "ghost-1, ghost-2"}
    assert str(err.value).startswith("HomeSec's clip history has no clip ghost-1, ghost-2.")
    await hass.async_block_till_done()
    assert reviewed.events == []
    reviewed.close()


async def test_a_wrong_verdict_or_no_clip_is_refused_by_the_schema(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub
    await setup_hub()

    # When the review is called with an unknown verdict, an empty id, an empty list or no id
    # Then each is refused by the schema, naming the field
    for data, field in (
        ({"clip_id": "x", "review": "maybe"}, "review"),
        ({"clip_id": ""}, "clip_id"),
        ({"clip_id": []}, "clip_id"),
        ({}, "clip_id"),
    ):
        with pytest.raises(vol.Invalid) as err:
            await _review(hass, **data)
        assert field in str(err.value), data


async def test_a_failing_clip_database_is_a_translated_error(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a processed clip, and a clip database that lost its clip table
    await setup_hub()
    processed = EventWaiter(hass)
    clip_id = (await _clip(hass, incoming, "a.mp4", processed))["clip_id"]

    def _break_database() -> None:
        with closing(sqlite3.connect(config_dir / DB_RELATIVE_PATH)) as conn:
            conn.execute("ALTER TABLE clip_states RENAME TO clip_states_lost")

    await hass.async_add_executor_job(_break_database)

    # When the clip is marked reviewed
    with pytest.raises(HomeAssistantError) as err:
        await _review(hass, clip_id=clip_id)

    # Then it fails with HomeSec's translated message naming the database error
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "review_failed"
    assert "no such table" in err.value.translation_placeholders["error"]
    assert str(err.value).startswith("The clips could not be marked: ")
    processed.close()


async def test_the_notifications_mark_reviewed_button_marks_its_clip(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a phone's notify service and a camera whose clip alerted
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    entry = await setup_hub(notify_services=["notify.phone"], notify_on_motion=True)
    processed = EventWaiter(hass)
    reviewed = EventWaiter(hass, EVENT_CLIP_REVIEWED)
    clip = await _clip(hass, incoming, "a.mp4", processed)

    # When the user presses the notification's Mark reviewed button
    actions = calls[0].data["data"]["actions"]
    button = next(a for a in actions if a["title"] == "Mark reviewed")
    hass.bus.async_fire("mobile_app_notification_action", {"action": button["action"]})
    await hass.async_block_till_done()

    # Then the button named the clip, and the clip is reviewed, with its event
    assert clip["alert"] is True
    assert button["action"] == f"HOMESEC_REVIEW_{clip['clip_id']}"
    stored = await entry.runtime_data.store.get_state(clip["clip_id"])
    assert stored is not None and stored.review is ReviewState.REVIEWED
    await reviewed.wait(1)
    assert reviewed.events[0].data["clip_id"] == clip["clip_id"]
    assert reviewed.events[0].data["review"] == "reviewed"
    processed.close()
    reviewed.close()


async def test_the_button_of_a_clip_no_longer_kept_logs_a_warning_without_traceback(
    hass: HomeAssistant, setup_hub: SetupHub, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a running hub
    await setup_hub()
    caplog.set_level(logging.INFO, logger="custom_components.homesec_nvr")

    # When a Mark reviewed button of a clip the history no longer has is pressed
    hass.bus.async_fire("mobile_app_notification_action", {"action": "HOMESEC_REVIEW_gone"})
    await hass.async_block_till_done()

    # Then one warning says so, without a traceback
    records = [r for r in caplog.records if "gone" in r.getMessage()]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "not in the clip history" in records[0].getMessage()
    assert records[0].exc_info is None


def test_the_review_service_is_described_and_translated() -> None:
    # Given services.yaml and the strings
    services = yaml.safe_load((ROOT / "services.yaml").read_text())
    strings = _strings()

    # When the review service's fields and verdicts are read
    fields = services["review"]["fields"]
    select = fields["review"]["selector"]["select"]

    # Then each field has a name and description, and each verdict a label
    assert set(fields) == set(strings["services"]["review"]["fields"]) == {"clip_id", "review"}
    assert fields["review"]["default"] == "reviewed"
    assert select["options"] == ["reviewed", "false_alarm", "none"]
    labels = strings["selector"][select["translation_key"]]["options"]
    assert set(labels) == set(select["options"])
