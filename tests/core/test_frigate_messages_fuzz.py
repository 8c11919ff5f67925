"""Fuzzing Frigate's MQTT message parsers: any payload gives a message or FrigateMessageError,
in time linear in its size, and oversized payloads are refused before they are decoded.

Hypothesis generates thousands of payloads per run: arbitrary bytes and text, arbitrary JSON,
and real event and review messages with every field replaced by arbitrary JSON values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.homesec_nvr.core.sources.frigate_messages import (
    MAX_PAYLOAD_BYTES,
    Availability,
    FrigateEventMessage,
    FrigateMessageError,
    FrigateReviewMessage,
    parse_availability,
    parse_event_message,
    parse_review_message,
)

from .frigate_server import event_after, review_after

FUZZ = settings(
    max_examples=3000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_JSON = settings(FUZZ, max_examples=2000)

Parser = Callable[[bytes | str], object]
PARSERS: dict[str, Parser] = {
    "events": parse_event_message,
    "reviews": parse_review_message,
    "available": parse_availability,
}
RESULT_TYPES = (FrigateEventMessage, FrigateReviewMessage, Availability)

# Values a float can hold (huge numbers and deep nesting are fuzzed with the field shapes).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = (
    scalars
    | st.lists(scalars, max_size=5)
    | st.dictionaries(st.text(max_size=10), scalars, max_size=4)
)
EVENT_FIELDS = sorted(event_after())
REVIEW_FIELDS = sorted(review_after())


def parse_or_error(parser: Parser, payload: bytes | str) -> object | None:
    """The parsed message, or None for FrigateMessageError (anything else fails the test)."""
    error: FrigateMessageError | None = None
    try:
        result = parser(payload)
    except FrigateMessageError as err:
        error = err
    else:
        assert isinstance(result, RESULT_TYPES)
        return result
    assert error.kind in PARSERS
    assert error.reason
    assert len(error.excerpt) <= 130
    return None


@FUZZ
@given(st.sampled_from(list(PARSERS)), st.binary(max_size=2000) | st.text(max_size=2000))
def test_any_payload_gives_a_message_or_the_typed_error(kind: str, payload: bytes | str) -> None:
    # Given any bytes or text on a Frigate topic
    # When it is parsed
    result = parse_or_error(PARSERS[kind], payload)

    # Then it is a message of the topic's kind or the typed error (checked inside)
    assert result is None or isinstance(result, RESULT_TYPES)


@FUZZ_JSON
@given(
    st.sampled_from(["events", "reviews"]),
    st.dictionaries(
        st.sampled_from(["type", "before", "after"]) | st.text(max_size=8), json_values
    ),
)
def test_any_json_object_gives_a_message_or_the_typed_error(
    kind: str, data: dict[str, Any]
) -> None:
    # Given any JSON object on the events or reviews topic
    # When it is parsed
    result = parse_or_error(PARSERS[kind], json.dumps(data).encode())

    # Then only a message or the typed error comes out
    assert result is None or isinstance(result, RESULT_TYPES)


@FUZZ_JSON
@given(
    st.sampled_from(["new", "update", "end", "genai"]),
    st.dictionaries(st.sampled_from(EVENT_FIELDS), json_values, max_size=8),
)
def test_an_event_with_any_fields_replaced_parses_or_fails_cleanly(
    kind: str, overrides: dict[str, Any]
) -> None:
    # Given a real event message with some fields replaced by arbitrary JSON values
    after = {**event_after(), **overrides}
    payload = json.dumps({"type": kind, "before": after, "after": after})

    # When it is parsed
    result = parse_or_error(parse_event_message, payload)

    # Then a parsed event keeps only well-formed values: ids and cameras, times, scores
    if isinstance(result, FrigateEventMessage):
        event = result.after
        assert isinstance(event.id, str) and isinstance(event.camera, str)
        assert event.start_time > 0
        assert all(isinstance(z, str) for z in event.entered_zones + event.current_zones)
        assert event.box is None or all(isinstance(v, float) for v in event.box)


@FUZZ_JSON
@given(
    st.sampled_from(["new", "update", "end", "genai"]),
    st.dictionaries(st.sampled_from([*REVIEW_FIELDS, "data"]), json_values, max_size=6),
    st.dictionaries(
        st.sampled_from(["detections", "objects", "sub_labels", "zones"]), json_values, max_size=4
    ),
)
def test_a_review_with_any_fields_replaced_parses_or_fails_cleanly(
    kind: str, overrides: dict[str, Any], data: dict[str, Any]
) -> None:
    # Given a real review message with fields (and parts of its data) replaced
    after = {**review_after(), **overrides}
    if isinstance(after.get("data"), dict):
        after["data"] = {**after["data"], **data}
    payload = json.dumps({"type": kind, "after": after})

    # When it is parsed
    result = parse_or_error(parse_review_message, payload)

    # Then a parsed review holds only strings in its lists
    if isinstance(result, FrigateReviewMessage):
        review = result.after
        assert all(isinstance(d, str) for d in review.detections + review.objects + review.zones)


@pytest.mark.parametrize("kind", ["events", "reviews", "available"])
@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "str"])
def test_a_payload_over_the_size_cap_is_refused_before_decoding(kind: str, as_text: bool) -> None:
    # Given a well-formed message padded past the size cap
    after = event_after() if kind == "events" else review_after()
    body = json.dumps({"type": "end", "after": after, "pad": "x" * MAX_PAYLOAD_BYTES})
    payload: bytes | str = body if as_text else body.encode()

    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        PARSERS[kind](payload)

    # Then the error gives the size and the limit, with a short excerpt
    assert f"over {MAX_PAYLOAD_BYTES}" in caught.value.reason
    assert len(caught.value.excerpt) <= 130


def test_a_payload_at_the_size_cap_is_parsed() -> None:
    # Given a valid end message padded up to exactly the cap
    base = json.dumps({"type": "end", "after": event_after(), "pad": ""})
    payload = base.replace('"pad": ""', '"pad": "' + "x" * (MAX_PAYLOAD_BYTES - len(base)) + '"')

    # When it is parsed
    message = parse_event_message(payload.encode())

    # Then it is read
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert message.after.camera == "front_door"


SHAPES: dict[str, Callable[[int], bytes]] = {
    "open braces": lambda n: b"{" * n,
    "long zone list": lambda n: json.dumps(
        {"type": "end", "after": event_after(entered_zones=["porch"] * (n // 9))}
    ).encode(),
    "long attribute list": lambda n: json.dumps(
        {"type": "end", "after": event_after(attributes=[{"label": "face"}] * (n // 19))}
    ).encode(),
    "long string field": lambda n: json.dumps(
        {"type": "end", "after": event_after(label="x" * n)}
    ).encode(),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_parse_time_grows_linearly_from_n_to_4n(shape: str) -> None:
    # Given a payload of a shape at sizes n and 4n
    make = SHAPES[shape]

    def best_of_three(payload: bytes) -> float:
        times = []
        for _ in range(3):
            started = time.process_time()
            parse_or_error(parse_event_message, payload)
            times.append(time.process_time() - started)
        return min(times)

    # When each is parsed (best of three, CPU time)
    small, large = best_of_three(make(60_000)), best_of_three(make(240_000))

    # Then the larger took well under the 16 times a quadratic parser needs (generous margin)
    assert large <= 10 * max(small, 0.002)
