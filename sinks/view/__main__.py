"""`python -m sinks.view view|request ID`: the view's commands without the full CLI."""

from __future__ import annotations

from diffstream.logs import configure_logging
from sinks.view.cli import app

if __name__ == "__main__":
    configure_logging("INFO")
    app(prog_name="python -m sinks.view")
