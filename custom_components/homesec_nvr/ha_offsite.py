"""Home Assistant glue of the off-site copy (Dropbox): the grant from the entry data, the
copier's lifecycle, its repair issues and reauthentication, and what diagnostics show.

The grant is Home Assistant's OAuth2 token (application credentials + the sign-in flow,
flows/dropbox_signin.py), kept in the hub entry's data. The Dropbox SDK refreshes the access
token with its refresh token and the app's key and secret; the refreshed access token is not
written back (an entry update reloads the hub), so every start refreshes once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import (
    CONF_OFFSITE_CAMERAS,
    CONF_OFFSITE_ENABLED,
    CONF_OFFSITE_MAX_GB,
    CONF_OFFSITE_RETENTION_DAYS,
    CONF_OFFSITE_ROOT,
    DEFAULT_OFFSITE_MAX_GB,
    DEFAULT_OFFSITE_RETENTION_DAYS,
    DEFAULT_OFFSITE_ROOT,
    DOMAIN,
    ISSUE_OFFSITE_FULL,
    ISSUE_OFFSITE_SIGN_IN,
    REAUTH_DROPBOX,
    REAUTH_KIND,
)
from .core.interfaces import StorageBackend
from .core.offsite.copier import BLOCKED_AUTH, BLOCKED_SPACE, OffsiteCopier, OffsiteSettings
from .core.offsite.dropbox import DropboxCredentials, DropboxTarget
from .core.store import ClipStore

_LOGGER = logging.getLogger(__name__)

# The HTTP transport the SDK uses (None: its own). Tests point it at a contract server.
HTTP_SESSION_FACTORY: Callable[[], requests.Session] | None = None


def offsite_enabled(options: Mapping[str, Any]) -> bool:
    """Whether the hub keeps an off-site copy."""
    return bool(options.get(CONF_OFFSITE_ENABLED, False))


def offsite_cameras(options: Mapping[str, Any]) -> frozenset[str] | None:
    """The cameras whose clips are copied (None: every camera)."""
    cameras = options.get(CONF_OFFSITE_CAMERAS) or []
    return frozenset(str(c) for c in cameras) or None


def offsite_settings(options: Mapping[str, Any]) -> OffsiteSettings:
    """The copier's settings from the hub options."""
    return OffsiteSettings(
        cameras=offsite_cameras(options),
        root=str(options.get(CONF_OFFSITE_ROOT) or DEFAULT_OFFSITE_ROOT),
        retention_days=int(
            options.get(CONF_OFFSITE_RETENTION_DAYS, DEFAULT_OFFSITE_RETENTION_DAYS)
        ),
        max_total_gb=float(options.get(CONF_OFFSITE_MAX_GB, DEFAULT_OFFSITE_MAX_GB)),
    )


def credentials_from(token: Mapping[str, Any], client_id: str, secret: str) -> DropboxCredentials:
    """The SDK's credentials from a Home Assistant OAuth2 token."""
    expires_at = token.get("expires_at")
    expires = (
        datetime.fromtimestamp(float(expires_at), UTC).replace(tzinfo=None)
        if expires_at is not None
        else None
    )
    return DropboxCredentials(
        access_token=str(token["access_token"]),
        refresh_token=token.get("refresh_token"),
        app_key=client_id,
        app_secret=secret,
        expires_at=expires,
    )


def make_target(credentials: DropboxCredentials) -> DropboxTarget:
    """A Dropbox target (call in an executor: the SDK builds its HTTP pool)."""
    session = HTTP_SESSION_FACTORY() if HTTP_SESSION_FACTORY is not None else None
    return DropboxTarget(credentials, http_session=session)


async def async_target_for(
    hass: HomeAssistant, token: Mapping[str, Any], implementation: Any
) -> DropboxTarget:
    """A target for a token of an application-credentials implementation."""
    credentials = credentials_from(
        token, str(implementation.client_id), str(implementation.client_secret)
    )
    return await hass.async_add_executor_job(make_target, credentials)


class OffsiteGlue:
    """Runs the copier for the hub while the off-site copy is enabled and signed in."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        store: ClipStore,
        storage: StorageBackend,
        on_change: Callable[[], None],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self._store = store
        self._storage = storage
        self._on_change = on_change
        self.copier: OffsiteCopier | None = None
        self.enabled = offsite_enabled(entry.options)
        self.signed_in = False

    @property
    def backlog(self) -> int | None:
        """Clips waiting for their off-site copy (None while not copying)."""
        return self.copier.status.backlog if self.copier is not None else None

    async def async_start(self) -> None:
        """Start copying, or ask for the sign-in."""
        if not self.enabled:
            for issue in (ISSUE_OFFSITE_SIGN_IN, ISSUE_OFFSITE_FULL):
                ir.async_delete_issue(self.hass, DOMAIN, issue)
            return
        target = await self._async_target()
        if target is None:
            self._ask_sign_in("missing")
            return
        self.signed_in = True
        ir.async_delete_issue(self.hass, DOMAIN, ISSUE_OFFSITE_SIGN_IN)
        self.copier = OffsiteCopier(
            self._store,
            self._storage,
            target,
            offsite_settings(self.entry.options),
            tz=dt_util.get_default_time_zone(),
            on_change=self._changed,
        )
        self.copier.start()

    async def _async_target(self) -> DropboxTarget | None:
        token = self.entry.data.get("token")
        if not token or "auth_implementation" not in self.entry.data:
            return None
        try:
            implementation = await config_entry_oauth2_flow.async_get_config_entry_implementation(
                self.hass, self.entry
            )
        except (ValueError, HomeAssistantError) as err:
            _LOGGER.warning("Off-site copy: the Dropbox app credentials are gone (%s)", err)
            return None
        return await async_target_for(self.hass, token, implementation)

    async def async_stop(self) -> None:
        if self.copier is not None:
            await self.copier.stop()
            await self.copier.target.close()  # type: ignore[attr-defined]
            self.copier = None

    @callback
    def clip_finished(self) -> None:
        """A clip is stored and finished: copy it."""
        if self.copier is not None:
            self.copier.notify()

    @callback
    def _changed(self) -> None:
        assert self.copier is not None
        status = self.copier.status
        if status.blocked == BLOCKED_AUTH and self.signed_in:
            self._ask_sign_in("revoked")  # once: not again with every backlog change
        if status.blocked == BLOCKED_SPACE:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                ISSUE_OFFSITE_FULL,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_OFFSITE_FULL,
                translation_placeholders={"backlog": str(status.backlog)},
            )
        elif status.blocked is None:
            ir.async_delete_issue(self.hass, DOMAIN, ISSUE_OFFSITE_FULL)
        self._on_change()

    def _ask_sign_in(self, why: str) -> None:
        """Raise the sign-in issue (its text says why: "missing" or "revoked", each its own
        translation) and start the Dropbox reauthentication."""
        self.signed_in = False
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            ISSUE_OFFSITE_SIGN_IN,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"{ISSUE_OFFSITE_SIGN_IN}_{why}",
        )
        self.entry.async_start_reauth(self.hass, data={REAUTH_KIND: REAUTH_DROPBOX})

    def diagnostics(self) -> dict[str, Any]:
        """The copy backlog and state (no tokens)."""
        info: dict[str, Any] = {
            "enabled": self.enabled,
            "signed_in": self.signed_in,
            "settings": {
                "root": offsite_settings(self.entry.options).root,
                "retention_days": offsite_settings(self.entry.options).retention_days,
                "max_total_gb": offsite_settings(self.entry.options).max_total_gb,
                "cameras": sorted(offsite_cameras(self.entry.options) or []) or "all",
            },
        }
        if self.copier is not None:
            s = self.copier.status
            info["status"] = {
                "backlog": s.backlog,
                "copied": s.copied,
                "bytes_copied": s.bytes_copied,
                "failures": s.failures,
                "last_copy_at": s.last_copy_at.isoformat() if s.last_copy_at else None,
                "last_error": s.last_error,
                "failing_since": s.failing_since.isoformat() if s.failing_since else None,
                "retry_at": s.retry_at.isoformat() if s.retry_at else None,
                "blocked": s.blocked,
                "remote_folders_deleted": s.remote_deleted,
            }
            pending = getattr(self.copier.target, "pending_sessions", {})
            info["unfinished_upload_sessions"] = len(pending)
        return info
