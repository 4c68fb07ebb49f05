"""Scores of constructed readers whose answer is known: one who reads the key, coin flippers, an inverted one."""

from __future__ import annotations

import numpy as np
import pytest

from synthtrust.reader_study.scoring import score
from tests.conftest import DEMO

INTERVALS = DEMO.intervals


def key_of(n: int, seed: int = 0) -> dict:
    truths = np.random.default_rng(seed).permutation(["real"] * (n // 2) + ["synthetic"] * (n - n // 2))
    return {"study": "s", "cases": {f"case_{i:02d}": {"truth": str(t)} for i, t in enumerate(truths, 1)}}


def reader(name: str, key: dict, call, confidence=4, plausibility=lambda truth: 3, comment="") -> dict:
    answers = {}
    for i, (case, entry) in enumerate(key["cases"].items()):
        answers[case] = {"call": call(i, entry["truth"]), "confidence": confidence, "plausibility":
                         plausibility(entry["truth"]), "comment": comment if i == 0 else "",
                         "comment_modality": "FLAIR", "comment_region": "oedema", "seconds": 30.0 + i}
    return {"reader": name, "file": f"{name}.json", "answers": answers}


def coin(seed: int):
    rng = np.random.default_rng(seed)
    return lambda i, truth: str(rng.choice(["real", "synthetic"]))


def test_a_reader_who_reads_the_key_scores_one() -> None:
    key = key_of(20)
    scores = score(key, [reader("oracle", key, lambda i, t: t, confidence=5)], INTERVALS)
    oracle = scores["readers"]["oracle"]
    assert oracle["accuracy"]["mean"] == 1.0 and oracle["accuracy"]["low"] == pytest.approx(0.8389, abs=1e-3)
    assert oracle["auc"]["mean"] == 1.0 and oracle["sensitivity"]["mean"] == oracle["specificity"]["mean"] == 1.0
    assert scores["pooled"]["accuracy"] == oracle["accuracy"]  # one reader: pooled is that reader's Wilson interval
    assert scores["agreement"] == {"fleiss_kappa": None, "reason": "one reader: agreement needs two or more"}
    assert oracle["seconds"] == {"median_per_case": 39.5, "total": 790.0}


def test_coin_flippers_intervals_hold_chance() -> None:
    key = key_of(40)
    readers = [reader(f"coin{s}", key, coin(s)) for s in range(3)]
    scores = score(key, readers, INTERVALS)
    for name in ("coin0", "coin1", "coin2"):
        accuracy = scores["readers"][name]["accuracy"]
        assert accuracy["low"] <= 0.5 <= accuracy["high"], (name, accuracy)
    pooled = scores["pooled"]
    assert pooled["readers"] == 3 and pooled["accuracy"]["low"] <= 0.5 <= pooled["accuracy"]["high"]
    assert pooled["auc"]["low"] <= 0.5 <= pooled["auc"]["high"]
    kappa = scores["agreement"]["fleiss_kappa"]  # independent guesses agree by chance only
    assert kappa["low"] <= 0 <= kappa["high"] and kappa["cases"] == 40


def test_agreement_and_an_inverted_reader() -> None:
    key = key_of(20)
    same = [reader(name, key, coin(7)) for name in ("a", "b")]  # two readers with the very same calls
    assert score(key, same, INTERVALS)["agreement"]["fleiss_kappa"]["mean"] == pytest.approx(1.0)
    inverted = reader("inverted", key, lambda i, t: "real" if t == "synthetic" else "synthetic")
    figures = score(key, [inverted], INTERVALS)["readers"]["inverted"]
    # they tell the two apart perfectly, with the names swapped: accuracy 0, AUC 0
    assert figures["accuracy"]["mean"] == 0.0 and figures["auc"]["mean"] == 0.0


def test_plausibility_comments_and_counts() -> None:
    key = key_of(10)
    readers = [reader("a", key, coin(1), plausibility=lambda t: 2 if t == "synthetic" else 4, comment="blurry"),
               reader("b", key, coin(2), plausibility=lambda t: 3 if t == "synthetic" else 4)]
    scores = score(key, readers, INTERVALS)
    plausible = scores["plausibility"]
    assert plausible["synthetic"]["mean"] == 2.5 and plausible["real"]["mean"] == 4.0
    assert plausible["synthetic_minus_real"]["mean"] == -1.5 and plausible["synthetic_minus_real"]["high"] < 0
    first = next(iter(key["cases"]))
    assert scores["comments"] == {"FLAIR / oedema": [{"case": first, "truth": key["cases"][first]["truth"],
                                                      "reader": "a", "call": readers[0]["answers"][first]["call"],
                                                      "text": "blurry"}]}
    assert (scores["cases"], scores["real"], scores["synthetic"], scores["status"]) == (10, 5, 5, "scored")
    assert score(key, [], INTERVALS)["status"] == "no answers"
