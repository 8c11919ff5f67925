"""Live alerts of an RTSP camera: a real RTSP server (GStreamer), a real tiny ONNX model run by
onnxruntime on the detect frames, and Home Assistant's notify and persistent notifications."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant, ServiceCall
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.homesec_nvr.const import EVENT_LIVE_DETECTION, FILTER_ONNX

from .conftest import SetupHub
from .core.onnx_models import bright_cell_model
from .core.rtsp_fixture import RtspServer
from .helpers import EventWaiter
from .test_rtsp_setup import (  # noqa: F401  (fixtures)
    rtsp,
    rtsp_subentry,
    scene,
)


@pytest.fixture
def person_model(tmp_path: Path) -> Path:
    """A model that calls any bright object a person (the scene's crossing box)."""
    return bright_cell_model(tmp_path / "bright.onnx")


def phone_service(hass: HomeAssistant) -> list[ServiceCall]:
    """A phone's notify service (the outermost boundary: the companion app)."""
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "phone", phone)
    return calls


async def onnx_camera_with_a_phone(
    hass: HomeAssistant, setup_hub: SetupHub, server: RtspServer, model: Path, **options: Any
) -> tuple[list[ServiceCall], EventWaiter, EventWaiter]:
    """An RTSP camera whose object filter is the ONNX model, notifying a phone; returns the
    phone's calls and waiters for live detections and processed clips."""
    calls = phone_service(hass)
    live_events = EventWaiter(hass, EVENT_LIVE_DETECTION)
    processed = EventWaiter(hass)
    await setup_hub(
        [rtsp_subentry(server, filter=FILTER_ONNX)],
        filter_model_path=str(model),
        notify_services=["notify.phone"],
        **options,
    )
    return calls, live_events, processed


async def test_an_object_in_the_stream_alerts_before_its_clip_and_the_clip_updates_it(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    rtsp: RtspServer,  # noqa: F811
    person_model: Path,
    hass_client_no_auth: ClientSessionGenerator,
    socket_enabled: None,
) -> None:
    # Given an RTSP camera whose object filter is an ONNX model, and a phone to notify
    calls, live_events, processed = await onnx_camera_with_a_phone(
        hass, setup_hub, rtsp, person_model
    )

    # When the object crosses the scene
    (live,) = await live_events.wait(1, timeout=40)
    calls_at_live = len(calls)
    clip_events = await processed.wait(1, timeout=40)
    await hass.async_block_till_done()

    # Then the live detection came first, with the event it belongs to and a frame link
    payload = live.data
    assert payload["label"] == "person"
    assert payload["camera"] == "Driveway"
    assert payload["alert"] is True
    event_key = payload["event_key"]
    assert payload["snapshot_url"].startswith(f"/api/homesec_nvr/clips/{event_key}/live?")
    clip = clip_events[0].data
    assert clip["metadata"]["event_key"] == event_key
    # And the phone was told before the clip existed, then once more for the clip, in place
    assert calls_at_live <= 1
    assert len(calls) == 2
    first, second = (c.data["data"] for c in calls)
    assert first["tag"] == second["tag"] == f"homesec_{event_key}"
    assert "person" in calls[0].data["message"]
    assert first["image"].split("?")[0] == payload["snapshot_url"].split("?")[0]
    assert second.get("alert_once") is True  # the update does not ring again
    assert second["image"].startswith(f"/api/homesec_nvr/clips/{clip['clip_id']}/snapshot?")
    # And one persistent notification for the event, showing the clip now
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    ours = [n for n in notifications if n.startswith("homesec_")]
    assert ours == [f"homesec_{event_key}"]
    # And the live frame opens without a login
    client = await hass_client_no_auth()
    link = urlsplit(payload["snapshot_url"])
    response = await client.get(f"{link.path}?{link.query}")
    assert response.status == 200
    body = await response.read()
    assert body.startswith(b"\xff\xd8")
    assert response.headers["Content-Type"] == "image/jpeg"
    # And a tampered live link gets 401
    response = await client.get(f"{link.path}?{link.query.replace('sig=', 'sig=0')}")
    assert response.status == 401
    live_events.close()
    processed.close()


async def test_live_alerts_off_leaves_one_notification_after_the_clip(
    hass: HomeAssistant,
    setup_hub: SetupHub,
    rtsp: RtspServer,  # noqa: F811
    person_model: Path,
    socket_enabled: None,
) -> None:
    # Given the same camera with "Alert while it happens" turned off
    calls, live_events, processed = await onnx_camera_with_a_phone(
        hass, setup_hub, rtsp, person_model, live_alerts=False
    )

    # When the object crosses the scene and its clip is processed
    await processed.wait(1, timeout=40)
    await hass.async_block_till_done()

    # Then the live detection is still reported (for automations) but only the clip alerts
    events: list[Any] = live_events.events
    assert [e.data["alert"] for e in events] == [False]
    assert "live alerts are off" in events[0].data["reason"]
    assert len(calls) == 1
    assert "alert_once" not in calls[0].data["data"]
    live_events.close()
    processed.close()
