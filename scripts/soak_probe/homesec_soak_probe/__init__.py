"""Event-loop lag probe for scripts/bench_soak.py (benchmark only, never shipped).

scripts/bench_soak.py links this folder into the temporary config folder's custom_components
and enables it with `homesec_soak_probe:` in configuration.yaml. A task sleeps 10 ms in a loop
and records how late each wake-up is (loop.time() after the sleep minus the time it was due).
Once a second it appends one JSON line to `<config>/soak_probe.jsonl` (in the executor):

    {"t": wall-clock end of the interval (epoch s), "n": wake-ups, "max_ms": latest wake-up,
     "hist": {"<lateness rounded down to 0.1 ms>": count, ...}}

so the script can compute the longest block, percentiles and the worst lateness inside any
time window. Nothing else happens in Home Assistant.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant

DOMAIN = "homesec_soak_probe"
INTERVAL_S = 0.010
FLUSH_EVERY_S = 1.0


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


async def _probe(hass: HomeAssistant, path: Path) -> None:
    loop = asyncio.get_running_loop()
    hist: dict[str, int] = {}
    count = 0
    worst = 0.0
    flush_at = loop.time() + FLUSH_EVERY_S
    while True:
        due = loop.time() + INTERVAL_S
        await asyncio.sleep(INTERVAL_S)
        late_ms = max(0.0, (loop.time() - due) * 1000.0)
        key = f"{int(late_ms * 10) / 10:.1f}"
        hist[key] = hist.get(key, 0) + 1
        count += 1
        worst = max(worst, late_ms)
        if loop.time() >= flush_at:
            record: dict[str, Any] = {
                "t": round(time.time(), 3),
                "n": count,
                "max_ms": round(worst, 3),
                "hist": hist,
            }
            hist, count, worst = {}, 0, 0.0
            flush_at = loop.time() + FLUSH_EVERY_S
            hass.async_add_executor_job(_append, path, json.dumps(record))


async def async_setup(hass: HomeAssistant, config: dict[str, Any]) -> bool:
    """Start the probe task (a background task: it never delays start-up or stop)."""
    path = Path(hass.config.path("soak_probe.jsonl"))
    task = hass.async_create_background_task(_probe(hass, path), "homesec_soak_probe")

    def _stop(_event: Event) -> None:
        task.cancel()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _stop)
    return True
