"""Errors of the processors package; each says which GenerationFailed code it maps to.

``code`` and ``retryable`` let the processor loop turn any of them into a GenerationFailed
event without a lookup table of its own: ``retryable`` answers "may publishing the same
request again succeed?".
"""

from __future__ import annotations

from typing import ClassVar

from diffstream.exceptions import DiffstreamError
from schemas.events import ErrorCode


class ProcessorError(DiffstreamError):
    """Base class of the errors raised by the processors package."""

    code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN
    retryable: ClassVar[bool] = False


class EngineConfigurationError(ProcessorError):
    """An engine setting cannot be honoured on this machine (device, dtype, thread count)."""


class EngineNotLoadedError(ProcessorError):
    """``generate`` was called before ``load``."""


class InvalidTaskError(ProcessorError, ValueError):
    """A generation task breaks an input rule; ``parameter`` names the field to fix."""

    code = ErrorCode.INVALID_REQUEST

    def __init__(self, parameter: str, message: str, *, request_id: str | None = None) -> None:
        self.parameter = parameter
        self.request_id = request_id
        self.reason = message
        where = f"request {request_id}: " if request_id else ""
        super().__init__(f"{where}`{parameter}` {message}")


class InvalidBatchError(ProcessorError, ValueError):
    """Tasks handed to one ``generate`` call cannot share a forward pass."""


class ModelNotFoundError(ProcessorError):
    """No loader found the model; ``tried`` lists every place that was looked at."""

    code = ErrorCode.MODEL_NOT_FOUND

    def __init__(self, model: str, tried: list[str], *, hint: str = "") -> None:
        self.model = model
        self.tried = list(tried)
        looked = "; ".join(self.tried)
        super().__init__(f"model {model!r} not found (tried: {looked}){hint}")


class ModelLoadError(ProcessorError):
    """A model was found but could not be loaded (corrupt files, wrong format, no memory)."""

    code = ErrorCode.INFERENCE_ERROR
    retryable = True


class InferenceError(ProcessorError):
    """The pipeline call failed; transient by default, so the request may be retried."""

    code = ErrorCode.INFERENCE_ERROR
    retryable = True


class OutOfMemoryError(InferenceError):
    """A single image does not fit in device memory even after splitting and evicting."""

    code = ErrorCode.OUT_OF_MEMORY
    # The same request on the same worker runs out of memory again; only a smaller image
    # (or a bigger device) helps, so retrying would only burn GPU time.
    retryable = False


class InferenceCrashError(ProcessorError):
    """Inference of a request was under way each time its worker died (``max_crashes``)."""

    code = ErrorCode.INFERENCE_CRASH

    @classmethod
    def after(cls, max_crashes: int) -> InferenceCrashError:
        """The failure of a request whose inference ``max_crashes`` workers died in."""
        return cls(
            f"inference of this request was under way when {max_crashes} workers died: it is"
            " not run again (set DIFFSTREAM_PROCESSOR__MAX_CRASHES to allow more); the request"
            " is in diffusion.dlq"
        )


class ModelRefError(ProcessorError, ValueError):
    """A model reference (NAME, NAME@REV, an alias) breaks the naming rules."""

    code = ErrorCode.INVALID_REQUEST


class UnknownModelError(ProcessorError):
    """The model store holds no such model, revision or alias."""

    code = ErrorCode.MODEL_NOT_FOUND


class ModelStoreConflictError(ProcessorError):
    """A store change that would lose or contradict something (an aliased revision, a
    revision name taken by other content)."""


class ModelStoreUnavailableError(ProcessorError):
    """The object store could not be read; the same request may succeed later."""

    code = ErrorCode.INFERENCE_ERROR
    retryable = True


class ModelCorruptError(ProcessorError):
    """A stored model file does not match the sha256 its manifest names: it is not loaded."""

    code = ErrorCode.MODEL_CORRUPT


class PromotionRefusedError(ModelStoreConflictError):
    """A guarded alias (``prod``) was not moved: the revision has no passing evaluation."""
