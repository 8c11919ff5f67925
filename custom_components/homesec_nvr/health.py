"""The hub's own health: its storage folder, clip database, supervised tasks and clip workers.

What is wrong shows in three places: the hub's Problem binary sensor (with the details as
attributes), a repair issue per kind of problem (raised while it lasts, removed once it is
over), and a log line when it starts and ends. A damaged database that was replaced leaves a
persistent repair issue the user acknowledges (repairs.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import (
    DOMAIN,
    ISSUE_DATABASE_RECOVERED,
    ISSUE_DATABASE_UNAVAILABLE,
    ISSUE_NOTIFIER_FAILING,
    ISSUE_STORAGE_UNAVAILABLE,
    ISSUE_TASK_FAILING,
)
from .core.runner import ClipPipeline
from .core.storage.local import LocalStorage
from .core.store import StoreRecovery
from .core.supervisor import SupervisedTask, TaskSupervisor

_LOGGER = logging.getLogger(__name__)

# A store fault shorter than this is a hiccup (retried quietly); longer, the user is told.
DATABASE_GRACE = timedelta(minutes=1)
# A clip worker that died within this window counts as failing.
WORKER_FAILURE_WINDOW = timedelta(minutes=10)

PROBLEM_STORAGE = "storage_unavailable"
PROBLEM_DATABASE = "database_unavailable"
PROBLEM_TASKS = "task_failing"
PROBLEM_NOTIFIERS = "notifier_failing"


def recovery_issue_id(recovery: StoreRecovery) -> str:
    """One acknowledgeable issue per damaged file moved aside."""
    return f"{ISSUE_DATABASE_RECOVERED}_{recovery.damaged_path.name}"


class HubHealth:
    """Checks the hub's own parts and reports what is wrong."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        storage: LocalStorage,
        pipeline: Callable[[], ClipPipeline],
        supervisor: TaskSupervisor,
        changed: Callable[[], None],
        storage_back: Callable[[], None],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self._storage = storage
        self._pipeline = pipeline
        self._supervisor = supervisor
        self._changed = changed
        self._storage_back = storage_back
        self._storage_check: asyncio.Future[str | None] | None = None
        self.storage_error: str | None = None
        self._raised: set[str] = set()

    # -- what is wrong now -----------------------------------------------------------

    def problems(self) -> dict[str, str]:
        """Problem key -> what the user reads about it (empty when all is well)."""
        pipeline = self._pipeline()
        found: dict[str, str] = {}
        if self.storage_error is not None:
            found[PROBLEM_STORAGE] = self.storage_error
        since = pipeline.store_unavailable_since
        if since is not None and datetime.now(UTC) - since >= DATABASE_GRACE:
            found[PROBLEM_DATABASE] = pipeline.store_last_error or "unknown error"
        if failing := self.failing_tasks():
            found[PROBLEM_TASKS] = "; ".join(f"{name}: {error}" for name, error in failing)
        if notifiers := pipeline.notifier_failures:
            found[PROBLEM_NOTIFIERS] = "; ".join(
                f"{name}: {error}" for name, error in sorted(notifiers.items())
            )
        return found

    def failing_tasks(self) -> list[tuple[str, str]]:
        """(task, last failure) of each supervised task or clip worker that keeps dying."""
        failing = [(task.name, task.last_failure or "") for task in self._supervisor.failing]
        pipeline = self._pipeline()
        at = pipeline.last_worker_failure_at
        if at is not None and datetime.now(UTC) - at < WORKER_FAILURE_WINDOW:
            failing.append(("clip workers", pipeline.last_worker_failure or ""))
        return failing

    def attributes(self) -> dict[str, Any]:
        """The Problem sensor's details."""
        pipeline = self._pipeline()
        problems = self.problems()
        return {
            "problems": sorted(problems),
            "storage_error": self.storage_error,
            "database_error": problems.get(PROBLEM_DATABASE),
            "failing_tasks": [name for name, _error in self.failing_tasks()],
            "failing_notifiers": sorted(pipeline.notifier_failures),
            "task_restarts": self._supervisor.restarts,
            "worker_restarts": pipeline.worker_restarts,
            "store_faults": pipeline.store_faults,
        }

    def diagnostics(self) -> dict[str, Any]:
        """Health for the diagnostics download."""
        return {
            **self.attributes(),
            "tasks": [task.health() for task in self._supervisor.tasks.values()],
        }

    # -- checks ----------------------------------------------------------------------

    async def async_check(self) -> None:
        """Look at the storage folder (on a worker thread) and update issues and sensor."""
        if self._storage_check is None or self._storage_check.done():
            self._storage_check = self.hass.async_add_executor_job(self._storage.unavailable_reason)
            reason = await self._storage_check
            if reason != self.storage_error:
                if reason is None:
                    _LOGGER.info("Storage folder %s is available again", self._storage.root)
                    self._storage_back()
                else:
                    _LOGGER.warning(
                        "Clips cannot be stored now (%s); they are kept and stored when it is back",
                        reason,
                    )
                self.storage_error = reason
        self.async_update_issues()

    @callback
    def async_task_changed(self, _task: SupervisedTask) -> None:
        """A supervised task died or became stable again."""
        self.async_update_issues()

    @callback
    def async_update_issues(self) -> None:
        """Raise the issue of each current problem, remove the others; refresh the sensor."""
        problems = self.problems()
        for key, translation_key in (
            (PROBLEM_STORAGE, ISSUE_STORAGE_UNAVAILABLE),
            (PROBLEM_DATABASE, ISSUE_DATABASE_UNAVAILABLE),
            (PROBLEM_TASKS, ISSUE_TASK_FAILING),
            (PROBLEM_NOTIFIERS, ISSUE_NOTIFIER_FAILING),
        ):
            issue_id = f"{translation_key}_{self.entry.entry_id}"
            detail = problems.get(key)
            if detail is None:
                if issue_id in self._raised:
                    self._raised.discard(issue_id)
                    ir.async_delete_issue(self.hass, DOMAIN, issue_id)
                continue
            self._raised.add(issue_id)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=translation_key,
                translation_placeholders={
                    "error": detail,
                    "folder": str(self._storage.root),
                },
            )
        self._changed()

    @callback
    def async_clear(self) -> None:
        """At unload: the running hub's issues go (a damaged-database notice stays)."""
        for issue_id in self._raised:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._raised.clear()

    @callback
    def async_store_recovered(self, recovery: StoreRecovery) -> None:
        """A damaged clip database was moved aside: tell the user until they acknowledge."""
        _LOGGER.warning(
            "The clip database was damaged (%s); it was moved to %s and a new one started. "
            "No clip file was deleted",
            recovery.reason,
            recovery.damaged_path,
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            recovery_issue_id(recovery),
            is_fixable=True,
            is_persistent=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_DATABASE_RECOVERED,
            translation_placeholders={
                "damaged_path": str(recovery.damaged_path),
                "reason": recovery.reason,
                "time": recovery.at.isoformat(timespec="seconds"),
            },
            data={"entry_id": self.entry.entry_id},
        )
        self._changed()
