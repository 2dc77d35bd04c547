"""The operations commands: ``stack``, ``topics``, ``bucket``, ``run``, ``demo`` and ``bench``.

Each command imports what it drives inside itself, so that ``diffstream publish`` loads
neither the local stack nor a processor (and with it torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from diffstream.settings import Settings
from infra.bench.cli import bench as bench_command
from infra.bench.cli import (
    bench_accelerator,
    bench_coldstart,
    bench_encoding,
    bench_fleet,
    bench_gateway,
    bench_peers,
)
from infra.chaos.cli import chaos as chaos_command

if TYPE_CHECKING:
    from infra.stack.local import ServerStatus

console = Console()

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
stack_app = typer.Typer(help="The local stack: a real Kafka broker and MinIO, no Docker needed.")
topics_app = typer.Typer(help="Topic provisioning.")
bucket_app = typer.Typer(help="The object-store bucket images are written to.")
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(bucket_app, name="bucket")
bench_app = typer.Typer(help="Benchmarks.")
bench_app.callback(invoke_without_command=True)(bench_command)
bench_app.command("gateway")(bench_gateway)
bench_app.command("encoding")(bench_encoding)
bench_app.command("accelerator")(bench_accelerator)
bench_app.command("fleet")(bench_fleet)
bench_app.command("peers")(bench_peers)
bench_app.command("coldstart")(bench_coldstart)
app.add_typer(bench_app, name="bench")
app.command("chaos")(chaos_command)


@stack_app.command("install")
def stack_install() -> None:
    """Resolve the Kafka jars and build MinIO into the cache; nothing is started."""
    from infra.stack.local import LocalStack

    stack = LocalStack(Settings())
    with console.status("resolving Kafka with Maven and building MinIO with go (first run only)"):
        stack.install()
    for server in stack.servers:
        console.print(f"{server.name}: {server.install_dir}")


@stack_app.command("up")
def stack_up(
    brokers: Annotated[
        int | None,
        typer.Option(
            "--brokers",
            min=1,
            max=9,
            help="Kafka nodes (KRaft broker+controller each); 3 gives replication 3, "
            "min.insync.replicas 2. Default: as last started, else DIFFSTREAM_KAFKA_BROKERS.",
        ),
    ] = None,
) -> None:
    """Install (first run only), start Kafka and MinIO, create the topics and the bucket."""
    from infra.stack.local import LocalStack

    stack = LocalStack(Settings(), brokers)
    settings = stack.settings
    with console.status(
        f"starting the local stack, {stack.layout.brokers} broker(s) "
        "(the first run downloads and builds)"
    ):
        report = stack.up()
    _print_servers(report.servers)
    created = [t.name for t in report.topics if t.action != "unchanged"]
    console.print(
        f"topics: {len(report.topics)} ready"
        + (f" ({', '.join(created)} created or updated)" if created else "")
    )
    console.print(f"bucket: {settings.s3_bucket}" + (" (created)" if report.bucket_created else ""))
    _push_builtin_models(settings)
    console.print(f"ready in {report.seconds:.1f}s; state under {settings.home}")
    if stack.layout.brokers > 1:
        console.print(f"clients: export DIFFSTREAM_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}")


def _push_builtin_models(settings: Settings) -> None:
    """``digits`` and ``tiny-sd`` into the model store, aliased prod (needs the inference
    extra; without it processors cannot run either)."""
    try:
        from processors.store.builtins import push_builtins
    except ImportError as exc:
        console.print(f"models: not pushed ({exc}; install the inference extra)")
        return
    with console.status("pushing the built-in models to the model store"):
        pushed = push_builtins(settings)
    console.print(
        "models: " + ", ".join(f"{p.name}@{p.revision} (prod -> {p.prod})" for p in pushed)
    )


@stack_app.command("down")
def stack_down(
    purge: Annotated[bool, typer.Option(help="Also delete Kafka's and MinIO's data.")] = False,
) -> None:
    """Stop the servers `stack up` started; keep their data unless --purge."""
    from infra.stack.local import LocalStack

    stopped = LocalStack(Settings()).down(purge=purge)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if purge:
        console.print("data purged (downloads kept)")


@stack_app.command("status")
def stack_status() -> None:
    """Show each server; exit 1 when any is not running or not answering."""
    from infra.stack.local import LocalStack

    servers = LocalStack(Settings()).status()
    _print_servers(servers)
    if not all(server.ready for server in servers):
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic with its configuration; safe to run again."""
    from diffstream.broker_probe import probe_broker
    from infra.topic_provisioning import create_topics

    settings = Settings()
    probe_broker(settings)  # an unreachable cluster fails in seconds, saying why
    table = Table("topic", "partitions", "action")
    for outcome in create_topics(settings):
        table.add_row(outcome.name, str(outcome.partitions), outcome.action)
    console.print(table)


@bucket_app.command("create")
def bucket_create() -> None:
    """Create DIFFSTREAM_S3_BUCKET when it is missing; safe to run again."""
    from diffstream.s3 import ensure_bucket, make_s3_client

    settings = Settings()
    created = ensure_bucket(
        make_s3_client(settings), settings.s3_bucket, settings.s3_region, settings
    )
    console.print(f"bucket {settings.s3_bucket}: {'created' if created else 'exists'}")


@app.command("run")
def run_all(
    gateway: Annotated[
        bool, typer.Option("--gateway", help="Also serve the HTTP gateway (DIFFSTREAM_GATEWAY__*).")
    ] = False,
) -> None:
    """Every role in one process (processor, image sink, notifier), for the local demo."""
    from diffstream.signals import stop_on_signals
    from infra.together import run_every_role

    run_every_role(Settings(), stop_on_signals(), gateway=gateway)


@app.command("demo")
def demo() -> None:
    """Run the end-to-end path against the running stack and report each step."""
    from diffstream.broker_probe import probe_broker
    from infra.demo import run_demo

    settings = Settings()
    probe_broker(settings)
    run_demo(settings, console)


def _print_servers(servers: list[ServerStatus]) -> None:
    table = Table("server", "endpoint", "pid", "state")
    for server in servers:
        state = "[green]ready[/green]" if server.ready else "[red]down[/red]"
        table.add_row(server.name, server.endpoint, str(server.pid or "-"), state)
    console.print(table)
