"""An open-loop HTTP load generator on asyncio streams, and Debian's ``wrk`` for saturation.

Open loop: request i is due at ``start + i / rate`` whatever happened to the ones before,
and its latency is counted from when it was due (no coordinated omission: a slow answer
delays no later send, and a request that waited for a connection counts the wait). A
request that finds no idle keep-alive connection opens a new one. The client speaks plain
HTTP/1.1 over asyncio streams (no HTTP library), so that it costs the machine little.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra.bench.exceptions import BenchError

log = logging.getLogger(__name__)

_WRK_TIMEOUT_S = 300


@dataclass
class LoadResult:
    """What one run offered and got back."""

    offered: int
    duration_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    connections: int = 0

    def failed(self, error: BaseException) -> None:
        """Count a request that got no answer, by the kind of failure."""
        self.errors += 1
        kind = type(error).__name__
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def accepted(self, status: int = 202) -> int:
        """Answers with ``status``."""
        return self.statuses.get(status, 0)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if match is None:
            raise BenchError("a response without content-length (the generator needs one)")
        await self.reader.readexactly(int(match.group(1)))
        return status

    def close(self) -> None:
        self.writer.close()


def post_bytes(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A complete keep-alive POST request."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def open_loop(
    host: str,
    port: int,
    raw: bytes,
    *,
    rate: float,
    duration_s: float,
    max_connections: int = 128,
) -> LoadResult:
    """Send ``raw`` at ``rate`` requests/s for ``duration_s``; latency from each due time.
    At most ``max_connections`` are opened (a request due while all are busy waits for one,
    and the wait counts), so a stall cannot turn into a storm of new connections."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    result = LoadResult(offered=int(rate * duration_s), duration_s=duration_s)

    async def connection() -> _Connection:
        if idle.empty() and result.connections < max_connections:
            result.connections += 1
            return _Connection(*await asyncio.open_connection(host, port))
        return await idle.get()

    async def one(due: float) -> None:
        try:
            current = await connection()
        except OSError as error:
            result.failed(error)
            return
        try:
            status = await current.exchange(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            result.failed(error)
            current.close()
            result.connections -= 1
            return
        result.latencies_s.append(loop.time() - due)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        idle.put_nowait(current)

    start = loop.time() + 0.05
    tasks = []
    for i in range(result.offered):
        due = start + i / rate
        pause = due - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    result.duration_s = loop.time() - start
    while not idle.empty():
        idle.get_nowait().close()
    return result


async def closed_loop(
    host: str, port: int, raw: bytes, *, connections: int, duration_s: float
) -> LoadResult:
    """As fast as the server answers, on ``connections`` keep-alive connections (the
    fallback for saturation when ``wrk`` is missing)."""
    loop = asyncio.get_running_loop()
    result = LoadResult(offered=0, duration_s=duration_s)
    end = loop.time() + duration_s

    async def worker() -> None:
        connection = _Connection(*await asyncio.open_connection(host, port))
        try:
            while loop.time() < end:
                sent = loop.time()
                result.offered += 1
                try:
                    status = await connection.exchange(raw)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    result.failed(error)
                    return
                result.latencies_s.append(loop.time() - sent)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            connection.close()

    began = loop.time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.duration_s = loop.time() - began
    return result


def wrk_path() -> str | None:
    """``wrk``, installed with apt-get (Debian's package) when it is missing."""
    if shutil.which("wrk") is None and shutil.which("apt-get") is not None:
        log.info("installing wrk with apt-get (Debian's package)")
        for step in (["install"], ["update"], ["install"]):
            extra = ["-y", "wrk"] if step == ["install"] else []
            # Waits for the dpkg lock that another apt-get (a parallel test worker) holds.
            command = ["apt-get", "-o", "DPkg::Lock::Timeout=120", *step, "-q", *extra]
            subprocess.run(command, capture_output=True, timeout=_WRK_TIMEOUT_S, check=False)
            if shutil.which("wrk"):
                break
    return shutil.which("wrk")


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {auth}
done = function(summary, latency, requests)
  io.write(string.format("DURATION_US %d\\n", summary.duration))
  io.write(string.format("P50_US %d\\n", latency:percentile(50)))
  io.write(string.format("P99_US %d\\n", latency:percentile(99)))
end
"""


def wrk_saturate(
    wrk: str, url: str, body: bytes, key: str, *, connections: int, duration_s: int, folder: Path
) -> LoadResult:
    """``wrk`` on one thread with ``connections`` connections: a closed-loop ceiling."""
    script = folder / "submit.lua"
    script.write_text(
        _WRK_SCRIPT.format(body=_lua(body.decode()), auth=_lua(f"Bearer {key}")), encoding="utf-8"
    )
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration_s}s", "-s", str(script), url]
    began = time.perf_counter()
    answer = subprocess.run(
        command, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if answer.returncode != 0:
        raise BenchError(f"wrk failed ({answer.returncode}): {answer.stderr.strip()[-500:]}")
    figures = dict(re.findall(r"^([A-Z0-9_]+) (\d+)$", answer.stdout, re.MULTILINE))
    requests = re.search(r"(\d+) requests in", answer.stdout)
    total = int(requests.group(1)) if requests else 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", answer.stdout)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    duration = int(figures.get("DURATION_US", "0")) / 1e6 or time.perf_counter() - began
    result = LoadResult(offered=total, duration_s=duration)
    result.statuses = {202: total - errors} | ({0: errors} if errors else {})
    result.latencies_s = [int(figures.get(name, "0")) / 1e6 for name in ("P50_US", "P99_US")]
    result.errors = errors
    return result


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
