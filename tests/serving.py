"""Serve a test receiver (webhooks, OTLP spans) on a free port of 127.0.0.1 for a block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, TypeVar


class Serves(Protocol):
    """A receiver: it hands out its request handler and learns the server it runs on."""

    server: ThreadingHTTPServer | None

    def handler(self) -> type[BaseHTTPRequestHandler]: ...


ReceiverT = TypeVar("ReceiverT", bound=Serves)


@contextmanager
def serving(receiver: ReceiverT) -> Iterator[ReceiverT]:
    """``receiver`` answering on a free port until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    server.daemon_threads = True
    receiver.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
