"""The Dropbox off-site copy in a real Home Assistant: sign-in through application
credentials and HA's OAuth2 flow (the token exchange and the SDK's calls go to the Dropbox
contract server), clips copied after they are stored, the backlog sensor, diagnostics,
a revoked grant (reauthentication + repair issue) and a full account (repair issue)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homesec_nvr import application_credentials, ha_offsite
from custom_components.homesec_nvr.const import (
    CONF_OFFSITE_CAMERAS,
    CONF_OFFSITE_ENABLED,
    CONF_OFFSITE_MAX_GB,
    CONF_OFFSITE_RETENTION_DAYS,
    CONF_OFFSITE_ROOT,
    DOMAIN,
    ISSUE_OFFSITE_FULL,
    ISSUE_OFFSITE_SIGN_IN,
)
from custom_components.homesec_nvr.diagnostics import async_get_config_entry_diagnostics
from custom_components.homesec_nvr.settings import retention_settings

from .conftest import SetupHub
from .core.dropbox_server import DropboxServer
from .helpers import open_options, process_clip

AUTH_DOMAIN = "my_dropbox_app"
BACKLOG = "sensor.homesec_offsite_backlog"
OFFSITE = {
    CONF_OFFSITE_ENABLED: True,
    CONF_OFFSITE_ROOT: "HomeSec",
    CONF_OFFSITE_RETENTION_DAYS: 30,
}


@pytest.fixture
async def dropbox(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[DropboxServer]:
    """The contract server; HA's token requests and the SDK's transport go to it, and the
    user's Dropbox app is in Application credentials."""
    async with DropboxServer() as server:
        monkeypatch.setattr(application_credentials, "TOKEN_URL", f"{server.url}/oauth2/token")
        monkeypatch.setattr(ha_offsite, "HTTP_SESSION_FACTORY", server.http_session)
        assert await async_setup_component(hass, "application_credentials", {})
        await async_import_client_credential(
            hass, DOMAIN, ClientCredential(server.app_key, server.app_secret), AUTH_DOMAIN
        )
        yield server


def _signed_in(server: DropboxServer) -> dict[str, Any]:
    """Entry data of a hub signed in to Dropbox (HA's OAuth2 token layout)."""
    access, refresh = server.grant()
    return {
        "auth_implementation": AUTH_DOMAIN,
        "token": {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": 14400,
            "expires_at": time.time() + 14400,
        },
    }


def _dropbox_reauth_flows(hass: HomeAssistant) -> list[dict[str, Any]]:
    return [
        f
        for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if f["context"]["source"] == SOURCE_REAUTH
    ]


async def _until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_options_page_needs_application_credentials(
    hass: HomeAssistant, setup_hub: SetupHub, socket_enabled: None
) -> None:
    # Given a hub and no Dropbox app in Application credentials
    assert await async_setup_component(hass, "application_credentials", {})
    entry = await setup_hub()
    # When the off-site copy is turned on
    result = await open_options(hass, entry.entry_id, "offsite")
    result = await hass.config_entries.options.async_configure(result["flow_id"], OFFSITE)
    # Then the page says the app credentials come first, and nothing is saved
    assert result["type"] == "form"
    assert result["errors"] == {"base": "dropbox_no_credentials"}
    assert CONF_OFFSITE_ENABLED not in entry.options or not entry.options[CONF_OFFSITE_ENABLED]


async def test_sign_in_then_clips_are_copied(
    hass: HomeAssistant,
    dropbox: DropboxServer,
    setup_hub: SetupHub,
    incoming: Path,
    current_request_with_host: None,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given a hub whose options page turns the off-site copy on (folder " /Cams/ ")
    entry = await setup_hub()
    result = await open_options(hass, entry.entry_id, "offsite")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OFFSITE, CONF_OFFSITE_ROOT: " /Cams/ "}
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done()
    assert entry.options[CONF_OFFSITE_ROOT] == "Cams"

    # Then without a sign-in the hub raises a repair issue and the Dropbox sign-in flow
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, ISSUE_OFFSITE_SIGN_IN)
    assert issue is not None
    assert (issue.translation_key, issue.translation_placeholders) == (
        "offsite_sign_in_missing",
        None,
    )
    flows = _dropbox_reauth_flows(hass)
    assert len(flows) == 1

    # When the user follows it: the OAuth2 flow sends them to Dropbox (offline access) ...
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"])
    assert result["type"] == "external"
    authorize = urlsplit(result["url"])
    query = parse_qs(authorize.query)
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
        application_credentials.AUTHORIZE_URL
    )
    assert query["token_access_type"] == ["offline"]
    assert query["client_id"] == [dropbox.app_key]
    # ... and Dropbox sends them back with a code
    client = await hass_client_no_auth()
    response = await client.get(
        f"/auth/external/callback?code={dropbox.authorize()}&state={query['state'][0]}"
    )
    assert response.status == 200
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"])

    # Then the token was checked with a real call and kept in the entry; the issue is gone
    assert result["type"] == "abort"
    assert result["reason"] == "dropbox_signed_in"
    assert result["description_placeholders"] == {"account": "owner@example.com"}
    assert dropbox.count("users/get_current_account") == 1
    await hass.async_block_till_done()
    assert entry.data["auth_implementation"] == AUTH_DOMAIN
    assert entry.data["token"]["access_token"] in dropbox.access_tokens
    assert issues.async_get_issue(DOMAIN, ISSUE_OFFSITE_SIGN_IN) is None

    # When a clip is recorded
    payload = await process_clip(hass, incoming / "door.mp4")

    # Then its clip (and snapshot, when it has one) lands in /Cams/<camera>/<local day>/ and
    # the backlog drains to 0; the local copy stays
    await _until(lambda: any(k.endswith(".mp4") for k in dropbox.files))
    state = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert state is not None and state.clip_uri is not None
    day = dt_util.as_local(state.start_ts).date().isoformat()
    expected = {f"/cams/front door/{day}/{Path(state.clip_uri).name}"}
    if state.snapshot_uri:
        expected.add(f"/cams/front door/{day}/{Path(state.snapshot_uri).name}")
    await _until(lambda: set(dropbox.files) == expected)
    await _until(lambda: hass.states.get(BACKLOG) is not None)
    await _until(lambda: hass.states.get(BACKLOG).state == "0")  # type: ignore[union-attr]

    # And diagnostics show the copy, never the tokens
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["offsite"]["status"]["copied"] == 1
    assert diagnostics["offsite"]["status"]["backlog"] == 0
    text = str(diagnostics)
    assert entry.data["token"]["access_token"] not in text
    assert entry.data["token"]["refresh_token"] not in text


async def test_revoked_grant_asks_for_reauthentication(
    hass: HomeAssistant,
    dropbox: DropboxServer,
    setup_hub: SetupHub,
    incoming: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a hub signed in to Dropbox
    entry = await setup_hub(entry_data=_signed_in(dropbox), **OFFSITE)
    # When the user revokes the app in Dropbox and a clip is recorded
    dropbox.revoke()
    await process_clip(hass, incoming / "door.mp4")
    await _until(
        lambda: ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_OFFSITE_SIGN_IN) is not None
    )
    await hass.async_block_till_done()

    # Then a repair issue and the Dropbox sign-in (a reauth of the hub) ask to sign in again,
    # with a log line and no traceback; the clip waits in the backlog
    flows = _dropbox_reauth_flows(hass)
    assert len(flows) == 1
    await _until(lambda: entry.runtime_data.offsite.backlog == 1)
    assert "sign in to Dropbox again" in caplog.text
    assert "Traceback" not in caplog.text
    assert not dropbox.files
    assert entry.runtime_data.offsite.copier is not None
    assert flows[0]["context"]["entry_id"] == entry.entry_id
    # And the issue's text says the grant was revoked, in words of the translation
    issue = ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_OFFSITE_SIGN_IN)
    assert issue is not None
    assert issue.translation_key == "offsite_sign_in_revoked"
    assert not issue.translation_placeholders


async def test_full_dropbox_raises_a_repair_issue(
    hass: HomeAssistant, dropbox: DropboxServer, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a hub signed in to a Dropbox account without space
    dropbox.quota_bytes = 10
    await setup_hub(entry_data=_signed_in(dropbox), **OFFSITE)
    # When a clip is recorded
    await process_clip(hass, incoming / "door.mp4")
    # Then the repair issue says Dropbox is full and how many clips wait
    await _until(lambda: ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_OFFSITE_FULL) is not None)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_OFFSITE_FULL)
    assert issue is not None and issue.translation_placeholders == {"backlog": "1"}
    assert not dropbox.files


async def test_expired_access_token_is_refreshed_with_the_app_credentials(
    hass: HomeAssistant, dropbox: DropboxServer, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a hub whose stored access token expired (HA was off for a day)
    data = _signed_in(dropbox)
    dropbox.expire(data["token"]["access_token"])
    data["token"]["expires_at"] = time.time() - 86400
    entry = await setup_hub(entry_data=data, **OFFSITE)
    # When a clip is recorded
    await process_clip(hass, incoming / "door.mp4")
    # Then the SDK refreshed the token with the refresh token and the application
    # credentials' key and secret, and the clip was copied; no sign-in was asked for
    await _until(lambda: any(k.endswith(".mp4") for k in dropbox.files))
    assert dropbox.count("oauth2/token") == 1
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_OFFSITE_SIGN_IN) is None
    assert _dropbox_reauth_flows(hass) == []
    assert entry.runtime_data.offsite.signed_in


def test_local_retention_keeps_uncopied_clips_only_while_the_copy_is_on() -> None:
    # Given the hub options with and without the off-site copy
    on = retention_settings({**OFFSITE, CONF_OFFSITE_RETENTION_DAYS: 10})
    off = retention_settings({CONF_OFFSITE_ENABLED: False, CONF_OFFSITE_RETENTION_DAYS: 10})
    # Then the local retention keeps uncopied clips of the off-site period only when it is on
    assert on.offsite_copy_days == 10.0
    assert off.offsite_copy_days is None


async def test_options_page_chooses_the_cameras_to_copy(
    hass: HomeAssistant, dropbox: DropboxServer, setup_hub: SetupHub
) -> None:
    # Given a signed-in hub with one camera
    entry = await setup_hub(entry_data=_signed_in(dropbox), **OFFSITE)
    camera_id = next(iter(entry.runtime_data.cameras))
    # When the off-site page offers the hub's cameras and the user picks that one
    result = await open_options(hass, entry.entry_id, "offsite")
    schema = result["data_schema"].schema
    field = next(v for k, v in schema.items() if k == CONF_OFFSITE_CAMERAS)
    assert [o["value"] for o in field.config["options"]] == [camera_id]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OFFSITE, CONF_OFFSITE_CAMERAS: [camera_id]}
    )
    await hass.async_block_till_done()
    # Then it is saved, and the reloaded hub copies that camera only
    assert result["type"] == "create_entry"
    assert entry.options[CONF_OFFSITE_CAMERAS] == [camera_id]
    copier = entry.runtime_data.offsite.copier
    assert copier is not None
    assert copier._settings.cameras == frozenset({camera_id})


async def test_options_page_sets_the_largest_offsite_copy(
    hass: HomeAssistant, dropbox: DropboxServer, setup_hub: SetupHub
) -> None:
    # Given a signed-in hub whose off-site copy has no size limit yet
    entry = await setup_hub(entry_data=_signed_in(dropbox), **OFFSITE)
    copier = entry.runtime_data.offsite.copier
    assert copier is not None and copier._settings.max_total_gb == 0
    # When the user sets the largest off-site copy to 2.5 GB on the off-site page
    result = await open_options(hass, entry.entry_id, "offsite")
    assert CONF_OFFSITE_MAX_GB in result["data_schema"].schema
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OFFSITE, CONF_OFFSITE_MAX_GB: "2.5"}
    )
    await hass.async_block_till_done()
    # Then it is saved as a number, the reloaded hub's copier keeps the copy under it,
    # and diagnostics show the limit
    assert result["type"] == "create_entry"
    assert entry.options[CONF_OFFSITE_MAX_GB] == 2.5
    copier = entry.runtime_data.offsite.copier
    assert copier is not None and copier._settings.max_total_gb == 2.5
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["offsite"]["settings"]["max_total_gb"] == 2.5
