"""The `homesec_nvr.cleanup` service action: retention on demand, with a dry run."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homesec_nvr.const import (
    ATTR_DRY_RUN,
    DB_RELATIVE_PATH,
    DOMAIN,
    SERVICE_CLEANUP,
)
from custom_components.homesec_nvr.core.models import ClipEventType

from .conftest import SetupHub
from .helpers import EventWaiter
from .video import write_clip


async def _process_clip(hass: HomeAssistant, incoming: Path, name: str = "clip1.mp4") -> str:
    """Drop a real clip into the watched folder; return its id once processed."""
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, incoming / name)
    (event,) = await processed.wait(1)
    await hass.async_block_till_done()
    processed.close()
    return str(event.data["clip_id"])


async def _age_clip(entry: MockConfigEntry, clip_id: str, days: float) -> None:
    """Pretend the clip was recorded `days` ago."""
    store = entry.runtime_data.store
    state = await store.get_state(clip_id)
    assert state is not None
    state.start_ts = datetime.now(UTC) - timedelta(days=days)
    state.end_ts = state.start_ts + timedelta(seconds=2)
    await store.upsert_state(state)


def _stored_files(config_dir: Path) -> list[Path]:
    return sorted(p for p in (config_dir / "media" / "homesec").rglob("*") if p.is_file())


async def _cleanup(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, SERVICE_CLEANUP, data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


async def test_dry_run_reports_old_clip_and_deletes_nothing(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a hub keeping clips 7 days and a stored clip recorded 10 days ago
    entry = await setup_hub(retention_days=7)
    clip_id = await _process_clip(hass, incoming)
    await _age_clip(entry, clip_id, days=10)
    files = _stored_files(config_dir)
    assert {p.suffix for p in files} == {".mp4", ".jpg"}
    size = sum(p.stat().st_size for p in files)

    # When the user runs the cleanup as a dry run
    response = await _cleanup(hass, **{ATTR_DRY_RUN: True})

    # Then the clip is reported with the bytes it would free
    assert response == {
        "dry_run": True,
        "clips": [clip_id],
        "clip_count": 1,
        "bytes_freed": size,
        "bytes_kept": 0,
    }
    # And nothing was deleted
    assert _stored_files(config_dir) == files
    state = await entry.runtime_data.store.get_state(clip_id)
    assert state is not None
    assert state.status.value == "done"
    assert state.clip_uri is not None


async def test_cleanup_deletes_clip_past_retention(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a hub keeping clips 7 days, one clip from 10 days ago and one from today
    entry = await setup_hub(retention_days=7)
    old_id = await _process_clip(hass, incoming, "old.mp4")
    new_id = await _process_clip(hass, incoming, "new.mp4")
    await _age_clip(entry, old_id, days=10)
    store = entry.runtime_data.store
    old_state = await store.get_state(old_id)
    new_state = await store.get_state(new_id)
    assert old_state is not None
    assert new_state is not None
    storage = entry.runtime_data.storage
    old_files = [storage.local_path(old_state.clip_uri), storage.local_path(old_state.snapshot_uri)]
    new_files = [storage.local_path(new_state.clip_uri), storage.local_path(new_state.snapshot_uri)]
    old_size = sum(p.stat().st_size for p in old_files)
    new_size = sum(p.stat().st_size for p in new_files)

    # When the user runs the cleanup for real
    response = await _cleanup(hass, **{ATTR_DRY_RUN: False})

    # Then only the old clip is deleted, files and all
    assert response == {
        "dry_run": False,
        "clips": [old_id],
        "clip_count": 1,
        "bytes_freed": old_size,
        "bytes_kept": new_size,
    }
    assert not any(p.exists() for p in old_files)
    assert all(p.exists() for p in new_files)
    # And the store marks it deleted, with the reason in its history
    old_state = await store.get_state(old_id)
    assert old_state is not None
    assert old_state.status.value == "deleted"
    assert old_state.clip_uri is None
    assert old_state.snapshot_uri is None
    deleted = [e for e in await store.events(old_id) if e.event_type is ClipEventType.CLIP_DELETED]
    assert [e.data["reason"] for e in deleted] == ["max_age"]
    new_state = await store.get_state(new_id)
    assert new_state is not None
    assert new_state.status.value == "done"

    # When the cleanup runs again
    response = await _cleanup(hass)

    # Then there is nothing left to delete
    assert response["clips"] == []
    assert response["bytes_kept"] == new_size


async def test_cleanup_deletes_by_size(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a hub with a tiny storage limit and no age limit, holding one fresh clip
    entry = await setup_hub(retention_days=0, max_storage_gb=1e-9)
    clip_id = await _process_clip(hass, incoming)
    assert _stored_files(config_dir)

    # When the cleanup runs (dry_run defaults to false)
    response = await _cleanup(hass)

    # Then the clip is deleted to get under the size limit
    assert response["dry_run"] is False
    assert response["clips"] == [clip_id]
    assert response["bytes_freed"] > 0
    assert _stored_files(config_dir) == []
    store = entry.runtime_data.store
    state = await store.get_state(clip_id)
    assert state is not None
    assert state.status.value == "deleted"
    deleted = [e for e in await store.events(clip_id) if e.event_type is ClipEventType.CLIP_DELETED]
    assert [e.data["reason"] for e in deleted] == ["max_total_size"]


async def test_cleanup_keeps_clips_within_limits(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a hub with the default limits (30 days, 10 GB) and one fresh clip
    entry = await setup_hub()
    clip_id = await _process_clip(hass, incoming)
    files = _stored_files(config_dir)

    # When the cleanup runs
    response = await _cleanup(hass, **{ATTR_DRY_RUN: False})

    # Then nothing is deleted
    assert response["clips"] == []
    assert response["clip_count"] == 0
    assert response["bytes_kept"] == sum(p.stat().st_size for p in files)
    assert _stored_files(config_dir) == files
    state = await entry.runtime_data.store.get_state(clip_id)
    assert state is not None
    assert state.status.value == "done"


async def test_cleanup_without_loaded_hub_is_refused(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given the hub was set up and then unloaded (the service stays registered)
    entry = await setup_hub()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.services.has_service(DOMAIN, SERVICE_CLEANUP)

    # When the cleanup is called
    with pytest.raises(ServiceValidationError) as err:
        await _cleanup(hass, **{ATTR_DRY_RUN: True})

    # Then it is refused as "not loaded"
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "not_loaded"


async def test_cleanup_without_any_hub_is_refused(hass: HomeAssistant, config_dir: Path) -> None:
    # Given the integration is set up without any hub entry
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    # When the cleanup is called
    # Then it is refused as "not loaded"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_CLEANUP, {}, blocking=True)
    assert err.value.translation_key == "not_loaded"


async def test_cleanup_rejects_unknown_fields(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given a running hub
    await setup_hub()

    # When the cleanup is called with a field it does not know
    # Then the call is rejected by the schema
    with pytest.raises(vol.Invalid):
        await _cleanup(hass, older_than=3)


async def test_cleanup_after_storage_folder_changed_deletes_old_files(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path, tmp_path: Path
) -> None:
    # Given a clip stored in the media folder, then the storage folder moved elsewhere
    entry = await setup_hub(retention_days=7)
    clip_id = await _process_clip(hass, incoming)
    old_files = _stored_files(config_dir)
    assert old_files
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"storage_path": str(tmp_path / "nas")}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    await _age_clip(entry, clip_id, days=10)

    # When the cleanup deletes the (now old) clip
    response = await _cleanup(hass)

    # Then its files are really gone and their size is reported as freed
    assert response["clips"] == [clip_id]
    assert not any(p.exists() for p in old_files)
    assert response["bytes_freed"] > 0


async def test_cleanup_failing_in_the_clip_database_raises_a_translated_error(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a stored clip past retention, and a clip database that lost its clip table
    entry = await setup_hub(retention_days=7)
    clip_id = await _process_clip(hass, incoming)
    await _age_clip(entry, clip_id, days=10)

    def _break_database() -> None:
        with closing(sqlite3.connect(config_dir / DB_RELATIVE_PATH)) as conn:
            conn.execute("ALTER TABLE clip_states RENAME TO clip_states_lost")

    await hass.async_add_executor_job(_break_database)

    # When the cleanup runs
    with pytest.raises(HomeAssistantError) as err:
        await _cleanup(hass)

    # Then it fails with HomeSec's translated message naming the database error
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "cleanup_failed"
    assert "no such table" in err.value.translation_placeholders["error"]
    assert str(err.value).startswith("The cleanup stopped: no such table")


async def test_cleanup_failing_in_the_storage_folder_raises_a_translated_error(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a stored clip past retention whose file cannot be deleted (a folder took its place)
    entry = await setup_hub(retention_days=7)
    clip_id = await _process_clip(hass, incoming)
    await _age_clip(entry, clip_id, days=10)
    (clip_file,) = [p for p in _stored_files(config_dir) if p.suffix == ".mp4"]

    def _block_clip_file() -> None:
        clip_file.unlink()
        clip_file.mkdir()
        (clip_file / "keep").write_bytes(b"x")

    await hass.async_add_executor_job(_block_clip_file)

    # When the cleanup runs
    with pytest.raises(HomeAssistantError) as err:
        await _cleanup(hass)

    # Then it fails with HomeSec's translated message, and the clip is not marked deleted
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "cleanup_failed"
    assert str(err.value).startswith("The cleanup stopped:")
    state = await entry.runtime_data.store.get_state(clip_id)
    assert state is not None
    assert state.status.value == "done"
