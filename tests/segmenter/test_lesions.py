"""Lesion-wise figures (BraTS 2023 and later) on constructed regions whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from synthtrust.segmenter.lesions import MAX_HD95_MM, region_lesions


def _region() -> tuple[np.ndarray, np.ndarray]:
    """A large lesion (10^3 voxels) and a small one (3^3) in the reference; the prediction finds the large one
    (one slice short), misses the small one and adds a spurious blob."""
    ref = np.zeros((48, 48, 32), np.uint8)
    ref[5:15, 5:15, 5:15] = 1
    ref[30:33, 30:33, 20:23] = 1
    pred = np.zeros_like(ref)
    pred[6:15, 5:15, 5:15] = 1
    pred[40:44, 5:9, 5:9] = 1
    return pred, ref


def test_missed_and_spurious_lesions_count_as_zero_dice_and_the_maximum_hd95() -> None:
    pred, ref = _region()
    found = region_lesions(pred, ref, (2.0, 2.0, 2.0))
    assert (found["tp"], found["fn"], found["fp"]) == (1, 1, 1)
    large, small = found["lesions"]
    assert large["matched"] and large["volume_ml"] == pytest.approx(8.0) and large["dice"] == pytest.approx(0.9474)
    assert large["hd95"] == pytest.approx(2.0)  # one slice of 2 mm
    assert not small["matched"] and small["dice"] == 0.0 and small["hd95"] == MAX_HD95_MM
    # BraTS 2023: the mean over TP + FN + FP lesions; the whole-volume Dice (about 0.9) hides the miss
    assert found["lesion_dice"] == pytest.approx(0.9474 / 3, abs=1e-4)
    assert found["lesion_hd95"] == pytest.approx((2.0 + 2 * MAX_HD95_MM) / 3, abs=1e-3)


def test_empty_regions_follow_the_brats_rules() -> None:
    pred, ref = _region()
    empty = np.zeros_like(ref)
    assert region_lesions(empty, empty, (1, 1, 1))["lesion_dice"] == 1.0
    missed = region_lesions(empty, ref, (1, 1, 1))
    assert (missed["lesion_dice"], missed["fn"], missed["lesion_hd95"]) == (0.0, 2, MAX_HD95_MM)
    spurious = region_lesions(pred, empty, (1, 1, 1))
    assert (spurious["lesion_dice"], spurious["fp"], spurious["lesions"]) == (0.0, 2, [])
    perfect = region_lesions(ref, ref, (1, 1, 1))
    assert perfect["lesion_dice"] == 1.0 and perfect["lesion_hd95"] == 0.0 and perfect["tp"] == 2
