"""Every role's /metrics from a live pipeline, as metric names: what a dashboard panel or
an alert rule may name (the deployment checks use ``pipeline_metric_names``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families

from diffstream.settings import RunSettings, Settings
from infra.stack.ports import free_port
from tests.integration.gateway_support import running_gateway
from tests.roles_support import RolesThread

# The sample names of a family of each type; a labelled family that has no series yet
# still shows its HELP and TYPE lines, so its names are known before its first sample.
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def metric_names(url: str) -> set[str]:
    """The families and the sample names (``_total``, ``_bucket``...) one scrape shows."""
    text = httpx.get(url, timeout=10).raise_for_status().text
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SAMPLE_SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def wait_ready(base: str, timeout_s: float = 90.0) -> None:
    """Until ``base``/readyz answers 200 (and /healthz stays 200 meanwhile)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200, "not alive"
            answer = httpx.get(f"{base}/readyz", timeout=5)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text.strip()}"
        except httpx.HTTPError as error:
            last = repr(error)
        time.sleep(0.2)
    raise AssertionError(f"{base} was not ready within {timeout_s:g}s: {last}")


@contextmanager
def running_pipeline(settings: Settings) -> Iterator[dict[str, str]]:
    """`diffstream run`'s roles (processor, image sink, notifier; the digits model on the
    CPU) served on one port, and a gateway on its own; yields each port's base URL once
    both are ready. ``settings``: an isolated copy (tests.integration.isolation)."""
    roles = RolesThread(settings, run=RunSettings(metrics_port=free_port())).start()
    own = roles.settings
    bases = {"run": f"http://127.0.0.1:{own.run.metrics_port}"}
    try:
        with running_gateway(own) as gateway:
            bases["gateway"] = gateway
            wait_ready(bases["run"])
            assert not roles.failures, roles.failures
            yield bases
    finally:
        roles.finish()
    assert not roles.failures, roles.failures


def pipeline_metric_names(settings: Settings) -> set[str]:
    """Every metric name the running pipeline's roles export."""
    with running_pipeline(settings) as bases:
        return set().union(*(metric_names(f"{base}/metrics") for base in bases.values()))
