"""A request's model through the store: alias -> revision -> local cache -> the bucket.

``pin`` turns what a request names into the revision it runs on (``revision`` may be an
alias; none means the ``prod`` alias when the store has one for the model, else the name
resolves as it would without a store). ``fetch`` hands the engine a local directory of a
stored revision, pulling it once, sha256-checked, when it is not cached.
"""

from __future__ import annotations

import logging
from pathlib import Path

from diffstream.settings import Settings
from processors.exceptions import UnknownModelError
from processors.store.aliases import AliasTable
from processors.store.bucket import ModelStore
from processors.store.cache import ModelCache
from processors.store.refs import NAME, REVISION
from schemas.codec import Codec
from schemas.model_aliases import DEFAULT_ALIAS

log = logging.getLogger(__name__)

MANIFEST_COPY = ".manifest.json"


class StoreModels:
    """The engine's view of the model store (a ``processors.engine.registry.ModelLocator``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        codec: Codec | None = None,
        store: ModelStore | None = None,
        cache: ModelCache | None = None,
        aliases: AliasTable | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or ModelStore(settings)
        models = settings.models
        self.cache = cache or ModelCache(models.cache_path(settings.home), models.cache_max_bytes)
        self.aliases = aliases or AliasTable(settings, codec)
        self._started = False

    def start(self) -> StoreModels:
        """Follow the aliases; wait (``alias_wait_s`` at most) for what is there already."""
        if not self._started:
            self._started = True
            self.aliases.start()
            if not self.aliases.caught_up.wait(self.settings.models.alias_wait_s):
                log.warning("%s not read yet: requests run as without aliases", self.aliases.topic)
        return self

    def stop(self) -> None:
        """Stop following the aliases."""
        if self._started:
            self.aliases.stop()
            self._started = False

    def pin(self, model: str, revision: str | None) -> str | None:
        """The revision a request for ``model`` (``revision``: a revision, an alias or
        None) runs on; ``revision`` itself when no alias of that name exists."""
        if not NAME.fullmatch(model):
            return revision  # a hub id or a path: not a store name
        target = self.aliases.revision(model, revision or DEFAULT_ALIAS)
        return target if target is not None else revision

    def fetch(self, model: str, revision: str) -> Path | None:
        """A local directory holding ``model@revision``; None when the store does not know
        the model (it then resolves as without a store). Raises UnknownModelError for a
        revision the store lacks of a model it has, ModelCorruptError for a file whose
        sha256 is not its manifest's, ModelStoreUnavailableError when the bucket is away."""
        if not NAME.fullmatch(model) or not REVISION.fullmatch(revision):
            return None
        hit = self.cache.cached(model, revision)
        if hit is not None:
            return hit
        manifest = self.store.manifest(model, revision)
        if manifest is None:
            self._unknown(model, revision)
            return None

        def pull(directory: Path) -> None:
            self.store.download(manifest, directory)
            (directory / MANIFEST_COPY).write_bytes(manifest.to_json())

        return self.cache.get(model, revision, pull)

    def _unknown(self, model: str, revision: str) -> None:
        """Raise UnknownModelError when the store has other revisions or aliases of ``model``."""
        aliases = [f"{r['alias']} -> {r['revision']}" for r in self.aliases.aliases(model)]
        revisions = [m.revision for m in self.store.manifests(model)] if not aliases else []
        if not aliases and not revisions:
            return
        known = ", ".join(aliases or revisions)
        raise UnknownModelError(
            f"revision {revision!r} of model {model!r} is not in the model store (it has: "
            f"{known}): name one of them in `revision`, or leave it out to run on "
            f"{DEFAULT_ALIAS!r}"
        )
