"""The vision model inside Home Assistant: the analyzer on HA's shared HTTP client, today's
usage persisted across restarts, a reauthentication when the server refuses the API key, and
a repair issue when it does not know the model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.httpx_client import get_async_client
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    DOMAIN,
    ISSUE_VLM_AI_TASK_MISSING,
    ISSUE_VLM_AI_TASK_NO_ATTACHMENTS,
    ISSUE_VLM_MODEL_NOT_FOUND,
    VLM_BACKEND_AI_TASK,
    VLM_BACKEND_OPENAI,
    VLM_USAGE_STORAGE_KEY,
)
from .core.vlm.openai_compatible import OpenAICompatibleAnalyzer, VLMError, VLMSettings
from .core.vlm.prompt import CameraContext
from .core.vlm.usage import UsageTracker

if TYPE_CHECKING:
    from .ha_ai_task import AITaskAnalyzer
from .prompt_context import camera_prompt_context

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
# The repair issue of each AI Task failure reason (see ha_ai_task).
_AI_TASK_ISSUES = {
    "ai_task_entity_missing": ISSUE_VLM_AI_TASK_MISSING,
    "ai_task_no_attachments": ISSUE_VLM_AI_TASK_NO_ATTACHMENTS,
}
SAVE_DELAY_S = 10


class VisionModel:
    """Owns the analyzer and its usage tracker for one hub."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: VLMSettings,
        camera_lookup: Callable[[str], tuple[str, dict[str, Any]] | None],
        on_invalid_auth: Callable[[], None],
        *,
        backend: str = VLM_BACKEND_OPENAI,
        ai_task_entity: str | None = None,
    ) -> None:
        self.hass = hass
        self._on_invalid_auth = on_invalid_auth
        self.settings = settings
        self.usage = UsageTracker(settings.usage_limits(), today=lambda: dt_util.now().date())
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, VLM_USAGE_STORAGE_KEY)
        self._camera_lookup = camera_lookup
        self.ai_task_entity = ai_task_entity
        self._stored_learned: dict[str, Any] = {}
        self.analyzer: OpenAICompatibleAnalyzer | AITaskAnalyzer
        ai_task = self._ai_task_analyzer() if backend == VLM_BACKEND_AI_TASK else None
        if ai_task is not None:
            self.analyzer = ai_task
        else:
            self.analyzer = OpenAICompatibleAnalyzer(
                settings,
                get_async_client(hass),
                camera_context=self._camera_context,
                now=dt_util.now,
                usage=self.usage,
                on_outcome=self._on_outcome,
            )
        self._unsub_usage = self.usage.add_listener(self._schedule_save)

    def _ai_task_analyzer(self) -> AITaskAnalyzer | None:
        """The AI Task analyzer; None (with a warning) where Home Assistant has no AI Task
        (before 2025.8, e.g. options restored from a newer installation)."""
        try:
            from .ha_ai_task import AITaskAnalyzer  # AI Task may be missing
        except ImportError as err:
            _LOGGER.warning(
                "The vision model is set to Home Assistant AI Task, which this Home Assistant "
                "does not have (%s); using the OpenAI-compatible server settings instead",
                err,
            )
            return None
        return AITaskAnalyzer(
            self.hass,
            self.settings,
            entity_id=self.ai_task_entity,
            camera_context=self._camera_context,
            now=dt_util.now,
            usage=self.usage,
            on_outcome=self._on_outcome,
        )

    def _camera_context(self, camera_id: str) -> CameraContext:
        found = self._camera_lookup(camera_id)
        if found is None:
            return CameraContext(camera_id)
        name, config = found
        return camera_prompt_context(name, config)

    async def async_restore_usage(self) -> None:
        """Today's calls and tokens survive a restart (so the daily budget holds), and what
        the server accepts does too (no rejected request to re-learn it)."""
        stored = await self._store.async_load()
        if not stored:
            return
        if isinstance(learned := stored.get("learned"), dict):
            self._stored_learned = learned
            self.analyzer.restore_learned(learned)
        try:
            day = date.fromisoformat(str(stored["day"]))
            self.usage.seed(
                int(stored["calls"]),
                int(stored["prompt_tokens"]),
                int(stored["completion_tokens"]),
                day=day,
            )
        except (KeyError, TypeError, ValueError) as err:
            _LOGGER.warning("Ignoring unreadable vision model usage record: %s", err)

    @callback
    def _schedule_save(self) -> None:
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY_S)

    def _data_to_save(self) -> dict[str, Any]:
        # An AI Task analyzer learns nothing: what a server taught is kept for a switch back.
        learned = self.analyzer.learned() or self._stored_learned
        return {**self.usage.snapshot().to_dict(), "learned": learned}

    @callback
    def _on_outcome(self, error: VLMError | None) -> None:
        """A refused key asks the user for a new one (reauthentication); an unknown model
        raises a repair issue, cleared once a call works; so does an AI Task entity that is
        gone or cannot take images."""
        if error is None:
            for issue in (
                ISSUE_VLM_MODEL_NOT_FOUND,
                ISSUE_VLM_AI_TASK_MISSING,
                ISSUE_VLM_AI_TASK_NO_ATTACHMENTS,
            ):
                ir.async_delete_issue(self.hass, DOMAIN, issue)
        elif (ai_issue := _AI_TASK_ISSUES.get(error.reason)) is not None:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                ai_issue,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ai_issue,
                translation_placeholders={
                    "entity_id": self.ai_task_entity or "",
                },
            )
        elif error.reason == "invalid_auth":
            self._on_invalid_auth()
        elif error.reason == "model_not_found":
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                ISSUE_VLM_MODEL_NOT_FOUND,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_VLM_MODEL_NOT_FOUND,
                translation_placeholders={
                    "model": self.settings.model,
                    "base_url": self.settings.base_url,
                },
            )

    async def async_close(self) -> None:
        """Save today's usage now and release the analyzer."""
        self._unsub_usage()
        await self._store.async_save(self._data_to_save())
        await self.analyzer.close()
