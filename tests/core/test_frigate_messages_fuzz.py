"""Fuzzing Frigate's MQTT message parsers: any payload gives a message or FrigateMessageError,
in time linear in its size, and oversized payloads are refused before they are decoded.

Hypothesis generates thousands of payloads per run: arbitrary bytes and text, arbitrary JSON,
and real event and review messages with every field replaced by arbitrary JSON values.
"""

from __future__ import annotations

import json
import math
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


# -- parser exceptions that are not Frigate's: huge numbers, deep nesting, odd times and ids ---

NOW = 1_800_000_000.0  # 2027-01-15, the `now` the time bounds are checked against
EVENT_NUMBERS = ["start_time", "end_time", "top_score", "score", "frame_time", "snapshot_time"]
REVIEW_NUMBERS = ["start_time", "end_time"]
# A number's JSON text goes in for this placeholder (json.dumps cannot write every number).
MARK = "__NUMBER__"
huge_numbers = st.one_of(
    st.integers(min_value=309, max_value=4300).map(lambda digits: "9" * digits),
    st.integers(min_value=309, max_value=4300).map(lambda digits: "-" + "1" * digits),
    st.integers(min_value=4301, max_value=20_000).map(lambda digits: "7" * digits),
    st.sampled_from(["1e999", "-1e999", "1e308", "Infinity", "-Infinity", "NaN", "1E400"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers().map(str),
)


def _with_number(template: dict[str, Any], path: tuple[Any, ...], number: str) -> str:
    """The message with the value at `path` replaced by a number's JSON text."""
    data = json.loads(json.dumps(template))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = MARK
    return json.dumps(data).replace(json.dumps(MARK), number)


def _event_number_paths() -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = [("after", name) for name in EVENT_NUMBERS]
    paths += [("after", box, i) for box in ("box", "region") for i in range(4)]
    paths += [("after", "snapshot", "frame_time"), ("after", "attributes", "face")]
    paths += [("after", "sub_label", 1), ("before", "start_time")]
    return paths


@FUZZ_JSON
@given(st.sampled_from(_event_number_paths()), huge_numbers)
def test_any_number_in_any_event_field_parses_or_fails_cleanly(
    path: tuple[Any, ...], number: str
) -> None:
    # Given an end message with one numeric field replaced by any number: hundreds or
    # thousands of digits, out of a float's range, Infinity, NaN
    after = event_after(sub_label=["Bob", 0.9], snapshot_time=1718123457.0)
    payload = _with_number({"type": "end", "before": after, "after": after}, path, number)

    # When it is parsed
    result = parse_or_error(lambda p: parse_event_message(p, now=NOW), payload)

    # Then no OverflowError or ValueError escapes; every number kept is finite and every
    # time within the sane range
    if isinstance(result, FrigateEventMessage):
        event = result.after
        times = [event.start_time, event.end_time, event.frame_time]
        assert all(946_684_800 <= t <= NOW + 86_400 for t in times if t is not None)
        numbers = [event.top_score, event.score, event.sub_label_score, *event.attributes.values()]
        numbers += list(event.box or ()) + list(event.region or ())
        assert all(math.isfinite(n) for n in numbers if n is not None)


@FUZZ_JSON
@given(st.sampled_from(REVIEW_NUMBERS), huge_numbers)
def test_any_number_in_a_review_time_parses_or_fails_cleanly(name: str, number: str) -> None:
    # Given a review message with a time replaced by any number
    payload = _with_number({"type": "end", "after": review_after()}, ("after", name), number)

    # When it is parsed
    result = parse_or_error(lambda p: parse_review_message(p, now=NOW), payload)

    # Then only a review with sane times or the typed error comes out
    if isinstance(result, FrigateReviewMessage):
        review = result.after
        times = [review.start_time, review.end_time]
        assert all(946_684_800 <= t <= NOW + 86_400 for t in times if t is not None)


@settings(FUZZ, max_examples=300)
@given(
    st.integers(min_value=1, max_value=300_000),
    st.sampled_from(["[", '{"a":']),
    st.sampled_from(["payload", "after", "path_data", "sub_label", "start_time"]),
)
def test_json_nested_thousands_deep_anywhere_is_the_typed_error_or_ignored(
    depth: int, opener: str, where: str
) -> None:
    # Given JSON nested up to 300,000 levels deep, as the payload or inside a field
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    if where == "payload":
        payload = nested
    else:
        data = {"type": "end", "after": MARK if where == "after" else event_after(**{where: MARK})}
        payload = json.dumps(data).replace(json.dumps(MARK), nested)

    # When it is parsed (when it fits under the size cap)
    result = parse_or_error(parse_event_message, payload[:MAX_PAYLOAD_BYTES])

    # Then no RecursionError escapes; a parsed message never took the nesting as a value
    if isinstance(result, FrigateEventMessage):
        assert where in ("path_data", "sub_label")
        assert result.after.sub_label is None or isinstance(result.after.sub_label, str)


@pytest.mark.parametrize("depth", [20_000, 100_000, 400_000])
@pytest.mark.parametrize("kind", ["events", "reviews"])
def test_a_payload_nested_very_deep_is_the_typed_error(depth: int, kind: str) -> None:
    # Given a payload of arrays nested 20,000 to 400,000 deep (within the size cap)
    payload = ("[" * depth + "]" * depth).encode()

    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        PARSERS[kind](payload)

    # Then it is the typed error (nested too deeply, or not an object)
    assert caught.value.kind == kind
    assert "nested too deeply" in caught.value.reason or "not an object" in caught.value.reason


@FUZZ
@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["start_time", "end_time"]),
    st.sampled_from(["events", "reviews"]),
)
def test_times_outside_2000_to_a_day_ahead_make_the_message_unusable(
    value: float, name: str, kind: str
) -> None:
    # Given a message whose start or end time is any finite number
    after = event_after() if kind == "events" else review_after()
    if name == "end_time":
        after["start_time"] = 1_000_000_000.0
    after[name] = value
    payload = json.dumps({"type": "end", "after": after})
    parse = parse_event_message if kind == "events" else parse_review_message

    # When it is parsed
    result = parse_or_error(lambda p: parse(p, now=NOW), payload)

    # Then a time outside [2000-01-01, now + 1 day] is refused (a missing or zero end time is
    # "still running"), one inside is kept as sent
    in_range = 946_684_800 <= value <= NOW + 86_400
    if name == "end_time" and value <= 0:
        assert result is not None and result.after.end_time is None
    elif in_range:
        assert result is not None
        assert getattr(result.after, name) == value
    else:
        assert result is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("start_time", 946_684_799.0),
        ("start_time", NOW + 86_401),
        ("start_time", 1e12),
        ("start_time", 1e300),
        ("end_time", 1e15),
    ],
)
def test_a_finite_but_absurd_time_names_the_field(name: str, value: float) -> None:
    # Given an end message with a time before 2000 or more than a day ahead
    payload = json.dumps({"type": "end", "after": event_after(**{name: value})})

    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        parse_event_message(payload, now=NOW)

    # Then the error names the field and says it is out of range
    assert f"'after.{name}' out of range" in caught.value.reason


valid_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True)
valid_cameras = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
trailers = st.sampled_from(["\n", "\r\n", "\r", " ", "\t", "\x00", "/", "\u2028", "\n\n"])


@FUZZ_JSON
@given(valid_ids, valid_cameras, st.sampled_from(["id", "camera"]), trailers, st.booleans())
def test_ids_and_cameras_with_a_trailing_newline_or_other_character_are_refused(
    event_id: str, camera: str, field: str, trailer: str, review: bool
) -> None:
    # Given an id and camera name that are valid, and one of them with a character appended
    after = (review_after if review else event_after)(event_id, camera=camera)
    clean = json.dumps({"type": "end", "after": after})
    after[field] = after[field] + trailer
    dirty = json.dumps({"type": "end", "after": after})
    parse = parse_review_message if review else parse_event_message

    # When both are parsed
    parsed = parse(clean, now=NOW).after
    with pytest.raises(FrigateMessageError) as caught:
        parse(dirty, now=NOW)

    # Then the clean one is taken as is and the other refused, naming the field
    assert (parsed.id, parsed.camera) == (event_id, camera)
    assert f"'after.{field}' missing or invalid" in caught.value.reason


@FUZZ_JSON
@given(valid_ids, trailers)
def test_review_detection_ids_with_a_trailing_character_are_dropped(
    event_id: str, trailer: str
) -> None:
    # Given a review whose detections hold a valid id and the same id with a character added
    after = review_after()
    after["data"]["detections"] = [event_id, event_id + trailer]

    # When it is parsed
    review = parse_review_message(json.dumps({"type": "end", "after": after}), now=NOW).after

    # Then only the valid id is kept
    assert review.detections == (event_id,)
