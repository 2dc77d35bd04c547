"""Reading one figure off a role's ``/metrics`` while a bench runs."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families


def metric_sum(
    port: int, sample: str, labels: Mapping[str, str] | None = None, timeout_s: float = 1.0
) -> float:
    """The sum of the samples named ``sample`` (e.g. ``..._seconds_sum``) whose labels include
    ``labels``, on ``127.0.0.1:port``; 0 before the role serves ``/metrics``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as reply:
            text = reply.read().decode()
    except OSError:
        return 0.0
    wanted = (labels or {}).items()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == sample and wanted <= s.labels.items()
    )
