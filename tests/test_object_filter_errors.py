"""ONNX cameras whose filter cannot work as configured: each clip fails with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.homesec_nvr.const import DOMAIN, FILTER_ONNX

from .conftest import SetupHub, camera_subentry
from .core.onnx_models import wrong_output_model
from .helpers import EventWaiter
from .video import write_clip


async def test_onnx_camera_without_a_model_file_fails_each_clip_with_the_reason(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a camera using the ONNX filter, with no model file configured anywhere
    entry = await setup_hub(
        [camera_subentry("Front door", incoming, filter=FILTER_ONNX)], filter_model_path=""
    )
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the clip ends in error without an alert, the log names the camera and what is
    # missing (once at setup, once for the clip)
    assert payload["status"] == "error"
    assert payload["error"] == "object filter failed"
    assert payload["alert"] is False
    assert "ONNX filter of Front door is misconfigured: no ONNX model file" in caplog.text
    assert "Camera Front door: ONNX filter not usable" in caplog.text
    # and no "model missing" repair issue is raised (there is no file to point at)
    subentry_id = next(iter(entry.subentries))
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"model_missing_{subentry_id}") is None
    processed.close()


async def test_a_model_with_the_wrong_output_fails_clips_without_a_missing_file_issue(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path
) -> None:
    # Given an ONNX camera whose model file exists but is not a detector
    model = await hass.async_add_executor_job(wrong_output_model, tmp_path / "bad.onnx")
    entry = await setup_hub(
        [camera_subentry("Front door", incoming, filter=FILTER_ONNX)],
        filter_model_path=str(model),
    )
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the clip ends in error, and no "model missing" repair issue is raised (the file
    # is there; it is the model that is wrong)
    assert payload["status"] == "error"
    assert payload["alert"] is False
    assert payload["error"]
    subentry_id = next(iter(entry.subentries))
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"model_missing_{subentry_id}") is None
    processed.close()
