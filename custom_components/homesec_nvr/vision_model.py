"""The vision model inside Home Assistant: the analyzer on HA's shared HTTP client, today's
usage persisted across restarts, and repair issues for problems only the user can fix."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.httpx_client import get_async_client
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    CONF_CAMERA_CONTEXT,
    DOMAIN,
    ISSUE_VLM_INVALID_AUTH,
    ISSUE_VLM_MODEL_NOT_FOUND,
    VLM_USAGE_STORAGE_KEY,
)
from .core.vlm.openai_compatible import OpenAICompatibleAnalyzer, VLMError, VLMSettings
from .core.vlm.prompt import CameraContext
from .core.vlm.usage import UsageTracker

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
SAVE_DELAY_S = 10
_ISSUES: dict[str, str] = {
    "invalid_auth": ISSUE_VLM_INVALID_AUTH,
    "model_not_found": ISSUE_VLM_MODEL_NOT_FOUND,
}


class VisionModel:
    """Owns the analyzer and its usage tracker for one hub."""

    def __init__(
        self,
        hass: HomeAssistant,
        settings: VLMSettings,
        camera_lookup: Callable[[str], tuple[str, dict[str, Any]] | None],
    ) -> None:
        self.hass = hass
        self.settings = settings
        self.usage = UsageTracker(settings.usage_limits(), today=lambda: dt_util.now().date())
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, VLM_USAGE_STORAGE_KEY)
        self._camera_lookup = camera_lookup
        self.analyzer = OpenAICompatibleAnalyzer(
            settings,
            get_async_client(hass),
            camera_context=self._camera_context,
            now=dt_util.now,
            usage=self.usage,
            on_outcome=self._on_outcome,
        )
        self._unsub_usage = self.usage.add_listener(self._schedule_save)

    def _camera_context(self, camera_id: str) -> CameraContext:
        found = self._camera_lookup(camera_id)
        if found is None:
            return CameraContext(camera_id)
        name, config = found
        return CameraContext(name, str(config.get(CONF_CAMERA_CONTEXT) or ""))

    async def async_restore_usage(self) -> None:
        """Today's calls and tokens survive a restart (so the daily budget holds), and what
        the server accepts does too (no rejected request to re-learn it)."""
        stored = await self._store.async_load()
        if not stored:
            return
        if isinstance(learned := stored.get("learned"), dict):
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
        return {**self.usage.snapshot().to_dict(), "learned": self.analyzer.learned()}

    @callback
    def _on_outcome(self, error: VLMError | None) -> None:
        """Raise a repair issue for a wrong key or model; clear them once a call works."""
        if error is None:
            for issue_id in _ISSUES.values():
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        if error.reason not in _ISSUES:
            return
        issue_id = _ISSUES[error.reason]
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=issue_id,
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
