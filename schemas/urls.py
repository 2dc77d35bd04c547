"""URLs as they may appear in logs, errors and headers: without userinfo, query or fragment.

A callback URL may carry a password (``user:password@``) or a token in its query string;
neither may end up in a log line, an event's error message or a dead letter's headers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_SHOWN_PATH_CHARS = 80


def redact_url(url: object) -> str:
    """``scheme://host[:port]/path`` of ``url``, path shortened; never the credentials."""
    if not isinstance(url, str):
        return f"<not a URL: {type(url).__name__}>"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return f"<malformed URL, {len(url)} characters>"
    if not parts.scheme or not host:
        return f"<malformed URL, {len(url)} characters>"
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port is None else f"{shown_host}:{port}"
    path = parts.path
    if len(path) > MAX_SHOWN_PATH_CHARS:
        path = f"{path[:MAX_SHOWN_PATH_CHARS]}...({len(parts.path)} characters)"
    redacted = f"{parts.scheme}://{netloc}{path}"
    if parts.query or parts.fragment:
        redacted += "?<redacted>"
    # Control characters would let a URL forge log lines: show them escaped.
    return (
        redacted.encode("unicode_escape").decode("ascii")
        if not redacted.isprintable()
        else redacted
    )
