"""Port checks for the local servers."""

from __future__ import annotations

import socket

from infra.stack.exceptions import PortInUseError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def is_listening(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def ensure_free(host: str, port: int, what: str, setting: str) -> None:
    """Raise a PortInUseError naming the setting to change when host:port is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As servers bind: a port left in TIME_WAIT by a stopped server is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"{what} cannot listen on {host}:{port}: the port is taken by another process "
                f"({exc.strerror}); stop that process or choose another port with {setting}"
            ) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
