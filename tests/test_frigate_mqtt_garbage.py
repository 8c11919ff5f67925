"""MQTT payloads as they come: generated garbage on Frigate's topics through a real Mosquitto
and Home Assistant's real MQTT client never breaks HomeSec (no error, no traceback, the
subscription keeps working), and a valid event right after it is processed once."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.homesec_nvr.core.sources.frigate_messages import MAX_PAYLOAD_BYTES

from .conftest import SetupHub
from .core.frigate_server import (
    FakeFrigate,
    event_after,
    event_message,
    make_clips,
    review_after,
)
from .helpers import EventWaiter
from .test_frigate_setup import EVENT_ID, frigate_subentry

if TYPE_CHECKING:
    from .mosquitto import MosquittoBroker

pytest_plugins = ["tests.mosquitto"]

CASES_PER_TOPIC = 150


def _odd_value(rng: random.Random) -> Any:
    """A JSON value a field should never hold (or holds at its very edge)."""
    choices: list[Any] = [
        None,
        True,
        "",
        "x" * rng.randint(1, 5000),
        "front_door\n",
        "1718123456.1-abc\n",
        "../../etc/passwd",
        "\u202e\u0000\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        -1,
        0,
        2**63,
        int("9" * 400),
        1e308,
        -1e308,
        1.5e300,
        [],
        {},
        [[[[[]]]]],
        {"nested": {"deeper": [1, 2, {"x": None}]}},
        rng.random() * 10 ** rng.randint(0, 20),
    ]
    return rng.choice(choices)


def _garbage(rng: random.Random, topic: str, index: int) -> bytes:
    """One generated bad payload for `topic` (events or reviews)."""
    # A label the camera does not alert on: a payload that still parses is filtered out,
    # it never starts a download (for an id Frigate does not know).
    good_after = (
        event_after(event_id=f"garbage-{index}", label="cat")
        if topic == "events"
        else review_after(review_id=f"garbage-review-{index}")
    )
    good = json.dumps({"type": "end", "before": good_after, "after": good_after}).encode()
    kind = rng.randrange(9)
    if kind == 0:  # random bytes, often not UTF-8
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    if kind == 1:  # a real message cut short
        return good[: rng.randint(0, len(good) - 1)]
    if kind == 2:  # a field replaced by an odd value
        after = dict(good_after)
        after[rng.choice(list(after))] = _odd_value(rng)
        return json.dumps({"type": "end", "before": after, "after": after}).encode()
    if kind == 3:  # the envelope itself odd
        return json.dumps(
            {"type": _odd_value(rng), "before": _odd_value(rng), "after": _odd_value(rng)}
        ).encode()
    if kind == 4:  # nested far too deep
        depth = rng.randint(1000, 20000)
        return b"[" * depth + b"]" * depth
    if kind == 5:  # a number of hundreds of digits where a time goes
        return good.replace(b"1718123456.0", b"1" * rng.randint(300, 500), 1)
    if kind == 6:  # valid JSON of the wrong shape
        return json.dumps(rng.choice([[], 1, "end", None, {"type": "end"}])).encode()
    if kind == 7:  # larger than any Frigate message (refused before decoding)
        return b'{"type": "end", "pad": "' + b"x" * (MAX_PAYLOAD_BYTES + 10) + b'"}'
    return good.replace(b'"', b"'")  # not JSON at all


def _corpus(seed: int) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for index in range(CASES_PER_TOPIC):
        for topic in ("events", "reviews"):
            yield f"frigate/{topic}", _garbage(rng, topic, index)
        if index % 10 == 0:
            yield "frigate/available", rng.choice([b"", b"\xff\xfe", b"online\n", b"x" * 300])


@pytest.fixture
async def frigate(socket_enabled: None, tmp_path: Path) -> AsyncGenerator[FakeFrigate]:
    async with FakeFrigate() as server:
        clip, _truncated = make_clips(tmp_path / "frigate_media", seconds=3.0)
        server.add_event(EVENT_ID, clip)
        yield server


@pytest.mark.parametrize("seed", [1, 2])
async def test_generated_garbage_on_frigates_topics_never_breaks_homesec(
    hass: HomeAssistant,
    mosquitto_broker: MosquittoBroker,
    mqtt_with_broker: MockConfigEntry,
    setup_hub: SetupHub,
    frigate: FakeFrigate,
    caplog: pytest.LogCaptureFixture,
    seed: int,
) -> None:
    # Given HomeSec subscribed to Frigate's topics through a real broker
    entry = await setup_hub([frigate_subentry(frigate)])
    await mosquitto_broker.async_wait_for_subscription("frigate/events")
    await mosquitto_broker.async_publish("frigate/available", "online", retain=True)
    processed = EventWaiter(hass)

    # When hundreds of generated bad payloads arrive, then one valid event
    corpus = list(_corpus(seed))
    for topic, payload in corpus:
        await mosquitto_broker.async_publish(topic, payload)
    await mosquitto_broker.async_publish("frigate/available", "online", retain=True)
    await mosquitto_broker.async_publish("frigate/events", event_message("end"))
    payload = (await processed.wait(1, timeout=60))[0].data
    await hass.async_block_till_done()

    # Then the valid event was processed once, HomeSec logged no error or traceback (bad
    # payloads are warnings with context), and nothing of HomeSec is reported unhealthy
    assert len(corpus) > 2 * CASES_PER_TOPIC
    assert payload["clip_id"] == f"frigate-{EVENT_ID}"
    assert payload["status"] == "done"
    assert [e.data["clip_id"] for e in processed.events] == [payload["clip_id"]]
    ours = [r for r in caplog.records if r.name.startswith("custom_components.homesec_nvr")]
    assert [r.getMessage() for r in ours if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in ours if r.exc_info] == []
    assert any(r.levelno == logging.WARNING for r in ours)
    assert hass.states.get("binary_sensor.frigate_127_0_0_1_connected").state == "on"  # type: ignore[union-attr]
    assert entry.runtime_data.health.problems() == {}
    processed.close()
