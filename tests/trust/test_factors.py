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
    reader_discrimination,
    regional_robustness,
    utility_parity,
    volume_strata,
)
from synthtrust.trust.images import PSNR_CAP_DB
from tests.conftest import DEMO

PARAMS = replace(DEMO.trust, fidelity_ssim_min=0.5, small_et_dice_min=0.2)  # the values these tests were set for
INTERVALS = DEMO.intervals
REGIONS = ("TC", "WT", "ET")


@pytest.fixture(scope="module")
def cases(prepared_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All eight prepared 32^3 phantoms: case id -> (image, label)."""
    manifest = json.loads((prepared_dir / "manifest.json").read_text())
    return {cid: read_case_dir(prepared_dir / c["split"] / cid) for cid, c in manifest["cases"].items()}


def test_a_synthetic_set_equal_to_the_real_one_is_perfect(cases: dict) -> None:
    pairs = [(image, image.copy(), label) for image, label in cases.values()]
    t1 = fidelity(pairs, PARAMS, INTERVALS)
    assert t1["passed"] and t1["score"] == pytest.approx(1.0, abs=1e-4)
    assert t1["interval"]["cases"] == len(pairs) and t1["interval"]["low"] == pytest.approx(1.0, abs=1e-4)
    assert set(t1["psnr_db"].values()) == {PSNR_CAP_DB}
    assert all(v == 0 for tissue in t1["intensity_w1"].values() for v in tissue.values())


def test_pure_noise_fails_fidelity(cases: dict) -> None:
    rng = np.random.default_rng(0)
    pairs = [(image, rng.standard_normal(image.shape).astype(np.float32), label) for image, label in cases.values()]
    t1 = fidelity(pairs, PARAMS, INTERVALS)
    assert not t1["passed"] and t1["score"] < 0.2 and t1["decided"]


def _membership(cases: dict, copy_of: dict) -> dict:
    """T5 over the eight phantoms, five of them the generator's training cases and three held out (interleaved);
    ``copy_of(case_id, image, member)`` makes each case's synthetic copy."""
    ids = sorted(cases)
    real = {f"{'test' if i in (1, 4, 6) else 'train'}/{cid}": cases[cid][0] for i, cid in enumerate(ids)}
    members = [k for k in real if k.startswith("train/")]
    synthetic = {k: copy_of(k, image, k in members) for k, image in real.items()}
    return privacy(synthetic, real, members, PARAMS, INTERVALS)


def test_a_generator_that_returns_its_training_images_is_caught_by_membership(cases: dict) -> None:
    rng = np.random.default_rng(0)

    def memoriser(key: str, image: np.ndarray, member: bool) -> np.ndarray:
        # training cases come back as they are; held-out cases only as well as label conditioning allows
        noise = 0.0 if member else 0.6
        return (image + noise * rng.standard_normal(image.shape) * image.std()).astype(np.float32)

    t5 = _membership(cases, memoriser)
    assert t5["score"] == 1.0 and t5["interval"]["low"] == 1.0  # every member copy is nearer its source
    assert not t5["passed"] and t5["decided"] and t5["members"] == 5 and t5["held_out"] == 3
    assert all(c["to_source"] == 0 for c in t5["cases"].values() if c["member"])


def test_a_generator_that_ignores_its_training_images_is_not_caught(cases: dict) -> None:
    rng = np.random.default_rng(1)

    def honest(key: str, image: np.ndarray, member: bool) -> np.ndarray:
        # the same treatment whether the generator saw the case or not: how faithful a copy comes out varies
        # from case to case, not with membership
        noise = rng.uniform(0.3, 0.9)
        return (image + noise * rng.standard_normal(image.shape) * image.std()).astype(np.float32)

    t5 = _membership(cases, honest)
    assert t5["passed"] and t5["interval"]["low"] <= 0.5 + PARAMS.privacy_auc_margin
    assert t5["interval"]["low"] < 0.5 < t5["interval"]["high"]  # no advantage: the interval holds chance
    # the second figure: a noisy copy is nearer its own source than any other patient, none flagged
    assert t5["flagged"] == 0 and all(not k.endswith(c["nearest_other"]) for k, c in t5["cases"].items())


def test_membership_needs_both_groups(cases: dict) -> None:
    real = {f"train/{cid}": image for cid, (image, _) in cases.items()}
    t5 = privacy({k: v.copy() for k, v in real.items()}, real, list(real), PARAMS, INTERVALS)
    assert t5["status"] == "not applicable" and t5["passed"] is None and "held-out" in t5["reason"]


def test_identical_synthetic_cases_fail_diversity(cases: dict) -> None:
    real = [image for image, _ in cases.values()]
    collapsed = diversity([real[0].copy() for _ in real], real, PARAMS)
    assert not collapsed["passed"] and collapsed["ms_ssim_synthetic"] == pytest.approx(1.0, abs=1e-4)
    assert collapsed["coverage"] < 1.0
    honest = diversity([r.copy() for r in real], real, PARAMS)
    assert honest["passed"] and honest["score"] == pytest.approx(1.0, abs=1e-3) and honest["coverage"] == 1.0


def test_a_model_that_misses_small_enhancing_lesions_is_caught_while_its_mean_looks_fine() -> None:
    rows = []
    for et_ml in np.linspace(0.3, 11.5, 12):  # 12 ET lesions; the smallest third is missed
        missed = et_ml < 4
        rows.append({"region": "ET", "volume_ml": et_ml, "matched": int(not missed), "dice": 0.0 if missed else 0.9})
        rows.append({"region": "TC", "volume_ml": 2 * et_ml, "matched": 1, "dice": 0.8})
    t3 = regional_robustness(rows, PARAMS, INTERVALS)
    et = t3["strata"]["ET"]
    assert et["mean_dice"] == pytest.approx(0.6) and et["missed"] == 4  # the average looks fine ...
    assert et["small"]["dice"] == 0.0 and et["large"]["dice"] == 0.9  # ... the strata do not
    assert not t3["passed"] and t3["score"] == 0.0 and et["small"]["interval"] == [0.0, 0.0]
    assert et["edges_ml"] == [round(e, 4) for e in volume_strata([r["volume_ml"] for r in rows if r["region"] == "ET"])]
    assert t3["strata"]["WT"]["lesions"] == 0  # no WT lesion rows: nothing judged there
    none = regional_robustness([r for r in rows if r["region"] == "TC"], PARAMS, INTERVALS)
    assert none["status"] == "not applicable" and "enhancing" in none["reason"]


def _rows(dice: dict[str, float], region_shift: float = 0.0) -> list[dict]:
    return [{"case_id": cid, "region": r, "dice": d + (region_shift if r == "ET" else 0.0), "volume_ml": 5.0}
            for cid, d in dice.items() for r in REGIONS]


def test_utility_parity_is_paired_non_inferiority_to_the_real_only_model() -> None:
    rng = np.random.default_rng(0)
    base = {f"c{i}": float(v) for i, v in enumerate(rng.uniform(0.3, 0.9, 12))}  # cases differ a lot ...
    same = utility_parity(_rows(base), _rows({c: d + rng.normal(0, 0.01) for c, d in base.items()}), PARAMS,
                          INTERVALS, alpha=0.5, n_synthetic=9)
    # ... the paired interval sees through that spread: a null difference is inside it, and it is narrow
    delta = same["delta_vs_real_only"]["TC"]
    assert same["passed"] and same["decided"] and delta["low"] < 0 < delta["high"] and delta["cases"] == 12
    assert delta["high"] - delta["low"] < 0.02
    planted = utility_parity(_rows(base), _rows(base, region_shift=-0.10), PARAMS, INTERVALS, alpha=0.5,
                             n_synthetic=9)
    et = planted["delta_vs_real_only"]["ET"]
    assert not planted["passed"] and planted["worst_region"] == "ET" and et["high"] < -PARAMS.parity_margin
    assert planted["score"] == pytest.approx(-0.10) and planted["interval"] == et  # the worst region's


def test_utility_parity_reports_the_real_minus_synthetic_gap() -> None:
    real = {f"c{i}": 0.8 for i in range(6)}
    t2 = utility_parity(_rows(real), _rows(real), PARAMS, INTERVALS, alpha=0.5, n_synthetic=9,
                        synthetic=_rows({c: 0.85 for c in real}))
    assert t2["real_minus_synthetic_test"]["WT"]["mean"] == pytest.approx(-0.05)


def test_utility_parity_of_a_real_only_model_is_not_applicable() -> None:
    base = {f"c{i}": 0.7 for i in range(6)}
    t2 = utility_parity(_rows(base), _rows(base), PARAMS, INTERVALS, alpha=0.02, n_synthetic=0)
    assert t2["status"] == "not applicable" and t2["passed"] is None and t2["score"] is None
    assert "real-only baseline" in t2["reason"]


def _scores(calls: list[list[str]], truths: list[str]) -> dict:
    """Reader-study scores of readers whose calls (one list per reader) are given."""
    from synthtrust.reader_study.scoring import score

    key = {"study": "s", "cases": {f"c{i}": {"truth": t} for i, t in enumerate(truths)}}
    readers = [{"reader": f"r{j}", "file": f"r{j}.json", "answers": {
        f"c{i}": {"call": c, "confidence": 3, "plausibility": 3, "comment": "", "comment_modality": "all",
                  "comment_region": "whole image", "seconds": 1.0} for i, c in enumerate(reader)}}
        for j, reader in enumerate(calls)]
    return score(key, readers, INTERVALS)


def test_readers_who_tell_synthetic_from_real_fail_t6_and_guessing_ones_pass() -> None:
    truths = ["real", "synthetic"] * 15
    rng = np.random.default_rng(0)
    seeing = reader_discrimination(_scores([truths, truths], truths), PARAMS)
    assert seeing["status"] == "fail" and seeing["score"] == 1.0 and seeing["interval"]["low"] > 0.6
    assert seeing["threshold"] == 0.6 and seeing["readers"] == 2 and seeing["decided"]
    guessing = reader_discrimination(_scores([list(rng.choice(["real", "synthetic"], 30)) for _ in range(3)], truths),
                                     PARAMS)
    assert guessing["status"] == "pass" and guessing["interval"]["low"] <= 0.5 <= guessing["interval"]["high"]
    # most calls right, but too few cases to show it: the interval reaches below the line, so it passes, undecided
    few = reader_discrimination(_scores([truths[:4]], truths[:4]), PARAMS)
    assert few["status"] == "pass" and not few["decided"]


def test_t6_without_answers_is_not_applicable() -> None:
    for scores in (None, _scores([], ["real", "synthetic"])):
        t6 = reader_discrimination(scores, PARAMS)
        assert t6["status"] == "not applicable" and t6["passed"] is None and "reader-study make" in t6["reason"]


def test_the_trust_job_names_what_is_missing(prepared_dir: Path, tmp_path: Path) -> None:
    from synthtrust.errors import DataError
    from synthtrust.stages.trust import assess
    from tests.conftest import TINY_SEGMENTER

    with pytest.raises(DataError, match="add alpha 0.0"):
        assess(PARAMS, INTERVALS, replace(DEMO.mix, alphas=[0.5, 1.0]), TINY_SEGMENTER,
               prepared_dir / "manifest.json", tmp_path / "synthetic")
    with pytest.raises(DataError, match=r"synthetic/train: cases \[.*\] missing \(run: dvc repro synthesize\)"):
        assess(PARAMS, INTERVALS, replace(DEMO.mix, alphas=[0.0]), TINY_SEGMENTER, prepared_dir / "manifest.json",
               tmp_path / "synthetic")
    assert not (tmp_path / "reports").exists()
