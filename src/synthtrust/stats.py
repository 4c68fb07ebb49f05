"""Uncertainty of the figures that decide something: seeded bootstrap intervals over test cases.

Every interval here is a percentile bootstrap (``scipy.stats.bootstrap``) over *cases*, the unit that was
sampled: a mean over cases, the mean of paired per-case differences (two models on the same cases), the
difference and the AUC of two independent groups (each group resampled on its own), any statistic of a set of
cases; one exception: a proportion gets a Wilson score interval (over independent trials, or an effective
number of them where several raters judged each case), which a bootstrap would shrink to a point at 0 or 1.
The percentile method is used rather than BCa because BCa is undefined on the degenerate samples small test
sets produce (all Dice equal, a lone case). One seed (``intervals.seed``) makes every interval reproducible.

An interval is a plain dict, ready for JSON: ``{"mean", "low", "high", "cases"}`` (``low``/``high`` are
``None`` when fewer than two cases stand behind the mean: no interval can be drawn from one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import bootstrap
from statsmodels.stats.proportion import proportion_confint

from synthtrust.params import IntervalParams

Interval = dict[str, Any]


def _rounded(mean: float, low: float | None, high: float | None, cases: int, digits: int) -> Interval:
    def r(v: float | None) -> float | None:
        return None if v is None else round(float(v), digits)

    return {"mean": r(mean), "low": r(low), "high": r(high), "cases": int(cases)}


def _bootstrap(samples: tuple[np.ndarray, ...], statistic: Callable[..., float], params: IntervalParams
               ) -> tuple[float, float]:
    if all(np.ptp(s) == 0 for s in samples) and len(samples) == 1:  # nothing varies: every resample agrees
        value = float(statistic(*samples))
        return value, value
    result = bootstrap(samples, statistic, n_resamples=params.resamples, confidence_level=params.confidence,
                       method="percentile", paired=False, vectorized=False, rng=np.random.default_rng(params.seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_interval(values: Sequence[float], params: IntervalParams, digits: int = 4) -> Interval:
    """The mean of per-case ``values`` and its bootstrap interval over cases."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no cases: an interval needs at least one value")
    if x.size < 2:
        return _rounded(x.mean(), None, None, x.size, digits)
    low, high = _bootstrap((x,), np.mean, params)
    return _rounded(x.mean(), low, high, x.size, digits)


def paired_difference(candidate: dict[str, float], baseline: dict[str, float], params: IntervalParams,
                      digits: int = 4) -> Interval:
    """Mean of ``candidate[case] - baseline[case]`` over the cases both scored, with its interval: the paired
    comparison of two models on the same cases (the case-to-case spread cancels)."""
    if set(candidate) != set(baseline):
        only = sorted(set(candidate) ^ set(baseline))
        raise ValueError(f"a paired difference needs the same cases on both sides; unpaired: {only[:5]}")
    cases = sorted(candidate)
    return mean_interval([candidate[c] - baseline[c] for c in cases], params, digits)


def difference_interval(first: Sequence[float], second: Sequence[float], params: IntervalParams,
                        digits: int = 4) -> Interval:
    """``mean(first) - mean(second)`` for two independent groups of cases, each resampled on its own."""
    a, b = np.asarray(first, float), np.asarray(second, float)
    if a.size == 0 or b.size == 0:
        raise ValueError(f"a difference needs cases in both groups, got {a.size} and {b.size}")
    value = a.mean() - b.mean()
    if a.size < 2 or b.size < 2:
        return _rounded(value, None, None, a.size + b.size, digits)
    low, high = _bootstrap((a, b), lambda x, y: np.mean(x) - np.mean(y), params)
    return _rounded(value, low, high, a.size + b.size, digits)


def case_statistic_interval(cases: int, statistic: Callable[[np.ndarray], float], params: IntervalParams,
                            digits: int = 4) -> Interval:
    """Any statistic of a set of cases, ``statistic(indices)``, with its bootstrap interval over cases (the
    indices resampled): for figures that are not a mean, such as an agreement coefficient."""
    value = float(statistic(np.arange(cases)))
    if cases < 2:
        return _rounded(value, None, None, cases, digits)
    low, high = _bootstrap((np.arange(cases),), statistic, params)
    return _rounded(value, low, high, cases, digits)


def proportion_interval(successes: float, trials: float, params: IntervalParams, digits: int = 4,
                        cases: int | None = None) -> Interval:
    """A proportion with its Wilson score interval (binomial: every trial independent, e.g. one reader's calls
    on distinct cases); unlike a bootstrap it stays informative at 0/n and n/n. ``trials`` may be an effective
    (non-whole) sample size; ``cases`` is what the interval reports as its count (default: the trials)."""
    if trials <= 0:
        raise ValueError("a proportion needs at least one trial")
    low, high = proportion_confint(successes, trials, alpha=1 - params.confidence, method="wilson")
    return _rounded(successes / trials, low, high, int(round(trials)) if cases is None else cases, digits)


def clustered_proportion_interval(outcomes: np.ndarray, params: IntervalParams, digits: int = 4) -> Interval:
    """The proportion of 1s in a (cases, raters) 0/1 array, with a Wilson interval on the effective sample
    size: the calls on one case are not independent, so the calls count ``cases * raters / deff`` with Kish's
    design effect ``deff = 1 + (raters - 1) * ICC`` (one-way ANOVA intraclass correlation, in [0, 1]; 1 when it
    cannot be estimated, e.g. every call the same). One rater: the plain Wilson interval over cases. A
    bootstrap over cases would collapse to a point whenever every call is right."""
    x = np.asarray(outcomes, float)
    n, m = x.shape
    if n == 0 or m == 0:
        raise ValueError("a proportion needs at least one case and one rater")
    icc = 1.0
    if m > 1 and n > 1:
        between = m * ((x.mean(1) - x.mean()) ** 2).sum() / (n - 1)
        within = ((x - x.mean(1, keepdims=True)) ** 2).sum() / (n * (m - 1))
        if between + (m - 1) * within > 0:
            icc = float(np.clip((between - within) / (between + (m - 1) * within), 0.0, 1.0))
    effective = n * m / (1 + (m - 1) * icc)
    return proportion_interval(x.mean() * effective, effective, params, digits, cases=n)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a positive scores higher than a negative), ties counted half: the area under the ROC curve, i.e. the
    Mann-Whitney U statistic over all pairs. Counted directly (not with ``scipy.stats.mannwhitneyu``, which
    also works out a p-value, 1.5 ms a call) because a bootstrap interval calls it thousands of times."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    return float((np.sign(pos[:, None] - neg[None, :]) + 1).sum() / (2 * pos.size * neg.size))


def auc_interval(positives: Sequence[float], negatives: Sequence[float], params: IntervalParams,
                 digits: int = 4) -> Interval:
    """The AUC of telling ``positives`` from ``negatives`` by their score, with a bootstrap interval that
    resamples each group on its own; ``cases`` counts both groups."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"an AUC needs cases in both groups, got {pos.size} and {neg.size}")
    value = auc(pos, neg)
    if pos.size < 2 or neg.size < 2:
        return _rounded(value, None, None, pos.size + neg.size, digits)
    low, high = _bootstrap((pos, neg), auc, params)
    return _rounded(value, low, high, pos.size + neg.size, digits)


def within(interval: Interval, low: float, high: float) -> bool | None:
    """Whether the whole interval lies inside [low, high]; ``None`` when there is no interval."""
    if interval["low"] is None:
        return None
    return low <= interval["low"] and interval["high"] <= high


def describe(interval: Interval, digits: int = 3) -> str:
    """``0.562 [0.41, 0.70], n = 6`` (or ``0.562, n = 1: no interval``)."""
    mean = f"{interval['mean']:.{digits}f}"
    if interval["low"] is None:
        return f"{mean}, n = {interval['cases']}: no interval"
    return f"{mean} [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}], n = {interval['cases']}"
