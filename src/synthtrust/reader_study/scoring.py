"""Scores of a blinded reading: can readers tell synthetic cases from real ones, and do they find them plausible?

"Positive" is *synthetic*: sensitivity is the share of synthetic cases called synthetic, specificity the share
of real cases called real. A reader's calls with their confidence make one suspicion score per case
(+confidence when called synthetic, -confidence when called real), whose AUC is the reader's discrimination.

Intervals (:mod:`synthtrust.stats`): one reader's accuracy, sensitivity and specificity are proportions of
independent calls (Wilson); pooled ones are Wilson intervals on the effective number of calls (the readers'
calls on one case are not independent: Kish's design effect from their intraclass correlation); AUCs
resample the synthetic and the real group apart; plausibility means bootstrap over cases.
Agreement is Fleiss' kappa (statsmodels) on the real/synthetic calls, bootstrapped over cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from statsmodels.stats.inter_rater import fleiss_kappa

from synthtrust.params import IntervalParams
from synthtrust.reader_study.study import CALLS
from synthtrust.stats import (
    auc_interval,
    case_statistic_interval,
    clustered_proportion_interval,
    difference_interval,
    mean_interval,
    proportion_interval,
)


def suspicion(answer: dict[str, Any]) -> int:
    """+confidence for a synthetic call, -confidence for a real one."""
    return answer["confidence"] if answer["call"] == "synthetic" else -answer["confidence"]


def _reader(answers: dict[str, dict[str, Any]], truth: dict[str, str], intervals: IntervalParams
            ) -> dict[str, Any]:
    cases = list(truth)
    correct = sum(answers[c]["call"] == truth[c] for c in cases)
    synthetic = [c for c in cases if truth[c] == "synthetic"]
    real = [c for c in cases if truth[c] == "real"]
    seconds = [answers[c]["seconds"] for c in cases]
    return {
        "cases": len(cases),
        "accuracy": proportion_interval(correct, len(cases), intervals),
        "sensitivity": proportion_interval(sum(answers[c]["call"] == "synthetic" for c in synthetic), len(synthetic),
                                           intervals),
        "specificity": proportion_interval(sum(answers[c]["call"] == "real" for c in real), len(real), intervals),
        "auc": auc_interval([suspicion(answers[c]) for c in synthetic], [suspicion(answers[c]) for c in real],
                            intervals),
        "plausibility": {"synthetic": round(float(np.mean([answers[c]["plausibility"] for c in synthetic])), 3),
                         "real": round(float(np.mean([answers[c]["plausibility"] for c in real])), 3)},
        "seconds": {"median_per_case": round(float(np.median(seconds)), 1), "total": round(float(np.sum(seconds)), 1)},
    }


def _kappa(calls: np.ndarray) -> float:
    """Fleiss' kappa of a (cases, readers) array of 0/1 calls; 1.0 when every call is the same (statsmodels
    divides by zero there: the agreement is perfect, chance agreement is too)."""
    table = np.stack([(calls == k).sum(1) for k in range(len(CALLS))], axis=1)
    if (table.sum(0) == 0).any():
        return 1.0
    return float(fleiss_kappa(table))


def score(key: dict[str, Any], readers: Sequence[dict[str, Any]], intervals: IntervalParams) -> dict[str, Any]:
    """Per reader and pooled accuracy, sensitivity, specificity and AUC with intervals, Fleiss' kappa, the
    plausibility of synthetic against real cases and every comment, grouped by modality and region."""
    truth = {case: entry["truth"] for case, entry in key["cases"].items()}
    result: dict[str, Any] = {"study": key["study"], "cases": len(truth),
                              "real": sum(t == "real" for t in truth.values()),
                              "synthetic": sum(t == "synthetic" for t in truth.values()),
                              "readers": {}, "answer_files": [r["file"] for r in readers]}
    if not readers:
        return {**result, "status": "no answers"}
    cases = list(truth)
    result["readers"] = {r["reader"]: _reader(r["answers"], truth, intervals) for r in readers}
    right = np.array([[r["answers"][c]["call"] == truth[c] for r in readers] for c in cases], float)
    called = np.array([[CALLS.index(r["answers"][c]["call"]) for r in readers] for c in cases])
    plausible = np.array([[r["answers"][c]["plausibility"] for r in readers] for c in cases], float).mean(1)
    is_synthetic = np.array([truth[c] == "synthetic" for c in cases])
    scores = {c: [suspicion(r["answers"][c]) for r in readers] for c in cases}
    result["pooled"] = {
        "readers": len(readers),
        "accuracy": clustered_proportion_interval(right, intervals),
        "sensitivity": clustered_proportion_interval(right[is_synthetic], intervals),
        "specificity": clustered_proportion_interval(right[~is_synthetic], intervals),
        # one rating per reader and case; the interval resamples ratings, which slightly overstates its precision
        "auc": auc_interval([s for c in cases if truth[c] == "synthetic" for s in scores[c]],
                            [s for c in cases if truth[c] == "real" for s in scores[c]], intervals),
    }
    result["agreement"] = (
        {"fleiss_kappa": case_statistic_interval(len(cases), lambda idx: _kappa(called[idx]), intervals)}
        if len(readers) > 1 else {"fleiss_kappa": None, "reason": "one reader: agreement needs two or more"})
    result["plausibility"] = {
        "synthetic": mean_interval(plausible[is_synthetic].tolist(), intervals),
        "real": mean_interval(plausible[~is_synthetic].tolist(), intervals),
        "synthetic_minus_real": difference_interval(plausible[is_synthetic].tolist(), plausible[~is_synthetic].tolist(),
                                                    intervals),
    }
    comments: dict[str, list[dict[str, Any]]] = {}
    for r in readers:
        for case in cases:
            a = r["answers"][case]
            if a["comment"]:
                comments.setdefault(f"{a['comment_modality']} / {a['comment_region']}", []).append(
                    {"case": case, "truth": truth[case], "reader": r["reader"], "call": a["call"],
                     "text": a["comment"]})
    result["comments"] = dict(sorted(comments.items()))
    return {**result, "status": "scored"}
