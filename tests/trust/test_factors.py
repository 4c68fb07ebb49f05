"""Each trust factor against inputs whose answer is known, on real prepared phantom cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthtrust.data.validation import read_case_dir
from synthtrust.params import replace
from synthtrust.trust.factors import (
    diversity,
    fidelity,
    privacy,
    regional_robustness,
    utility_parity,
    volume_strata,
)
from synthtrust.trust.images import PSNR_CAP_DB
from tests.conftest import DEMO

PARAMS = replace(DEMO.trust, fidelity_ssim_min=0.5, small_et_dice_min=0.2)  # the values these tests were set for


@pytest.fixture(scope="module")
def cases(prepared_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All eight prepared 32^3 phantoms: case id -> (image, label)."""
    manifest = json.loads((prepared_dir / "manifest.json").read_text())
    return {cid: read_case_dir(prepared_dir / c["split"] / cid) for cid, c in manifest["cases"].items()}


def test_a_synthetic_set_equal_to_the_real_one_is_perfect_and_all_copies(cases: dict) -> None:
    pairs = [(image, image.copy(), label) for image, label in cases.values()]
    t1 = fidelity(pairs, PARAMS)
    assert t1["passed"] and t1["score"] == pytest.approx(1.0, abs=1e-4)
    assert set(t1["psnr_db"].values()) == {PSNR_CAP_DB}
    assert all(v == 0 for tissue in t1["intensity_w1"].values() for v in tissue.values())
    real = {cid: image for cid, (image, _) in cases.items()}
    t5 = privacy({cid: image.copy() for cid, image in real.items()}, real, PARAMS)
    assert t5["flagged"] == len(real) and not t5["passed"]
    assert all(c["nearest_real"] == cid and c["distance"] == 0 for cid, c in t5["cases"].items())


def test_pure_noise_fails_fidelity_and_is_no_copy(cases: dict) -> None:
    rng = np.random.default_rng(0)
    pairs = [(image, rng.standard_normal(image.shape).astype(np.float32), label) for image, label in cases.values()]
    t1 = fidelity(pairs, PARAMS)
    assert not t1["passed"] and t1["score"] < 0.2
    real = {cid: image for cid, (image, _) in cases.items()}
    t5 = privacy({f"noise_{i}": p[1] for i, p in enumerate(pairs)}, real, PARAMS)
    assert t5["flagged"] == 0 and t5["passed"]


def test_identical_synthetic_cases_fail_diversity(cases: dict) -> None:
    real = [image for image, _ in cases.values()]
    collapsed = diversity([real[0].copy() for _ in real], real, PARAMS)
    assert not collapsed["passed"] and collapsed["ms_ssim_synthetic"] == pytest.approx(1.0, abs=1e-4)
    assert collapsed["coverage"] < 1.0
    honest = diversity([r.copy() for r in real], real, PARAMS)
    assert honest["passed"] and honest["score"] == pytest.approx(1.0, abs=1e-3) and honest["coverage"] == 1.0


def test_a_model_that_misses_small_enhancing_regions_is_caught_while_its_mean_looks_fine() -> None:
    volumes = {"TC": list(np.linspace(1, 30, 30)), "WT": list(np.linspace(10, 90, 30)),
               "ET": list(np.linspace(0.2, 12, 30))}
    rows = []
    for i, et_ml in enumerate(np.linspace(0.3, 11.5, 12)):
        rows.append({"case_id": f"c{i}", "region": "ET", "volume_ml": et_ml, "dice": 0.0 if et_ml < 4 else 0.9})
        rows.append({"case_id": f"c{i}", "region": "TC", "volume_ml": 2 * et_ml, "dice": 0.8})
        rows.append({"case_id": f"c{i}", "region": "WT", "volume_ml": 40.0, "dice": 0.9})
    t3 = regional_robustness(rows, volumes, PARAMS)
    et = t3["strata"]["ET"]
    assert et["mean_dice"] == pytest.approx(0.6)  # the average looks fine ...
    assert et["small"]["dice"] == 0.0 and et["large"]["dice"] == 0.9  # ... the strata do not
    assert not t3["passed"] and t3["score"] == 0.0
    assert et["edges_ml"] == [round(e, 3) for e in volume_strata(volumes["ET"])]


def test_utility_parity_is_non_inferiority_to_the_real_only_model() -> None:
    def metrics(real: float, synth: float) -> dict:
        return {"real_test": {"dice": {r: real for r in ("TC", "WT", "ET")}},
                "synthetic_test": {"dice": {r: synth for r in ("TC", "WT", "ET")}}}

    baseline = metrics(0.80, 0.70)
    assert utility_parity(baseline, {**metrics(0.77, 0.75), "alpha": 0.5}, PARAMS)["passed"]
    worse = utility_parity(baseline, metrics(0.70, 0.75), PARAMS)
    assert not worse["passed"] and worse["score"] == pytest.approx(-0.10)
    assert worse["real_minus_synthetic_test"]["WT"] == pytest.approx(-0.05)


def test_the_trust_job_names_what_is_missing(prepared_dir: Path, tmp_path: Path) -> None:
    from synthtrust.errors import DataError
    from synthtrust.stages.trust import assess
    from tests.conftest import TINY_SEGMENTER

    with pytest.raises(DataError, match="add alpha 0.0"):
        assess(PARAMS, [0.5, 1.0], TINY_SEGMENTER, prepared_dir / "manifest.json", tmp_path / "synthetic")
    with pytest.raises(DataError, match=r"synthetic/train: cases \[.*\] missing \(run: dvc repro synthesize\)"):
        assess(PARAMS, [0.0], TINY_SEGMENTER, prepared_dir / "manifest.json", tmp_path / "synthetic")
    assert not (tmp_path / "reports").exists()
