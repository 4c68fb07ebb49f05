"""The parity section answers the paper's claim from constructed evaluations: supported, not supported, undecided."""

from __future__ import annotations

import numpy as np

from synthtrust.trust.parity import NOT_SUPPORTED, SUPPORTED, UNDECIDED, parity
from tests.conftest import DEMO

REGIONS = ("TC", "WT", "ET")
VOLUMES = {r: list(np.linspace(1, 30, 30)) for r in REGIONS}  # tertile edges near 10.7 and 20.3 ml


def _evaluation(n: int, gap: float, seed: int) -> tuple[list[dict], list[dict]]:
    """``n`` test cases spread over the size strata; small lesions segment badly (Dice ~0.3), large ones well
    (~0.85); the synthetic copy of each case scores ``gap`` lower, give or take 0.005."""
    rng = np.random.default_rng(seed)
    real, synthetic = [], []
    for i, volume in enumerate(np.linspace(2, 29, n)):
        for region in REGIONS:
            dice = (0.3 if volume <= 10 else 0.6 if volume <= 20 else 0.85) + rng.normal(0, 0.03)
            real.append({"case_id": f"c{i}", "region": region, "volume_ml": float(volume), "dice": dice})
            synthetic.append({"case_id": f"c{i}", "region": region, "volume_ml": float(volume),
                              "dice": dice - gap + rng.normal(0, 0.005)})
    return real, synthetic


def test_parity_at_one_half_with_small_regions_hard_is_supported() -> None:
    section = parity({0.0: _evaluation(30, 0.2, 0), 0.5: _evaluation(30, 0.0, 1), 1.0: _evaluation(30, -0.1, 2)},
                     VOLUMES, DEMO.trust, DEMO.intervals)
    claim = section["claim"]
    assert claim["alpha"] == 0.5 and claim["verdict"] == SUPPORTED, claim
    assert section["parity_alphas"]["ET"]["all"] == [0.5]  # parity only where the gap closes
    assert section["gaps"]["0.0"]["WT"]["all"]["agreement"] == "no parity"
    assert any("small" in line for line in claim["evidence"])


def test_a_gap_at_one_half_is_not_supported() -> None:
    section = parity({0.0: _evaluation(30, 0.0, 0), 0.5: _evaluation(30, 0.15, 1)}, VOLUMES, DEMO.trust,
                     DEMO.intervals)
    assert section["claim"]["verdict"] == NOT_SUPPORTED
    assert section["claim"]["parts"]["parity overall"] == NOT_SUPPORTED


def test_too_few_cases_leave_the_claim_undecided() -> None:
    section = parity({0.0: _evaluation(3, 0.0, 0), 0.5: _evaluation(3, 0.0, 1)}, VOLUMES, DEMO.trust,
                     DEMO.intervals)
    assert section["claim"]["verdict"] == UNDECIDED
    assert section["claim"]["parts"]["small regions stay hard"] == UNDECIDED  # one case per stratum


def test_no_alpha_near_one_half_is_undecided() -> None:
    section = parity({0.0: _evaluation(30, 0.0, 0), 1.0: _evaluation(30, 0.0, 1)}, VOLUMES, DEMO.trust,
                     DEMO.intervals)
    assert section["claim"]["verdict"] == UNDECIDED and "no alpha within" in section["claim"]["evidence"][0]
