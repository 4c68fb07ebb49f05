"""T1 to T5 as docs/trust.md defines them, each a score, its threshold and a pass/fail with the figures behind it.

Every function takes plain data (arrays, metric dicts, per-case rows), so each factor can be checked
against inputs whose answer is known.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from synthtrust.data.brats import MODALITIES, REGION_NAMES
from synthtrust.params import TrustParams
from synthtrust.trust.images import brain_mask, data_range, distance, ms_ssim, paired_similarity

TISSUES = {"necrotic core": (1,), "oedema": (2,), "enhancing": (4,), "healthy brain": (0,)}
STRATA = ("small", "medium", "large")


def _factor(score: float, threshold: float, passed: bool, **details: Any) -> dict[str, Any]:
    return {"score": round(float(score), 4), "threshold": threshold, "passed": bool(passed), **details}


def fidelity(pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], params: TrustParams,
             features: dict[str, Any] | None = None) -> dict[str, Any]:
    """T1: paired SSIM and PSNR per modality of each synthetic copy against its real case, and the
    Wasserstein-1 distance of intensities per tissue (label) region; score: mean SSIM. ``features``, the
    set-level feature distances (:mod:`synthtrust.trust.features`), are reported beside them."""
    ranges = data_range([real for real, _, _ in pairs])
    per_case = [paired_similarity(real, synth, ranges) for real, synth, _ in pairs]
    ssim = np.array([c["ssim"] for c in per_case])
    psnr = np.array([c["psnr"] for c in per_case])
    w1: dict[str, dict[str, float]] = {}
    for tissue, labels in TISSUES.items():
        w1[tissue] = {}
        for c, modality in enumerate(MODALITIES):
            real_v, synth_v = [], []
            for real, synth, label in pairs:
                region = np.isin(label, labels) & brain_mask(real)
                real_v.append(real[c][region])
                synth_v.append(synth[c][region])
            r, s = np.concatenate(real_v), np.concatenate(synth_v)
            if r.size:
                w1[tissue][modality] = round(float(wasserstein_distance(r, s)), 4)
    score = float(ssim.mean())
    return _factor(score, params.fidelity_ssim_min, score >= params.fidelity_ssim_min,
                   ssim={m: round(float(v), 4) for m, v in zip(MODALITIES, ssim.mean(0), strict=True)},
                   psnr_db={m: round(float(v), 2) for m, v in zip(MODALITIES, psnr.mean(0), strict=True)},
                   intensity_w1=w1, cases=len(pairs), **({"features": features} if features else {}))


def utility_parity(baseline: dict[str, Any], candidate: dict[str, Any], params: TrustParams) -> dict[str, Any]:
    """T2: the candidate's real-test Dice per region against the alpha = 0 baseline (non-inferiority within
    ``parity_margin``) and against its own synthetic-test Dice (the gap says how far synthetic test data
    would mislead); score: the worst regional difference to the baseline."""
    deltas = {r: round(candidate["real_test"]["dice"][r] - baseline["real_test"]["dice"][r], 4) for r in REGION_NAMES}
    gaps = {r: round(candidate["real_test"]["dice"][r] - candidate["synthetic_test"]["dice"][r], 4)
            for r in REGION_NAMES if "synthetic_test" in candidate}
    worst = min(deltas.values())
    return _factor(worst, -params.parity_margin, worst >= -params.parity_margin, delta_vs_real_only=deltas,
                   real_minus_synthetic_test=gaps, alpha=candidate.get("alpha"))


def volume_strata(volumes_ml: Sequence[float]) -> tuple[float, float]:
    """Tertile edges (ml) of a region's real volume distribution."""
    low, high = np.percentile(np.asarray(volumes_ml, float), [100 / 3, 200 / 3])
    return float(low), float(high)


def regional_robustness(rows: Sequence[dict[str, Any]], manifest_volumes: dict[str, Sequence[float]],
                        params: TrustParams) -> dict[str, Any]:
    """T3: real-test Dice per region and volume stratum (small/medium/large: tertiles of the region's volume
    over the manifest's real cases); ET and small lesions stand on their own. Score: ET Dice of the smallest
    stratum that has cases."""
    table: dict[str, dict[str, Any]] = {}
    for region in REGION_NAMES:
        low, high = volume_strata(manifest_volumes[region])
        cases = [r for r in rows if r["region"] == region and float(r["volume_ml"]) > 0]
        table[region] = {"edges_ml": [round(low, 3), round(high, 3)]}
        for stratum in STRATA:
            inside = [float(r["dice"]) for r in cases
                      if (stratum == "small" and float(r["volume_ml"]) <= low)
                      or (stratum == "medium" and low < float(r["volume_ml"]) <= high)
                      or (stratum == "large" and float(r["volume_ml"]) > high)]
            table[region][stratum] = {"dice": round(float(np.mean(inside)), 4) if inside else None,
                                      "cases": len(inside)}
        table[region]["mean_dice"] = round(float(np.mean([float(r["dice"]) for r in cases])), 4) if cases else None
    et = [table["ET"][s]["dice"] for s in STRATA if table["ET"][s]["dice"] is not None]
    score = et[0] if et else 0.0
    return _factor(score, params.small_et_dice_min, score >= params.small_et_dice_min, strata=table)


def diversity(synthetic: Sequence[np.ndarray], real: Sequence[np.ndarray], params: TrustParams,
              max_pairs: int = 20, seed: int = 0) -> dict[str, Any]:
    """T4: mean MS-SSIM among synthetic cases against the same among real cases (a ratio above the
    threshold means the generator collapses onto fewer looks than the data have), and coverage: the fraction
    of real cases whose nearest synthetic case is closer than their nearest other real case."""
    ranges = data_range([*real, *synthetic])

    def mean_pairwise(images: Sequence[np.ndarray]) -> float:
        pairs = list(itertools.combinations(range(len(images)), 2))
        if len(pairs) > max_pairs:  # the same seeded subset for both sets: equal sets, equal figures
            chosen = np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)
            pairs = [pairs[i] for i in chosen]
        return float(np.mean([ms_ssim(images[i], images[j], ranges) for i, j in pairs]))

    synth_sim, real_sim = mean_pairwise(synthetic), mean_pairwise(real)
    ratio = synth_sim / max(real_sim, 1e-6)
    covered = 0
    for i, r in enumerate(real):
        nearest_real = min(distance(r, o) for j, o in enumerate(real) if j != i)
        covered += min(distance(r, s) for s in synthetic) <= nearest_real
    return _factor(ratio, params.diversity_ratio_max, ratio <= params.diversity_ratio_max,
                   ms_ssim_synthetic=round(synth_sim, 4), ms_ssim_real=round(real_sim, 4),
                   coverage=round(covered / len(real), 4))


def privacy(synthetic: dict[str, np.ndarray], real: dict[str, np.ndarray], params: TrustParams) -> dict[str, Any]:
    """T5: each synthetic case's nearest real training case; flagged as a likely copy when it is closer than
    the ``privacy_percentile`` of the real-to-real nearest-neighbour distances. Score: fraction flagged."""
    real_ids = list(real)
    real_nn = [min(distance(real[a], real[b]) for b in real_ids if b != a) for a in real_ids]
    cutoff = float(np.percentile(real_nn, params.privacy_percentile))
    cases = {}
    for case_id, image in synthetic.items():
        distances = {rid: distance(image, real[rid]) for rid in real_ids}
        nearest = min(distances, key=distances.get)
        cases[case_id] = {"nearest_real": nearest, "distance": round(distances[nearest], 4),
                          "flagged": distances[nearest] < cutoff}
    flagged = sum(c["flagged"] for c in cases.values())
    score = flagged / max(len(cases), 1)
    return _factor(score, params.privacy_flag_max, score <= params.privacy_flag_max, cutoff=round(cutoff, 4),
                   real_nn_distances=[round(d, 4) for d in real_nn], cases=cases, flagged=flagged)
