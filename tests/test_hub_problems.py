"""The hub's own health as a user sees it: the Problem binary sensor and the repair issues
for storage away, a database that cannot be written, a damaged database replaced, and a
background task that keeps dying."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homesec_nvr import health
from custom_components.homesec_nvr.const import DOMAIN
from custom_components.homesec_nvr.core.sources import local_folder

from .conftest import SetupHub
from .helpers import EventWaiter
from .video import write_clip

PROBLEM = "binary_sensor.homesec_problem"
CAMERA_ALERT = "binary_sensor.front_door_alert"


async def _health_check(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Let the 30-second health check run now, and wait for it.

    A check still under way (the one at start) saw the folder as it was: it ends first, so
    the check fired here looks again instead of being skipped as already running.
    """
    await entry.runtime_data.async_wait_health_check()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done()
    await entry.runtime_data.async_wait_health_check()
    await hass.async_block_till_done()


async def _until(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def _issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


async def test_a_healthy_hub_shows_no_problem(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given a hub that starts normally
    entry = await setup_hub()

    # When its health is checked
    await _health_check(hass, entry)

    # Then the Problem sensor is off with empty details, and no hub issue is raised
    state = hass.states.get(PROBLEM)
    assert state is not None
    assert state.state == "off"
    assert state.attributes["problems"] == []
    assert state.attributes["task_restarts"] == 0
    assert not [i for (d, i) in ir.async_get(hass).issues if d == DOMAIN]


async def test_storage_away_raises_an_issue_and_waiting_clips_are_stored_when_it_returns(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path, config_dir: Path
) -> None:
    # Given a running hub whose storage folder then disappears (an unmounted share)
    entry = await setup_hub()
    storage = config_dir / "media" / "homesec"
    away = config_dir / "media" / "homesec-away"
    storage.rename(away)
    processed = EventWaiter(hass)

    # When a clip arrives meanwhile and the health check runs
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    payload = (await processed.wait(1))[0].data
    await _health_check(hass, entry)

    # Then the clip is processed (not lost) but not stored, the folder is NOT recreated,
    # the Problem sensor is on and a repair issue names the folder
    issue_id = f"storage_unavailable_{entry.entry_id}"
    assert not storage.exists()
    assert (incoming / "a.mp4").exists()
    state = hass.states.get(PROBLEM)
    assert state is not None
    assert state.state == "on"
    assert state.attributes["problems"] == ["storage_unavailable"]
    assert "does not exist" in state.attributes["storage_error"]
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["folder"] == str(storage)
    stored = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert stored is not None
    assert not stored.upload_done

    # When the share comes back and the health check runs again
    away.rename(storage)
    await _health_check(hass, entry)

    # Then the waiting clip is stored at once, the issue is gone and the sensor is off
    async def is_stored() -> bool:
        current = await entry.runtime_data.store.get_state(payload["clip_id"])
        return current is not None and current.upload_done

    deadline = time.monotonic() + 15
    while not await is_stored():
        assert time.monotonic() < deadline, "the waiting clip was not stored"
        await asyncio.sleep(0.05)
    assert _issue(hass, issue_id) is None
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == "off"  # type: ignore[union-attr]
    assert list((storage).rglob("*.mp4"))
    # And the snapshot the clip could not get while the folder was away is made now
    current = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert current is not None
    assert current.snapshot_path is not None
    assert Path(current.snapshot_path).is_relative_to(storage)
    assert await hass.async_add_executor_job(Path(current.snapshot_path).is_file)
    processed.close()


async def test_a_watcher_that_keeps_dying_is_restarted_and_shown_until_it_runs_again(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a folder camera whose scan dies of an unexpected bug
    broken = True
    real_scan = local_folder.scan_folder

    def scan(path: Path, extensions: frozenset[str]) -> dict[str, tuple[int, int]]:
        if broken:
            raise TypeError("odd directory entry")
        return real_scan(path, extensions)

    monkeypatch.setattr(local_folder, "scan_folder", scan)

    # When the hub starts
    entry = await setup_hub()
    hub = entry.runtime_data
    await _until(lambda: hub.supervisor.restarts >= 1)
    await hass.async_block_till_done()

    # Then the watcher is restarted (not gone), its camera's entities are unavailable, the
    # Problem sensor names it and a repair issue says what died
    issue_id = f"task_failing_{entry.entry_id}"
    assert hass.states.get(CAMERA_ALERT).state == "unavailable"  # type: ignore[union-attr]
    state = hass.states.get(PROBLEM)
    assert state is not None
    assert state.state == "on"
    assert state.attributes["failing_tasks"] == ["homesec folder watcher Front door"]
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert "TypeError: odd directory entry" in issue.translation_placeholders["error"]
    assert "HomeSec task homesec folder watcher Front door died (TypeError" in caplog.text

    # When the bug goes away and the watcher has run a minute without dying
    broken = False
    processed = EventWaiter(hass)
    for _ in range(4):  # each tick lets a pending restart (backoff) and the stable timer run
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=65))
        await hass.async_block_till_done()
        await asyncio.sleep(0.2)
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await processed.wait(1)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=65))
    await hass.async_block_till_done()

    # Then it takes clips again, and the camera, sensor and issue are back to normal
    assert hub.supervisor.failing == []
    assert hass.states.get(CAMERA_ALERT).state == "off"  # type: ignore[union-attr]
    assert hass.states.get(PROBLEM).state == "off"  # type: ignore[union-attr]
    assert _issue(hass, issue_id) is None
    processed.close()


async def test_a_database_locked_for_over_a_minute_raises_an_issue_until_it_is_free(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a running hub (told of store faults at once, not after a minute), and another
    # program holding the clip database locked
    monkeypatch.setattr(health, "DATABASE_GRACE", timedelta(0))
    entry = await setup_hub()
    hub = entry.runtime_data
    processed = EventWaiter(hass)
    locker = sqlite3.connect(config_dir / "homesec" / "homesec.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")

    # When a clip arrives, its store writes wait, and more than a minute passes
    try:
        await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
        await _until(lambda: hub.pipeline.store_unavailable_since is not None, timeout=30)
        await _health_check(hass, entry)

        # Then the Problem sensor and a repair issue say the database cannot be written
        issue_id = f"database_unavailable_{entry.entry_id}"
        issue = _issue(hass, issue_id)
        assert issue is not None
        assert issue.translation_placeholders is not None
        assert "locked" in issue.translation_placeholders["error"]
        state = hass.states.get(PROBLEM)
        assert state is not None
        assert state.attributes["problems"] == ["database_unavailable"]
    finally:
        # When the other program lets go
        locker.execute("ROLLBACK")
        locker.close()

    # Then the clip finishes (once), and the next check clears the issue
    payload = (await processed.wait(1, timeout=60))[0].data
    assert payload["status"] == "done"
    await _health_check(hass, entry)
    assert _issue(hass, issue_id) is None
    assert hass.states.get(PROBLEM).state == "off"  # type: ignore[union-attr]
    assert len(processed.events) == 1
    processed.close()


async def test_a_damaged_database_is_replaced_and_the_user_acknowledges_the_notice(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    config_dir: Path,
    hass_client: ClientSessionGenerator,
) -> None:
    # Given a clip database file that is damaged (a valid header over garbage pages)
    db = config_dir / "homesec" / "homesec.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 50)
    conn.commit()
    conn.close()
    data = bytearray(db.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)
    db.write_bytes(bytes(data))
    processed = EventWaiter(hass)

    # When HomeSec starts on it
    entry = await setup_hub()

    # Then set-up succeeds, a persistent acknowledgeable repair issue names the moved file,
    # and clips are processed on the fresh database
    assert entry.state.name == "LOADED"
    issues = [i for (d, i) in ir.async_get(hass).issues if d == DOMAIN]
    assert len(issues) == 1
    issue = _issue(hass, issues[0])
    assert issue is not None
    assert issue.translation_key == "database_recovered"
    assert issue.is_fixable is True
    assert issue.is_persistent is True
    assert issue.translation_placeholders is not None
    damaged = Path(issue.translation_placeholders["damaged_path"])
    assert await hass.async_add_executor_job(damaged.exists)
    assert damaged.name.startswith("homesec.db.damaged-")
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    assert (await processed.wait(1))[0].data["status"] == "done"

    # When the user opens the repair and confirms it
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issues[0]}
    )
    assert resp.status == 200
    flow = await resp.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"]["damaged_path"] == str(damaged)
    resp = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert resp.status == 200
    assert (await resp.json())["type"] == "create_entry"

    # Then the notice is gone, and the damaged copy is still there
    assert _issue(hass, issues[0]) is None
    assert await hass.async_add_executor_job(damaged.exists)
    processed.close()


async def test_unloading_removes_the_hubs_issues_and_stops_every_supervised_task(
    hass: HomeAssistant, setup_hub: SetupHub, config_dir: Path
) -> None:
    # Given a hub with its storage folder away (an issue raised)
    entry = await setup_hub()
    (config_dir / "media" / "homesec").rename(config_dir / "media" / "away")
    await _health_check(hass, entry)
    assert _issue(hass, f"storage_unavailable_{entry.entry_id}") is not None
    hub = entry.runtime_data
    tasks = list(hub.supervisor.tasks.values())
    assert tasks

    # When the entry is unloaded
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # Then no supervised task runs and the issue of the running hub is gone
    assert all(not task.running for task in tasks)
    assert _issue(hass, f"storage_unavailable_{entry.entry_id}") is None


async def test_a_notifier_that_cannot_deliver_raises_an_issue_until_it_delivers_again(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a hub notifying notify.phone, a service that does not exist (yet)
    entry = await setup_hub(notify_on_motion=True, notify_services=["notify.phone"])
    processed = EventWaiter(hass)

    # When a clip alerts
    await hass.async_add_executor_job(write_clip, incoming / "a.mp4")
    await processed.wait(1)
    await hass.async_block_till_done()

    # Then a repair issue names the notifier and why, the Problem sensor lists it, and the
    # other notifier (the persistent notification) still delivered
    issue_id = f"notifier_failing_{entry.entry_id}"
    issue = _issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert "notify.phone" in issue.translation_placeholders["error"]
    assert "does not exist" in issue.translation_placeholders["error"]
    state = hass.states.get(PROBLEM)
    assert state is not None
    assert state.attributes["failing_notifiers"] == ["notify.phone"]
    sent = await entry.runtime_data.store.notifications_sent(processed.events[0].data["clip_id"])
    assert sent == {"persistent_notification"}

    # When the phone appears and the next clip alerts
    calls: list[Any] = []

    async def phone(call: Any) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    await hass.async_add_executor_job(write_clip, incoming / "b.mp4")
    await processed.wait(2)
    await hass.async_block_till_done()

    # Then it was delivered and the issue is gone
    assert len(calls) == 1
    assert _issue(hass, issue_id) is None
    assert hass.states.get(PROBLEM).state == "off"  # type: ignore[union-attr]
    processed.close()


async def test_storing_waiting_clips_on_a_database_that_fails_is_a_warning_not_a_traceback(
    hass: HomeAssistant, setup_hub: SetupHub, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a running hub whose clip database then stops answering (closed under it)
    entry = await setup_hub()
    hub = entry.runtime_data
    await hub.store.close()

    # When the storage folder comes back and the waiting clips are to be stored
    await hub._async_store_unstored("that waited for the storage folder")

    # Then that is a warning naming the reason, and nothing escapes
    assert "Clips whose upload failed are stored later: clip database is closed" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
