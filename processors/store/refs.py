"""Model references: ``NAME``, ``NAME@REV`` (a revision or an alias), checked once here."""

from __future__ import annotations

import re
from typing import NamedTuple

from processors.exceptions import ModelRefError

# Names become object-key and directory segments: no "/", no "..", nothing hidden.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1-64 of a-z 0-9 . _ -, starting with a letter or digit"
REVISION_RULE = "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"


class ModelRef(NamedTuple):
    """A model and, optionally, a revision or alias of it."""

    name: str
    revision: str | None

    def __str__(self) -> str:
        return self.name if self.revision is None else f"{self.name}@{self.revision}"


def check_name(name: str, field: str = "NAME") -> str:
    """``name`` when it is a valid model name, else ModelRefError naming the rule."""
    if not NAME.fullmatch(name) or ".." in name:
        raise ModelRefError(f"{field} {name!r} is not a model name ({NAME_RULE}): rename it")
    return name


def check_revision(revision: str, field: str = "REV") -> str:
    """``revision`` when it is a valid revision or alias, else ModelRefError naming the rule."""
    if not REVISION.fullmatch(revision) or ".." in revision:
        raise ModelRefError(
            f"{field} {revision!r} is not a revision or alias ({REVISION_RULE}): rename it"
        )
    return revision


def parse_ref(text: str, *, need_revision: bool = False) -> ModelRef:
    """``NAME`` or ``NAME@REV``; with ``need_revision``, only ``NAME@REV``."""
    name, at, revision = text.strip().partition("@")
    if need_revision and (not at or not revision):
        raise ModelRefError(
            f"{text!r} is not NAME@REV: name the revision or alias, e.g. digits@prod "
            "(`diffstream models list` shows them)"
        )
    if at and not revision:
        raise ModelRefError(f"{text!r} ends in '@': add the revision or alias, or drop the '@'")
    return ModelRef(check_name(name), check_revision(revision) if at else None)
