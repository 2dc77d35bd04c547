"""`diffstream gateway` and `diffstream keys create|list|revoke` (mounted by producers.cli).

The web framework is imported inside `gateway` only, so `keys` works without the extra.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from diffstream.settings import Settings
from producers.gateway.keys import create_key, key_directory, revoke_key
from producers.gateway.settings import GatewaySettings

console = Console()

keys_app = typer.Typer(help="Tenants' API keys (stored as hashes).", no_args_is_help=True)

DEV_TENANT = "dev"


def gateway_command(
    host: Annotated[str | None, typer.Option(help="Interface (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Create a local tenant's key and print a URL with it.")
    ] = False,
) -> None:
    """Serve the HTTP API and the web page (publishes to Kafka, reads outcomes back)."""
    from producers.gateway.serve import serve_gateway  # noqa: PLC0415 (the gateway extra)

    settings = Settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    gateway = GatewaySettings(**overrides)  # type: ignore[arg-type]
    if dev:
        created = create_key(
            settings, DEV_TENANT, rate_per_s=100.0, images_per_min=6000, max_in_flight=1000
        )
        url = f"http://{gateway.host}:{gateway.port}"
        console.print(
            f"tenant {DEV_TENANT!r}, API key (shown once): {created.key}",
            markup=False,
            soft_wrap=True,
        )
        console.print(f"open {url}/#key={created.key}", markup=False, soft_wrap=True)
        console.print(
            f'try: curl -s -H "Authorization: Bearer {created.key}" {url}/v1/models',
            markup=False,
            soft_wrap=True,
        )
    serve_gateway(settings, gateway)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
    rate: Annotated[
        float | None, typer.Option("--rate", min=0.001, help="Requests/s (default 10).")
    ] = None,
    images_per_min: Annotated[
        int | None, typer.Option(min=1, help="Images per minute (default 600).")
    ] = None,
    max_in_flight: Annotated[
        int | None, typer.Option(min=1, help="Unfinished requests (default 100).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"tenant", "key", "webhook_secret"} on one line.')
    ] = False,
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    defaults = GatewaySettings()
    created = create_key(
        Settings(),
        tenant,
        rate_per_s=rate if rate is not None else defaults.default_rate_per_s,
        images_per_min=images_per_min or defaults.default_images_per_min,
        max_in_flight=max_in_flight or defaults.default_max_in_flight,
    )
    if as_json:
        shown = {"tenant": created.tenant, "key": created.key}
        typer.echo(json.dumps(shown | {"webhook_secret": created.webhook_secret}))
        return
    console.print(f"tenant:         {created.tenant}", markup=False)
    console.print(f"key:            {created.key}  (shown once)", markup=False, soft_wrap=True)
    console.print(f"webhook secret: {created.webhook_secret}", markup=False, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: its prefix, tenant, limits and whether it is revoked."""
    table = Table("key", "tenant", "created", "rate/s", "images/min", "in flight", "state")
    for key in key_directory(Settings()).every_key():
        table.add_row(
            key["key_prefix"] + "…",
            key["tenant"],
            key["created_at"].isoformat(timespec="seconds"),
            f"{key['rate_per_s']:g}",
            str(key["images_per_min"]),
            str(key["max_in_flight"]),
            "revoked" if key["revoked"] else "live",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's shown prefix (ds_…) or hash, or the key.")],
) -> None:
    """Revoke a key; every gateway refuses it within seconds."""
    from schemas.tenants import hash_key  # noqa: PLC0415

    target = hash_key(key) if len(key) > 40 else key
    revoked = revoke_key(Settings(), target)
    console.print(f"revoked {revoked['key_prefix']}… of tenant {revoked['tenant']}", markup=False)
