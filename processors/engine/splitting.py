"""Run a batch, and on a device out-of-memory error run its halves instead, recursively.

A batch that fits comes back from one call; one that does not is halved until the parts
fit, down to a single item. A single item that still does not fit is the caller's problem
(``on_single_oom`` decides whether to try again once, e.g. after evicting other models).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Output = TypeVar("Output")


def run_splitting_on_oom(
    items: Sequence[Item],
    run: Callable[[Sequence[Item]], Output],
    *,
    on_oom: Callable[[], None],
    on_single_oom: Callable[[], bool],
) -> list[tuple[Sequence[Item], Output]]:
    """``run`` over ``items``, as one call or as parts; returns each part with its output.

    ``on_oom`` runs after every out-of-memory error (free cached memory); ``on_single_oom``
    runs when one item alone does not fit and returns True to try it once more. The error
    is re-raised when one item does not fit and may not be retried.
    """
    retried_single = False
    while True:
        try:
            return [(items, run(items))]
        except torch.cuda.OutOfMemoryError:
            # Leave the except block before retrying: the traceback pins the failed call's
            # tensors, and the retry needs that memory back.
            if len(items) == 1 and (retried_single or not on_single_oom()):
                raise
        on_oom()
        if len(items) == 1:
            retried_single = True
            logger.warning("out of memory on a single image; trying it once more")
            continue
        middle = len(items) // 2
        logger.warning(
            "out of memory on a batch of %d; retrying as %d + %d",
            len(items),
            middle,
            len(items) - middle,
        )
        first = run_splitting_on_oom(
            items[:middle], run, on_oom=on_oom, on_single_oom=on_single_oom
        )
        return first + run_splitting_on_oom(
            items[middle:], run, on_oom=on_oom, on_single_oom=on_single_oom
        )
