"""Grouping tasks into forward passes the engine can run as one pipeline call."""

from __future__ import annotations

from collections.abc import Sequence

from processors.engine.tasks import BatchKey, GenerationTask, batch_key


def plan_passes(tasks: Sequence[GenerationTask], max_images: int) -> list[list[int]]:
    """Indexes of ``tasks`` grouped into passes that share a batch key and hold at most
    ``max_images`` images, in arrival order. A task asking for more images than
    ``max_images`` gets a pass of its own (the engine splits it further if memory runs out).
    """
    open_pass: dict[BatchKey, tuple[list[int], int]] = {}
    passes: list[list[int]] = []
    for index, task in enumerate(tasks):
        key = batch_key(task)
        current = open_pass.get(key)
        if current is None or current[1] + task.num_images > max_images:
            current = ([], 0)
            passes.append(current[0])
        current[0].append(index)
        open_pass[key] = (current[0], current[1] + task.num_images)
    return passes
