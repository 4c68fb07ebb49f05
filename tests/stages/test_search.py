"""The search for real: tiny SwinUNETR trainings, a SQLite Optuna storage, a SQLite MLflow store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml

from synthtrust.params import SearchParams, replace
from synthtrust.search import EXPERIMENT
from synthtrust.search.study import grid_models, open_study, study_name
from synthtrust.stages.search import run as run_search
from tests.conftest import DEMO, TINY_SEGMENTER, demo

pytestmark = pytest.mark.slow
SEG = TINY_SEGMENTER
MIX = demo("mix", alphas=[0.0, 1.0])


@pytest.fixture
def workspace(trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_store: str) -> Path:
    """A private copy of the trained workspace, with its own Optuna storage and MLflow store."""
    root = tmp_path / "ws"
    shutil.copytree(trained_workspace, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("OPTUNA_STORAGE", f"sqlite:///{tmp_path / 'optuna.db'}")
    return root


def _search(params: SearchParams) -> dict:
    return run_search(params, SEG, MIX)


def test_search_adds_the_grid_then_trains_only_new_mixes(workspace: Path, mlflow_store: str) -> None:
    summary = _search(replace(DEMO.search, n_trials=4, n_startup_trials=0, pruner="none"))
    assert summary == json.loads(Path("metrics/search.json").read_text())
    counts = summary["trials"]
    assert counts["trainings"] == 4 and counts["from_grid"] == 2 and counts["trained"] == 2
    assert counts["finished"] == 4 + counts["same_mix"]  # proposals repeating a trained mix cost no training
    study = optuna.load_study(study_name=summary["study"], storage=os.environ["OPTUNA_STORAGE"])
    trained = [t for t in study.trials if t.user_attrs.get("trained")]
    keys = [t.user_attrs["mix_key"] for t in study.trials if t.user_attrs.get("source") in ("grid", "search")]
    assert len(keys) == len(set(keys)), "a mix was trained twice"
    for t in trained:  # the trial's mix validates on the real validation split, never on test cases
        mix = json.loads(Path(f"models/search/{summary['study']}/mixes/trial_{t.number}.json").read_text())
        manifest = json.loads(Path("data/prepared/manifest.json").read_text())
        assert {c["case_id"] for c in mix["validation"]} == set(manifest["splits"]["val"])
        assert (Path(t.user_attrs["model_dir"]) / "model.pt").is_file()
    best = max((t for t in study.trials if t.value is not None), key=lambda t: t.value)
    assert summary["best"]["val_mean_dice"] == pytest.approx(best.value, abs=1e-4)
    rows = Path("reports/search/trials.csv").read_text().splitlines()
    assert rows[0].startswith("trial,alpha,mode,source,state,mean_dice") and len(rows) == counts["finished"] + 1
    assert Path("reports/search/objective_vs_alpha.png").stat().st_size > 10_000
    client = mlflow.MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("role") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(trained)
    for child in children:
        assert [a.path for a in client.list_artifacts(child.info.run_id, "segmenter")] == [
            "segmenter/model.pt", "segmenter/validation.json"]
        assert len(client.get_metric_history(child.info.run_id, "val_mean_dice")) == SEG.max_steps
    # asking again with the same inputs resumes the finished study: nothing is trained
    again = _search(replace(DEMO.search, n_trials=4, n_startup_trials=0, pruner="none"))
    assert again["study"] == summary["study"] and again["trials"] == counts


def test_multi_objective_search_reports_the_pareto_front(workspace: Path) -> None:
    summary = _search(replace(DEMO.search, n_trials=3, objective="multi", n_startup_trials=0))
    assert summary["objective"] == "multi" and summary["trials"]["pruned"] == 0  # Optuna cannot prune these
    front = summary["pareto_front"]
    assert front and all(set(p) == {"trial", "alpha", "TC", "WT", "ET"} for p in front)
    assert summary["best"]["trial"] in {p["trial"] for p in front}
    best_mean = max(sum(p[r] for r in ("TC", "WT", "ET")) / 3 for p in front)
    assert summary["best"]["val_mean_dice"] == pytest.approx(best_mean, abs=1e-3)
    assert Path("reports/search/objective_vs_alpha.png").stat().st_size > 10_000


def test_a_trial_below_the_median_is_pruned_and_leaves_no_model(workspace: Path, mlflow_store: str) -> None:
    params = replace(DEMO.search, n_trials=3, n_startup_trials=0, pruner_warmup_epochs=2)
    name = study_name(params, SEG, MIX, grid_models(MIX), "data/prepared/manifest.json", "data/synthetic")
    study = open_study(params, name)
    for i in range(3):  # three earlier trials far better at every epoch: the median is out of reach
        study.add_trial(optuna.trial.create_trial(
            params={"alpha": 0.3 + 0.1 * i}, distributions={"alpha": optuna.distributions.FloatDistribution(0, 1)},
            value=0.99, intermediate_values={e: 0.99 for e in range(1, 5)},
            user_attrs={"source": "elsewhere", "mix_key": f"replace:9{i}", "dice": {}, "mean_dice": 0.99,
                        "model_dir": "nowhere"}))
    study.enqueue_trial({"alpha": 0.5})  # a mix of its own (2 of 4 cases synthetic): it is trained
    summary = _search(params)
    pruned = [t for t in optuna.load_study(study_name=name, storage=os.environ["OPTUNA_STORAGE"]).trials
              if t.state == optuna.trial.TrialState.PRUNED]
    assert summary["trials"]["pruned"] == len(pruned) == 1
    for t in pruned:
        assert max(t.intermediate_values) == 2  # the first validation not before the warm-up epoch
        assert not Path(f"models/search/{name}/trial_{t.number}").exists()
    client = mlflow.MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id], "tags.pruned = 'true'")
    assert len(runs) == len(pruned)


def _trainings(storage: str) -> list[optuna.trial.FrozenTrial]:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        names = optuna.get_all_study_names(storage) if Path(storage.removeprefix("sqlite:///")).exists() else []
        if not names:
            return []
    except SQLAlchemyError:  # the worker is still creating the storage's schema: looking now would race it
        return []
    study = optuna.load_study(study_name=names[0], storage=storage)
    return [t for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
            if t.user_attrs.get("source") in ("grid", "search")]


def test_a_killed_search_resumes_without_redoing_finished_trials(workspace: Path, mlflow_store: str) -> None:
    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params["segmenter"] = {**TINY_SEGMENTER.model_dump(), "max_steps": 2}  # quick trainings, still killed mid-way
    params["mix"]["alphas"] = [0.0, 1.0]
    params["search"].update(n_trials=5, n_startup_trials=0, pruner="none", heartbeat_interval=1, grace_period=2)
    Path("params.yaml").write_text(yaml.safe_dump(params))
    command = [sys.executable, "-m", "synthtrust.cli", "search", "--params", "params.yaml"]
    storage = os.environ["OPTUNA_STORAGE"]
    optuna.storages.RDBStorage(storage)  # the schema exists before worker and poller both open the storage
    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while len(_trainings(storage)) < 3 and worker.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert worker.poll() is None, "the search ended before it could be killed: " + worker.stderr.read().decode()[-2000:]
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    before = {t.number: (t.values, t.user_attrs) for t in _trainings(storage)}
    assert 3 <= len(before) < 5
    stamps = {n: Path(a["model_dir"], "model.pt").stat().st_mtime_ns for n, (_, a) in before.items()
              if a.get("trained")}
    time.sleep(2.5)  # past the grace period: the killed trial's heartbeat is stale
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    after = _trainings(storage)
    assert len(after) == 5
    assert {t.number: (t.values, t.user_attrs) for t in after if t.number in before} == before
    for n, stamp in stamps.items():  # finished trials were not trained again
        assert Path(before[n][1]["model_dir"], "model.pt").stat().st_mtime_ns == stamp
    keys = [t.user_attrs["mix_key"] for t in after if t.user_attrs.get("source") in ("grid", "search")]
    assert len(keys) == len(set(keys)), "a mix was trained twice"
    assert json.loads(Path("metrics/search.json").read_text())["trials"]["trainings"] == 5
    import mlflow

    runs = mlflow.MlflowClient(mlflow_store).search_runs(
        [e.experiment_id for e in mlflow.MlflowClient(mlflow_store).search_experiments()])
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"], "a killed trial's run is still RUNNING"
    # the killed worker's runs (the study's parent, and a trial's if one was training) were marked KILLED by the
    # rerun before it resumed the parent
    assert any("synthtrust.reaped_by" in r.data.tags for r in runs) and not list(Path().rglob("*.partial"))


def test_the_storage_is_written_down_without_credentials_or_machine_paths(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from synthtrust.search.study import shown_storage

    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    assert shown_storage(f"sqlite:///{tmp_path.resolve() / 'optuna.db'}") == "sqlite:///optuna.db"
    assert shown_storage("sqlite:////elsewhere/optuna.db") == "sqlite:////elsewhere/optuna.db"
    assert shown_storage("postgresql+psycopg://user:p@ss@db.example:5432/optuna") == \
        "postgresql+psycopg://db.example:5432/optuna"
