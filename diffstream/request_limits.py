"""The bounds a generation request must respect (``DIFFSTREAM_LIMITS__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RequestLimits(BaseModel):
    """Bounds a generation request must respect; the validator names the one it breaks."""

    model_config = ConfigDict(frozen=True)

    max_prompt_chars: int = Field(2000, gt=0)
    max_negative_prompt_chars: int = Field(2000, gt=0)
    max_pixels: int = Field(1024 * 1024, gt=0)
    # diffusers' check_inputs wants sides divisible by 8 (the VAE's downsampling factor);
    # 64 px (an 8x8 latent) is the smallest side worth generating.
    min_side: int = Field(64, gt=0)
    max_side: int = Field(2048, gt=0)
    side_multiple: int = Field(8, gt=0)
    max_steps: int = Field(150, gt=0)
    max_num_images: int = Field(8, gt=0)
    min_guidance_scale: float = 0.0
    max_guidance_scale: float = 30.0
    # torch.Generator.manual_seed takes [-2**63, 2**64 - 1] and folds negatives onto large
    # positives; Avro's long stops at 2**63 - 1. Non-negative longs are the common ground.
    max_seed: int = Field(2**63 - 1, ge=0, le=2**63 - 1)
    max_priority: int = Field(9, ge=0)
    max_callback_url_chars: int = Field(2048, gt=0)
    max_labels: int = Field(32, ge=0)
    max_label_key_chars: int = Field(64, gt=0)
    max_label_value_chars: int = Field(256, gt=0)
    max_model_chars: int = Field(256, gt=0)
    max_tenant_chars: int = Field(128, gt=0)
    max_batch_id_chars: int = Field(128, gt=0)
    # None: every name of schemas/schedulers.py (the one table); a set narrows that list.
    schedulers: frozenset[str] | None = None
