"""Benchmark the parsers of untrusted text: the vision model's answer and Frigate's MQTT messages.

For each pathological shape and size, prints the best of `--repeat` wall times (ms). The shapes
are the ones that made the old answer parser quadratic (12,000 `{` took seconds, 65,000
minutes) plus a few more; a linear parser keeps the time proportional to the size.

    .venvs/oldest/bin/python scripts/bench_parsers.py                 # 12k and 65k
    .venvs/oldest/bin/python scripts/bench_parsers.py --sizes 1000 4000 16000

The core package is imported without Home Assistant (see benchlib.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import import_core

schema = import_core("vlm.schema")
frigate_messages = import_core("sources.frigate_messages")

VALID = json.dumps(
    {
        "observations": ["A person walks to the door"],
        "entities": [],
        "summary": "A person delivered a parcel.",
        "activity_type": "delivery",
        "risk_level": "low",
        "requires_review": False,
    }
)

VLM_CASES: dict[str, Callable[[int], str]] = {
    "open braces": lambda n: "{" * n,
    "brace-quote pairs": lambda n: '{"' * (n // 2),
    "nested unclosed objects": lambda n: '{"a":[1,' * (n // 8),
    "fences without JSON": lambda n: "```\n{" * (n // 5),
    "prose braces, then the answer": lambda n: "{" * n + " " + VALID,
    "valid answer in prose": lambda n: "x" * n + VALID + "x" * n,
}

FRIGATE_CASES: dict[str, Callable[[int], bytes]] = {
    "open braces": lambda n: b"{" * n,
    "nested arrays": lambda n: b'{"type": "end", "after": ' + b"[" * n + b"]" * n + b"}",
    "400-digit start_time": lambda n: (
        b'{"type": "end", "after": {"id": "1718123456.1-abc123", "camera": "front", '
        b'"start_time": ' + b"9" * 400 + b', "pad": "' + b"x" * n + b'"}}'
    ),
    "long zone list": lambda n: json.dumps(
        {
            "type": "end",
            "after": {
                "id": "1718123456.1-abc123",
                "camera": "front",
                "start_time": 1718123456.0,
                "entered_zones": ["z"] * (n // 4),
            },
        }
    ).encode(),
}


def cell(parse: Callable[[Any], object], data: str | bytes, repeat: int) -> str:
    """Best wall time of `repeat` parses (ms), or the name of an undocumented exception."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            parse(data)
        except (schema.AnalysisValidationError, frigate_messages.FrigateMessageError):
            pass
        except Exception as err:  # noqa: BLE001 - reported in the table (the old parsers)
            return f"{type(err).__name__:>10}"
        best = min(best, time.perf_counter() - started)
    return f"{best * 1000:>10.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12_000, 65_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'parser':<8} {'shape':<32} " + " ".join(f"{n:>10}" for n in args.sizes) + "  (ms)")
    for name, make in VLM_CASES.items():
        cells = [cell(schema.parse_analysis, make(n), args.repeat) for n in args.sizes]
        print(f"{'vlm':<8} {name:<32} " + " ".join(cells), flush=True)
    for name, make_payload in FRIGATE_CASES.items():
        cells = [
            cell(frigate_messages.parse_event_message, make_payload(n), args.repeat)
            for n in args.sizes
        ]
        print(f"{'frigate':<8} {name:<32} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
