"""The ``segmenter:`` section of params.yaml, and how it maps onto the bundle's config ids."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from synthtrust.errors import ParamsError


@dataclass(frozen=True)
class SegmenterParams:
    """SwinUNETR, its training recipe and sliding-window inference (bundle ids of the same names)."""

    feature_size: int = 12
    depths: tuple[int, ...] = (1, 1, 1, 1)
    patch_size: tuple[int, ...] = (64, 64, 32)
    roi_size: tuple[int, ...] = (64, 64, 64)
    batch_size: int = 1
    num_samples: int = 2
    pos: int = 3
    neg: int = 1
    learning_rate: float = 2e-3
    lr_schedule: str = "constant"
    max_steps: int = 120
    steps_per_epoch: int = 20
    val_interval: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.feature_size % 12:
            raise ParamsError(f"segmenter.feature_size: SwinUNETR needs a multiple of 12, got {self.feature_size}")
        if len(self.depths) != 4 or min(self.depths) < 1:
            raise ParamsError(f"segmenter.depths: four stages of >= 1 block, got {list(self.depths)}")
        for name in ("patch_size", "roi_size"):
            size = getattr(self, name)
            if len(size) != 3 or any(s < 32 or s % 32 for s in size) or max(size) < 64:
                raise ParamsError(f"segmenter.{name}: three multiples of 32, at least one >= 64 (SwinUNETR "
                                  f"downsamples 32x and its bottleneck needs more than one voxel), got {list(size)}")
        for name in ("batch_size", "num_samples", "max_steps", "steps_per_epoch", "val_interval"):
            if getattr(self, name) < 1:
                raise ParamsError(f"segmenter.{name}: must be >= 1, got {getattr(self, name)}")
        if self.pos < 0 or self.neg < 0 or self.pos + self.neg == 0:
            raise ParamsError("segmenter.pos/neg: non-negative, not both zero")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ParamsError(f"segmenter.lr_schedule: constant or cosine, got {self.lr_schedule!r}")
        if not self.learning_rate > 0:
            raise ParamsError(f"segmenter.learning_rate: must be > 0, got {self.learning_rate}")

    def network_overrides(self) -> dict[str, Any]:
        """Bundle ids of ``inference.yaml`` (network and sliding window)."""
        return {"feature_size": self.feature_size, "depths": list(self.depths), "roi_size": list(self.roi_size)}

    def train_overrides(self) -> dict[str, Any]:
        """Bundle ids of ``train.yaml``."""
        return {**self.network_overrides(), "patch_size": list(self.patch_size), "batch_size": self.batch_size,
                "num_samples": self.num_samples, "pos": self.pos, "neg": self.neg,
                "learning_rate": self.learning_rate, "lr_schedule": self.lr_schedule, "max_steps": self.max_steps,
                "steps_per_epoch": self.steps_per_epoch, "val_interval": self.val_interval, "seed": self.seed}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
