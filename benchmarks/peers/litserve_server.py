"""LitServe: a ``LitAPI`` with ``max_batch_size=8`` and a 20 ms ``batch_timeout``, as
LitServe's batching guide shows (``predict`` gets the batch; ``unbatch`` splits it).
``python -m benchmarks.peers.litserve_server --port 8000``
"""

# No ``from __future__ import annotations``: LitServe reads decode_request's and
# encode_response's annotations as FastAPI types, which strings are not.
import argparse
from typing import Any

import litserve as ls
from fastapi import Response

from benchmarks.peers.common import Model


class DiffusionAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.model = Model()

    def decode_request(self, request: dict[str, Any]) -> dict[str, Any]:
        return request

    def batch(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return inputs

    def predict(self, bodies: list[dict[str, Any]]) -> list[bytes]:
        return self.model.generate(bodies)

    def unbatch(self, output: list[bytes]) -> list[bytes]:
        return output

    def encode_response(self, output: bytes) -> Response:
        return Response(output, media_type="image/png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    api = DiffusionAPI(max_batch_size=8, batch_timeout=0.02, api_path="/generate")
    server = ls.LitServer(api, accelerator="cpu", timeout=False)
    server.run(host="127.0.0.1", port=port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
