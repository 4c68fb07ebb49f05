"""The bundle's scoring rules (evaluate.yaml, scripts/metrics.py): BraTS conventions for empty regions."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor
from monai.metrics import DiceMetric

from synthtrust.bundles import SEGMENTER
from tests.conftest import bundle_module

metrics = bundle_module(SEGMENTER, "metrics")


def _case(mask: torch.Tensor, spacing: float = 1.0) -> MetaTensor:
    """One case's (1, ...) binary region, with a MetaTensor affine of ``spacing`` mm voxels."""
    affine = torch.diag(torch.tensor([spacing, spacing, spacing, 1.0]))
    return MetaTensor(mask[None].float(), affine=affine)


def _score(pred: torch.Tensor, ref: torch.Tensor, spacing: float = 1.0) -> tuple[float, float]:
    """(Dice, HD95) as evaluate.yaml computes them for one case and region."""
    p, r = [_case(pred, spacing)], [_case(ref, spacing)]
    dice = DiceMetric(include_background=True, ignore_empty=False)(p, r)
    hd95 = metrics.BratsHausdorffDistanceMetric()(p, r)
    return float(dice[0, 0]), float(hd95[0, 0])


def test_brats_conventions_for_empty_regions() -> None:
    empty, full = torch.zeros(8, 8, 8), torch.zeros(8, 8, 8)
    full[2:6, 2:6, 2:6] = 1
    assert _score(empty, empty) == (1.0, 0.0)  # both empty: perfect
    assert _score(full, empty) == (0.0, pytest.approx(metrics.BRATS_MAX_HD95))  # false positive
    assert _score(empty, full) == (0.0, pytest.approx(metrics.BRATS_MAX_HD95))  # missed region
    assert _score(full, full) == (1.0, 0.0)


def test_partial_overlap_dice_and_hd95_in_mm_from_the_affine() -> None:
    ref, pred = torch.zeros(16, 16, 16), torch.zeros(16, 16, 16)
    ref[4:8, 4:8, 4:8] = 1
    pred[4:8, 4:8, 6:10] = 1  # half overlaps, shifted 2 voxels
    dice, hd95 = _score(pred, ref, spacing=2.0)
    assert dice == pytest.approx(0.5)
    assert hd95 == pytest.approx(4.0)  # 2 voxels of 2 mm
