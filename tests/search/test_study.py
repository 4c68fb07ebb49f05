"""The study's name, the grid entered as finished trials, and the Pareto choice, on a real SQLite storage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest

from synthtrust.params import SearchParams, SegmenterParams, replace
from synthtrust.search.study import add_grid_trials, best_trial, grid_models, open_study, study_name
from tests.conftest import DEMO, TINY_SEGMENTER, demo

SEG = TINY_SEGMENTER
MIX = demo("mix", alphas=[0.0, 1.0])
KEYS = {0.0: "replace:0", 1.0: "replace:4"}


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_workspace: Path) -> str:
    monkeypatch.chdir(trained_workspace)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    monkeypatch.setenv("OPTUNA_STORAGE", url)
    return url


def _name(params: SearchParams, segmenter: SegmenterParams = SEG, synthetic: str = "data/synthetic") -> str:
    return study_name(params, segmenter, MIX, grid_models(MIX), "data/prepared/manifest.json", synthetic)


def test_the_name_follows_what_trials_depend_on(storage: str, tmp_path: Path) -> None:
    params = DEMO.search
    base = _name(params)
    assert base.startswith("brats-alpha-") and base == _name(params)
    assert _name(replace(params, n_trials=50, sampler="gp")) == base  # extends the same study
    assert _name(replace(params, objective="multi")) != base
    assert _name(params, replace(SEG, learning_rate=1e-3)) != base
    changed = tmp_path / "synthetic"
    shutil.copytree("data/synthetic", changed)
    (next(changed.glob("train/*/*_provenance.json"))).write_text(json.dumps({"seed": 1}))
    assert _name(params, synthetic=str(changed)) != base


def test_grid_models_enter_once_with_their_validation_history(storage: str) -> None:
    params = DEMO.search
    study = open_study(params, _name(params))
    grid = grid_models(MIX)
    assert add_grid_trials(study, grid, params, KEYS) == 2
    again = optuna.load_study(study_name=study.study_name, storage=storage)
    assert add_grid_trials(again, grid, params, KEYS) == 0
    trials = again.get_trials()
    assert [t.params["alpha"] for t in trials] == [0.0, 1.0]
    for trial, model in zip(trials, grid, strict=True):
        assert trial.value == pytest.approx(model.validation["mean_dice"])
        assert trial.intermediate_values == {r["epoch"]: pytest.approx(r["val_mean_dice"])
                                             for r in model.validation["history"]}
        assert trial.user_attrs["model_dir"] == model.model_dir and trial.user_attrs["source"] == "grid"


def test_multi_objective_keeps_three_values_and_picks_the_best_mean_on_the_front(storage: str) -> None:
    params = replace(DEMO.search, objective="multi")
    study = open_study(params, _name(params))
    add_grid_trials(study, grid_models(MIX), params, KEYS)
    assert all(len(t.values) == 3 for t in study.get_trials())
    best = best_trial(study)
    assert best in study.best_trials
    assert sum(best.values) == max(sum(t.values) for t in study.best_trials)
