"""Config flow branches the happy-path tests do not reach: a folder the OS refuses to list,
an unusable model file, and the RTSP camera form's checks that come before the stream is
opened (the stream itself is checked in test_rtsp_setup.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.homesec_nvr.const import (
    CONF_FILTER,
    CONF_FILTER_MODEL_PATH,
    FILTER_ONNX,
    SECTION_OBJECT_FILTER,
    SUBENTRY_LOCAL_FOLDER,
    SUBENTRY_RTSP,
)
from custom_components.homesec_nvr.flows import local_folder

from .conftest import SetupHub

RTSP_URL = "rtsp://127.0.0.1:9/cam"  # nothing listens there: these checks come first


def rtsp_form(**change: Any) -> dict[str, Any]:
    """Every required field of the RTSP camera form."""
    return {
        "name": "Driveway",
        "stream_url": RTSP_URL,
        "min_risk_level": "inherit",
        "notify_on_motion": "inherit",
        "vlm_run_mode": "inherit",
        "filter": "none",
        **change,
    }


def rtsp_camera(name: str, url: str) -> ConfigSubentryData:
    """An RTSP camera as the flow stores it."""
    return ConfigSubentryData(
        data={"name": name, "stream_url": url},
        subentry_type=SUBENTRY_RTSP,
        title=name,
        unique_id=url,
    )


async def submit_rtsp_form(hass: HomeAssistant, entry_id: str, form: dict[str, Any]) -> Any:
    """Open the "add RTSP camera" form and submit it."""
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_RTSP), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return await hass.config_entries.subentries.async_configure(result["flow_id"], form)


def test_folder_check_reports_a_folder_that_cannot_be_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a folder the operating system refuses to list (simulated: as root, which these
    # machines run the tests as, a chmod 000 folder is still readable)
    folder = tmp_path / "locked"
    folder.mkdir()

    def _refuse(path: Any) -> list[str]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(local_folder.os, "listdir", _refuse)

    # When the camera form checks it
    error = local_folder.check_folder_readable(str(folder))

    # Then it is reported as unreadable (and the real listing works again afterwards)
    monkeypatch.undo()
    assert error == "folder_unreadable"
    assert os.listdir(folder) == []


async def test_camera_form_reports_an_unusable_model_file(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a running hub and a folder for a new camera
    entry = await setup_hub(subentries=[])
    folder = tmp_path / "porch"
    folder.mkdir()

    # When the user picks the ONNX filter with a model path that is not absolute
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_LOCAL_FOLDER), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Porch",
            "folder": str(folder),
            "stable_time_seconds": 1,
            "poll_interval_seconds": 1,
            "delete_after_store": False,
            "min_risk_level": "inherit",
            "notify_on_motion": "inherit",
            CONF_FILTER: FILTER_ONNX,
            SECTION_OBJECT_FILTER: {CONF_FILTER_MODEL_PATH: "models/yolo.onnx"},
        },
    )

    # Then the form names the model as the problem, and no camera is created
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_FILTER: "path_not_absolute"}
    assert entry.subentries == {}


async def test_rtsp_form_checks_name_and_stream_before_opening_it(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a hub with the RTSP camera "Garage"
    entry = await setup_hub([rtsp_camera("Garage", "rtsp://127.0.0.1:9/garage")])
    cases = [
        (rtsp_form(name="   "), {"name": "name_required"}),
        (rtsp_form(name="garage"), {"name": "name_already_used"}),
        (rtsp_form(stream_url="rtsp://127.0.0.1:9/garage"), {"base": "camera_already_configured"}),
        (rtsp_form(motion={"masks": "0,0,wide,10"}), {"base": "invalid_motion_settings"}),
    ]
    for form, errors in cases:
        # When the user submits the form with that problem
        result = await submit_rtsp_form(hass, entry.entry_id, form)

        # Then the form says what is wrong, and no camera is added
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors, form
        assert len(entry.subentries) == 1
