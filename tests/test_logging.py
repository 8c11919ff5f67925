"""A user can follow a clip through HomeSec's log: one debug line per stage, never a secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant

from .conftest import SetupHub
from .helpers import EventWaiter
from .video import write_clip

SECRET = "sk-test-0123456789abcdef-do-not-log"


async def test_each_stage_of_a_clip_is_one_debug_line_with_clip_and_camera(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a hub with one watched-folder camera and a vision-model key in its data (the
    # model itself is off), logging at debug level
    caplog.set_level(logging.DEBUG, logger="custom_components.homesec_nvr")
    await setup_hub(entry_data={"vlm_api_key": SECRET}, notify_on_motion=True)
    processed = EventWaiter(hass)

    # When a clip is processed
    await hass.async_add_executor_job(write_clip, incoming / "clip1.mp4")
    (event,) = await processed.wait(1)
    await hass.async_block_till_done()
    clip_id = event.data["clip_id"]

    # Then each stage the clip went through has one debug line naming the clip and camera
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.DEBUG and r.getMessage().startswith(f"Clip {clip_id} of ")
    ]
    stages = [line.split(": ", 1)[1].split(" (", 1)[0] for line in lines]
    assert stages[0] == "clip_recorded"
    assert stages[-1] == "finished"
    assert "alert" in stages
    assert len(stages) == len(set(stages))
    assert all("Front door" in line for line in lines)
    # And the final line says what was decided
    assert "status done" in lines[-1]
    assert "alert: " in lines[-1]
    # And the camera's source said it started, at info level
    assert any(
        r.levelno == logging.INFO
        and "Front door" in r.getMessage()
        and "watching" in r.getMessage()
        for r in caplog.records
    )
    # And no line anywhere holds the secret
    assert SECRET not in caplog.text
