"""The per-camera alert cooldown, end to end: one alert for a burst of clips, and the reason
on the clips it held back."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant

from custom_components.homesec_nvr.const import CONF_ALERT_COOLDOWN_S, EVENT_ALERT

from .conftest import SetupHub
from .helpers import EventWaiter
from .video import write_clip


async def test_a_burst_of_clips_alerts_once_with_a_cooldown(
    hass: HomeAssistant, setup_hub: SetupHub, incoming: Path
) -> None:
    # Given a camera that alerts on every clip, with a 5-minute cooldown
    await setup_hub(notify_on_motion=True, **{CONF_ALERT_COOLDOWN_S: 300})
    processed = EventWaiter(hass)
    alerts = EventWaiter(hass, EVENT_ALERT)

    # When three clips arrive one after another
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        await hass.async_add_executor_job(write_clip, incoming / name)
        await processed.wait(len(processed.events) + 1)
    await hass.async_block_till_done()

    # Then only the first alerted; the others are done, and say they were held back
    by_name = {e.data["metadata"]["file_name"]: e.data for e in processed.events}
    assert [by_name[n]["alert"] for n in ("a.mp4", "b.mp4", "c.mp4")] == [True, False, False]
    assert by_name["b.mp4"]["reason"].startswith("cooldown: this camera alerted for a clip")
    assert all(d["status"] == "done" for d in by_name.values())
    assert len(alerts.events) == 1
    assert hass.states.get("sensor.front_door_alerts_today").state == "1"  # type: ignore[union-attr]
    processed.close()
    alerts.close()
