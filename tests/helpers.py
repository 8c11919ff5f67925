"""Test helpers: wait for HomeSec's bus events in real time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntry, ConfigFlowResult
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from custom_components.homesec_nvr.const import DOMAIN, EVENT_CLIP_PROCESSED

from .video import write_clip


class EventWaiter:
    """Collects one bus event type; `wait(n)` returns once n have arrived."""

    def __init__(self, hass: HomeAssistant, event_type: str = EVENT_CLIP_PROCESSED) -> None:
        self.events: list[Event[Any]] = []
        self._unsub = hass.bus.async_listen(event_type, self._handle)

    @callback
    def _handle(self, event: Event[Any]) -> None:
        self.events.append(event)

    async def wait(self, count: int = 1, timeout: float = 15.0) -> list[Event[Any]]:
        """Wait for `count` events in total (fails the test on timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} event(s), got {len(self.events)} in {timeout} s"
                )
            await asyncio.sleep(0.05)
        return self.events

    def close(self) -> None:
        """Stop listening."""
        self._unsub()


async def process_clip(hass: HomeAssistant, clip: Path) -> dict[str, Any]:
    """Write a test clip into a watched folder and return its processed event's payload."""
    processed = EventWaiter(hass)
    await hass.async_add_executor_job(write_clip, clip)
    payload = (await processed.wait(1))[0].data
    processed.close()
    await hass.async_block_till_done()
    return dict(payload)


async def open_options(hass: HomeAssistant, entry_id: str, step: str = "pipeline") -> Any:
    """Open the options flow and pick a page of its menu."""
    result = await hass.config_entries.options.async_init(entry_id)
    assert result["type"] == "menu"
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": step}
    )


def find_device(hass: HomeAssistant, entry_id: str, identifier: str) -> dr.DeviceEntry | None:
    """HomeSec's device with this identifier (works on every HA line: no deprecated lookup)."""
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(dr.async_get(hass), entry_id)
            if (DOMAIN, identifier) in device.identifiers
        ),
        None,
    )


async def start_subentry_reconfigure(
    hass: HomeAssistant, entry: ConfigEntry, subentry_id: str
) -> ConfigFlowResult:
    """Open a camera subentry's reconfigure flow (the harness changed its own helper's
    signature between the lines; Home Assistant's API did not)."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, entry.subentries[subentry_id].subentry_type),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )


async def wait_for_state(
    hass: HomeAssistant, entity_id: str, state: str, timeout: float = 20.0
) -> None:
    """Wait until an entity shows `state` (fails the test on timeout, naming the last one)."""
    deadline = time.monotonic() + timeout
    while (current := hass.states.get(entity_id)) is None or current.state != state:
        if time.monotonic() > deadline:
            shown = current.state if current else None
            raise AssertionError(f"{entity_id} is {shown!r}, not {state!r} after {timeout} s")
        await asyncio.sleep(0.05)


async def delete_device(
    hass: HomeAssistant, hass_ws_client: Any, entry_id: str, device_id: str
) -> bool:
    """Delete a device the way the device page does; True when the integration allowed it.

    `hass_ws_client` is the harness fixture (call this after HomeSec is set up: the HTTP
    server starts with the first client). HA 2026 names the command `remove`; 2025 only has
    `remove_config_entry`.
    """
    from homeassistant.components.config import device_registry as ws_device_registry
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "config", {})
    message: dict[str, Any] = {"device_id": device_id}
    if hasattr(ws_device_registry, "websocket_remove_device"):
        message["type"] = "config/device_registry/remove"
    else:
        message |= {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": entry_id,
        }
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(message)
    response = await client.receive_json()
    await hass.async_block_till_done()
    return bool(response["success"])


async def enable_entities(hass: HomeAssistant, entry: ConfigEntry, *entity_ids: str) -> None:
    """Enable entities that are disabled by default, as the user does, and reload the hub
    (which Home Assistant would do by itself 30 s later)."""
    registry = er.async_get(hass)
    for entity_id in entity_ids:
        registered = registry.async_get(entity_id)
        assert registered is not None, entity_id
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION, entity_id
        registry.async_update_entity(entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
