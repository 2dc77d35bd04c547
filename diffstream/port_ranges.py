"""Ports and port ranges as settings write them: ``8080`` or ``"8000-8999"``."""

from __future__ import annotations


def port_range(entry: str | int) -> tuple[int, int]:
    """``8080`` or ``"8000-8999"`` as an inclusive (low, high); ValueError names the fix."""
    text = str(entry).strip()
    low, dash, high = text.partition("-")
    try:
        bounds = (int(low), int(high if dash else low))
    except ValueError:
        bounds = (0, 0)
    if isinstance(entry, bool) or not 1 <= bounds[0] <= bounds[1] <= 65535:
        raise ValueError(
            f"webhooks.allow_ports entry {text!r} is not a port or a range (limit: 1-65535, "
            'low <= high); write e.g. 8080 or "8000-8999"'
        )
    return bounds


def canonical_port_range(entry: object) -> str:
    """One spelling per range (``"8080"``, ``"8000-8999"``), so equal settings compare equal."""
    if not isinstance(entry, str | int):
        raise ValueError(f"webhooks.allow_ports entry {entry!r} is not a port or a range")
    low, high = port_range(entry)
    return str(low) if low == high else f"{low}-{high}"
