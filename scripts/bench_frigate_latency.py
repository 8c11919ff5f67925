"""Benchmark Frigate's alert latency: Frigate's `new` to the live alert, `end` to the clip's.

Runs HomeSec's HA-free core as the integration wires it, without Home Assistant around it:
a real Mosquitto broker on 127.0.0.1, the Frigate contract server of the tests
(tests/core/frigate_server.py: real fragmented H.264 clips, Frigate's answers), the real
`FrigateSource` (fed by a paho-mqtt subscriber, as Home Assistant's MQTT client feeds it), the
real `LiveAlerts` and `ClipPipeline` (SQLite store, local storage, Frigate's detection as the
filter, the default alert policy) and a notifier that notes when it is called.

For each of N people (one Frigate event each, one after the other) it publishes `new`, waits
for the live alert, publishes two `update`s and `end`, and goes on after `--gap` seconds; the
clips' alerts come while later events run. Two figures:

- `new` published -> the live alert's notify call (the first notification; target <= 0.3 s);
- `end` published -> the clip's alert (the follow-up that updates it). HomeSec waits
  `first_delay_s` before its first download attempt (Frigate writes recordings in ~10 s
  segments; default 10 s), then downloads, stores and decides.

    .venvs/oldest/bin/python scripts/bench_frigate_latency.py
    .venvs/oldest/bin/python scripts/bench_frigate_latency.py --events 30 --first-delay 0

Needs `/usr/sbin/mosquitto` (scripts/setup installs it). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import ROOT, import_core
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion

alert_policy = import_core("alert_policy")
frigate_filter = import_core("filters.frigate")
interfaces = import_core("interfaces")
live_alerts = import_core("live_alerts")
models = import_core("models")
runner = import_core("runner")
frigate = import_core("sources.frigate")
frigate_client = import_core("sources.frigate_client")
local_storage = import_core("storage.local")
store_module = import_core("store")
sys.path.insert(0, str(ROOT))
frigate_server = __import__("tests.core.frigate_server", fromlist=["FakeFrigate"])

MOSQUITTO = "/usr/sbin/mosquitto"
TOPIC = "frigate/events"
LIVE_TARGET_S = 0.3


# -- a broker --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"log_dest none\nuser {getpass.getuser()}\n"
    )
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"mosquitto did not start on port {port}")


def _client(port: int, name: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{name}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


# -- the notifier and listener ---------------------------------------------------------


class _TimingNotifier(interfaces.Notifier):  # type: ignore[misc, name-defined]
    """Notes when each alert (live or clip) reaches it."""

    name = "timing"
    supports_live = True

    def __init__(self) -> None:
        self.at: dict[tuple[str, str], float] = {}
        self.follow_ups = 0
        self.arrived = asyncio.Event()

    async def send(self, alert: Any) -> None:
        self.at.setdefault((str(alert.event_key), str(alert.stage)), time.perf_counter())
        self.follow_ups += bool(alert.follow_up)
        self.arrived.set()

    async def wait(self, key: tuple[str, str], within_s: float) -> float | None:
        deadline = time.perf_counter() + within_s
        while key not in self.at:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                return None
        return self.at[key]


class _Listener:
    def clip_updated(self, state: object, stage: str) -> None:
        return

    def counters_changed(self) -> None:
        return


# -- the run ---------------------------------------------------------------------------


async def _no_snapshot(_clip: Any) -> bytes | None:
    return None  # Frigate's own snapshot is saved with the clip


def _message(kind: str, event_id: str, start: float, length_s: float) -> bytes:
    """A Frigate 0.14+ message; the event lasts as long as the served clip."""
    now = time.time()
    fields: dict[str, Any] = {
        "event_id": event_id,
        "start_time": start,
        "frame_time": now,
        "snapshot": {"frame_time": now, "box": [100, 120, 180, 300], "score": 0.88},
        "end_time": start + length_s if kind == "end" else None,
    }
    payload: bytes = frigate_server.event_message(kind, **fields)
    return payload


async def _run(args: argparse.Namespace, work: Path, port: int) -> dict[str, list[float]]:
    loop = asyncio.get_running_loop()
    clip, _truncated = await asyncio.to_thread(
        frigate_server.make_clips, work / "media", args.clip_seconds
    )
    store = store_module.ClipStore(work / "homesec.db")
    await store.open()
    (work / "storage").mkdir()
    notifier = _TimingNotifier()
    camera = runner.CameraPipelineSettings(alert=alert_policy.AlertPolicySettings())
    policy = alert_policy.DefaultAlertPolicy(camera.alert)
    live = live_alerts.LiveAlerts(policy, [notifier], lambda _detection, _decision: None)
    pipeline = runner.ClipPipeline(
        store=store,
        storage=local_storage.LocalStorage(work / "storage"),
        filters=lambda _cid: frigate_filter.FrigateDetectionFilter(),
        vlm=None,
        policy=policy,
        notifiers=[notifier],
        settings=runner.PipelineSettings(),
        camera_settings=lambda _cid: camera,
        snapshot=_no_snapshot,
        listener=_Listener(),
        live=live,
    )
    tasks: set[asyncio.Task[Any]] = set()

    def background(coro: Any) -> None:
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def is_known(clip_id: str) -> bool:
        return await store.get_state(clip_id) is not None

    async def on_clip(found: Any) -> None:
        await pipeline.submit(found)

    async with frigate_server.FakeFrigate() as server, aiohttp.ClientSession() as session:
        source = frigate.FrigateSource(
            client=frigate_client.FrigateClient(session, server.url),
            settings=frigate.FrigateSourceSettings(
                clip_dir=work / "frigate",
                padding_s=0,
                first_delay_s=args.first_delay,
                retry_delay_s=0.5,
            ),
            camera_for=lambda name: (f"bench-{name}", name),
            is_known=is_known,
            # As the hub does: the live alert goes out in a task of its own.
            on_live_detection=lambda detection, _fetch: background(live.handle(detection)),
            create_task=lambda coro, _name: loop.create_task(coro),
        )
        await source.start(on_clip)
        subscriber = _client(port, "homesec")
        subscribed = asyncio.Event()
        subscriber.on_subscribe = lambda *_a: loop.call_soon_threadsafe(subscribed.set)
        subscriber.on_message = lambda _c, _u, msg: loop.call_soon_threadsafe(
            background, source.handle_event_message(bytes(msg.payload))
        )
        subscriber.subscribe(TOPIC, 0)
        await asyncio.wait_for(subscribed.wait(), 10)
        publisher = _client(port, "frigate")
        published: dict[str, dict[str, float]] = {"new": {}, "end": {}}
        try:
            base = time.time()
            length = args.clip_seconds
            for index in range(args.events):
                event_id = f"{base + index:.6f}-bench{index:03d}"
                server.add_event(event_id, clip)
                start = time.time()
                published["new"][event_id] = time.perf_counter()
                publisher.publish(TOPIC, _message("new", event_id, start, length))
                await notifier.wait((event_id, "detected"), 10)
                for kind in ("update", "update"):
                    publisher.publish(TOPIC, _message(kind, event_id, start, length))
                await asyncio.sleep(args.update_s)
                published["end"][event_id] = time.perf_counter()
                publisher.publish(TOPIC, _message("end", event_id, start, length))
                await asyncio.sleep(args.gap)
            for event_id in published["end"]:
                await notifier.wait((event_id, "analyzed"), args.first_delay + 60)
        finally:
            for client in (publisher, subscriber):
                client.disconnect()
                client.loop_stop()
            await source.stop()
            await pipeline.stop()
            await store.close()
    figures: dict[str, list[float]] = {"live": [], "clip": []}
    for event_id, sent in published["new"].items():
        if (at := notifier.at.get((event_id, "detected"))) is not None:
            figures["live"].append(at - sent)
    for event_id, sent in published["end"].items():
        if (at := notifier.at.get((event_id, "analyzed"))) is not None:
            figures["clip"].append(at - sent)
    figures["follow_ups"] = [float(notifier.follow_ups)]
    return figures


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _row(name: str, values: list[float], target: str, events: int) -> str:
    if not values:
        return f"{name:<34} {'-':>9} {'-':>9} {'-':>9}  {0:>3}/{events}  {target}"
    return (
        f"{name:<34} {statistics.median(values) * 1000:>7.1f}ms {_p95(values) * 1000:>7.1f}ms "
        f"{max(values) * 1000:>7.1f}ms  {len(values):>3}/{events}  {target}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30, help="Frigate events (people)")
    parser.add_argument(
        "--first-delay",
        type=float,
        default=frigate_client.DEFAULT_FIRST_DELAY_S,
        help="seconds before the first clip download attempt (HomeSec's default)",
    )
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between events")
    parser.add_argument("--update-s", type=float, default=0.2, help="updates to end, seconds")
    parser.add_argument("--clip-seconds", type=float, default=4.0)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="homesec-frigate-latency-"))
    broker, port = _start_broker(work)
    try:
        figures = asyncio.run(_run(args, work, port))
    finally:
        broker.terminate()
        broker.wait(5)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"Frigate alert latency, {args.events} events: real Mosquitto, Frigate contract server, "
        f"core FrigateSource + LiveAlerts + ClipPipeline (first_delay_s={args.first_delay:g})"
    )
    print(f"{'':<34} {'median':>9} {'p95':>9} {'max':>9}  {'n':>7}  target")
    print(_row("new -> live alert (notify call)", figures["live"], "<= 300 ms", args.events))
    print(_row("end -> clip's alert (follow-up)", figures["clip"], "-", args.events))
    print(f"follow-ups (same notification updated): {int(figures['follow_ups'][0])}")
    print(
        "command: .venvs/oldest/bin/python scripts/bench_frigate_latency.py "
        + " ".join(sys.argv[1:])
    )
    if args.json:
        print(json.dumps({k: v for k, v in figures.items() if k != "follow_ups"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
