"""`diffstream chaos` (`make chaos`): run the fault suite and print its table."""

from __future__ import annotations

import json as json_module
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich import get_console, reconfigure

from diffstream.settings import Settings
from infra.chaos.exceptions import UnknownScenarioError
from infra.chaos.report import print_details, results_table
from infra.chaos.runner import run_suite
from infra.chaos.scenario import Scenario
from infra.chaos.scenarios import SCENARIOS
from infra.chaos.stack import chaos_stack

log = logging.getLogger(__name__)


def _pick(names: list[str]) -> list[Scenario]:
    if not names:
        return list(SCENARIOS)
    known = {scenario.name: scenario for scenario in SCENARIOS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownScenarioError(
            f"--only {', '.join(unknown)}: no such scenario; choose from {', '.join(known)}"
        )
    return [known[name] for name in names]


def chaos(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="run only this scenario (repeatable)")
    ] = None,
    list_scenarios: Annotated[
        bool, typer.Option("--list", help="list the scenarios and exit")
    ] = False,
    logs: Annotated[
        Path | None,
        typer.Option(help="where the roles' logs go (default $DIFFSTREAM_HOME/chaos/<time>)"),
    ] = None,
    json: Annotated[Path | None, typer.Option(help="also write the rows as JSON here")] = None,
) -> None:
    """Kill roles, the broker and MinIO under load on a stack of the suite's own, then
    count lost, duplicated and missing outcomes; exit 1 if any scenario failed."""
    if not sys.stdout.isatty():
        reconfigure(width=170)  # a log file or a pipe: room for the table's columns
    _quiet_setup_logs()
    console = get_console()
    scenarios = _pick(only or [])
    if list_scenarios:
        for scenario in scenarios:
            console.print(f"[bold]{scenario.name}[/bold]: {scenario.summary}")
        return
    log_root = logs or Settings().home / "chaos" / time.strftime("%Y%m%d-%H%M%S")
    log_root.mkdir(parents=True, exist_ok=True)
    console.print(f"roles' logs: {log_root}")
    began = time.monotonic()
    console.print("starting the suite's own Kafka and MinIO (free ports, a throwaway home)")
    results = []
    # One stack per cluster size: the single-broker scenarios first, then the replicated ones.
    for brokers in sorted({s.brokers for s in scenarios}):
        fitting = [s for s in scenarios if s.brokers == brokers]
        if brokers > 1:
            console.print(f"starting a {brokers}-broker cluster for {len(fitting)} scenario(s)")
        with chaos_stack(brokers=brokers) as stack:
            results.extend(run_suite(stack, fitting, log_root, console))
    console.print(results_table(results))
    print_details(console, results)
    if json is not None:
        json.write_text(json_module.dumps([r.as_row() for r in results], indent=2) + "\n")
        console.print(f"rows written to {json}")
    failed = [r.name for r in results if not r.passed]
    minutes = (time.monotonic() - began) / 60
    if failed:
        console.print(
            f"\n[red]{len(failed)} of {len(results)} scenarios failed[/red] "
            f"({', '.join(failed)}) in {minutes:.1f} min"
        )
        raise typer.Exit(1)
    console.print(f"\n[green]all {len(results)} scenarios passed[/green] in {minutes:.1f} min")


def _quiet_setup_logs() -> None:
    """Each scenario creates its topics and bucket: the suite's own lines say enough."""
    for name in (
        "infra.topic_provisioning",
        "diffstream.s3",
        "infra.chaos.roles",
        "infra.chaos.stack",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
