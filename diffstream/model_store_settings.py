"""Settings of the bucket's model store and of the processors' local copy of it
(``DIFFSTREAM_MODELS__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from diffstream.evaluation_settings import EvaluationRule

GIB = 1024**3


class ModelStoreSettings(BaseModel):
    """Where pushed models live in the bucket, and how much of them a processor keeps."""

    model_config = ConfigDict(frozen=True)

    # False: processors never look in the store (names resolve as without one).
    enabled: bool = True
    # Objects live under ``{prefix}/NAME/REVISION/`` in DIFFSTREAM_S3_BUCKET.
    prefix: str = Field("models", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    # Pulled revisions; None: HOME/model-cache (see ``cache_path``).
    cache_dir: Path | None = None
    # The cache's bound: the least recently used revisions are deleted to stay under it.
    cache_max_bytes: int = Field(20 * GIB, gt=0)
    # How long a request waits for the alias table at start before resolving without it.
    alias_wait_s: float = Field(10.0, ge=0)
    # What a shadow evaluation must show before a guarded alias takes a revision.
    evaluation: EvaluationRule = EvaluationRule()

    @field_validator("cache_dir")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    def cache_path(self, home: Path) -> Path:
        """The cache directory: ``cache_dir`` if set, else ``home/model-cache``."""
        return self.cache_dir or home / "model-cache"
