"""The ONNX object filter inside Home Assistant: forms, on-demand install, repairs, pipeline."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.requirements import RequirementsNotFound

from custom_components.homesec_nvr.const import (
    CONF_FILTER,
    CONF_FILTER_MODEL_PATH,
    DOMAIN,
    FILTER_ONNX,
    SECTION_OBJECT_FILTER,
    SUBENTRY_LOCAL_FOLDER,
)

from .conftest import SetupHub, camera_subentry
from .core.onnx_models import constant_model, detection_tensor, wrong_output_model
from .helpers import EventWaiter, open_options
from .video import write_clip

PERSON = 0


@pytest.fixture
def person_model(tmp_path: Path) -> Path:
    """A tiny YOLO-style model that sees a person in the middle of every frame."""
    output = detection_tensor([(32.0, 32.0, 20.0, 40.0, PERSON, 0.9)], num_classes=80)
    return constant_model(tmp_path / "person.onnx", output, input_hw=(64, 64))


def _install_fails() -> object:
    """pip cannot install onnxruntime (as on Home Assistant OS): the outermost boundary."""
    return patch(
        "custom_components.homesec_nvr.object_filters.async_process_requirements",
        side_effect=RequirementsNotFound("homesec_nvr.onnx", ["onnxruntime>=1.20.0"]),
    )


async def test_onnx_camera_detects_objects_through_the_pipeline(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, person_model: Path
) -> None:
    # Given a camera using the ONNX filter with a model that sees a person
    await setup_hub(
        [camera_subentry("Front door", incoming, filter=FILTER_ONNX)],
        filter_model_path=str(person_model),
    )
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the filter's detections drive the sensors, the event and the alert
    assert payload["detected_classes"] == ["person"]
    assert payload["reason"] == "no analysis; filter detected trigger class(es): person"
    assert hass.states.get("sensor.front_door_last_detected_objects").state == "person"
    attrs = hass.states.get("sensor.front_door_last_detected_objects").attributes
    assert attrs["model"] == "person"
    assert attrs["best_confidence"]["person"] == pytest.approx(0.9, abs=1e-3)
    # and the snapshot is the best frame with the box drawn (a JPEG)
    image = hass.data["image"].get_entity("image.front_door_snapshot")
    jpeg = await image.async_image()
    assert jpeg is not None
    assert jpeg[:2] == b"\xff\xd8"
    processed.close()


async def test_missing_model_at_run_time_raises_a_repair_issue(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    person_model: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an ONNX camera whose model file was deleted after it was configured
    entry = await setup_hub(
        [camera_subentry("Front door", incoming, filter=FILTER_ONNX)],
        filter_model_path=str(person_model),
    )
    await hass.async_add_executor_job(person_model.unlink)
    processed = EventWaiter(hass)

    # When a clip arrives
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await hass.async_block_till_done()

    # Then the clip ends in error (no alert), a repair issue names the camera and the file,
    # and no traceback is logged
    assert payload["status"] == "error"
    assert payload["alert"] is False
    subentry_id = next(iter(entry.subentries))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"model_missing_{subentry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"camera": "Front door", "path": str(person_model)}
    assert "Traceback" not in caplog.text
    processed.close()


async def test_onnxruntime_install_failure_keeps_the_rest_working(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, tmp_path: Path, person_model: Path
) -> None:
    # Given onnxruntime cannot be installed, one ONNX camera and one camera without filter
    other = tmp_path / "garden"
    other.mkdir()
    with _install_fails():
        await setup_hub(
            [
                camera_subentry("Front door", incoming, filter=FILTER_ONNX),
                camera_subentry("Garden", other, notify_on_motion="on"),
            ],
            filter_model_path=str(person_model),
        )
    processed = EventWaiter(hass)

    # When both cameras record a clip
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await hass.async_add_executor_job(write_clip, other / "b.mp4")
    events = await processed.wait(2)

    # Then a repair issue explains it, the ONNX camera's clip fails clearly, the other works
    assert ir.async_get(hass).async_get_issue(DOMAIN, "onnxruntime_unavailable") is not None
    by_camera = {e.data["camera"]: e.data for e in events}
    assert by_camera["Front door"]["status"] == "error"
    assert by_camera["Garden"]["status"] == "done"
    assert by_camera["Garden"]["alert"] is True
    processed.close()


async def test_options_validate_the_model_file(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path, person_model: Path
) -> None:
    # Given a running hub
    entry = await setup_hub()
    bad = wrong_output_model(tmp_path / "bad.onnx")
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_text("hello")
    cases = {
        str(tmp_path / "missing.onnx"): "model_not_found",
        str(not_onnx): "model_load_failed",
        str(bad): "model_bad_shape",
        "models/yolo.onnx": "path_not_absolute",
    }

    for path, error in cases.items():
        # When the user enters a broken model file
        result = await open_options(hass, entry.entry_id, "object_filter")
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_FILTER_MODEL_PATH: path}
        )
        # Then the form says what is wrong with it
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_FILTER_MODEL_PATH: error}, path

    # And a valid model is saved
    result = await open_options(hass, entry.entry_id, "object_filter")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FILTER_MODEL_PATH: f" {person_model} "}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_FILTER_MODEL_PATH] == str(person_model)


async def test_options_say_when_onnxruntime_cannot_be_installed(
    hass: HomeAssistant, setup_hub: SetupHub, person_model: Path
) -> None:
    # Given a system where onnxruntime cannot be installed
    entry = await setup_hub()
    result = await open_options(hass, entry.entry_id, "object_filter")

    # When the user sets a model file
    with _install_fails():
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_FILTER_MODEL_PATH: str(person_model)}
        )

    # Then the form says so plainly
    assert result["errors"] == {CONF_FILTER_MODEL_PATH: "onnxruntime_unavailable"}


async def test_camera_form_checks_the_filter(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path, person_model: Path
) -> None:
    # Given a hub with no model configured and a folder for a new camera
    entry = await setup_hub()
    folder = tmp_path / "porch"
    folder.mkdir()
    user_input = {
        "name": "Porch",
        "folder": str(folder),
        "stable_time_seconds": 1,
        "poll_interval_seconds": 1,
        "delete_after_store": False,
        "min_risk_level": "inherit",
        "notify_on_motion": "inherit",
        CONF_FILTER: FILTER_ONNX,
        SECTION_OBJECT_FILTER: {},
    }

    # When the user picks the ONNX filter without any model
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_LOCAL_FOLDER), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)

    # Then the form asks for a model
    assert result["errors"] == {CONF_FILTER: "model_not_configured"}

    # And with the camera's own model file (in the collapsed section) the camera is created,
    # its overrides stored flat
    user_input[SECTION_OBJECT_FILTER] = {
        CONF_FILTER_MODEL_PATH: str(person_model),
        "filter_min_confidence": 0.7,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = next(s for s in entry.subentries.values() if s.title == "Porch").data
    assert data[CONF_FILTER_MODEL_PATH] == str(person_model)
    assert data["filter_min_confidence"] == 0.7
    assert SECTION_OBJECT_FILTER not in data
