"""A live webhook endpoint on 127.0.0.1 that notes when each delivery arrived."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class WebhookReceiver:
    """Answers 204 to every POST and records the request_id of its body and the time."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # request_id -> time.monotonic()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def arrived(self, request_id: str) -> float | None:
        """When the first webhook about ``request_id`` arrived, or None."""
        with self._lock:
            return self.arrivals.get(request_id)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    request_id = str(json.loads(body)["data"]["request_id"])
                except (ValueError, KeyError, TypeError):
                    request_id = "?"
                with receiver._lock:
                    receiver.arrivals.setdefault(request_id, time.monotonic())
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
