"""The model card written next to the weights: data, licence, plan, loss curve."""

from __future__ import annotations

from pathlib import Path

import diffusers
import torch

from processors.engine.digits.plan import TrainingReport

_BAR_WIDTH = 40


def write_model_card(out: Path, report: TrainingReport) -> None:
    """``README.md`` in ``out``, in the Hugging Face model card layout."""
    plan = report.plan
    peak = max(loss for _, loss in report.loss_curve)
    curve = "\n".join(
        f"| {step:>6} | {loss:.4f} | {'#' * max(1, round(_BAR_WIDTH * loss / peak))} |"
        for step, loss in report.loss_curve
    )
    (out / "README.md").write_text(
        f"""---
license: cc-by-4.0
library_name: diffusers
pipeline_tag: unconditional-image-generation
---
# digits: diffstream's demo model

A class-conditional pixel-space diffusion model that draws one handwritten digit, chosen
by the prompt ("7", "seven", "a handwritten 7"). It runs on a laptop CPU and is served
by diffstream's model registry under the name `digits`.

## Data
scikit-learn's `load_digits`: {report.examples} digits of 8x8 pixels, 17 grey levels,
upscaled (bilinear) to {report.side}x{report.side}. It is a copy of the test
set of the UCI "Optical Recognition of Handwritten Digits" dataset (E. Alpaydin,
C. Kaynak, 1998), licensed CC BY 4.0; scikit-learn is BSD-3-Clause.

## Model
`UNet2DModel`, {report.parameters:,} parameters, 11 class embeddings (10 digits and one
"any digit" for classifier-free guidance); DDPM training with epsilon prediction over
{plan.train_timesteps} cosine-schedule timesteps; sampled with DDIM (20 steps by
default). The weights are an exponential moving average (decay {plan.ema_decay}).
`guidance_scale` is read on Stable Diffusion's scale: the usual 7.5 maps to this model's
best guidance, 1.5 (above 3 its drawings fall apart); 1 turns guidance off.

## Training
`diffstream train-demo-model`: {plan.steps} steps of batch {plan.batch_size}, AdamW at
{plan.learning_rate} with {plan.warmup_steps} warm-up steps then cosine decay, labels
dropped {plan.label_dropout:.0%} of the time, shifts of up to one pixel, seed {plan.seed},
{plan.threads} CPU threads: {report.seconds / 60:.1f} minutes (torch {torch.__version__},
diffusers {diffusers.__version__}).

## Loss curve (mean squared error of the predicted noise)
| step | loss | |
|---:|---:|:---|
{curve}
"""
    )
