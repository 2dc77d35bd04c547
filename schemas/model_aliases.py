"""Model aliases: the ModelAlias record and its key in ``diffusion.model-aliases``.

An alias (``prod``, ``canary``) names one revision of a model in the bucket's model store.
The topic is compacted and keyed by ``NAME/ALIAS``, so its latest record per key is the
alias's target and a tombstone removes the alias; every processor follows it as a table.
"""

from __future__ import annotations

import getpass
import socket
from typing import Any

from schemas import records
from schemas.builders import now_millis

#: The alias a request that names no revision runs on, when the store has the model.
DEFAULT_ALIAS = "prod"


def alias_key(name: str, alias: str) -> str:
    """The record key of ``alias`` of model ``name``: ``NAME/ALIAS``."""
    return f"{name}/{alias}"


def who() -> str:
    """``user@host``, for the ``updated_by`` field."""
    try:
        user = getpass.getuser()
    except OSError:  # no login name in a container without a passwd entry
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def new_model_alias(
    name: str, alias: str, revision: str, *, updated_by: str | None = None
) -> dict[str, Any]:
    """The ModelAlias record pointing ``name``'s ``alias`` at ``revision``, set now."""
    record = records.ModelAlias(
        name=name,
        alias=alias,
        revision=revision,
        updated_at=now_millis(),
        updated_by=updated_by,
    )
    return {**record}
