"""Supervision of long-lived tasks: a loop that dies of a bug is restarted, never silently gone.

`TaskSupervisor` runs each long-lived coroutine (a folder watcher's loop, for example) as a
`SupervisedTask`: when the coroutine raises (or returns, which a loop never should), the
failure is logged with its traceback, counted and reported to the supervisor's listener, and
the coroutine is started again after an exponential backoff. A task that then runs for
`stable_after_s` without dying is healthy again and its backoff starts over. Cancelling (stop,
unload) is never a failure.

The owner reads `failing` (died and not yet stable since its restart), `restarts`,
`last_failure` and `last_failure_at` to show the failure in its health, entities and a repair
issue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from .interfaces import PipelineError, TaskFactory, default_task_factory
from .runner import Backoff

_LOGGER = logging.getLogger(__name__)

# A restarted task that runs this long without dying counts as healthy again.
DEFAULT_STABLE_AFTER_S = 60.0

LoopFactory = Callable[[], Coroutine[Any, Any, None]]


class SupervisedTask:
    """One long-lived coroutine, restarted with backoff whenever it dies."""

    def __init__(
        self,
        name: str,
        factory: LoopFactory,
        *,
        create_task: TaskFactory = default_task_factory,
        backoff: Backoff | None = None,
        stable_after_s: float = DEFAULT_STABLE_AFTER_S,
        on_change: Callable[[SupervisedTask], None] | None = None,
    ) -> None:
        self.name = name
        self._factory = factory
        self._create_task = create_task
        self._backoff = backoff or Backoff()
        self._stable_after_s = stable_after_s
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self.restarts = 0
        self.failing = False
        self.last_failure: str | None = None
        self.last_failure_at: datetime | None = None

    @property
    def running(self) -> bool:
        """Started and not stopped (also while waiting to restart)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the coroutine under supervision (once)."""
        if self._task is None:
            self._task = self._create_task(self._supervise(), self.name)

    async def stop(self) -> None:
        """Cancel the coroutine (and any pending restart) and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def health(self) -> dict[str, Any]:
        """What diagnostics show of this task."""
        return {
            "name": self.name,
            "running": self.running,
            "failing": self.failing,
            "restarts": self.restarts,
            "last_failure": self.last_failure,
            "last_failure_at": self.last_failure_at.isoformat() if self.last_failure_at else None,
        }

    async def _supervise(self) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            stable = asyncio.get_running_loop().call_later(self._stable_after_s, self._stable)
            try:
                await self._factory()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - a bug must not end the task for good
                error: BaseException | None = err
                message = f"{type(err).__name__}: {err}"
            else:
                error = None
                message = "ended unexpectedly"
            finally:
                stable.cancel()
            if time.monotonic() - started >= self._stable_after_s:
                failures = 0
            failures += 1
            delay = self._backoff.delay(failures)
            self.restarts += 1
            self.failing = True
            self.last_failure = message
            self.last_failure_at = datetime.now(UTC)
            _LOGGER.error(
                "HomeSec task %s died (%s); restart %s in %.1f s",
                self.name,
                message,
                self.restarts,
                delay,
                # An expected failure (a port in use, a bad certificate) says why on its own;
                # a bug gets its traceback.
                exc_info=None if isinstance(error, PipelineError) else error,
            )
            self._changed()
            await asyncio.sleep(delay)

    def _stable(self) -> None:
        if self.failing:
            _LOGGER.info("HomeSec task %s runs again after %s restart(s)", self.name, self.restarts)
            self.failing = False
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)


class TaskSupervisor:
    """Every supervised task of one owner (the hub), and their combined health."""

    def __init__(
        self,
        *,
        create_task: TaskFactory = default_task_factory,
        backoff: Backoff | None = None,
        stable_after_s: float = DEFAULT_STABLE_AFTER_S,
        on_change: Callable[[SupervisedTask], None] | None = None,
    ) -> None:
        self._create_task = create_task
        self._backoff = backoff
        self._stable_after_s = stable_after_s
        self._on_change = on_change
        self.tasks: dict[str, SupervisedTask] = {}

    def start(self, name: str, factory: LoopFactory) -> SupervisedTask:
        """Run `factory()` under supervision; a task of the same name is replaced."""
        task = SupervisedTask(
            name,
            factory,
            create_task=self._create_task,
            backoff=self._backoff,
            stable_after_s=self._stable_after_s,
            on_change=self._on_change,
        )
        self.tasks[name] = task
        task.start()
        return task

    async def stop(self, task: SupervisedTask) -> None:
        """Stop one task and forget it."""
        if self.tasks.get(task.name) is task:
            del self.tasks[task.name]
        await task.stop()

    async def stop_all(self) -> None:
        """Stop every task."""
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            await task.stop()

    @property
    def failing(self) -> list[SupervisedTask]:
        """The tasks that died and are not yet stable again."""
        return [task for task in self.tasks.values() if task.failing]

    @property
    def restarts(self) -> int:
        """Restarts of every current task."""
        return sum(task.restarts for task in self.tasks.values())
