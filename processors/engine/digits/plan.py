"""What decides a training run of the digits model, and what the run reports.

Plain data, apart from training itself, so that the model card can describe a run without
importing the trainer (which writes the card).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """Everything that decides the weights: the same plan gives the same model."""

    steps: int = 5000
    batch_size: int = 64
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    label_dropout: float = 0.1
    ema_decay: float = 0.999
    seed: int = 0
    threads: int = 2
    train_timesteps: int = 1000


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """What the model card says about a run."""

    plan: TrainingPlan
    side: int
    parameters: int
    examples: int
    seconds: float
    loss_curve: list[tuple[int, float]]
