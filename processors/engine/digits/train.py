"""Trains the ``digits`` model from scikit-learn's handwritten digits, reproducibly, on a CPU.

The data ships inside scikit-learn (no download): 1 797 digits of 8x8 pixels with 17 grey
levels, upscaled once to the model's 16x16. A small class-conditional UNet learns to
denoise them (DDPM, epsilon prediction); one class in ten is dropped to "any digit" so that
sampling can use classifier-free guidance. The weights written are an exponential moving
average of the trained ones, which samples much cleaner than the last step's.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from diffusers.training_utils import EMAModel
from torch.nn import functional

from processors.engine.digits.card import write_model_card
from processors.engine.digits.data import digits_dataset
from processors.engine.digits.pipeline import UNCONDITIONAL_CLASS, DigitsPipeline
from processors.engine.digits.plan import TrainingPlan, TrainingReport

log = logging.getLogger(__name__)

SIDE = 16


def build_unet() -> UNet2DModel:
    """The denoiser: three resolutions (16, 8, 4), attention at the coarsest."""
    return UNet2DModel(
        sample_size=SIDE,
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=(32, 48, 64),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
        attention_head_dim=32,
        num_class_embeds=UNCONDITIONAL_CLASS + 1,
    )


def train_digits_model(
    out: Path,
    plan: TrainingPlan | None = None,
    *,
    on_progress: Callable[[int, float], None] | None = None,
) -> TrainingReport:
    """Train, then save a diffusers pipeline (safetensors) and its model card into ``out``."""
    plan = plan or TrainingPlan()
    torch.manual_seed(plan.seed)
    torch.set_num_threads(plan.threads)
    images, labels = digits_dataset(SIDE)
    unet = build_unet()
    noise_schedule = DDPMScheduler(
        num_train_timesteps=plan.train_timesteps, beta_schedule="squaredcos_cap_v2"
    )
    optimizer = torch.optim.AdamW(unet.parameters(), lr=plan.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(plan))
    ema = EMAModel(unet.parameters(), decay=plan.ema_decay, use_ema_warmup=True)
    generator = torch.Generator().manual_seed(plan.seed)
    curve: list[tuple[int, float]] = []
    window: list[float] = []
    every = max(1, plan.steps // 40)
    started = time.perf_counter()
    unet.train()
    for step in range(1, plan.steps + 1):
        picked = torch.randint(len(images), (plan.batch_size,), generator=generator)
        clean = _shifted(images[picked], generator)
        classes = labels[picked].clone()
        dropped = torch.rand(plan.batch_size, generator=generator) < plan.label_dropout
        classes[dropped] = UNCONDITIONAL_CLASS
        noise = torch.randn(clean.shape, generator=generator)
        timesteps = torch.randint(plan.train_timesteps, (plan.batch_size,), generator=generator)
        noisy = noise_schedule.add_noise(clean, noise, timesteps)
        predicted = unet(noisy, timesteps, class_labels=classes).sample
        loss = functional.mse_loss(predicted, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        ema.step(unet.parameters())
        window.append(loss.item())
        if step % every == 0 or step == plan.steps:
            curve.append((step, sum(window) / len(window)))
            window = []
            if on_progress is not None:
                on_progress(step, curve[-1][1])
    seconds = time.perf_counter() - started
    ema.copy_to(unet.parameters())
    unet.eval()
    scheduler = DDIMScheduler.from_config(noise_schedule.config, clip_sample=True)
    out.mkdir(parents=True, exist_ok=True)
    DigitsPipeline(unet=unet, scheduler=scheduler).save_pretrained(out, safe_serialization=True)
    report = TrainingReport(
        plan=plan,
        side=SIDE,
        parameters=sum(p.numel() for p in unet.parameters()),
        examples=len(images),
        seconds=seconds,
        loss_curve=curve,
    )
    (out / "training.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    write_model_card(out, report)
    return report


def _warmup_cosine(plan: TrainingPlan) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < plan.warmup_steps:
            return (step + 1) / plan.warmup_steps
        progress = (step - plan.warmup_steps) / max(1, plan.steps - plan.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _shifted(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each digit moved by up to one pixel in each direction (paper stays blank)."""
    padded = functional.pad(batch, (1, 1, 1, 1), value=-1.0)
    dx, dy = torch.randint(3, (2,), generator=generator).tolist()
    return padded[:, :, dy : dy + SIDE, dx : dx + SIDE]
