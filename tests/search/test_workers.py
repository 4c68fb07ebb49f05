"""Search workers sharing one study in a real PostgreSQL on loopback, as on several machines: each worker runs
`synthtrust search` in its own copy of the workspace, against the same Optuna storage and MLflow store."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from tests.conftest import REPO, TINY_SEGMENTER

pytestmark = pytest.mark.slow
BUDGET = 5  # trainings: the 2 grid models and 3 searched mixes, every mix 4 training cases can make


def _workspace(trained_workspace: Path, dest: Path) -> Path:
    shutil.copytree(trained_workspace, dest)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["segmenter"] = {**TINY_SEGMENTER.model_dump(), "max_steps": 2}  # two validations per training
    params["mix"]["alphas"] = [0.0, 1.0]
    params["search"].update(n_trials=BUDGET, n_startup_trials=0, pruner="none", heartbeat_interval=1,
                            grace_period=3)
    (dest / "params.yaml").write_text(yaml.safe_dump(params))
    return dest


def _study(storage: str) -> optuna.Study | None:
    names = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=names[0], storage=storage) if names else None


def test_two_workers_split_the_budget_and_rerun_a_killed_workers_trial(
        trained_workspace: Path, tmp_path: Path, postgres_database: str, postgres: str) -> None:
    storage, store = postgres_database, postgres_database.replace("/test_", "/mlflow_test_")
    from sqlalchemy import create_engine, text

    with create_engine(f"{postgres}/postgres", isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{store.rsplit("/", 1)[1]}"'))
    mlflow.MlflowClient(store).search_experiments()  # MLflow's schema, made once before the workers start
    env = {**os.environ, "OPTUNA_STORAGE": storage, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store}
    command = [sys.executable, "-m", "synthtrust.cli", "search", "--params", "params.yaml"]
    workers = [subprocess.Popen(command, cwd=_workspace(trained_workspace, tmp_path / name), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
               for name in ("a", "b")]  # together: the storage's tables and the grid trials are made once
    a, b = workers
    victim = f"{socket.gethostname()}:{a.pid}"
    deadline, killed = time.time() + 600, None
    while killed is None and time.time() < deadline and a.poll() is None:
        study = _study(storage)
        running = [t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.user_attrs.get("run_id")
                   and t.user_attrs.get("worker") == victim] if study else []
        if running:
            time.sleep(2)  # into its training
            os.killpg(a.pid, signal.SIGKILL)
            killed = running[0].number
        time.sleep(0.5)
    assert killed is not None, f"worker a never trained: {a.stderr.read()[-3000:] if a.poll() is not None else ''}"
    a.wait()
    _, err = b.communicate(timeout=900)
    assert b.returncode == 0, err[-3000:]

    study = _study(storage)
    trials = study.get_trials()
    trained = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               and t.user_attrs.get("source") in ("grid", "search")]
    keys = [t.user_attrs["mix_key"] for t in trained]
    assert len(trained) == BUDGET, f"{len(trained)} trainings for a budget of {BUDGET}"
    assert len(keys) == len(set(keys)), f"a mix was trained twice: {keys}"
    assert sum(t.user_attrs.get("source") == "grid" for t in trials) == 2  # entered once, not once per worker
    dead = trials[killed]
    assert dead.state == TrialState.FAIL  # failed by heartbeat
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.params == dead.params and retry.state == TrialState.COMPLETE
    assert retry.user_attrs["worker"] != victim and retry.user_attrs["mix_key"] == dead.user_attrs["mix_key"]
    workers_trained = {t.user_attrs["worker"] for t in trained if t.user_attrs.get("source") == "search"}
    assert len(workers_trained) == 1  # b trained every finished search trial; a's only trial died
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    logging.getLogger(__name__).info("trials (number, state, source, mix, worker): %s", [
        (t.number, t.state.name, t.user_attrs.get("source"), t.user_attrs.get("mix_key"), t.user_attrs.get("worker"))
        for t in trials])

    client = mlflow.MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    (parent,) = [r for r in runs if r.data.tags.get("role") == "parent"]
    children = {r.info.run_id: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    for t in [*[t for t in trained if t.user_attrs.get("source") == "search"], dead]:
        assert t.user_attrs["run_id"] in children, f"trial {t.number} has no child run under the study's parent"
        assert children[t.user_attrs["run_id"]].data.tags["optuna.trial"] == str(t.number)
    assert len(children) == BUDGET - 2 + 1  # one per training started: the three searched mixes and the dead one
    assert children[dead.user_attrs["run_id"]].info.status == "KILLED"  # reaped by b, the same host
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
