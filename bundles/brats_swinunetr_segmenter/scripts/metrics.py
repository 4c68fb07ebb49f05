"""BraTS scoring conventions on top of MONAI's metrics.

BraTS scores a region that is empty in the reference or the prediction by rule: both empty is a perfect
score (Dice 1, HD95 0), exactly one empty is the worst (Dice 0, HD95 373.13 mm, the BraTS maximum). MONAI's
``DiceMetric(ignore_empty=False)`` already scores Dice that way.

HD95 follows the BraTS challenges' evaluation (the organisers' ``brats-evaluation``, computed by the
``panoptica`` package): the 95th percentile of the surface distances of *both* directions pooled together,
prediction edge to reference and reference edge to prediction, in mm. MONAI's ``HausdorffDistanceMetric``
takes the larger of the two directed 95th percentiles instead, which on a small or fragmented region can be
several times larger; :class:`BratsHausdorffDistanceMetric` keeps MONAI's edges and distance transform
(``get_edge_surface_distance``) and pools them. It takes the voxel spacing from the reference's affine
(MONAI's ignite handler passes no ``spacing``), so distances are in mm on any grid.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from monai.metrics import HausdorffDistanceMetric
from monai.metrics.utils import get_edge_surface_distance

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
    """Per-case, per-channel HD95 (mm) of binary (B, C, ...) prediction and reference as the BraTS challenges
    compute it (both directions' surface distances pooled), BraTS rules for empty regions."""

    def __init__(self, percentile: float = 95, max_distance: float = BRATS_MAX_HD95, **kwargs: Any) -> None:
        super().__init__(include_background=True, percentile=percentile, **kwargs)
        self.max_distance = float(max_distance)

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        spacing = kwargs.get("spacing") or affine_spacing(y) or affine_spacing(y_pred)
        value = torch.zeros(y_pred.shape[:2], dtype=torch.float32, device=y_pred.device)
        for b, c in itertools.product(range(y_pred.shape[0]), range(y_pred.shape[1])):
            pred, ref = y_pred[b, c].bool(), y[b, c].bool()
            if not pred.any() and not ref.any():
                continue  # both empty: perfect
            if not pred.any() or not ref.any():
                value[b, c] = self.max_distance
                continue
            _, distances, _ = get_edge_surface_distance(pred, ref, spacing=spacing, symmetric=True, class_index=c)
            pooled = torch.cat([d.flatten() for d in distances]).double()
            value[b, c] = torch.quantile(pooled, self.percentile / 100).float()
        return value
