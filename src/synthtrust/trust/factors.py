"""T1 to T6 as docs/trust.md defines them, each a score, its threshold, a status and the figures behind it.

A factor's ``status`` is ``pass``, ``fail`` or ``not applicable`` (nothing to judge, with the ``reason``);
``passed`` is True, False or None alike. Where the score is a mean over cases it carries its bootstrap
``interval`` (:mod:`synthtrust.stats`) and the verdict is read from the interval, not the point: ``decided``
says whether the interval lies wholly on one side of the threshold (if not, more cases would be needed to
tell). Every function takes plain data (arrays, per-case rows), so each factor can be checked against inputs
whose answer is known.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from synthtrust.data.brats import MODALITIES, REGION_NAMES
from synthtrust.params import IntervalParams, TrustParams
from synthtrust.stats import Interval, auc_interval, mean_interval, paired_difference
from synthtrust.trust.images import brain_mask, data_range, distance, ms_ssim, paired_similarity

TISSUES = {"necrotic core": (1,), "oedema": (2,), "enhancing": (4,), "healthy brain": (0,)}
STRATA = ("small", "medium", "large")


def _factor(score: float, threshold: float, passed: bool, **details: Any) -> dict[str, Any]:
    return {"score": round(float(score), 4), "threshold": threshold, "passed": bool(passed),
            "status": "pass" if passed else "fail", **details}


def not_applicable(threshold: float, reason: str, **details: Any) -> dict[str, Any]:
    """A factor with nothing to judge: no score, no verdict, and why."""
    return {"score": None, "threshold": threshold, "passed": None, "status": "not applicable", "reason": reason,
            **details}


def _decided(interval: Interval, threshold: float) -> bool:
    """Whether the interval lies wholly on one side of ``threshold`` (a lone case decides nothing)."""
    return interval["low"] is not None and (interval["low"] >= threshold or interval["high"] < threshold)


def _lower(interval: Interval) -> float:
    """The interval's lower end, or the mean where one case allows no interval."""
    return interval["mean"] if interval["low"] is None else interval["low"]


def _by_case(rows: Sequence[dict[str, Any]], region: str, metric: str = "dice") -> dict[str, float]:
    return {r["case_id"]: float(r[metric]) for r in rows if r["region"] == region}


def fidelity(pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], params: TrustParams,
             intervals: IntervalParams, features: dict[str, Any] | None = None) -> dict[str, Any]:
    """T1: paired SSIM and PSNR per modality of each synthetic copy against its real case, and the
    Wasserstein-1 distance of intensities per tissue (label) region; score: mean SSIM over copies, passing
    when its interval's lower end reaches the threshold. ``features``, the set-level feature distances
    (:mod:`synthtrust.trust.features`), are reported beside them."""
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
    interval = mean_interval(ssim.mean(1).tolist(), intervals)
    return _factor(interval["mean"], params.fidelity_ssim_min, _lower(interval) >= params.fidelity_ssim_min,
                   interval=interval, decided=_decided(interval, params.fidelity_ssim_min),
                   ssim={m: round(float(v), 4) for m, v in zip(MODALITIES, ssim.mean(0), strict=True)},
                   psnr_db={m: round(float(v), 2) for m, v in zip(MODALITIES, psnr.mean(0), strict=True)},
                   intensity_w1=w1, cases=len(pairs), **({"features": features} if features else {}))


def utility_parity(baseline: Sequence[dict[str, Any]], candidate: Sequence[dict[str, Any]], params: TrustParams,
                   intervals: IntervalParams, *, alpha: float, n_synthetic: int,
                   synthetic: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """T2: the candidate's real-test Dice against the real-only (alpha = 0) model on the same cases, per
    region: the paired difference and its interval. Non-inferiority within ``parity_margin`` must be shown:
    the score is the worst region's lower end, passing at >= -margin. ``synthetic``, the candidate's rows on
    the synthetic copies of the same test cases, gives the real - synthetic gap (how far synthetic test data
    would mislead). A candidate trained on real cases only *is* the baseline: not applicable.

    ``baseline``, ``candidate`` and ``synthetic`` are per-case rows (``case_id``, ``region``, ``dice``)."""
    threshold = -params.parity_margin
    gaps = {r: paired_difference(_by_case(candidate, r), _by_case(synthetic, r), intervals)
            for r in REGION_NAMES} if synthetic else {}
    if n_synthetic == 0:
        return not_applicable(threshold, f"alpha = {alpha} trained on no synthetic case: this model is the "
                              "real-only baseline T2 compares against", alpha=alpha, real_minus_synthetic_test=gaps)
    deltas = {r: paired_difference(_by_case(candidate, r), _by_case(baseline, r), intervals) for r in REGION_NAMES}
    worst = min(deltas, key=lambda r: _lower(deltas[r]))
    score = _lower(deltas[worst])
    return _factor(score, threshold, score >= threshold, delta_vs_real_only=deltas, worst_region=worst,
                   interval=deltas[worst], decided=all(_decided(d, threshold) for d in deltas.values()),
                   real_minus_synthetic_test=gaps,
                   alpha=alpha, n_synthetic=n_synthetic, cases=deltas[worst]["cases"])


def volume_strata(volumes_ml: Sequence[float]) -> tuple[float, float]:
    """Tertile edges (ml) of a region's real volume distribution."""
    low, high = np.percentile(np.asarray(volumes_ml, float), [100 / 3, 200 / 3])
    return float(low), float(high)


def regional_robustness(lesions: Sequence[dict[str, Any]], params: TrustParams, intervals: IntervalParams
                        ) -> dict[str, Any]:
    """T3, over lesions: the Dice of each reference lesion (0 when missed; :mod:`synthtrust.segmenter.lesions`)
    per region and size stratum (small/medium/large: tertiles of the region's lesion volumes), each with its
    interval over lesions; small lesions are judged as lesions, not drowned in a case's volume. Score: the
    lower end of the interval of ET lesion Dice in the smallest stratum that has lesions.

    ``lesions`` are rows of ``lesions.csv`` (``region``, ``volume_ml``, ``dice``) of one model."""
    table: dict[str, dict[str, Any]] = {}
    smallest_et: Interval | None = None
    for region in REGION_NAMES:
        rows = [r for r in lesions if r["region"] == region]
        if not rows:
            table[region] = {"edges_ml": None, "lesions": 0, "mean_dice": None,
                             **{s: {"dice": None, "lesions": 0, "interval": None} for s in STRATA}}
            continue
        low, high = volume_strata([float(r["volume_ml"]) for r in rows])
        table[region] = {"edges_ml": [round(low, 4), round(high, 4)], "lesions": len(rows),
                         "missed": sum(not int(r["matched"]) for r in rows),
                         "mean_dice": round(float(np.mean([float(r["dice"]) for r in rows])), 4)}
        for stratum in STRATA:
            inside = [float(r["dice"]) for r in rows
                      if (stratum == "small" and float(r["volume_ml"]) <= low)
                      or (stratum == "medium" and low < float(r["volume_ml"]) <= high)
                      or (stratum == "large" and float(r["volume_ml"]) > high)]
            interval = mean_interval(inside, intervals) if inside else None
            table[region][stratum] = {"dice": interval["mean"] if interval else None, "lesions": len(inside),
                                      "interval": [interval["low"], interval["high"]] if interval else None}
            if region == "ET" and interval and smallest_et is None:
                smallest_et = interval
    if smallest_et is None:
        return not_applicable(params.small_et_dice_min, "no enhancing-tumour lesion in the real test cases",
                              strata=table)
    score = _lower(smallest_et)
    return _factor(score, params.small_et_dice_min, score >= params.small_et_dice_min, strata=table,
                   interval=smallest_et, decided=_decided(smallest_et, params.small_et_dice_min))


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


def privacy(synthetic: dict[str, np.ndarray], real: dict[str, np.ndarray], members: Sequence[str],
            params: TrustParams, intervals: IntervalParams) -> dict[str, Any]:
    """T5, memorisation as membership inference. Each synthetic copy ``<split>/<case>`` is made from its
    source case's label map, so it is expected to sit near its source; the question is whether copies of
    cases the generator *trained on* (``members``: the training split) sit nearer their sources than copies
    of cases it never saw (the test split). Score: the AUC of telling member copies from held-out copies by
    closeness to the source (0.5: no advantage, 1: every member copy nearer), with its interval; fails when
    the whole interval lies above 0.5 + ``privacy_auc_margin`` (memorisation shown).

    Second figure, not deciding: each copy's nearest real case *other than its own source* (training and
    test), flagged when nearer than the ``privacy_percentile`` of the real-to-real nearest-neighbour
    distances (a copy of some other patient).

    ``synthetic`` maps ``<split>/<case>`` to images, ``real`` maps ``<split>/<case>`` to the real images."""
    member_set = set(members)
    to_source = {k: distance(image, real[k]) for k, image in synthetic.items()}
    inside = [d for k, d in to_source.items() if k in member_set]
    held_out = [d for k, d in to_source.items() if k not in member_set]
    threshold = 0.5 + params.privacy_auc_margin
    if not inside or not held_out:
        return not_applicable(threshold, f"membership needs copies of training and of held-out cases, got "
                              f"{len(inside)} and {len(held_out)}")
    # closeness: the nearer a copy to its source, the more it looks like a member
    interval = auc_interval([-d for d in inside], [-d for d in held_out], intervals)
    real_ids = list(real)
    real_nn = [min(distance(real[a], real[b]) for b in real_ids if b != a) for a in real_ids]
    cutoff = float(np.percentile(real_nn, params.privacy_percentile))
    cases = {}
    for key, image in synthetic.items():
        others = {rid: distance(image, real[rid]) for rid in real_ids if rid != key}
        nearest = min(others, key=others.get)
        cases[key] = {"member": key in member_set, "to_source": round(to_source[key], 4), "nearest_other": nearest,
                      "distance": round(others[nearest], 4), "flagged": others[nearest] < cutoff}
    flagged = sum(c["flagged"] for c in cases.values())
    shown = interval["low"] is not None and interval["low"] > threshold
    return _factor(interval["mean"], threshold, not shown, interval=interval,
                   decided=_decided(interval, threshold), members=len(inside), held_out=len(held_out),
                   cutoff=round(cutoff, 4), real_nn_distances=[round(d, 4) for d in real_nn], cases=cases,
                   flagged=flagged, flagged_fraction=round(flagged / len(cases), 4))


def reader_discrimination(scores: dict[str, Any] | None, params: TrustParams) -> dict[str, Any]:
    """T6: can readers tell synthetic cases from real ones in a blinded reading? Score: the readers' pooled
    accuracy (:mod:`synthtrust.reader_study.scoring`), with its interval over cases; fails when the whole
    interval lies above 0.5 + ``reader_accuracy_margin`` (discrimination shown), passes while it reaches down
    to that line. Not applicable until a study has been answered."""
    threshold = round(0.5 + params.reader_accuracy_margin, 4)
    if not scores or not scores.get("readers"):
        return not_applicable(threshold, "no reader answers yet: run a reader study (synthtrust reader-study make, "
                              "then reader-study score; docs/reader-study.md)")
    pooled = scores["pooled"]
    interval = pooled["accuracy"]
    shown = interval["low"] is not None and interval["low"] > threshold
    return _factor(interval["mean"], threshold, not shown, interval=interval, decided=_decided(interval, threshold),
                   study=scores["study"], readers=pooled["readers"], cases=scores["cases"], auc=pooled["auc"],
                   sensitivity=pooled["sensitivity"], specificity=pooled["specificity"],
                   fleiss_kappa=scores["agreement"]["fleiss_kappa"], plausibility=scores["plausibility"])
