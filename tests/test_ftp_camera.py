"""FTP cameras in a real Home Assistant: the subentry form and the "FTP server" options page
validate (login, port in use, address, passive range, FTPS certificate), a real upload (plain
and FTPS) becomes a processed clip, the password stays out of diagnostics, and unloading frees
the port."""

from __future__ import annotations

import asyncio
import ftplib
import io
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.homesec_nvr.cameras.ftp import running_server
from custom_components.homesec_nvr.const import (
    CONF_FTP_BIND_ADDRESS,
    CONF_FTP_MAX_SESSIONS,
    CONF_FTP_MAX_UPLOAD_MB,
    CONF_FTP_PASSIVE_MAX,
    CONF_FTP_PASSIVE_MIN,
    CONF_FTP_PORT,
    CONF_FTP_TLS_CERTFILE,
    CONF_FTP_TLS_KEYFILE,
    CONF_FTP_TLS_REQUIRED,
    CONF_SNAPSHOT_GAP_S,
    SUBENTRY_FTP,
)
from custom_components.homesec_nvr.core.sources.ftp_server import port_bindable
from custom_components.homesec_nvr.diagnostics import async_get_config_entry_diagnostics

from .conftest import SetupHub
from .core.ftp_rig import self_signed
from .helpers import EventWaiter, open_options, start_subentry_reconfigure
from .video import write_clip

pytestmark = pytest.mark.usefixtures("socket_enabled")
HOST = "127.0.0.1"
PASSWORD = "s3cret-ftp-pass"


def _free_ports(count: int) -> list[int]:
    """`count` ports that are free now (the first is the control port)."""
    ports: list[int] = []
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind((HOST, 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def _server_options(port: int, passive: int) -> dict[str, Any]:
    return {
        CONF_FTP_BIND_ADDRESS: HOST,
        CONF_FTP_PORT: port,
        CONF_FTP_PASSIVE_MIN: passive,
        CONF_FTP_PASSIVE_MAX: passive,
    }


async def _camera_form(hass: HomeAssistant, entry_id: str, **fields: Any) -> Any:
    result = await hass.config_entries.subentries.async_init(
        (entry_id, SUBENTRY_FTP), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_NAME: "Driveway",
            CONF_USERNAME: "driveway",
            CONF_PASSWORD: PASSWORD,
            CONF_SNAPSHOT_GAP_S: 5,
            **fields,
        },
    )


def _upload(port: int, name: str, data: bytes) -> str:
    with ftplib.FTP() as client:
        client.connect(HOST, port, timeout=10)
        client.login("driveway", PASSWORD)
        return client.storbinary(f"STOR {name}", io.BytesIO(data))


async def test_ftp_camera_form_validates_and_an_upload_is_processed(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a hub without cameras whose FTP server port another program holds
    port, passive = _free_ports(2)
    entry = await setup_hub(subentries=[], **_server_options(port, passive))
    blocker = socket.socket()
    blocker.bind((HOST, port))
    blocker.listen()

    # When the user fills the FTP camera form with a bad user name, a short password, and
    # then a good login while the port is taken
    bad_user = await _camera_form(hass, entry.entry_id, **{CONF_USERNAME: "drive way"})
    short = await _camera_form(hass, entry.entry_id, **{CONF_PASSWORD: "abc"})
    taken = await _camera_form(hass, entry.entry_id)

    # Then each is refused with its reason
    assert bad_user["errors"] == {CONF_USERNAME: "invalid_ftp_username"}
    assert short["errors"] == {CONF_PASSWORD: "password_too_short"}
    assert taken["errors"] == {"base": "port_in_use"}

    # When the port is free and the form is sent again
    blocker.close()
    created = await _camera_form(hass, entry.entry_id)
    await hass.async_block_till_done()
    assert created["type"] is FlowResultType.CREATE_ENTRY
    server = running_server(hass, entry.entry_id)
    assert server is not None
    await asyncio.wait_for(server.listening.wait(), 10)
    # and the camera uploads a real clip
    processed = EventWaiter(hass)
    clip = await hass.async_add_executor_job(write_clip, tmp_path / "clip.mp4")
    data = clip.read_bytes()
    reply = await hass.async_add_executor_job(_upload, port, "20261201-120000.mp4", data)
    payload = (await processed.wait(1))[0].data
    processed.close()
    await hass.async_block_till_done()

    # Then the clip was processed for that camera and its upload removed once stored
    assert reply.startswith("226")
    assert payload["camera"] == "Driveway"
    subentry = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_FTP)
    folder = Path(hass.config.path("homesec/ftp_uploads")) / subentry.subentry_id
    # (removed by the source once the clip is stored: a worker thread may still be at it)
    upload = folder / "20261201-120000.mp4"
    async with asyncio.timeout(10):
        while await hass.async_add_executor_job(upload.exists):
            await asyncio.sleep(0.05)

    # And a second camera may not use the same login
    again = await _camera_form(hass, entry.entry_id, **{CONF_NAME: "Gate"})
    assert again["errors"] == {CONF_USERNAME: "username_already_used"}

    # And diagnostics never show the password
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert PASSWORD not in repr(diagnostics)


async def test_unloading_stops_the_server_and_frees_its_port(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given a hub with an FTP camera, its server listening
    port, passive = _free_ports(2)
    entry = await setup_hub(subentries=[], **_server_options(port, passive))
    created = await _camera_form(hass, entry.entry_id)
    assert created["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    server = running_server(hass, entry.entry_id)
    assert server is not None
    await asyncio.wait_for(server.listening.wait(), 10)
    listening = not await hass.async_add_executor_job(port_bindable, HOST, port)

    # When the hub is unloaded
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # Then the port is free again
    assert listening
    assert await hass.async_add_executor_job(port_bindable, HOST, port)


async def test_ftp_server_options_are_validated(hass: HomeAssistant, setup_hub: SetupHub) -> None:
    # Given a hub and a port another program holds
    port, passive, other = _free_ports(3)
    entry = await setup_hub(subentries=[], **_server_options(port, passive))
    blocker = socket.socket()
    blocker.bind((HOST, other))
    blocker.listen()
    base = {
        **_server_options(port, passive),
        CONF_FTP_MAX_UPLOAD_MB: 100,
        CONF_FTP_MAX_SESSIONS: 8,
    }

    async def submit(**changes: Any) -> Any:
        result = await open_options(hass, entry.entry_id, "ftp_server")
        assert result["type"] is FlowResultType.FORM
        return await hass.config_entries.options.async_configure(
            result["flow_id"], {**base, **changes}
        )

    # When the user enters a bad address, an inverted passive range, a port inside the
    # passive range and a port in use
    answers = [
        (await submit(**{CONF_FTP_BIND_ADDRESS: "my-nas"}))["errors"],
        (await submit(**{CONF_FTP_PASSIVE_MIN: 40010, CONF_FTP_PASSIVE_MAX: 40000}))["errors"],
        (await submit(**{CONF_FTP_PORT: passive}))["errors"],
        (await submit(**{CONF_FTP_PORT: other}))["errors"],
    ]
    blocker.close()

    # Then each is refused with its reason
    assert answers == [
        {CONF_FTP_BIND_ADDRESS: "invalid_bind_address"},
        {CONF_FTP_PASSIVE_MAX: "invalid_passive_range"},
        {CONF_FTP_PORT: "port_in_passive_range"},
        {CONF_FTP_PORT: "port_in_use"},
    ]

    # When valid settings are saved
    saved = await submit(**{CONF_FTP_PORT: other})
    await hass.async_block_till_done()

    # Then they are stored as numbers
    assert saved["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_FTP_PORT] == other
    assert entry.options[CONF_FTP_MAX_UPLOAD_MB] == 100


async def test_ftps_options_are_validated_and_required_tls_works(
    hass: HomeAssistant, setup_hub: SetupHub, tmp_path: Path
) -> None:
    # Given a hub with an FTP camera, a certificate and a file that is no certificate
    port, passive = _free_ports(2)
    entry = await setup_hub(subentries=[], **_server_options(port, passive))
    created = await _camera_form(hass, entry.entry_id)
    assert created["type"] is FlowResultType.CREATE_ENTRY
    certfile, keyfile = await hass.async_add_executor_job(self_signed, tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    base = {**_server_options(port, passive), CONF_FTP_MAX_UPLOAD_MB: 100, CONF_FTP_MAX_SESSIONS: 8}

    async def submit(**changes: Any) -> Any:
        result = await open_options(hass, entry.entry_id, "ftp_server")
        return await hass.config_entries.options.async_configure(
            result["flow_id"], {**base, **changes}
        )

    # When the user requires FTPS without a certificate, or gives a file that is none
    no_cert = await submit(**{CONF_FTP_TLS_REQUIRED: True})
    bad_cert = await submit(**{CONF_FTP_TLS_CERTFILE: str(junk), CONF_FTP_TLS_KEYFILE: str(junk)})

    # Then both are refused
    assert no_cert["errors"] == {CONF_FTP_TLS_REQUIRED: "tls_certificate_missing"}
    assert bad_cert["errors"] == {CONF_FTP_TLS_CERTFILE: "tls_certificate_invalid"}

    # When a real certificate is saved with FTPS required (the hub reloads)
    saved = await submit(
        **{
            CONF_FTP_TLS_CERTFILE: str(certfile),
            CONF_FTP_TLS_KEYFILE: str(keyfile),
            CONF_FTP_TLS_REQUIRED: True,
        }
    )
    await hass.async_block_till_done()
    assert saved["type"] is FlowResultType.CREATE_ENTRY
    server = running_server(hass, entry.entry_id)
    assert server is not None
    await asyncio.wait_for(server.listening.wait(), 10)

    # Then a plain login is refused and an FTPS upload is processed
    def plain_login() -> str:
        with ftplib.FTP() as client:
            client.connect(HOST, port, timeout=10)
            try:
                client.login("driveway", PASSWORD)
            except ftplib.error_perm as err:
                return str(err)
            return "logged in"

    def tls_upload(data: bytes) -> str:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
        with ftplib.FTP_TLS(context=context) as client:
            client.connect(HOST, port, timeout=10)
            client.login("driveway", PASSWORD)
            client.prot_p()
            return client.storbinary("STOR tls.mp4", io.BytesIO(data))

    assert (await hass.async_add_executor_job(plain_login)).startswith("530")
    processed = EventWaiter(hass)
    clip = await hass.async_add_executor_job(write_clip, tmp_path / "tls.mp4")
    reply = await hass.async_add_executor_job(tls_upload, clip.read_bytes())
    payload = (await processed.wait(1))[0].data
    processed.close()
    await hass.async_block_till_done()
    assert reply.startswith("226")
    assert payload["camera"] == "Driveway"


async def test_reconfiguring_keeps_the_password_when_left_empty(
    hass: HomeAssistant, setup_hub: SetupHub
) -> None:
    # Given an FTP camera
    port, passive = _free_ports(2)
    entry = await setup_hub(subentries=[], **_server_options(port, passive))
    assert (await _camera_form(hass, entry.entry_id))["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    subentry_id = next(s.subentry_id for s in entry.subentries.values())

    # When the user renames it and leaves the password empty
    result = await start_subentry_reconfigure(hass, entry, subentry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_NAME: "Driveway left", CONF_USERNAME: "driveway", CONF_SNAPSHOT_GAP_S: 8},
    )
    await hass.async_block_till_done()

    # Then the change is saved and the stored password kept (it still logs in)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry_id]
    assert subentry.title == "Driveway left"
    assert subentry.data[CONF_PASSWORD] == PASSWORD
    assert subentry.data[CONF_SNAPSHOT_GAP_S] == 8
    server = running_server(hass, entry.entry_id)
    assert server is not None
    await asyncio.wait_for(server.listening.wait(), 10)
    reply = await hass.async_add_executor_job(_upload, port, "note.txt", b"test")
    assert reply.startswith("226")
