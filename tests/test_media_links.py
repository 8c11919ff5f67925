"""Signed clip and snapshot links: they open without a login for whoever got the notification,
expire, refuse tampering with an empty 401 that IP banning never counts, and serve only
files inside the storage folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import persistent_notification
from homeassistant.components.http import CONF_IP_BAN_ENABLED, CONF_LOGIN_ATTEMPTS_THRESHOLD
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.homesec_nvr.const import CONF_LINK_SECRET
from custom_components.homesec_nvr.core.links import LinkSigner, LinkTarget

from .conftest import SetupHub, hub_entry
from .helpers import process_clip

SECRET = "0123456789abcdef" * 4


@pytest.fixture
async def ip_ban(hass: HomeAssistant) -> None:
    """HTTP with IP banning after a single failed login, as a strict user sets it up."""
    assert await async_setup_component(
        hass, "http", {"http": {CONF_IP_BAN_ENABLED: True, CONF_LOGIN_ATTEMPTS_THRESHOLD: 1}}
    )


async def _processed_clip(hass: HomeAssistant, incoming: Path) -> dict[str, Any]:
    return await process_clip(hass, incoming / "door.mp4")


def _with(link: str, **query: str) -> str:
    url = URL(link)
    return str(url.with_query({**url.query, **query}))


async def test_a_notifications_links_open_without_a_login(
    hass: HomeAssistant,
    ip_ban: None,
    setup_hub: SetupHub,
    incoming: Path,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a processed clip that alerted (a persistent notification with its snapshot)
    entry = await setup_hub(notify_on_motion=True, link_expiry_hours=2)
    payload = await _processed_clip(hass, incoming)
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    body = notifications[f"homesec_{payload['clip_id']}"]["message"]
    client = await hass_client_no_auth()

    # When someone without a Home Assistant session opens the snapshot and the clip
    snapshot = await client.get(payload["snapshot_url"])
    clip = await client.get(payload["media_url"])
    ranged = await client.get(payload["media_url"], headers={"Range": "bytes=0-99"})

    # Then both open (the video with Range support), exactly the stored files, the
    # notification embeds the same links, and nothing about a failed login is logged
    assert snapshot.status == 200
    assert snapshot.headers["Content-Type"] == "image/jpeg"
    assert (await snapshot.read())[:2] == b"\xff\xd8"
    assert clip.status == 200
    assert clip.headers["Content-Type"] == "video/mp4"
    assert "private" in clip.headers["Cache-Control"]
    stored = await entry.runtime_data.store.get_state(payload["clip_id"])
    assert stored is not None
    stored_path = entry.runtime_data.storage.local_path(stored.clip_uri or "")
    assert stored_path is not None
    assert await clip.read() == await hass.async_add_executor_job(stored_path.read_bytes)
    assert ranged.status == 206
    assert len(await ranged.read()) == 100
    assert f"/api/homesec_nvr/clips/{payload['clip_id']}/snapshot?exp=" in body
    assert f"/api/homesec_nvr/clips/{payload['clip_id']}/clip?exp=" in body
    expires = int(URL(payload["media_url"]).query["exp"])
    assert abs(expires - (time.time() + 2 * 3600)) < 60
    assert "invalid authentication" not in caplog.text
    assert "Login attempt" not in caplog.text


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"sig": "0" * 64}, id="forged signature"),
        pytest.param({"sig": ""}, id="empty signature"),
        pytest.param({"exp": str(int(time.time()) + 10**7)}, id="expiry pushed later"),
        pytest.param({"exp": "1"}, id="expired long ago"),
        pytest.param({"exp": "-5"}, id="negative expiry"),
        pytest.param({"exp": "9" * 40}, id="huge expiry"),
    ],
)
async def test_tampered_links_get_an_empty_401_and_never_a_ban(
    hass: HomeAssistant,
    ip_ban: None,
    setup_hub: SetupHub,
    incoming: Path,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, str],
) -> None:
    # Given a valid link of a processed clip, and IP banning after one failed login
    await setup_hub()
    payload = await _processed_clip(hass, incoming)
    client = await hass_client_no_auth()

    # When a changed link is opened three times
    answers = [await client.get(_with(payload["media_url"], **change)) for _ in range(3)]

    # Then each gets an empty 401, no failed login is logged, and the client is not banned:
    # the valid link still opens
    assert [a.status for a in answers] == [401, 401, 401]
    assert [await a.read() for a in answers] == [b"", b"", b""]
    assert "Login attempt" not in caplog.text
    assert "Banned IP" not in caplog.text
    assert (await client.get(payload["media_url"])).status == 200


async def test_a_link_opens_only_its_own_clip_and_target(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given a processed clip's links
    await setup_hub()
    payload = await _processed_clip(hass, incoming)
    clip_id = payload["clip_id"]
    query = URL(payload["media_url"]).query
    client = await hass_client_no_auth()

    # When its signature is used for the snapshot, another clip, or a path outside
    as_snapshot = await client.get(f"/api/homesec_nvr/clips/{clip_id}/snapshot", params=dict(query))
    other = await client.get("/api/homesec_nvr/clips/other-clip/clip", params=dict(query))
    traversal = await client.get(
        "/api/homesec_nvr/clips/..%2F..%2Fsecrets.yaml/clip", params=dict(query)
    )
    unsigned = await client.get(URL(payload["media_url"]).path)

    # Then each is refused
    assert as_snapshot.status == 401
    assert other.status == 401
    assert traversal.status in (400, 401, 404)  # HA's security filter answers 400
    assert unsigned.status == 401


async def test_a_valid_link_to_a_clip_the_store_does_not_have_is_not_found(
    hass: HomeAssistant, setup_hub: SetupHub, hass_client_no_auth: ClientSessionGenerator
) -> None:
    # Given a running hub and a correctly signed link to a clip it never had
    entry = await setup_hub()
    link = entry.runtime_data.signer.link("never-seen", LinkTarget.CLIP, 600)
    assert link is not None
    client = await hass_client_no_auth()

    # When it is opened
    answer = await client.get(link)

    # Then it is a plain 404
    assert answer.status == 404


async def test_a_file_outside_the_storage_folder_is_never_served(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    tmp_path: Path,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given a processed clip whose stored snapshot path is then pointed outside the storage
    # folder (a damaged or edited database)
    entry = await setup_hub()
    payload = await _processed_clip(hass, incoming)
    hub = entry.runtime_data
    outside = tmp_path / "secrets.jpg"
    await hass.async_add_executor_job(outside.write_bytes, b"\xff\xd8secret")
    state = await hub.store.get_state(payload["clip_id"])
    assert state is not None
    state.snapshot_path = str(outside)
    await hub.store.upsert_state(state)
    client = await hass_client_no_auth()

    # When the (validly signed) snapshot link is opened
    answer = await client.get(payload["snapshot_url"])

    # Then the outside file is not served
    assert answer.status == 404


async def test_links_survive_a_restart_and_a_new_secret_revokes_them(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    incoming: Path,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    # Given a processed clip's link
    entry = await setup_hub()
    payload = await _processed_clip(hass, incoming)
    client = await hass_client_no_auth()

    # When HomeSec reloads (a restart), the link still opens
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert (await client.get(payload["media_url"])).status == 200

    # When the secret is replaced and HomeSec reloads
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_LINK_SECRET: SECRET})
    await hass.async_block_till_done()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    # Then the old link no longer opens, a link made with the new secret does
    assert (await client.get(payload["media_url"])).status == 401
    fresh = LinkSigner(SECRET).link(payload["clip_id"], LinkTarget.CLIP, 600)
    assert fresh is not None
    assert (await client.get(fresh)).status == 200


async def test_an_entry_made_before_signed_links_gets_a_secret_and_keeps_it(
    hass: HomeAssistant, config_dir: Path
) -> None:
    # Given a hub entry from an older version (no link secret)
    entry: MockConfigEntry = hub_entry(config_dir, [])
    entry.add_to_hass(hass)
    data = dict(entry.data)
    data.pop(CONF_LINK_SECRET, None)
    hass.config_entries.async_update_entry(entry, data=data)

    # When it is set up, then reloaded
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    secret = entry.data[CONF_LINK_SECRET]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    # Then it got a long random secret once, kept across the reload
    assert len(secret) == 64
    assert entry.data[CONF_LINK_SECRET] == secret
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_the_signer_refuses_ids_that_cannot_be_a_path_and_short_secrets() -> None:
    # Given a signer
    signer = LinkSigner(SECRET)

    # When links are asked for odd ids, and a signer for a short secret
    # Then no link is made for them, and the short secret is refused
    assert signer.link("a/b", LinkTarget.CLIP, 60) is None
    assert signer.link("a b", LinkTarget.CLIP, 60) is None
    assert signer.link("", LinkTarget.CLIP, 60) is None
    with pytest.raises(ValueError, match="too short"):
        LinkSigner("short")
    link = signer.link("ok-1", LinkTarget.SNAPSHOT, 60, now=1000.0)
    assert link is not None
    query = URL(link).query
    assert signer.verify("ok-1", "snapshot", query["exp"], query["sig"], now=1000.0) is (
        LinkTarget.SNAPSHOT
    )
    assert signer.verify("ok-1", "snapshot", query["exp"], query["sig"], now=1061.0) is None
    assert signer.verify("ok-1", "video", query["exp"], query["sig"], now=1000.0) is None
