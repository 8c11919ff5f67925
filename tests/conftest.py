"""Shared fixtures: a HomeSec hub with watched-folder cameras in a real Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homesec_nvr.const import (
    CONF_FOLDER,
    CONF_POLL_INTERVAL_S,
    CONF_STABLE_TIME_S,
    CONF_STORAGE_PATH,
    DOMAIN,
    SUBENTRY_LOCAL_FOLDER,
)
from custom_components.homesec_nvr.flows.fields import default_options


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/homesec_nvr."""


# What Home Assistant's frame helper logs when an integration uses a deprecated API.
FRAME_HELPER_REPORT = f"custom integration '{DOMAIN}'"


@pytest.fixture(autouse=True)
def no_frame_helper_report(caplog: pytest.LogCaptureFixture) -> Any:
    """Fail any test during which Home Assistant reports HomeSec for a deprecated call."""
    yield
    reports = [r.getMessage() for r in caplog.records if FRAME_HELPER_REPORT in r.getMessage()]
    assert reports == [], reports


@pytest.fixture
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """Point Home Assistant's config and media folders at a temporary directory."""
    hass.config.config_dir = str(tmp_path / "config")
    (tmp_path / "config").mkdir()
    media = tmp_path / "config" / "media"
    media.mkdir()
    # The storage folder, as the config flow creates it (storing never creates it).
    (media / "homesec").mkdir()
    hass.config.media_dirs = {"local": str(media)}
    return tmp_path / "config"


@pytest.fixture
def incoming(tmp_path: Path) -> Path:
    """The watched folder of the first test camera."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


def camera_subentry(name: str, folder: Path, **extra: Any) -> ConfigSubentryData:
    """Subentry data of a watched-folder camera polling fast (for tests)."""
    return ConfigSubentryData(
        data={
            "name": name,
            CONF_FOLDER: str(folder),
            CONF_POLL_INTERVAL_S: 0.1,
            CONF_STABLE_TIME_S: 0.2,
            **extra,
        },
        subentry_type=SUBENTRY_LOCAL_FOLDER,
        title=name,
        unique_id=str(folder),
    )


def hub_entry(
    config_dir: Path,
    subentries: list[ConfigSubentryData],
    entry_data: dict[str, Any] | None = None,
    **options: Any,
) -> MockConfigEntry:
    """A hub config entry storing into the HA media folder."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="HomeSec",
        unique_id=DOMAIN,
        data={CONF_STORAGE_PATH: str(config_dir / "media" / "homesec"), **(entry_data or {})},
        options={**default_options(), **options},
        subentries_data=subentries,
    )


SetupHub = Callable[..., Coroutine[Any, Any, MockConfigEntry]]


@pytest.fixture
async def setup_hub(
    hass: HomeAssistant, config_dir: Path, incoming: Path
) -> AsyncGenerator[SetupHub]:
    """Set up a hub (default: one camera "Front door" on `incoming`); unloads at the end."""
    entries: list[MockConfigEntry] = []

    async def _setup(
        subentries: list[ConfigSubentryData] | None = None,
        entry_data: dict[str, Any] | None = None,
        **options: Any,
    ) -> MockConfigEntry:
        entry = hub_entry(
            config_dir,
            subentries if subentries is not None else [camera_subentry("Front door", incoming)],
            entry_data,
            **options,
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        entries.append(entry)
        return entry

    yield _setup
    for entry in entries:
        if entry.state.recoverable:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
