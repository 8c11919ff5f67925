"""Fuzzing the vision model's answer parser: any text gives an analysis or its one error type,
in time linear in the text's length.

Hypothesis generates thousands of answers per run: arbitrary text, arbitrary JSON (wrapped in
prose and fences or not), deeply nested JSON and strings made of braces, quotes and
backslashes. The linear-time property is checked on the parser's own work counters
(`ScanStats`: characters looked at and characters handed to the JSON decoder), which do not
depend on the machine's speed; one generous size-n-versus-4n timing comparison backs it up.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custom_components.homesec_nvr.core.models import ActivityType, AnalysisResult
from custom_components.homesec_nvr.core.vlm import schema
from custom_components.homesec_nvr.core.vlm.schema import (
    MAX_ANSWER_CHARS,
    AnalysisValidationError,
    ScanStats,
    extract_json_object,
    parse_analysis,
)

VALID: dict[str, Any] = {
    "observations": ["A person walks to the door"],
    "entities": [{"type": "person", "first_seen_s": 0.5, "last_seen_s": 2.0}],
    "summary": "A courier left a parcel.",
    "activity_type": "delivery",
    "risk_level": "low",
    "requires_review": False,
}
# Characters a parser of JSON-in-prose cares about, and some that it does not.
SYNTAX = '{}[]":,\\`\n '
PATHOLOGICAL = st.text(alphabet=SYNTAX + "ab1", max_size=3000)
FUZZ = settings(
    max_examples=3000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_HEAVY = settings(FUZZ, max_examples=2000)

# JSON values with numbers a float can hold (huge numbers are fuzzed with the numeric fields):
# scalars, and lists and objects of them (flat, so thousands are generated in seconds; deep
# nesting has its own test).
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
entity_keys = st.sampled_from(["type", "first_seen_s", "last_seen_s", "description", "movement"])
json_values = (
    scalars
    | st.lists(scalars, max_size=5)
    | st.dictionaries(st.text(max_size=10), scalars, max_size=4)
    | st.lists(st.dictionaries(entity_keys, scalars, max_size=5), max_size=3)
)
analysis_keys = st.sampled_from([*VALID, "analysis", "type", "first_seen_s"])
json_objects = st.dictionaries(analysis_keys | st.text(max_size=10), json_values, max_size=8)


def _parse_or_error(text: str, duration_s: float | None = None) -> AnalysisResult | None:
    """The analysis, or None when the parser raised its documented error (anything else
    propagates and fails the test)."""
    error: AnalysisValidationError | None = None
    try:
        return parse_analysis(text, duration_s)
    except AnalysisValidationError as err:
        error = err
    assert error.problems, "an error must say what is wrong"
    assert all(isinstance(p, str) and len(p) < 2000 for p in error.problems)
    return None


def _work(text: str) -> ScanStats:
    stats = ScanStats()
    with contextlib.suppress(AnalysisValidationError):
        extract_json_object(text, stats)
    return stats


def _assert_linear(stats: ScanStats, length: int) -> None:
    """The work bound the parser promises: every pass looks at each character at most once,
    and the decoder sees each character at most once per pass (plus the whole text and the
    fenced blocks once)."""
    passes = schema._MAX_SCANS
    assert stats.scans <= passes
    assert stats.tokens <= passes * length
    assert stats.decoded <= (passes + 2) * length


# -- only results or the documented error ------------------------------------------------------


@FUZZ
@given(st.text(max_size=2000))
def test_any_text_gives_an_analysis_or_a_validation_error(text: str) -> None:
    # Given any text as the model's answer
    # When it is parsed
    result = _parse_or_error(text)

    # Then it is an analysis or the documented error (checked inside), in linear work
    assert result is None or isinstance(result, AnalysisResult)
    _assert_linear(_work(text), len(text))


@FUZZ
@given(PATHOLOGICAL)
def test_brace_quote_and_backslash_soup_is_parsed_in_linear_work(text: str) -> None:
    # Given an answer made of braces, brackets, quotes, backslashes and fences
    # When it is parsed
    result = _parse_or_error(text)
    stats = _work(text)

    # Then it ends in a result or the documented error, with work bounded by its length
    assert result is None or isinstance(result, AnalysisResult)
    _assert_linear(stats, len(text))


@FUZZ_HEAVY
@given(
    json_objects,
    st.sampled_from(["{}", "```json\n{}\n```", "Here you go: {} Thanks!", "[{}]", "{} trailing"]),
)
def test_arbitrary_json_objects_in_any_wrapping_parse_or_fail_cleanly(
    data: dict[str, Any], wrapping: str
) -> None:
    # Given any JSON object the model might send, bare, fenced, in prose or in an array
    text = wrapping.replace("{}", json.dumps(data), 1)

    # When it is parsed
    result = _parse_or_error(text, duration_s=10.0)

    # Then only an analysis or the documented error comes out; an analysis is within range
    if result is not None:
        assert result.summary
        assert all(0.0 <= e.first_seen_s <= e.last_seen_s <= 10.0 for e in result.entities)


@FUZZ_HEAVY
@given(
    st.dictionaries(st.sampled_from(list(VALID)), json_values, max_size=6),
    st.text(alphabet=st.characters(blacklist_characters='{}"'), max_size=200),
    st.text(alphabet=st.characters(blacklist_characters='{}"'), max_size=200),
)
def test_a_valid_answer_with_odd_fields_in_brace_free_prose_is_found(
    overrides: dict[str, Any], before: str, after: str
) -> None:
    # Given a valid analysis with some fields replaced by arbitrary JSON, in prose without
    # braces or quotes
    text = f"{before}{json.dumps({**VALID, **overrides})}{after}"

    # When it is parsed
    result = _parse_or_error(text)

    # Then the object was found (whatever its fields said): untouched fields read back as sent
    if not overrides:
        assert result is not None
        assert result.activity_type is ActivityType.DELIVERY
    if "activity_type" not in overrides and "summary" not in overrides and result is not None:
        assert result.summary == VALID["summary"]


# Each example is up to a quarter of a megabyte: fewer of them.
@settings(FUZZ, max_examples=400)
@given(st.integers(min_value=1, max_value=60_000), st.sampled_from(['{"a":', "[", '{"a":[']))
def test_deeply_nested_json_is_an_error_or_a_result_never_a_recursion_error(
    depth: int, opener: str
) -> None:
    # Given JSON nested up to 60,000 levels deep, closed or left open
    closer = {'{"a":': "}", "[": "]", '{"a":[': "]}"}[opener]
    closed = opener * depth + "1" + closer * depth
    text = closed[: MAX_ANSWER_CHARS - 1]

    # When it is parsed
    result = _parse_or_error(text)

    # Then no RecursionError escapes (nested objects are not an analysis)
    assert result is None
    _assert_linear(_work(text), len(text))


def test_a_valid_answer_nested_in_deep_prose_braces_is_still_found() -> None:
    # Given 100,000 unclosed braces of prose, then the answer
    text = "{" * 100_000 + " " + json.dumps(VALID)

    # When it is parsed
    result = parse_analysis(text)

    # Then the answer inside is found
    assert result.activity_type is ActivityType.DELIVERY


def test_a_stray_brace_and_quote_in_prose_do_not_hide_the_answer() -> None:
    # Given prose with an unclosed brace and an odd quote before the answer
    text = 'Note {he said "hi there. ' + json.dumps(VALID) + " bye"

    # When it is parsed
    stats = ScanStats()
    found = extract_json_object(text, stats)

    # Then a second pass, after the stray brace, finds the answer
    assert found == VALID
    assert stats.scans == 2


def test_an_answer_over_the_size_cap_is_refused_with_a_clear_error() -> None:
    # Given an answer one character over the cap
    text = json.dumps(VALID) + " " * (MAX_ANSWER_CHARS - len(json.dumps(VALID)) + 1)

    # When it is parsed
    with pytest.raises(AnalysisValidationError) as caught:
        parse_analysis(text)

    # Then the error says how long it was and what the limit is
    assert f"{len(text)} characters" in str(caught.value)
    assert str(MAX_ANSWER_CHARS) in str(caught.value)


def test_an_answer_at_the_size_cap_is_parsed() -> None:
    # Given a valid answer padded with prose to exactly the cap
    body = json.dumps(VALID)
    text = "x" * (MAX_ANSWER_CHARS - len(body)) + body

    # When it is parsed
    result = parse_analysis(text)

    # Then it is read
    assert len(text) == MAX_ANSWER_CHARS
    assert result.activity_type is ActivityType.DELIVERY


# -- linear time ----------------------------------------------------------------------------

SHAPES: dict[str, Callable[[int], str]] = {
    "open braces": lambda n: "{" * n,
    "brace-quote pairs": lambda n: '{"' * (n // 2),
    "nested unclosed objects": lambda n: '{"a":[1,' * (n // 8),
    "fences without JSON": lambda n: "```\n{" * (n // 5),
    "escaped quotes in an open string": lambda n: '{"a": "' + '\\"{' * (n // 3),
    "closed invalid blocks": lambda n: "{x}" * (n // 3),
    "prose braces then the answer": lambda n: "{" * n + json.dumps(VALID),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_work_grows_linearly_from_n_to_4n(shape: str) -> None:
    # Given a pathological answer at sizes n and 4n
    make = SHAPES[shape]
    small, large = make(12_000), make(48_000)

    # When both are parsed
    work_small, work_large = _work(small), _work(large)

    # Then 4 times the text costs at most about 4 times the work (quadratic would be 16)
    _assert_linear(work_small, len(small))
    _assert_linear(work_large, len(large))
    assert work_large.tokens <= 4.5 * work_small.tokens + 100
    assert work_large.decoded <= 4.5 * work_small.decoded + 100


def test_parse_time_grows_linearly_from_n_to_4n() -> None:
    # Given the input that used to take seconds (12,000 "{") and four times as many
    def best_of_three(text: str) -> float:
        times = []
        for _ in range(3):
            started = time.process_time()
            _parse_or_error(text)
            times.append(time.process_time() - started)
        return min(times)

    # When each is parsed (best of three, CPU time)
    small, large = best_of_three("{" * 16_000), best_of_three("{" * 64_000)

    # Then the larger took well under the 16 times a quadratic parser needs (generous margin)
    assert large <= 10 * max(small, 0.002)


# -- numbers no float holds ------------------------------------------------------------------

# A number's JSON text goes in for this placeholder (json.dumps cannot write every number).
MARK = "__NUMBER__"
huge_numbers = st.one_of(
    st.integers(min_value=309, max_value=4300).map(lambda digits: "9" * digits),
    st.integers(min_value=309, max_value=4300).map(lambda digits: "-" + "1" * digits),
    st.integers(min_value=4301, max_value=20_000).map(lambda digits: "7" * digits),
    st.sampled_from(["1e999", "-1e999", "1e308", "Infinity", "-Infinity", "NaN"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
# The same as text the model might write instead of a number.
huge_number_strings = st.one_of(
    huge_numbers,
    st.integers(min_value=4301, max_value=20_000).map(lambda digits: "1" * digits + ":03"),
    st.integers(min_value=300, max_value=4300).map(lambda digits: "9" * digits + ":03.5"),
    st.integers(min_value=300, max_value=20_000).map(lambda digits: "t=" + "9" * digits + "s"),
).map(json.dumps)
NUMBER_FIELDS = [
    ("entities", 0, "first_seen_s"),
    ("entities", 0, "last_seen_s"),
    ("requires_review",),
    ("risk_level",),
    ("summary",),
    ("observations", 0),
    ("entities", 0, "description"),
]


def _answer_with(path: tuple[Any, ...], number: str) -> str:
    data = json.loads(json.dumps(VALID))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = MARK
    return json.dumps(data).replace(json.dumps(MARK), number)


@FUZZ_HEAVY
@given(st.sampled_from(NUMBER_FIELDS), huge_numbers | huge_number_strings)
def test_numbers_no_float_holds_in_any_field_parse_or_fail_cleanly(
    path: tuple[Any, ...], number: str
) -> None:
    # Given a valid answer with one field replaced by a number of hundreds or thousands of
    # digits, out of a float's range, Infinity or NaN, as a number or as text ("999...:03")
    text = _answer_with(path, number)

    # When it is parsed
    result = _parse_or_error(text, duration_s=10.0)

    # Then no OverflowError or ValueError escapes; kept times are finite and within the clip
    if result is not None:
        for entity in result.entities:
            assert 0.0 <= entity.first_seen_s <= entity.last_seen_s <= 10.0
        assert len(result.summary) <= 25_000


@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), "9" * 5000 + ":03", "1" * 4000 + ":03.5", "9" * 400, float("inf")],
    ids=["int-400-digits", "negative-400-digits", "clock-5000", "clock-4000", "text-400", "inf"],
)
def test_coerce_seconds_refuses_numbers_no_float_holds(value: object) -> None:
    # Given a time value too large for a float
    # When it is coerced to seconds
    seconds = schema.coerce_seconds(value)

    # Then it is not a time (the entity then falls back to its other time or 0)
    assert seconds is None
