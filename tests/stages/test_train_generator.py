"""Training the generator for real (tiny network, few steps): outputs, MLflow tracking, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import torch
import yaml

from synthtrust.generator import EXPERIMENT
from synthtrust.params import GeneratorParams
from synthtrust.stages.train_generator import run as train_generator
from tests.conftest import DEMO


def tiny(**train: object) -> GeneratorParams:
    """A tiny generator (8-16 channels, 100 timesteps, 16^3 patches, 20 steps) with ``train`` changes."""
    return GeneratorParams.model_validate({"sample": DEMO.generator.sample.model_dump(), "train": {
        **DEMO.generator.train.model_dump(), "channels": [8, 16, 16], "attention_levels": [False] * 3,
        "num_train_timesteps": 100, "patch_size": [16, 16, 16], "batch_size": 2, "max_steps": 20,
        "steps_per_epoch": 10, **train}})

TINY = tiny()


def _runs(uri: str) -> list:
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def test_training_writes_weights_and_tracks_the_run(prepared_dir: Path, tmp_path: Path, mlflow_store: str) -> None:
    model = train_generator(TINY, prepared_dir / "manifest.json", tmp_path / "gen")
    names = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert names == ["checkpoint.pt", "fingerprint.json", "model.pt"]
    state = torch.load(model, weights_only=True)
    assert any(k.startswith("conv_in") for k in state)
    (run,) = _runs(mlflow_store)
    assert run.info.status == "FINISHED"
    assert run.data.params["generator.train.max_steps"] == "20"
    assert run.data.tags["stage"] == "train_generator" and run.data.tags["git_commit"]
    history = mlflow.MlflowClient(mlflow_store).get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == [10, 20]  # every log_every=10 iterations
    artifacts = [a.path for a in mlflow.MlflowClient(mlflow_store).list_artifacts(run.info.run_id, "generator")]
    assert artifacts == ["generator/model.pt"]
    assert run.inputs.dataset_inputs[0].dataset.name == "brats-prepared"

    # a finished run is never continued: running again (DVC forced it, or code changed) trains anew
    train_generator(tiny(learning_rate=1e-3),
                    prepared_dir / "manifest.json", tmp_path / "gen")
    assert _runs(mlflow_store)[-1].data.tags["resumed_from"] == ""
    state = torch.load(tmp_path / "gen" / "checkpoint.pt", weights_only=True)["trainer"]
    assert (state["iteration"], state["epoch_length"]) == (20, 10)


@pytest.mark.slow
def test_a_killed_training_resumes_where_it_stopped(prepared_dir: Path, tmp_path: Path, mlflow_store: str) -> None:
    params = tiny(max_steps=200, steps_per_epoch=2)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({**DEMO.model_dump(), "generator": params.model_dump()}))
    out = tmp_path / "gen"
    script = Path(sys.executable).with_name("synthtrust")
    proc = subprocess.Popen([str(script), "train-generator", "--params", str(params_file),
                             "--manifest", str(prepared_dir / "manifest.json"), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.time() + 120
    while not list(out.glob("checkpoint_epoch=*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(1.0)  # a few epochs later: at least one checkpoint is complete, the newest may be torn
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before it could be interrupted"
    assert not (out / "model.pt").exists()
    train_generator(params, prepared_dir / "manifest.json", out)
    resumed = _runs(mlflow_store)[-1].data.tags["resumed_from"]
    assert "checkpoint_epoch=" in resumed
    assert torch.load(out / "checkpoint.pt", weights_only=True)["trainer"]["iteration"] == 200
