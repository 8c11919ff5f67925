"""A real Mosquitto MQTT broker, and Home Assistant's real MQTT integration connected to it.

Fixtures. Load this module as a plugin with `pytest_plugins = ["tests.mosquitto"]` in a test
module, and import names from it for annotations only under `if TYPE_CHECKING:` (a runtime
import before pytest loads the plugin triggers PytestAssertRewriteWarning).

- `mosquitto_broker` -> `MosquittoBroker`: `/usr/sbin/mosquitto` (Debian package `mosquitto`,
  installed by scripts/setup) listening on 127.0.0.1 and a free port, anonymous, no
  persistence, logging everything to `mosquitto.log` in the test's tmp_path. It accepts TCP
  connections when the fixture yields and is stopped (SIGTERM, then SIGKILL) at teardown.
  Helpers talk to it with paho-mqtt clients from outside Home Assistant:
    * `publish(topic, payload, retain=False, qos=1)` blocks until the broker acknowledged the
      message; `await async_publish(...)` runs it in the event loop's executor (same pool as
      `hass.async_add_executor_job`), so it is safe to call from async tests;
    * `subscribe(topic)` / `await async_subscribe(topic)` -> `MqttSubscriber`, already
      subscribed (SUBACK received) on return; `get(timeout)` / `await async_get(timeout)`
      return the next message; close it (`with` / `async with` / `close()`) before the end of
      the test, or the harness's verify_cleanup fails on its paho thread;
    * `wait_for_subscription(topic)` / `await async_wait_for_subscription(topic)` block until
      the broker log shows some client subscribed to exactly `topic`: use it after
      `homeassistant.components.mqtt.async_subscribe`, because Home Assistant sends its
      SUBSCRIBE packets later (debounced, 0.5 s after connecting, 0.1 s after that).
- `mqtt_with_broker` -> the `MockConfigEntry` of Home Assistant's real MQTT integration (no
  `mqtt_mock`), set up against `mosquitto_broker` and connected (CONNACK received) when the
  fixture yields; unloaded at teardown once its paho client has really disconnected, so no
  task, timer or socket of the integration lingers. It requests the harness's
  `mock_hass_config` (an empty configuration.yaml): the MQTT integration reads YAML config
  from hass.config.config_dir on setup and fails when the file is missing.

pytest-socket blocks sockets in the Home Assistant harness: both fixtures request
`socket_enabled`, and only 127.0.0.1 is used (the harness also allows only that host).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Generator
from functools import partial
from pathlib import Path
from typing import Any, Self

import pytest
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from pytest_homeassistant_custom_component.common import MockConfigEntry

MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0
MESSAGE_TIMEOUT_S = 5.0
START_ATTEMPTS = 3  # a free port can be taken by someone else before mosquitto binds it

# The MQTT config entry as the 2025.4 config flow writes it: broker settings in `data`;
# discovery, birth and will messages in `options` (empty: the defaults apply).
MQTT_ENTRY_VERSION = 1
MQTT_ENTRY_MINOR_VERSION = 2

# Mosquitto logs an accepted subscription as "<time>: <client id> <qos> <topic>".
_SUBSCRIBE_LINE = re.compile(r"^\d+: (?P<client>\S+) (?P<qos>[0-2]) (?P<topic>.+)$")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str:
    """The broker binary; fails the test (never skips) when the package is missing."""
    if os.access(MOSQUITTO, os.X_OK):
        return MOSQUITTO
    if found := shutil.which("mosquitto"):
        return found
    pytest.fail(
        f"Mosquitto broker not found at {MOSQUITTO}: install the Debian package `mosquitto` "
        "(scripts/setup does it: apt-get install mosquitto)",
        pytrace=False,
    )


class MqttSubscriber:
    """A paho-mqtt client outside Home Assistant subscribed to one topic filter."""

    def __init__(self, broker: MosquittoBroker, topic: str, qos: int = 1) -> None:
        self.topic = topic
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        subscribed = threading.Event()

        def on_subscribe(
            _client: paho.Client,
            _userdata: Any,
            _mid: int,
            reason_codes: list[ReasonCode],
            _properties: Any,
        ) -> None:
            if not any(code.is_failure for code in reason_codes):
                subscribed.set()

        def on_message(_client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
            self.messages.put(message)

        self._client = broker.connect_client("pytest-sub")
        self._client.on_subscribe = on_subscribe
        self._client.on_message = on_message
        result, _mid = self._client.subscribe(topic, qos)
        if result != paho.MQTT_ERR_SUCCESS or not subscribed.wait(MESSAGE_TIMEOUT_S):
            self.close()
            raise AssertionError(f"paho could not subscribe to {topic!r} ({result})")

    def get(self, timeout: float = MESSAGE_TIMEOUT_S) -> paho.MQTTMessage:
        """The next message received; AssertionError when none comes within `timeout`."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no MQTT message on {self.topic!r} within {timeout} s") from None

    async def async_get(self, timeout: float = MESSAGE_TIMEOUT_S) -> paho.MQTTMessage:
        """`get` from async code, without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, self.get, timeout)

    def close(self) -> None:
        """Disconnect and stop the paho network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)


class MosquittoBroker:
    """A mosquitto process on 127.0.0.1 with its config and log in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.host = HOST
        self.port = 0
        self.directory = directory
        self.config_path = directory / "mosquitto.conf"
        self.log_path = directory / "mosquitto.log"
        self.output_path = directory / "mosquitto.out"  # stdout/stderr, before logging starts
        self._process: subprocess.Popen[bytes] | None = None

    # -- process -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the broker on a free port; returns once it accepts TCP connections."""
        binary = mosquitto_binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_port()
            self._write_config()
            if self._spawn(binary):
                return
            self.stop()
            if attempt == START_ATTEMPTS:
                raise RuntimeError(
                    f"mosquitto did not start on {self.host}:{self.port}:\n{self.diagnostics()}"
                )

    def _write_config(self) -> None:
        self.log_path.unlink(missing_ok=True)
        self.config_path.write_text(
            "\n".join(
                (
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    "persistence false",
                    f"log_dest file {self.log_path}",
                    "log_type all",
                    "log_timestamp true",
                    # As root, mosquitto 2 switches to the `mosquitto` user, which cannot
                    # write the log in tmp_path: naming the current user keeps it as is.
                    f"user {getpass.getuser()}",
                    "",
                )
            )
        )

    def _wait_accepting(self) -> bool:
        """True once a TCP connect succeeds; False when the process exits or times out."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return True
            time.sleep(0.02)
        return False

    def restart(self) -> None:
        """Stop, then start again on the same port (clients see the broker come back)."""
        self.stop()
        if not self._spawn(mosquitto_binary()):
            raise RuntimeError(f"mosquitto did not restart on {self.port}:\n{self.diagnostics()}")

    def _spawn(self, binary: str) -> bool:
        """Run mosquitto with the written config; True once it accepts connections."""
        with self.output_path.open("ab") as output:
            self._process = subprocess.Popen(
                [binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return self._wait_accepting()

    def stop(self) -> None:
        """Terminate the broker (SIGKILL when it does not exit in time)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def log_text(self) -> str:
        """The broker log so far (empty before the broker opened it)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def diagnostics(self) -> str:
        """Process output and log, for failure messages."""
        output = self.output_path.read_text(errors="replace") if self.output_path.exists() else ""
        return f"--- output ---\n{output}\n--- {self.log_path.name} ---\n{self.log_text()}"

    # -- clients outside Home Assistant --------------------------------------------------

    def connect_client(self, prefix: str) -> paho.Client:
        """A paho client connected to the broker (CONNACK received), its loop thread started."""
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{prefix}-{uuid.uuid4().hex[:8]}"
        )
        connected = threading.Event()

        def on_connect(
            _client: paho.Client,
            _userdata: Any,
            _flags: paho.ConnectFlags,
            reason_code: ReasonCode,
            _properties: Any,
        ) -> None:
            if not reason_code.is_failure:
                connected.set()

        client.on_connect = on_connect
        client.connect(self.host, self.port)
        client.loop_start()
        if not connected.wait(CONNECT_TIMEOUT_S):
            client.disconnect()
            client.loop_stop()
            raise AssertionError(f"paho could not connect to {self.host}:{self.port}")
        return client

    def publish(self, topic: str, payload: str | bytes, retain: bool = False, qos: int = 1) -> None:
        """Publish from outside Home Assistant; blocks until the broker has the message.

        Blocking: from async code use `await broker.async_publish(...)` (or
        `await hass.async_add_executor_job(broker.publish, ...)`).
        """
        client = self.connect_client("pytest-pub")
        try:
            info = client.publish(topic, payload, qos=qos, retain=retain)
            info.wait_for_publish(timeout=MESSAGE_TIMEOUT_S)
            if not info.is_published():
                raise AssertionError(f"paho could not publish to {topic!r} (rc {info.rc})")
        finally:
            client.disconnect()
            client.loop_stop()

    async def async_publish(
        self, topic: str, payload: str | bytes, retain: bool = False, qos: int = 1
    ) -> None:
        """`publish` run in the event loop's executor."""
        await asyncio.get_running_loop().run_in_executor(
            None, partial(self.publish, topic, payload, retain=retain, qos=qos)
        )

    def subscribe(self, topic: str, qos: int = 1) -> MqttSubscriber:
        """A subscriber outside Home Assistant, subscribed when this returns."""
        return MqttSubscriber(self, topic, qos)

    async def async_subscribe(self, topic: str, qos: int = 1) -> MqttSubscriber:
        """`subscribe` run in the event loop's executor."""
        return await asyncio.get_running_loop().run_in_executor(
            None, partial(self.subscribe, topic, qos)
        )

    # -- observing other clients ---------------------------------------------------------

    def subscribers(self, topic: str) -> list[str]:
        """Client ids the broker log shows subscribing to exactly `topic`."""
        return [
            match["client"]
            for line in self.log_text().splitlines()
            if (match := _SUBSCRIBE_LINE.match(line)) and match["topic"] == topic
        ]

    def wait_for_subscription(self, topic: str, timeout: float = MESSAGE_TIMEOUT_S) -> str:
        """Block until some client subscribed to exactly `topic`; returns its client id."""
        deadline = time.monotonic() + timeout
        while not (clients := self.subscribers(topic)):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no client subscribed to {topic!r} within {timeout} s:\n{self.diagnostics()}"
                )
            time.sleep(0.02)
        return clients[-1]

    async def async_wait_for_subscription(
        self, topic: str, timeout: float = MESSAGE_TIMEOUT_S
    ) -> str:
        """`wait_for_subscription` run in the event loop's executor."""
        return await asyncio.get_running_loop().run_in_executor(
            None, partial(self.wait_for_subscription, topic, timeout)
        )


@pytest.fixture
def mosquitto_broker(tmp_path: Path, socket_enabled: None) -> Generator[MosquittoBroker]:
    """A running Mosquitto broker on 127.0.0.1 (see the module docstring)."""
    broker = MosquittoBroker(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def async_wait_mqtt_connected(
    hass: HomeAssistant, connected: bool = True, timeout: float = CONNECT_TIMEOUT_S
) -> None:
    """Wait until Home Assistant's MQTT client is (dis)connected."""
    reached = asyncio.Event()

    @callback
    def _on_state(state: bool) -> None:
        if state is connected:
            reached.set()

    unsubscribe = mqtt.async_subscribe_connection_status(hass, _on_state)
    try:
        if mqtt.is_connected(hass) is not connected:
            async with asyncio.timeout(timeout):
                await reached.wait()
    finally:
        unsubscribe()


def mqtt_config_entry(broker: MosquittoBroker, **options: Any) -> MockConfigEntry:
    """An MQTT config entry for `broker`, as the MQTT config flow of HA 2025.4 creates it."""
    return MockConfigEntry(
        domain=mqtt.DOMAIN,
        title=f"{broker.host}:{broker.port}",
        data={mqtt.CONF_BROKER: broker.host, "port": broker.port},
        options=options,
        version=MQTT_ENTRY_VERSION,
        minor_version=MQTT_ENTRY_MINOR_VERSION,
    )


@pytest.fixture
async def mqtt_with_broker(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    socket_enabled: None,
    mock_hass_config: None,
) -> AsyncGenerator[MockConfigEntry]:
    """Home Assistant's real MQTT integration, connected to `mosquitto_broker`."""
    entry = mqtt_config_entry(mosquitto_broker)
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id), "MQTT setup failed"
        try:
            await async_wait_mqtt_connected(hass)
        except TimeoutError:
            raise AssertionError(
                f"Home Assistant's MQTT client did not connect to "
                f"{mosquitto_broker.host}:{mosquitto_broker.port}:\n"
                f"{mosquitto_broker.diagnostics()}"
            ) from None
        yield entry
    finally:
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
            # The DISCONNECT packet goes out from the event loop's writer callback; once it
            # is written paho closes the socket, and HA cancels its misc timer and reader.
            if mqtt.DATA_MQTT in hass.data:
                await async_wait_mqtt_connected(hass, connected=False)
        await hass.async_block_till_done()
