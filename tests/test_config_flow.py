"""Config flow (hub), hub reconfigure, options flow and the watched-folder camera subentry flow."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
import voluptuous as vol
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.homesec_nvr.cameras import CAMERA_KINDS
from custom_components.homesec_nvr.config_flow import HomeSecConfigFlow
from custom_components.homesec_nvr.const import (
    CONF_ALERT_HOLD_S,
    CONF_ALERTS_ENABLED,
    CONF_DELETE_AFTER_STORE,
    CONF_FOLDER,
    CONF_LINK_EXPIRY_HOURS,
    CONF_LINK_SECRET,
    CONF_MAX_ATTEMPTS,
    CONF_MAX_CLIPS_IN_FLIGHT,
    CONF_MAX_STORAGE_GB,
    CONF_MIN_RISK_LEVEL,
    CONF_NOTIFY_ON_ACTIVITY_TYPES,
    CONF_NOTIFY_ON_MOTION,
    CONF_NOTIFY_SERVICES,
    CONF_PERSISTENT_NOTIFICATION,
    CONF_POLL_INTERVAL_S,
    CONF_RETENTION_DAYS,
    CONF_STABLE_TIME_S,
    CONF_STORAGE_PATH,
    CONF_TRIGGER_CLASSES,
    DEFAULT_MAX_STORAGE_GB,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    SUBENTRY_LOCAL_FOLDER,
)
from custom_components.homesec_nvr.flows import SUBENTRY_FLOWS
from custom_components.homesec_nvr.flows.fields import default_options
from custom_components.homesec_nvr.flows.options import OPTION_PAGES

from .conftest import SetupHub, camera_subentry, hub_entry
from .helpers import EventWaiter, find_device, open_options, start_subentry_reconfigure
from .video import write_clip

pytestmark = pytest.mark.usefixtures("unload_homesec_entries")


@pytest.fixture
async def unload_homesec_entries(hass: HomeAssistant) -> AsyncGenerator[None]:
    """Unload every hub a flow created (their store threads must not outlive the test)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def schema_defaults(schema: vol.Schema) -> dict[str, Any]:
    """The value a form shows for each field: its default, else its suggested value."""
    values: dict[str, Any] = {}
    for key in schema.schema:
        if not isinstance(key, vol.Marker):
            continue
        if key.default is not vol.UNDEFINED:
            values[str(key)] = key.default()
        elif key.description and "suggested_value" in key.description:
            values[str(key)] = key.description["suggested_value"]
    return values


def camera_input(name: str, folder: Path | str, **extra: Any) -> dict[str, Any]:
    """User input of the camera form (fast polling so tests can drop clips)."""
    return {
        "name": name,
        CONF_FOLDER: str(folder),
        CONF_POLL_INTERVAL_S: 0.5,
        CONF_STABLE_TIME_S: 0.5,
        **extra,
    }


async def start_camera_flow(hass: HomeAssistant, entry_id: str) -> dict[str, Any]:
    """Open the "add watched-folder camera" form."""
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_LOCAL_FOLDER), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return result


# -- hub: user step -----------------------------------------------------------------------


async def test_user_step_creates_hub_in_media_folder(hass: HomeAssistant, config_dir: Path) -> None:
    # Given no HomeSec hub yet and HA's media folder inside the config dir
    expected_path = config_dir / "media" / "homesec"

    # When the user opens the flow and submits the suggested path with custom retention
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    defaults = schema_defaults(result["data_schema"])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_STORAGE_PATH: f"  {defaults[CONF_STORAGE_PATH]}  ",
            CONF_RETENTION_DAYS: 7,
            CONF_MAX_STORAGE_GB: 2.5,
        },
    )
    await hass.async_block_till_done()

    # Then the form suggested HA's media folder + /homesec and the default retention
    assert defaults == {
        CONF_STORAGE_PATH: str(expected_path),
        CONF_RETENTION_DAYS: DEFAULT_RETENTION_DAYS,
        CONF_MAX_STORAGE_GB: DEFAULT_MAX_STORAGE_GB,
    }
    # And the hub entry holds the stripped path as data and the defaults plus retention
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "HomeSec"
    assert result["data"] == {
        CONF_STORAGE_PATH: str(expected_path),
        CONF_LINK_SECRET: result["data"][CONF_LINK_SECRET],
    }
    # And a random secret of its own signs its clip links
    assert len(result["data"][CONF_LINK_SECRET]) == 64
    assert result["options"] == {
        **default_options(),
        CONF_RETENTION_DAYS: 7,
        CONF_MAX_STORAGE_GB: 2.5,
    }
    entry = result["result"]
    assert entry.unique_id == DOMAIN
    assert entry.state is ConfigEntryState.LOADED
    # And the storage folder was created, with no write probe left behind
    assert expected_path.is_dir()
    assert list(expected_path.iterdir()) == []


async def test_user_step_default_path_without_media_dirs(
    hass: HomeAssistant, config_dir: Path
) -> None:
    # Given Home Assistant has no media folder configured
    hass.config.media_dirs = {}

    # When the user opens the flow
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    # Then the suggested storage path is <config>/media/homesec
    assert result["type"] is FlowResultType.FORM
    defaults = schema_defaults(result["data_schema"])
    assert defaults[CONF_STORAGE_PATH] == str(config_dir / "media" / "homesec")


@pytest.mark.parametrize(
    ("make_path", "error"),
    [
        pytest.param(lambda tmp: "relative/homesec", "path_not_absolute", id="relative"),
        pytest.param(
            lambda tmp: str(tmp / "a_file" / "homesec"),
            "storage_not_writable",
            id="parent_is_a_file",
        ),
        pytest.param(lambda tmp: str(tmp / "a_file"), "storage_not_writable", id="path_is_a_file"),
    ],
)
async def test_user_step_rejects_bad_storage_path(
    hass: HomeAssistant, config_dir: Path, tmp_path: Path, make_path: Any, error: str
) -> None:
    # Given a regular file in the temp dir (for the paths that cannot become a folder)
    (tmp_path / "a_file").write_text("not a folder")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    # When the user submits the bad storage path
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_STORAGE_PATH: make_path(tmp_path), CONF_RETENTION_DAYS: 30, CONF_MAX_STORAGE_GB: 10},
    )

    # Then the form is shown again with the error on the path and the user's input kept
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {CONF_STORAGE_PATH: error}
    assert schema_defaults(result["data_schema"])[CONF_STORAGE_PATH] == make_path(tmp_path)
    assert hass.config_entries.async_entries(DOMAIN) == []
    assert (tmp_path / "a_file").read_text() == "not a folder"


async def test_user_step_read_only_parent_is_rejected(
    hass: HomeAssistant, config_dir: Path, tmp_path: Path
) -> None:
    # Given a storage path under a read-only folder
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        (read_only / "probe").mkdir()
    except OSError:
        pass
    else:
        read_only.chmod(0o700)
        pytest.skip("running as root: a read-only folder is still writable")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    # When the user submits it
    try:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_STORAGE_PATH: str(read_only / "homesec"),
                CONF_RETENTION_DAYS: 30,
                CONF_MAX_STORAGE_GB: 10,
            },
        )
    finally:
        read_only.chmod(0o700)

    # Then the form reports that the storage folder is not writable
    assert result["errors"] == {CONF_STORAGE_PATH: "storage_not_writable"}


async def test_error_then_valid_path_creates_hub(
    hass: HomeAssistant, config_dir: Path, tmp_path: Path
) -> None:
    # Given the user first submitted a relative path
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_STORAGE_PATH: "clips", CONF_RETENTION_DAYS: 30, CONF_MAX_STORAGE_GB: 10},
    )
    assert result["errors"] == {CONF_STORAGE_PATH: "path_not_absolute"}

    # When they correct it in the same flow
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_STORAGE_PATH: str(tmp_path / "clips"),
            CONF_RETENTION_DAYS: 30,
            CONF_MAX_STORAGE_GB: 10,
        },
    )
    await hass.async_block_till_done()

    # Then the hub is created with the corrected path
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_STORAGE_PATH] == str(tmp_path / "clips")
    assert (tmp_path / "clips").is_dir()


async def test_second_hub_is_refused(hass: HomeAssistant, config_dir: Path) -> None:
    # Given a HomeSec hub already exists
    hub_entry(config_dir, []).add_to_hass(hass)

    # When the user starts the flow again
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    # Then the flow aborts and there is still one hub
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# -- hub: reconfigure ---------------------------------------------------------------------


async def test_reconfigure_changes_storage_and_reloads(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path, config_dir: Path
) -> None:
    # Given a running hub storing into the media folder
    entry = await setup_hub()
    old_hub = entry.runtime_data
    new_path = tmp_path / "nas" / "homesec"

    # When the user reconfigures it to a new (not yet existing) folder
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert schema_defaults(result["data_schema"]) == {
        CONF_STORAGE_PATH: str(config_dir / "media" / "homesec")
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORAGE_PATH: f"{new_path} "}
    )
    await hass.async_block_till_done()

    # Then the flow ends, the data holds the new path and the hub was reloaded onto it
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_STORAGE_PATH: str(new_path), CONF_LINK_SECRET: ANY}
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not old_hub
    assert entry.runtime_data.storage.root == new_path
    assert new_path.is_dir()
    # And the options are untouched
    assert entry.options == default_options()


@pytest.mark.parametrize(
    ("make_path", "error"),
    [
        pytest.param(lambda tmp: "media/homesec", "path_not_absolute", id="relative"),
        pytest.param(
            lambda tmp: str(tmp / "a_file" / "homesec"),
            "storage_not_writable",
            id="parent_is_a_file",
        ),
    ],
)
async def test_reconfigure_rejects_bad_path(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path, make_path: Any, error: str
) -> None:
    # Given a running hub and a regular file in the temp dir
    entry = await setup_hub()
    old_data = dict(entry.data)
    old_hub = entry.runtime_data
    (tmp_path / "a_file").write_text("x")

    # When the user reconfigures it to a bad path
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STORAGE_PATH: make_path(tmp_path)}
    )
    await hass.async_block_till_done()

    # Then the form shows the error, keeps the input, and nothing changed or reloaded
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {CONF_STORAGE_PATH: error}
    assert schema_defaults(result["data_schema"]) == {CONF_STORAGE_PATH: make_path(tmp_path)}
    assert dict(entry.data) == old_data
    assert entry.runtime_data is old_hub


# -- options flow -------------------------------------------------------------------------

ALL_OPTIONS: dict[str, Any] = {
    CONF_MAX_CLIPS_IN_FLIGHT: 4,
    CONF_MAX_ATTEMPTS: 5,
    CONF_RETENTION_DAYS: 14,
    CONF_MAX_STORAGE_GB: 3.5,
    CONF_ALERTS_ENABLED: False,
    CONF_MIN_RISK_LEVEL: "high",
    CONF_NOTIFY_ON_ACTIVITY_TYPES: ["delivery", "loitering"],
    CONF_NOTIFY_ON_MOTION: True,
    CONF_TRIGGER_CLASSES: ["person", "car", "fox"],
    CONF_ALERT_HOLD_S: 120,
    "alert_cooldown_seconds": 90,
    "live_alerts": False,
    "group_window_seconds": 45,
    "camera_groups": "Front: Front door",
    "incident_gap_seconds": 30,
    CONF_NOTIFY_SERVICES: ["notify.phone"],
    CONF_PERSISTENT_NOTIFICATION: False,
    CONF_LINK_EXPIRY_HOURS: 12,
    "mqtt_enabled": False,
    "mqtt_topic_prefix": "home/cams",
    "mqtt_qos": 2,
    "mqtt_retain": True,
    "mqtt_snapshot": True,
    "filter_classes": ["person", "dog"],
    "filter_min_confidence": 0.6,
    "filter_min_box_height": 0.05,
    "filter_min_hits": 2,
    "filter_sample_interval_seconds": 2.0,
    "filter_max_frames": 20,
    "filter_early_exit": False,
}


def register_fake_notify(hass: HomeAssistant) -> list[ServiceCall]:
    """A `notify.phone` service (as the mobile app would register); returns its calls."""
    calls: list[ServiceCall] = []

    async def _phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", _phone)
    return calls


def page_values(page: str, values: dict[str, Any]) -> dict[str, Any]:
    """The part of `values` one options page shows."""
    return {k: v for k, v in values.items() if k in OPTION_PAGES[page]}


async def test_options_pages_save_every_option_and_reload(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub with default options and a registered notify.phone service
    register_fake_notify(hass)
    entry = await setup_hub()
    old_hub = entry.runtime_data

    for page in OPTION_PAGES:
        # When the user opens each options page and changes every setting on it
        result = await open_options(hass, entry.entry_id, page)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == page
        assert schema_defaults(result["data_schema"]) == page_values(page, default_options())
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], page_values(page, ALL_OPTIONS)
        )
        await hass.async_block_till_done()
        # Then the page is saved
        assert result["type"] is FlowResultType.CREATE_ENTRY

    # And every option is stored, and the hub was reloaded with them
    assert dict(entry.options) == ALL_OPTIONS
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not old_hub


async def test_options_pages_show_current_values(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given a hub whose options were changed before
    register_fake_notify(hass)
    entry = await setup_hub(**ALL_OPTIONS)

    for page in OPTION_PAGES:
        # When the user opens each options page
        result = await open_options(hass, entry.entry_id, page)

        # Then the form is prefilled with the saved values
        assert schema_defaults(result["data_schema"]) == page_values(page, ALL_OPTIONS)


async def test_options_flow_rejects_unknown_notify_service(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a running hub and no notify.nope service
    register_fake_notify(hass)
    entry = await setup_hub()

    # When the user picks an existing and a missing notify service
    result = await open_options(hass, entry.entry_id, "notifications")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_NOTIFY_SERVICES: ["notify.phone", "notify.nope"], CONF_PERSISTENT_NOTIFICATION: True},
    )

    # Then the form is shown again with the error and the options are unchanged
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_NOTIFY_SERVICES: "notify_service_not_found"}
    assert dict(entry.options) == default_options()

    # When the user removes the missing service
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_NOTIFY_SERVICES: ["notify.phone"], CONF_PERSISTENT_NOTIFICATION: True},
    )
    await hass.async_block_till_done()

    # Then the options are saved
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_NOTIFY_SERVICES] == ["notify.phone"]


async def test_a_cleared_list_is_saved_empty(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given a hub notifying notify.phone
    register_fake_notify(hass)
    entry = await setup_hub(**{CONF_NOTIFY_SERVICES: ["notify.phone"]})

    # When the user clears the list (the frontend then leaves the field out)
    result = await open_options(hass, entry.entry_id, "notifications")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_PERSISTENT_NOTIFICATION: True}
    )
    await hass.async_block_till_done()

    # Then no notify service is left
    assert entry.options[CONF_NOTIFY_SERVICES] == []


async def test_options_flow_lists_registered_notify_services(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a registered notify.phone service
    register_fake_notify(hass)
    entry = await setup_hub()

    # When the user opens the notifications page
    result = await open_options(hass, entry.entry_id, "notifications")

    # Then notify.phone is offered in the notify services selector
    field = next(k for k in result["data_schema"].schema if str(k) == CONF_NOTIFY_SERVICES)
    notify_selector = result["data_schema"].schema[field]
    assert "notify.phone" in notify_selector.config["options"]


# -- camera subentry flows: the registry ---------------------------------------------------


async def test_every_camera_kind_has_its_subentry_flow(config_dir: Path) -> None:
    # Given the camera kinds the hub can run and a hub entry
    entry = hub_entry(config_dir, [])

    # When the config flow is asked which subentry types it supports
    supported = HomeSecConfigFlow.async_get_supported_subentry_types(entry)

    # Then it is exactly the flow registry, one flow per camera kind
    assert supported == SUBENTRY_FLOWS
    assert set(supported) == set(CAMERA_KINDS)


# -- camera subentry: add -----------------------------------------------------------------


async def test_add_camera_creates_subentry_and_entities(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a running hub with no camera and a folder for the new camera
    entry = await setup_hub(subentries=[])
    folder = tmp_path / "back_yard"
    folder.mkdir()
    old_hub = entry.runtime_data

    # When the user adds a watched-folder camera (path with spaces and a trailing slash)
    result = await start_camera_flow(hass, entry.entry_id)
    assert result["step_id"] == "user"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        camera_input(
            "  Back yard ",
            f" {folder}/ ",
            **{CONF_MIN_RISK_LEVEL: "low", CONF_NOTIFY_ON_MOTION: "on"},
        ),
    )
    await hass.async_block_till_done()

    # Then the subentry holds the cleaned name and normalized folder as unique id
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Back yard"
    assert result["unique_id"] == str(folder)
    assert result["data"] == {
        "name": "Back yard",
        CONF_FOLDER: str(folder),
        CONF_POLL_INTERVAL_S: 0.5,
        CONF_STABLE_TIME_S: 0.5,
        CONF_DELETE_AFTER_STORE: False,
        CONF_MIN_RISK_LEVEL: "low",
        CONF_NOTIFY_ON_ACTIVITY_TYPES: [],
        CONF_NOTIFY_ON_MOTION: "on",
        "filter": "none",
        "vlm_run_mode": "inherit",
    }
    (subentry,) = entry.subentries.values()
    assert subentry.subentry_type == SUBENTRY_LOCAL_FOLDER
    assert subentry.title == "Back yard"
    assert subentry.unique_id == str(folder)
    # And the hub started the camera live (no reload), with its device and its entities
    assert entry.runtime_data is old_hub
    assert subentry.subentry_id in entry.runtime_data.cameras
    assert hass.states.get("sensor.back_yard_clips_today").state == "0"
    device = find_device(hass, entry.entry_id, subentry.subentry_id)
    assert device is not None
    assert device.name == "Back yard"
    entity = er.async_get(hass).async_get("sensor.back_yard_clips_today")
    assert entity is not None
    assert entity.config_subentry_id == subentry.subentry_id

    # When a clip is dropped into the new camera's folder
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, folder / "clip.mp4")
    events = await processed.wait(1)
    await hass.async_block_till_done()
    processed.close()

    # Then the new camera picks it up
    assert events[0].data["camera"] == "Back yard"
    assert hass.states.get("sensor.back_yard_clips_today").state == "1"


async def test_add_camera_error_then_success(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a running hub and a flow where the user entered a folder that does not exist
    entry = await setup_hub(subentries=[])
    result = await start_camera_flow(hass, entry.entry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], camera_input("Garage", tmp_path / "garage")
    )
    assert result["errors"] == {CONF_FOLDER: "folder_not_found"}
    assert schema_defaults(result["data_schema"])["name"] == "Garage"

    # When the folder is created and the form submitted again
    (tmp_path / "garage").mkdir()
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], camera_input("Garage", tmp_path / "garage")
    )
    await hass.async_block_till_done()

    # Then the camera is added
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [s.title for s in entry.subentries.values()] == ["Garage"]
    assert hass.states.get("sensor.garage_clips_today") is not None


def _folder_not_found(tmp: Path, incoming: Path) -> tuple[str, str]:
    return "Garage", str(tmp / "missing")


def _folder_is_a_file(tmp: Path, incoming: Path) -> tuple[str, str]:
    file = tmp / "clip.mp4"
    file.write_bytes(b"x")
    return "Garage", str(file)


def _folder_inside_a_file(tmp: Path, incoming: Path) -> tuple[str, str]:
    file = tmp / "clip.mp4"
    file.write_bytes(b"x")
    return "Garage", str(file / "sub")


def _relative_folder(tmp: Path, incoming: Path) -> tuple[str, str]:
    return "Garage", "incoming"


def _folder_of_other_camera(tmp: Path, incoming: Path) -> tuple[str, str]:
    # Another spelling of the same folder: normalized before comparing.
    return "Garage", f"{incoming}/./"


def _name_of_other_camera(tmp: Path, incoming: Path) -> tuple[str, str]:
    (tmp / "garage").mkdir()
    return "  FRONT door ", str(tmp / "garage")


def _blank_name(tmp: Path, incoming: Path) -> tuple[str, str]:
    (tmp / "garage").mkdir()
    return "   ", str(tmp / "garage")


@pytest.mark.parametrize(
    ("make_input", "errors"),
    [
        pytest.param(_folder_not_found, {CONF_FOLDER: "folder_not_found"}, id="not_found"),
        pytest.param(_folder_is_a_file, {CONF_FOLDER: "folder_not_a_directory"}, id="a_file"),
        pytest.param(_folder_inside_a_file, {CONF_FOLDER: "folder_not_found"}, id="in_a_file"),
        pytest.param(_relative_folder, {CONF_FOLDER: "path_not_absolute"}, id="relative"),
        pytest.param(
            _folder_of_other_camera, {CONF_FOLDER: "folder_already_used"}, id="folder_used"
        ),
        pytest.param(_name_of_other_camera, {"name": "name_already_used"}, id="name_used"),
        pytest.param(_blank_name, {"name": "name_required"}, id="blank_name"),
    ],
)
async def test_add_camera_form_errors(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    tmp_path: Path,
    incoming: Path,
    make_input: Any,
    errors: dict[str, str],
) -> None:
    # Given a running hub with the camera "Front door" watching `incoming`
    entry = await setup_hub()
    name, folder = make_input(tmp_path, incoming)

    # When the user adds a camera with the bad input
    result = await start_camera_flow(hass, entry.entry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], camera_input(name, folder)
    )

    # Then the form is shown again with the error and no camera was added
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors
    assert [s.title for s in entry.subentries.values()] == ["Front door"]


async def test_add_camera_unreadable_folder(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a folder nobody may list
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o000)
    try:
        os.listdir(folder)
    except OSError:
        pass
    else:
        folder.chmod(0o700)
        pytest.skip("running as root: a chmod 000 folder is still readable")
    entry = await setup_hub(subentries=[])

    # When the user adds a camera watching it
    try:
        result = await start_camera_flow(hass, entry.entry_id)
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], camera_input("Locked", folder)
        )
    finally:
        folder.chmod(0o700)

    # Then the form reports the folder as unreadable
    assert result["errors"] == {CONF_FOLDER: "folder_unreadable"}
    assert entry.subentries == {}


# -- camera subentry: reconfigure ---------------------------------------------------------


async def test_reconfigure_camera_updates_subentry_and_reloads(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path, incoming: Path
) -> None:
    # Given a running hub with the camera "Front door" and a new folder for it
    entry = await setup_hub()
    (subentry,) = entry.subentries.values()
    new_folder = tmp_path / "back_yard"
    new_folder.mkdir()
    old_hub = entry.runtime_data

    # When the user reconfigures the camera with a new name and folder
    result = await start_subentry_reconfigure(hass, entry, subentry.subentry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    defaults = schema_defaults(result["data_schema"])
    assert defaults["name"] == "Front door"
    assert defaults[CONF_FOLDER] == str(incoming)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        camera_input("Back yard", f"{new_folder}/", **{CONF_DELETE_AFTER_STORE: True}),
    )
    await hass.async_block_till_done()

    # Then the subentry's title, data and unique id are updated
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry.subentry_id]
    assert subentry.title == "Back yard"
    assert subentry.unique_id == str(new_folder)
    assert subentry.data["name"] == "Back yard"
    assert subentry.data[CONF_FOLDER] == str(new_folder)
    assert subentry.data[CONF_DELETE_AFTER_STORE] is True
    # And the hub was reloaded: the camera device carries the new name
    assert entry.runtime_data is not old_hub
    camera = entry.runtime_data.cameras[subentry.subentry_id]
    assert camera.name == "Back yard"
    assert camera.config[CONF_FOLDER] == str(new_folder)
    device = find_device(hass, entry.entry_id, subentry.subentry_id)
    assert device is not None
    assert device.name == "Back yard"
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert any(
        e.config_subentry_id == subentry.subentry_id and e.unique_id.endswith("_clips_today")
        for e in entities
    )

    # When a clip is dropped into the new folder
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, new_folder / "clip.mp4")
    events = await processed.wait(1)
    await hass.async_block_till_done()
    processed.close()

    # Then the reconfigured camera processes it under its new name
    assert events[0].data["camera"] == "Back yard"
    assert events[0].data["status"] == "done"


async def test_reconfigure_camera_may_keep_its_own_folder_and_name(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a running hub with the camera "Front door" on `incoming`
    entry = await setup_hub()
    (subentry,) = entry.subentries.values()

    # When the user only changes the stable time
    result = await start_subentry_reconfigure(hass, entry, subentry.subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**camera_input("Front door", incoming), CONF_STABLE_TIME_S: 5.0}
    )
    await hass.async_block_till_done()

    # Then its own folder and name do not count as "already used"
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].data[CONF_STABLE_TIME_S] == 5.0
    assert entry.subentries[subentry.subentry_id].unique_id == str(incoming)


@pytest.mark.parametrize(
    ("field", "errors"),
    [
        pytest.param(CONF_FOLDER, {CONF_FOLDER: "folder_already_used"}, id="folder_used"),
        pytest.param("name", {"name": "name_already_used"}, id="name_used"),
        pytest.param("missing", {CONF_FOLDER: "folder_not_found"}, id="folder_missing"),
    ],
)
async def test_reconfigure_camera_errors(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    tmp_path: Path,
    incoming: Path,
    field: str,
    errors: dict[str, str],
) -> None:
    # Given two cameras, "Front door" on `incoming` and "Garage" on another folder
    garage = tmp_path / "garage"
    garage.mkdir()
    entry = await setup_hub(
        [camera_subentry("Front door", incoming), camera_subentry("Garage", garage)]
    )
    front = next(s for s in entry.subentries.values() if s.title == "Front door")
    before = {
        s.subentry_id: (s.title, dict(s.data), s.unique_id) for s in entry.subentries.values()
    }
    old_hub = entry.runtime_data
    user_input = {
        CONF_FOLDER: camera_input("Front door", garage),
        "name": camera_input("garage", incoming),
        "missing": camera_input("Front door", tmp_path / "gone"),
    }[field]

    # When the user reconfigures "Front door" with the other camera's folder or name
    result = await start_subentry_reconfigure(hass, entry, front.subentry_id)
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done()

    # Then the form shows the error and nothing changed or reloaded
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == errors
    after = {s.subentry_id: (s.title, dict(s.data), s.unique_id) for s in entry.subentries.values()}
    assert after == before
    assert entry.runtime_data is old_hub
