"""The ``generator:`` section of params.yaml, and how it maps onto the bundle's config ids."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from synthtrust.errors import ParamsError

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
SAMPLERS = ("ddim", "ddpm")


@dataclass(frozen=True)
class GeneratorTrainParams:
    """Network, diffusion process and optimisation (bundle ``train.yaml`` / ``common.yaml`` ids)."""

    channels: tuple[int, ...] = (16, 32, 64, 64)
    attention_levels: tuple[bool, ...] = (False, False, False, False)
    num_res_blocks: int = 1
    num_train_timesteps: int = 1000
    prediction_type: str = "sample"
    patch_size: tuple[int, ...] = (32, 32, 32)
    batch_size: int = 2
    learning_rate: float = 2e-4
    max_steps: int = 600
    steps_per_epoch: int = 50
    ema_momentum: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.attention_levels) or len(self.channels) < 2:
            raise ParamsError("generator.train.attention_levels: need one entry per level of channels")
        if self.prediction_type not in PREDICTION_TYPES:
            raise ParamsError(f"generator.train.prediction_type: one of {PREDICTION_TYPES}, "
                              f"got {self.prediction_type!r}")
        factor = 2 ** (len(self.channels) - 1)
        if len(self.patch_size) != 3 or any(s % factor for s in self.patch_size):
            raise ParamsError(f"generator.train.patch_size: three sizes divisible by {factor} "
                              f"({len(self.channels)} levels), got {list(self.patch_size)}")
        for name in ("num_res_blocks", "num_train_timesteps", "batch_size", "max_steps", "steps_per_epoch"):
            if getattr(self, name) < 1:
                raise ParamsError(f"generator.train.{name}: must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ParamsError(f"generator.train.learning_rate: must be > 0, got {self.learning_rate}")
        if not 0 < self.ema_momentum <= 1:
            raise ParamsError(f"generator.train.ema_momentum: must be in (0, 1], got {self.ema_momentum}")


@dataclass(frozen=True)
class GeneratorSampleParams:
    """Sampling (bundle ``inference.yaml`` ids) and how many novel cases to make."""

    sampler: str = "ddim"
    steps: int = 10
    seed: int = 0
    novel_cases: int = 0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ParamsError(f"generator.sample.sampler: one of {SAMPLERS}, got {self.sampler!r}")
        if self.steps < 1:
            raise ParamsError(f"generator.sample.steps: must be >= 1, got {self.steps}")
        if self.novel_cases < 0:
            raise ParamsError(f"generator.sample.novel_cases: must be >= 0, got {self.novel_cases}")


@dataclass(frozen=True)
class GeneratorParams:
    """The ``generator:`` section."""

    train: GeneratorTrainParams = field(default_factory=GeneratorTrainParams)
    sample: GeneratorSampleParams = field(default_factory=GeneratorSampleParams)

    def __post_init__(self) -> None:
        if self.sample.steps > self.train.num_train_timesteps:
            raise ParamsError(f"generator.sample.steps: at most num_train_timesteps "
                              f"({self.train.num_train_timesteps}), got {self.sample.steps}")

    def network_overrides(self) -> dict[str, Any]:
        """Bundle ids shared by training and sampling (network and diffusion process)."""
        t = self.train
        return {"channels": list(t.channels), "attention_levels": list(t.attention_levels),
                "num_res_blocks": t.num_res_blocks, "num_train_timesteps": t.num_train_timesteps,
                "prediction_type": t.prediction_type, "seed": t.seed}

    def train_overrides(self) -> dict[str, Any]:
        """Bundle ids for ``train.yaml``."""
        t = self.train
        return {**self.network_overrides(), "patch_size": list(t.patch_size), "batch_size": t.batch_size,
                "learning_rate": t.learning_rate, "max_steps": t.max_steps,
                "steps_per_epoch": t.steps_per_epoch, "ema_momentum": t.ema_momentum}

    def sample_overrides(self) -> dict[str, Any]:
        """Bundle ids for ``inference.yaml``."""
        s = self.sample
        return {**self.network_overrides(), "sampler": s.sampler, "num_inference_steps": s.steps,
                "sample_seed": s.seed}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
