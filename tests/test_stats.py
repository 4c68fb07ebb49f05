"""Bootstrap intervals: reproducible, honest about one case, and they separate a planted effect from none."""

from __future__ import annotations

import numpy as np
import pytest

from synthtrust.params import replace
from synthtrust.stats import auc, auc_interval, describe, mean_interval, paired_difference, within
from tests.conftest import DEMO

INTERVALS = DEMO.intervals


def test_the_same_seed_gives_the_same_interval_and_more_cases_a_narrower_one() -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(0.4, 0.9, 40).tolist()
    first, again = mean_interval(values, INTERVALS), mean_interval(values, INTERVALS)
    assert first == again and first["cases"] == 40 and first["low"] < first["mean"] < first["high"]
    few = mean_interval(values[:6], INTERVALS)
    assert few["high"] - few["low"] > first["high"] - first["low"]
    wider = mean_interval(values, replace(INTERVALS, confidence=0.99))
    assert wider["low"] <= first["low"] and wider["high"] >= first["high"]


def test_one_case_gives_no_interval_and_says_so() -> None:
    lone = mean_interval([0.7], INTERVALS)
    assert lone == {"mean": 0.7, "low": None, "high": None, "cases": 1}
    assert within(lone, 0, 1) is None and describe(lone) == "0.700, n = 1: no interval"
    with pytest.raises(ValueError, match="no cases"):
        mean_interval([], INTERVALS)


def test_a_paired_interval_excludes_a_planted_difference_and_includes_a_null_one() -> None:
    rng = np.random.default_rng(1)
    base = {f"c{i}": float(v) for i, v in enumerate(rng.uniform(0.2, 0.9, 8))}
    planted = paired_difference({c: v - 0.05 + rng.normal(0, 0.01) for c, v in base.items()}, base, INTERVALS)
    assert planted["high"] < 0 and planted["mean"] == pytest.approx(-0.05, abs=0.01)
    null = paired_difference({c: v + rng.normal(0, 0.01) for c, v in base.items()}, base, INTERVALS)
    assert null["low"] < 0 < null["high"]
    # unpaired, the same planted shift hides in the case-to-case spread
    unpaired = mean_interval([v - 0.05 for v in base.values()], INTERVALS)
    assert unpaired["high"] - unpaired["low"] > 10 * (planted["high"] - planted["low"])
    with pytest.raises(ValueError, match="same cases"):
        paired_difference({"a": 1.0}, {"b": 1.0}, INTERVALS)


def test_auc_counts_ties_half_and_its_interval_resamples_each_group() -> None:
    assert auc([3, 4], [1, 2]) == 1.0 and auc([1, 2], [3, 4]) == 0.0 and auc([1, 2], [1, 2]) == 0.5
    separated = auc_interval([5, 6, 7, 8], [1, 2, 3, 4], INTERVALS)
    assert separated == {"mean": 1.0, "low": 1.0, "high": 1.0, "cases": 8}
    rng = np.random.default_rng(2)
    chance = auc_interval(rng.normal(size=30), rng.normal(size=30), INTERVALS)
    assert chance["low"] < 0.5 < chance["high"]


def test_auc_is_the_mann_whitney_statistic() -> None:
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(1)
    for _ in range(50):  # small integer scores: many ties
        a, b = rng.integers(-5, 6, rng.integers(1, 30)), rng.integers(-5, 6, rng.integers(1, 30))
        assert auc(a, b) == pytest.approx(mannwhitneyu(a, b).statistic / (a.size * b.size))


def test_proportion_difference_and_any_case_statistic() -> None:
    from synthtrust.stats import case_statistic_interval, difference_interval, proportion_interval

    assert proportion_interval(20, 20, INTERVALS) == {"mean": 1.0, "low": 0.8389, "high": 1.0, "cases": 20}
    half = proportion_interval(10, 20, INTERVALS)
    assert half["low"] < 0.5 < half["high"] and half["low"] == pytest.approx(1 - half["high"])
    shifted = difference_interval([3.0, 3.2, 2.9, 3.1], [1.0, 1.1, 0.9, 1.2], INTERVALS)
    assert shifted["mean"] == pytest.approx(2.0) and shifted["low"] > 1.5 and shifted["cases"] == 8
    values = np.arange(10.0)
    median = case_statistic_interval(10, lambda idx: float(np.median(values[idx])), INTERVALS)
    assert median["mean"] == 4.5 and median["low"] < 4.5 < median["high"] and median["cases"] == 10


def test_a_clustered_proportion_counts_agreeing_raters_once() -> None:
    from synthtrust.stats import clustered_proportion_interval, proportion_interval

    rng = np.random.default_rng(2)
    one = rng.integers(0, 2, (30, 1))
    alone = clustered_proportion_interval(one, INTERVALS)
    assert alone == proportion_interval(int(one.sum()), 30, INTERVALS)
    # three raters who always agree add no information: the same interval as one
    assert clustered_proportion_interval(np.repeat(one, 3, axis=1), INTERVALS) == alone
    # three independent raters: nearer the 90 independent calls they are
    independent = clustered_proportion_interval(rng.integers(0, 2, (30, 3)), INTERVALS)
    assert independent["high"] - independent["low"] < 0.8 * (alone["high"] - alone["low"])
    assert independent["cases"] == 30
    # every call right: still an interval, not the point a bootstrap over cases would give
    perfect = clustered_proportion_interval(np.ones((4, 2)), INTERVALS)
    assert perfect["mean"] == 1.0 and perfect["low"] == pytest.approx(0.5101, abs=1e-4)
