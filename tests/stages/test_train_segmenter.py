"""Training the segmenter on a mix for real (a few steps), and the checks on a mix datalist."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch

from synthtrust.errors import DataError
from synthtrust.mixing import make_mix
from synthtrust.params import replace
from synthtrust.segmenter import EXPERIMENT
from synthtrust.segmenter.training import read_mix, read_validation
from synthtrust.stages.train_segmenter import run as train_segmenter
from tests.conftest import DEMO, demo

TINY = demo("segmenter", patch_size=[64, 64, 32], roi_size=[64, 64, 32], num_samples=1, max_steps=2,
            steps_per_epoch=1, val_interval=1, seeds=[0])


def _weights(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, weights_only=True)
    return state.get("model", state)


@pytest.fixture
def mix_file(prepared_64: Path, tmp_path: Path) -> Path:
    """The alpha = 0 mix of the 64 x 64 x 32 phantoms, with absolute paths."""
    mix = make_mix(0.0, DEMO.mix, prepared_64 / "manifest.json", tmp_path / "synthetic", root=tmp_path)
    path = tmp_path / "alpha_0.0.json"
    path.write_text(json.dumps(mix))
    return path


def test_training_tracks_regional_validation_dice_once_per_seed(mix_file: Path, tmp_path: Path,
                                                                mlflow_store: str) -> None:
    model = train_segmenter(replace(TINY, seeds=[3, 1]), mix_file, tmp_path / "seg")
    assert model == tmp_path / "seg" / "model.pt" and model.is_file()
    replicate = tmp_path / "seg" / "seed_1" / "model.pt"  # the second seed, a replicate beside the model of record
    first, second = _weights(model), _weights(replicate)
    assert any(not torch.equal(first[k], second[k]) for k in first)  # another seed, another model
    client = mlflow.MlflowClient(mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id], order_by=["start_time"])
    assert [r.data.params["seed"] for r in runs] == ["3", "1"]  # one run per seed, the model of record's first
    assert "seed_" not in runs[0].info.run_name and runs[1].info.run_name.startswith("train_segmenter-alpha_0.0-seed_1")
    run = runs[0]
    assert run.data.params["alpha"] == "0.0" and run.data.params["n_synthetic"] == "0"
    for region in ("tc", "wt", "et"):
        history = client.get_metric_history(run.info.run_id, f"val_dice_{region}")
        assert [m.step for m in history] == [1, 2]  # one validation per epoch
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "segmenter")]
    assert artifacts == ["segmenter/model.pt", "segmenter/validation.json"]
    validation = read_validation(tmp_path / "seg")
    assert [r["epoch"] for r in validation["history"]] == [1, 2]
    best = next(r for r in validation["history"] if r["epoch"] == validation["best_epoch"])
    assert best["val_mean_dice"] == max(r["val_mean_dice"] for r in validation["history"])
    assert validation["dice"] == {"TC": best["val_dice_tc"], "WT": best["val_dice_wt"], "ET": best["val_dice_et"]}
    assert run.data.metrics["best_val_dice_WT"] == pytest.approx(validation["dice"]["WT"])


def _rewrite(mix_file: Path, change) -> Path:
    mix = json.loads(mix_file.read_text())
    change(mix)
    mix_file.write_text(json.dumps(mix))
    return mix_file


def test_bad_mixes_are_named(mix_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="mix datalist not found"):
        read_mix(tmp_path / "nope.json")
    first = json.loads(mix_file.read_text())["training"][0]["case_id"]
    _rewrite(mix_file, lambda m: m["training"][0]["image"].pop())
    with pytest.raises(DataError, match=f"case {first} has 3 image channels, expected 4"):
        read_mix(mix_file)
    _rewrite(mix_file, lambda m: m["training"][0]["image"].append("/no/such/t2.nii.gz"))
    with pytest.raises(DataError, match="points at a missing file /no/such/t2.nii.gz"):
        read_mix(mix_file)
    _rewrite(mix_file, lambda m: m["training"][0].pop("label"))
    with pytest.raises(DataError, match="every case needs case_id, image \\(four paths\\) and label"):
        read_mix(mix_file)
    _rewrite(mix_file, lambda m: m.pop("alpha"))
    with pytest.raises(DataError, match="no 'alpha': not a mix written by synthtrust mix"):
        read_mix(mix_file)
    text = mix_file.read_text()
    mix_file.write_text(text[: len(text) // 2])  # truncated
    with pytest.raises(DataError, match=f"{mix_file}: not a JSON mix datalist"):
        read_mix(mix_file)
    mix_file.write_text(text)
    _rewrite(mix_file, lambda m: m.update(training=[]))
    with pytest.raises(DataError, match="no training cases"):
        train_segmenter(TINY, mix_file, tmp_path / "seg")
    assert not (tmp_path / "seg").exists()


def test_a_failed_training_leaves_no_checkpoint(mix_file: Path, tmp_path: Path, mlflow_store: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(name, configs, overrides, experiment, run, attach=None):
        Path(overrides["ckpt_dir"], "model.pt").write_bytes(b"best so far")
        raise RuntimeError("killed during epoch 3")

    monkeypatch.setattr("synthtrust.bundles.run", crash)
    with pytest.raises(RuntimeError, match="killed"):
        train_segmenter(TINY, mix_file, tmp_path / "models" / "seg")
    assert list((tmp_path / "models").iterdir()) == []
    client = mlflow.MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert run.info.status == "FAILED"


def test_a_killed_training_leaves_nothing_and_the_rerun_equals_an_uninterrupted_one(
        trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import write_tiny_params

    root = tmp_path / "ws"
    shutil.copytree(trained_workspace, root, ignore=shutil.ignore_patterns("*.db", "mlruns"))
    monkeypatch.chdir(root)
    write_tiny_params(root / "params.yaml")
    store = f"sqlite:///{root / 'mlruns.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    command = [str(Path(sys.executable).with_name("synthtrust")), "train-segmenter", "0.0",
               "--out", "models/segmenter/again"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    # the training's own partial folder (inside the stage's, once its MLflow run is open)
    while not list(Path("models/segmenter").glob("..again.*.partial")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(3)  # into the training
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(Path("models/segmenter").glob(".again.*.partial")) and not Path("models/segmenter/again").exists()
    client = mlflow.MlflowClient(store)
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    assert [r.info.status for r in client.search_runs([experiment.experiment_id])] == ["RUNNING"]

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not list(Path("models/segmenter").glob("*again.*")), "the killed run's partial output is still there"
    statuses = sorted(r.info.status for r in client.search_runs([experiment.experiment_id]))
    assert statuses == ["FINISHED", "KILLED"]
    again = json.loads(Path("models/segmenter/again/validation.json").read_text())
    uninterrupted = json.loads(Path("models/segmenter/alpha_0.0/validation.json").read_text())
    assert again["best_epoch"] == uninterrupted["best_epoch"]
    for region, value in uninterrupted["dice"].items():
        assert again["dice"][region] == pytest.approx(value, abs=1e-5)
    # same machine, same seed: the same weights to the bit (docs/reproducibility.md)
    ours, reference = _weights("models/segmenter/again/model.pt"), _weights("models/segmenter/alpha_0.0/model.pt")
    assert ours.keys() == reference.keys() and all(torch.equal(ours[k], reference[k]) for k in ours)
