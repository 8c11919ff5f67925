"""The logbook of a camera's device page, through Home Assistant's real recorder and logbook:
one line of the event entity per clip, not one per pipeline stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from .conftest import SetupHub
from .helpers import process_clip

EVENT = "event.front_door_activity"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(  # the recorder must start before Home Assistant does
    recorder_mock: Any, enable_custom_integrations: None
) -> None:
    """Let Home Assistant load custom_components/homesec_nvr, with the recorder."""


async def test_the_logbook_has_one_line_per_clip_for_the_event_entity(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    hass_ws_client: Any,
) -> None:
    # Given Home Assistant's recorder and logbook, and a camera whose clips alert
    await setup_hub(notify_on_motion=True)
    # (the frontend's files are not installed here: the logbook only registers a panel)
    hass.config.components.add("frontend")
    assert await async_setup_component(hass, "logbook", {})
    start = dt_util.utcnow()

    # When two clips have been processed and recorded
    await process_clip(hass, incoming / "clip1.mp4")
    await process_clip(hass, incoming / "clip2.mp4")
    await async_wait_recording_done(hass)

    # Then the device page's logbook lists the event entity once per clip
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "entity_ids": [EVENT],
        }
    )
    response = await client.receive_json()
    assert response["success"], response
    assert [row["entity_id"] for row in response["result"]] == [EVENT, EVENT]
