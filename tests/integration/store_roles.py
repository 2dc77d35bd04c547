"""What the model store's tests share: settings with a model cache of the test's own, and a
processor with an image sink running on the test's threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diffstream.settings import Settings
from processors.engine.engine import InferenceEngine
from processors.worker import StreamProcessor
from sinks.images import ImageSink
from tests.integration.isolation import isolate
from tests.integration.threads import on_threads


def with_own_cache(settings: Settings, tmp_path: Path) -> Settings:
    """``settings`` isolated, pulling models into a cache under ``tmp_path``."""
    own = isolate(settings)
    return own.model_copy(
        update={"models": own.models.model_copy(update={"cache_dir": tmp_path / "cache"})}
    )


@contextmanager
def processor_and_sink(settings: Settings, engine: InferenceEngine) -> Iterator[StreamProcessor]:
    """A processor and an image sink running for the block; both must stop after it."""
    processor = StreamProcessor(settings, engine)
    with on_threads(processor.run, ImageSink(settings).run) as threads:
        yield processor
    for thread in threads:
        assert not thread.is_alive(), f"{thread.name} did not stop"
