"""``with client:`` for every client that holds a connection: one ``__enter__``/``__exit__``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """A mixin: ``with`` hands back the object itself and calls ``close()`` on the way out.

    A class whose clean-up depends on how the block ended overrides ``on_exit``.
    """

    def close(self) -> None:
        """Release what the object holds; subclasses define it."""
        raise NotImplementedError

    def on_exit(self, *, failed: bool) -> None:
        """What leaving the ``with`` block does (``failed``: it raised); ``close()`` here."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.on_exit(failed=exc_type is not None)
