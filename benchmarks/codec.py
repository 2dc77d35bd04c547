"""Codec throughput: encode+decode of a GenerationRequest per second on one core, against
json.dumps/json.loads of the same record (a benchmark to run by hand, not a timed test).

    python -m benchmarks.codec [--events 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from schemas.builders import new_request
from schemas.codec import Codec
from schemas.events import EventName
from schemas.registry import registry_client


def _request() -> dict[str, Any]:
    """A typical interactive request: a callback, a label, a trace context."""
    record = new_request(
        "a photo of an astronaut riding a horse on the moon, highly detailed, 35mm",
        negative_prompt="blurry, low quality",
        seed=1234,
        scheduler="euler_a",
        tenant="acme",
        labels={"campaign": "spring"},
        callback={"url": "https://hooks.example.com/diffstream", "events": ["completed"]},
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    record["deadline"] = record["submitted_at"] + timedelta(minutes=5)
    return record


def _as_json_types(record: dict[str, Any]) -> dict[str, Any]:
    """The same record with JSON-native values (uuid as text, times as epoch millis)."""
    out = dict(record)
    out["request_id"] = str(record["request_id"])
    for key in ("submitted_at", "deadline"):
        out[key] = int(record[key].timestamp() * 1000)
    return out


def _rate(round_trip: Callable[[], object], events: int, repeat: int) -> float:
    """Best events/s over ``repeat`` runs of ``events`` round trips."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(events):
            round_trip()
        best = min(best, time.perf_counter() - start)
    return events / best


def main() -> None:
    """Print events/s for each format and the ratio to JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    record = _request()
    plain = _as_json_types(record)
    single = Codec.without_registry()
    confluent = Codec(registry_client=registry_client("mock://benchmark"))
    sizes = {
        "avro single-object": len(single.encode(EventName.REQUEST, record)),
        "avro confluent": len(confluent.encode(EventName.REQUEST, record)),
        "json": len(json.dumps(plain).encode()),
    }
    cases: dict[str, Callable[[], object]] = {
        "avro single-object": lambda: single.decode(single.encode(EventName.REQUEST, record)),
        "avro confluent": lambda: confluent.decode(confluent.encode(EventName.REQUEST, record)),
        "json": lambda: json.loads(json.dumps(plain)),
    }
    rates = {name: _rate(case, args.events, args.repeat) for name, case in cases.items()}

    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores")
    print(f"GenerationRequest encode+decode on one core (best of {args.repeat}):")
    for name, rate in rates.items():
        ratio = rate / rates["json"]
        print(f"  {name:<20} {rate:>10,.0f} events/s  {ratio:5.2f}x json  {sizes[name]:4d} bytes")


if __name__ == "__main__":
    main()
