"""A tiny threaded HTTP receiver on 127.0.0.1 that records webhooks, for the notifier's tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

from tests.serving import serving


class Received(NamedTuple):
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every POST; ``respond(n)`` says which status the n-th request (from 1) gets."""

    def __init__(self, respond: Callable[[int], int] = lambda n: 200, delay_s: float = 0.0):
        self.respond = respond
        self.delay_s = delay_s
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    n = len(receiver.received)
                if receiver.delay_s:
                    threading.Event().wait(receiver.delay_s)
                status = receiver.respond(n)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("location", "http://127.0.0.1:1/elsewhere")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def receiving(receiver: Receiver) -> AbstractContextManager[Receiver]:
    """Serve ``receiver`` on a free port of 127.0.0.1 for the duration of the block."""
    return serving(receiver)
