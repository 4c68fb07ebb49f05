"""The one piece MONAI's engine lacks for concat-conditioned DDPM training with any prediction type."""

from __future__ import annotations

from typing import Any

import torch
from monai.engines.utils import DiffusionPrepareBatch
from monai.networks.schedulers import Scheduler


class ConcatDiffusionPrepareBatch(DiffusionPrepareBatch):
    """``DiffusionPrepareBatch`` for ``DiffusionInferer`` in ``concat`` mode.

    MONAI's class targets the noise and leaves the inferer in its default cross-attention mode. This
    extension (a) asks the inferer for ``mode="concat"`` so the condition is concatenated to the noisy
    image, and (b) targets what the scheduler's ``prediction_type`` says the network predicts:
    the noise (``epsilon``), the clean image (``sample``), or the velocity (``v_prediction``).
    """

    def __init__(self, scheduler: Scheduler, condition_name: str = "cond") -> None:
        super().__init__(num_train_timesteps=scheduler.num_train_timesteps, condition_name=condition_name)
        self.scheduler = scheduler

    def get_target(self, images: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        kind = self.scheduler.prediction_type
        if kind == "sample":
            return images
        if kind == "v_prediction":
            return self.scheduler.get_velocity(images, noise, timesteps)
        return noise

    def __call__(self, batchdata: dict[str, torch.Tensor], device: str | torch.device | None = None,
                 non_blocking: bool = False, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor, tuple, dict]:
        images, target, args, infer_kwargs = super().__call__(batchdata, device, non_blocking, **kwargs)
        infer_kwargs["mode"] = "concat"
        return images, target, args, infer_kwargs
