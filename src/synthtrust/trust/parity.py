"""The paper's question: at which alpha do real-test and synthetic-test Dice agree, and does alpha ~ 0.5 give
real/synthetic parity overall and for large regions while small regions stay hard?

For every alpha model, region and size stratum (all cases, then the tertiles T3 uses), the paired
difference real - synthetic test Dice on the same cases (the synthetic test case is the copy of the real
one) and its interval. Parity is *shown* when the interval lies inside +-``trust.parity_margin``, *refuted*
when it lies wholly outside, else *undecided*. The claim is then judged part by part from the alpha nearest
0.5; each part, and the claim, is "supported", "not supported" or "undecided (too few cases)".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synthtrust.data.brats import REGION_NAMES
from synthtrust.params import IntervalParams, TrustParams
from synthtrust.stats import Interval, describe, mean_interval, paired_difference
from synthtrust.trust.factors import STRATA, volume_strata

ALL = "all"
SUPPORTED, NOT_SUPPORTED, UNDECIDED = "supported", "not supported", "undecided (too few cases)"
#: the grid alpha judged as "alpha ~ 0.5" must lie this close to 0.5
NEAR_HALF = 0.15


def _stratum(volume_ml: float, edges: tuple[float, float]) -> str:
    low, high = edges
    return "small" if volume_ml <= low else "medium" if volume_ml <= high else "large"


def _agreement(interval: Interval, margin: float) -> str:
    if interval["low"] is None:
        return "undecided"
    if -margin <= interval["low"] and interval["high"] <= margin:
        return "parity"
    if interval["low"] > margin or interval["high"] < -margin:
        return "no parity"
    return "undecided"


def _combine(parts: Sequence[str]) -> str:
    if any(p == NOT_SUPPORTED for p in parts):
        return NOT_SUPPORTED
    return SUPPORTED if parts and all(p == SUPPORTED for p in parts) else UNDECIDED


def gaps(real: Sequence[dict[str, Any]], synthetic: Sequence[dict[str, Any]],
         manifest_volumes: dict[str, Sequence[float]], params: TrustParams, intervals: IntervalParams
         ) -> dict[str, dict[str, Any]]:
    """Per region and stratum of one model: the real - synthetic Dice gap's interval and its agreement."""
    table: dict[str, dict[str, Any]] = {}
    for region in REGION_NAMES:
        edges = volume_strata(manifest_volumes[region])
        real_rows = {r["case_id"]: r for r in real if r["region"] == region and float(r["volume_ml"]) > 0}
        synth = {r["case_id"]: float(r["dice"]) for r in synthetic if r["region"] == region}
        table[region] = {}
        for stratum in (ALL, *STRATA):
            ids = [c for c, r in real_rows.items() if c in synth
                   and (stratum == ALL or _stratum(float(r["volume_ml"]), edges) == stratum)]
            if not ids:
                table[region][stratum] = {"gap": None, "agreement": "no cases", "cases": 0}
                continue
            gap = paired_difference({c: float(real_rows[c]["dice"]) for c in ids}, {c: synth[c] for c in ids},
                                    intervals)
            table[region][stratum] = {"gap": gap, "agreement": _agreement(gap, params.parity_margin),
                                      "real_dice": mean_interval([float(real_rows[c]["dice"]) for c in ids], intervals),
                                      "cases": len(ids)}
    return table


def parity(per_alpha: dict[float, tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]]],
           manifest_volumes: dict[str, Sequence[float]], params: TrustParams, intervals: IntervalParams
           ) -> dict[str, Any]:
    """The parity section: ``per_alpha`` maps alpha to (real-test rows, synthetic-test rows) of its model."""
    table = {str(a): gaps(real, synth, manifest_volumes, params, intervals) for a, (real, synth) in per_alpha.items()}
    ranges = {region: {stratum: [float(a) for a in table if table[a][region][stratum]["agreement"] == "parity"]
                       for stratum in (ALL, *STRATA)} for region in REGION_NAMES}
    alphas = sorted(per_alpha)
    near = min(alphas, key=lambda a: abs(a - 0.5)) if alphas else None
    evidence: list[str] = []
    if near is None or abs(near - 0.5) > NEAR_HALF:
        claim = {"verdict": UNDECIDED, "alpha": near,
                 "evidence": [f"no alpha within {NEAR_HALF} of 0.5 in mix.alphas"], "parts": {}}
        return {"margin": params.parity_margin, "gaps": table, "parity_alphas": ranges, "claim": claim}
    at = table[str(near)]

    def parity_part(stratum: str) -> str:
        verdicts = []
        for region in REGION_NAMES:
            cell = at[region][stratum]
            shown = cell["agreement"]
            if cell["gap"] is not None:
                evidence.append(f"alpha {near}, {region} {stratum}: real - synthetic Dice {describe(cell['gap'])}: "
                                f"{shown}")
            verdicts.append(SUPPORTED if shown == "parity" else NOT_SUPPORTED if shown == "no parity" else UNDECIDED)
        return _combine(verdicts)

    def small_stays_hard() -> str:
        verdicts = []
        for region in REGION_NAMES:
            small, large = at[region]["small"], at[region]["large"]
            if small["gap"] is None or large["gap"] is None:
                verdicts.append(UNDECIDED)
                continue
            # different cases in the two strata: their real-test Dice intervals must not overlap to decide
            s, big = small["real_dice"], large["real_dice"]
            evidence.append(f"alpha {near}, {region}: real-test Dice small {describe(s)} vs large {describe(big)}")
            if s["low"] is None or big["low"] is None:
                verdicts.append(UNDECIDED)
            else:
                verdicts.append(SUPPORTED if s["high"] < big["low"] else NOT_SUPPORTED if s["low"] > big["high"]
                                else UNDECIDED)
        return _combine(verdicts)

    parts = {"parity overall": parity_part(ALL), "parity for large regions": parity_part("large"),
             "small regions stay hard": small_stays_hard()}
    claim = {"verdict": _combine(list(parts.values())), "alpha": near, "parts": parts, "evidence": evidence}
    return {"margin": params.parity_margin, "gaps": table, "parity_alphas": ranges, "claim": claim}
