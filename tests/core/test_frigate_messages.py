"""Parsing Frigate's MQTT payloads: every sub_label form, missing fields, bad payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.homesec_nvr.core.sources.frigate_messages import (
    Availability,
    FrigateMessageError,
    parse_availability,
    parse_event_message,
    parse_review_message,
    parse_sub_label,
)

from .frigate_server import event_after, event_message, review_after, review_message


def _event_payload(after: dict[str, Any], kind: str = "end", **extra: Any) -> str:
    return json.dumps({"type": kind, "before": after, "after": after, **extra})


def test_an_end_message_parses_every_field_frigate_sends() -> None:
    # Given an `end` message as Frigate 0.14 publishes it (bytes)
    payload = event_message("end")

    # When it is parsed
    message = parse_event_message(payload)

    # Then the tracked object's fields are typed and complete
    event = message.after
    assert message.type == "end"
    assert event.id == "1718123456.123456-abc123"
    assert event.camera == "front_door"
    assert event.label == "person"
    assert event.top_score == pytest.approx(0.89453125)
    assert event.score == pytest.approx(0.87890625)
    assert event.duration_s == pytest.approx(4.0)
    assert event.box == (100.0, 120.0, 180.0, 300.0)
    assert event.region == (0.0, 0.0, 320.0, 320.0)
    assert event.entered_zones == ("porch",)
    assert event.zones == ("porch",)
    assert event.has_clip is True
    assert event.has_snapshot is True
    assert event.attributes == {"face": pytest.approx(0.71)}
    assert event.max_severity == "alert"
    assert event.frame_time == pytest.approx(1718123458.0)
    assert message.before is not None
    assert message.before.end_time is None


@pytest.mark.parametrize(
    ("sub_label", "expected"),
    [
        (None, (None, None)),
        ("bob", ("bob", None)),
        (["bob", 0.92], ("bob", 0.92)),
        (["bob", None], ("bob", None)),
        (["amazon"], ("amazon", None)),
        ([], (None, None)),
        ("", (None, None)),
        ([None, 0.5], (None, None)),
        ({"name": "bob"}, (None, None)),
        (["bob", "high"], ("bob", None)),
    ],
)
def test_sub_label_in_every_form(sub_label: Any, expected: tuple[str | None, Any]) -> None:
    # Given an end message whose sub_label takes one of Frigate's forms (or a broken one)
    payload = _event_payload(event_after(sub_label=sub_label))

    # When it is parsed
    event = parse_event_message(payload).after

    # Then name and score come out as the form says
    assert (event.sub_label, event.sub_label_score) == expected
    assert parse_sub_label(sub_label) == expected


def test_a_minimal_event_takes_neutral_defaults() -> None:
    # Given an event carrying only id, camera and start time (payload as str)
    payload = _event_payload(
        {"id": "1718123456.1-x1", "camera": "garage", "start_time": 1718123456.1}, kind="new"
    )

    # When it is parsed
    event = parse_event_message(payload).after

    # Then every optional field has a neutral default
    assert event.label is None
    assert event.end_time is None
    assert event.duration_s is None
    assert event.top_score is None
    assert event.best_score is None
    assert event.box is None
    assert event.zones == ()
    assert event.false_positive is False
    assert event.has_clip is True
    assert event.has_snapshot is False


def test_wrongly_typed_optional_fields_are_dropped_not_fatal() -> None:
    # Given an event with odd values in optional fields
    after = event_after(
        top_score="high",
        score=True,
        box=[1, 2, 3],
        region=[0, 0, "x", 10],
        entered_zones="porch",
        current_zones=["street", 5, "", "street"],
        has_snapshot="yes",
        false_positive=None,
        attributes=[{"label": "face", "score": 0.6}, {"label": "face", "score": 0.8}, "x"],
        end_time=None,
    )

    # When it is parsed
    event = parse_event_message(_event_payload(after)).after

    # Then unusable values fall back to defaults and usable parts are kept
    assert event.top_score is None
    assert event.score is None
    assert event.box is None
    assert event.region is None
    assert event.entered_zones == ()
    assert event.current_zones == ("street",)
    assert event.zones == ("street",)
    assert event.has_snapshot is False
    assert event.false_positive is False
    assert event.attributes == {"face": pytest.approx(0.8)}
    assert event.end_time is None


def test_the_top_score_falls_back_to_the_current_score() -> None:
    # Given an event without top_score yet
    event = parse_event_message(_event_payload(event_after(top_score=None, score=0.6))).after

    # When the best score is asked for
    best = event.best_score

    # Then it is the current score
    assert best == pytest.approx(0.6)


def test_a_false_positive_is_flagged() -> None:
    # Given an end message for an object Frigate marked as a false positive
    payload = event_message("end", false_positive=True)

    # When it is parsed
    event = parse_event_message(payload).after

    # Then the flag is set
    assert event.false_positive is True


def test_a_message_without_after_uses_before() -> None:
    # Given a message whose `after` is missing
    after = event_after()
    payload = json.dumps({"type": "end", "before": after})

    # When it is parsed
    message = parse_event_message(payload)

    # Then `before` stands in for it
    assert message.after.id == after["id"]
    assert message.before is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"", "empty payload"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "not an object"),
        (b'"end"', "not an object"),
        (json.dumps({"type": "finish", "after": event_after()}), "unknown message type"),
        (json.dumps({"after": event_after()}), "unknown message type"),
        (json.dumps({"type": "end"}), "no 'after' object"),
        (json.dumps({"type": "end", "after": event_after(id=None)}), "'after.id'"),
        (json.dumps({"type": "end", "after": event_after(id="../../etc")}), "'after.id'"),
        (json.dumps({"type": "end", "after": event_after(camera="a b")}), "'after.camera'"),
        (json.dumps({"type": "end", "after": event_after(start_time=None)}), "start_time"),
        (json.dumps({"type": "end", "after": event_after(start_time="x")}), "start_time"),
    ],
)
def test_unusable_event_payloads_raise_one_typed_error(payload: bytes | str, reason: str) -> None:
    # Given a payload Frigate would never send, or a broken one
    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        parse_event_message(payload)

    # Then the typed error names the topic kind and the reason, with a short excerpt
    assert caught.value.kind == "events"
    assert reason in caught.value.reason
    assert len(caught.value.excerpt) <= 130


def test_a_long_bad_payload_is_cut_in_the_error_excerpt() -> None:
    # Given a long malformed payload
    payload = b"{" + b"x" * 5000

    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        parse_event_message(payload)

    # Then the excerpt is short and marked as cut
    assert caught.value.excerpt.endswith("...")
    assert len(caught.value.excerpt) == 123


def test_a_broken_before_is_dropped_but_after_is_kept() -> None:
    # Given a message whose `before` lacks its id
    after = event_after()
    payload = json.dumps({"type": "update", "before": {"camera": "x"}, "after": after})

    # When it is parsed
    message = parse_event_message(payload)

    # Then only `after` is kept
    assert message.type == "update"
    assert message.before is None
    assert message.after.id == after["id"]


def test_a_review_end_message_parses() -> None:
    # Given a `frigate/reviews` end message (0.14+) with a verified object
    payload = review_message(
        "end",
        data={
            "detections": ["1718123456.123456-abc123", "bad id!"],
            "objects": ["person", "person-verified", "car"],
            "sub_labels": ["bob"],
            "zones": ["porch"],
        },
    )

    # When it is parsed
    message = parse_review_message(payload)

    # Then the review item's fields are typed; labels drop Frigate's -verified suffix
    review = message.after
    assert message.type == "end"
    assert review.id == "1718123456.2-rev001"
    assert review.severity == "alert"
    assert review.duration_s == pytest.approx(3.5)
    assert review.detections == ("1718123456.123456-abc123",)
    assert review.labels == ("person", "car")
    assert review.sub_labels == ("bob",)
    assert review.zones == ("porch",)


def test_a_genai_review_message_and_missing_data_are_accepted() -> None:
    # Given a 0.17 `genai` review message without a `data` object and without end time
    after = review_after(end_time=None)
    del after["data"]
    payload = json.dumps({"type": "genai", "after": after})

    # When it is parsed
    message = parse_review_message(payload)

    # Then it parses with empty collections
    assert message.type == "genai"
    assert message.after.end_time is None
    assert message.after.duration_s is None
    assert message.after.objects == ()


@pytest.mark.parametrize(
    "payload",
    [
        b"oops",
        json.dumps({"type": "closed", "after": review_after()}),
        json.dumps({"type": "end", "after": review_after(camera=None)}),
        json.dumps({"type": "end", "after": review_after(start_time=0)}),
    ],
)
def test_unusable_review_payloads_raise(payload: bytes | str) -> None:
    # Given an unusable review payload
    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        parse_review_message(payload)

    # Then the typed error is raised for the reviews topic
    assert caught.value.kind == "reviews"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"online", Availability.ONLINE),
        (b"offline", Availability.OFFLINE),
        ("stopped\n", Availability.STOPPED),
        (b"ONLINE", Availability.ONLINE),
    ],
)
def test_availability_payloads(payload: bytes | str, expected: Availability) -> None:
    # Given a `frigate/available` payload
    # When it is parsed
    value = parse_availability(payload)

    # Then it maps to the availability state
    assert value is expected


@pytest.mark.parametrize("payload", [b"maybe", b"unknown", b"", b"\xff"])
def test_unknown_availability_payloads_raise(payload: bytes) -> None:
    # Given an availability payload Frigate does not send
    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        parse_availability(payload)

    # Then the typed error is raised for the available topic
    assert caught.value.kind == "available"


def test_a_review_message_without_after_uses_before_and_drops_a_broken_before() -> None:
    # Given review messages: one with only `before`, one with a broken `before`
    only_before = json.dumps({"type": "end", "before": review_after()})
    broken_before = json.dumps({"type": "end", "before": {"id": 5}, "after": review_after()})

    # When they are parsed
    first = parse_review_message(only_before)
    second = parse_review_message(broken_before)

    # Then `before` stands in for `after`, and a broken `before` is dropped
    assert first.after.id == second.after.id == "1718123456.2-rev001"
    assert first.before is None
    assert second.before is None


def test_sub_labels_given_as_a_mapping_are_read_by_name() -> None:
    # Given a review whose sub_labels come as {name: score}
    payload = review_message(data={"objects": ["person"], "sub_labels": {"bob": 0.9}})

    # When it is parsed
    review = parse_review_message(payload).after

    # Then the names are kept
    assert review.sub_labels == ("bob",)


def test_a_payload_of_another_type_is_a_parse_error() -> None:
    # Given a payload that is neither bytes nor str (a bug in the caller)
    payload: Any = 42

    # When it is parsed
    with pytest.raises(FrigateMessageError) as caught:
        parse_event_message(payload)

    # Then it is the typed error, not a TypeError
    assert "payload of type int" in caught.value.reason
    assert caught.value.excerpt == ""
