"""BraTS scoring conventions on top of MONAI's metrics.

BraTS scores a region that is empty in the reference or the prediction by rule: both empty is a perfect
score (Dice 1, HD95 0), exactly one empty is the worst (Dice 0, HD95 373.13 mm, the BraTS maximum). MONAI's
``DiceMetric(ignore_empty=False)`` already scores Dice that way; its Hausdorff distance is undefined (NaN or
inf) when one side is empty, so :class:`BratsHausdorffDistanceMetric` applies the rule there. It also takes
the voxel spacing from the reference's affine (MONAI's ignite handler passes no ``spacing``), so distances
are in mm on any grid.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from monai.metrics import HausdorffDistanceMetric

BRATS_MAX_HD95 = 373.13


def affine_spacing(image: torch.Tensor) -> list[float] | None:
    """Voxel sizes (mm) from a MetaTensor's affine (the first of a batch), None for a plain tensor."""
    affine = getattr(image, "affine", None)
    if affine is None:
        return None
    affine = torch.as_tensor(affine, dtype=torch.float64)
    if affine.ndim == 3:
        affine = affine[0]
    return torch.sqrt((affine[:3, :3] ** 2).sum(dim=0)).tolist()


class BratsHausdorffDistanceMetric(HausdorffDistanceMetric):
    """Per-case, per-channel HD95 (mm) of binary (B, C, ...) prediction and reference, BraTS rules for empty
    regions."""

    def __init__(self, percentile: float = 95, max_distance: float = BRATS_MAX_HD95, **kwargs: Any) -> None:
        super().__init__(include_background=True, percentile=percentile, **kwargs)
        self.max_distance = float(max_distance)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        spacing = kwargs.get("spacing") or affine_spacing(y) or affine_spacing(y_pred)
        pred_any = y_pred.flatten(2).bool().any(-1)
        ref_any = y.flatten(2).bool().any(-1)
        with warnings.catch_warnings():  # MONAI warns about the empty channels whose value is replaced below
            warnings.simplefilter("ignore", UserWarning)
            value = super()._compute_tensor(y_pred, y, spacing=spacing)
        value = torch.where(~pred_any & ~ref_any, torch.zeros_like(value), value)
        return torch.where(pred_any ^ ref_any, torch.full_like(value, self.max_distance), value)
