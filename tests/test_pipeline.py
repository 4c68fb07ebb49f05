"""`dvc repro` for real, in a temporary git repository holding a copy of this working tree, with every stage
shrunk to seconds: the whole pipeline as a fresh clone runs it, ending with a challenger in its own
embedded MLflow store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _env(**changes: str) -> dict[str, str]:
    """This environment, with the venv's commands first and no MLflow URI (the clone uses its own store)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", **changes}


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree's tracked and untracked-but-not-ignored files, committed in a fresh repository."""
    dest = tmp_path_factory.mktemp("clone") / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["data"]["phantom"].update(n=6, size=32)
    params["data"]["spatial_size"] = [64, 64, 32]
    params["generator"]["train"].update(channels=[8, 16, 16], attention_levels=[False] * 3, num_train_timesteps=100,
                                        batch_size=1, max_steps=2, steps_per_epoch=1)
    params["generator"]["sample"].update(num_inference_steps=2)
    params["mix"]["alphas"] = [0.0, 1.0]
    # one seed: replicates are trained and scored for real in tests/stages (train_segmenter, evaluate); here a
    # second one would only add minutes to the suite's time budget
    params["segmenter"].update(patch_size=[64, 64, 32], roi_size=[64, 64, 32], num_samples=1, max_steps=2,
                               steps_per_epoch=1, val_interval=1, seeds=[0])
    params["search"].update(n_trials=3, n_startup_trials=0)
    params["reader_study"].update(cases=4)  # 6 phantoms: 5 training and test cases to draw from
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        _run(args, dest)
    return dest


def test_dvc_repro_prepare_then_nothing_to_do(repo_copy: Path) -> None:
    dvc = [sys.executable, "-m", "dvc"]
    first = _run([*dvc, "repro", "prepare"], repo_copy)
    assert "Running stage 'make_phantoms'" in first.stdout and "Running stage 'prepare'" in first.stdout
    manifest = repo_copy / "data" / "prepared" / "manifest.json"
    assert manifest.is_file()
    assert (repo_copy / "metrics" / "data.json").is_file()
    second = _run([*dvc, "repro", "prepare"], repo_copy)
    assert "Running stage" not in second.stdout
    status = _run([*dvc, "status", "prepare"], repo_copy)
    assert "up to date" in status.stdout
    shown = json.loads(_run([*dvc, "metrics", "show", "--json"], repo_copy).stdout)
    assert shown[""]["data"]["metrics/data.json"]["data"]["cases"] == {"train": 4, "val": 1, "test": 1}


def test_dvc_repro_runs_the_whole_pipeline_and_registers_a_challenger(repo_copy: Path) -> None:
    dvc = [sys.executable, "-m", "dvc"]
    _run([*dvc, "repro"], repo_copy)
    assert "up to date" in _run([*dvc, "status"], repo_copy).stdout
    assert "Running stage" not in _run([*dvc, "repro"], repo_copy).stdout
    search = json.loads((repo_copy / "metrics" / "search.json").read_text())
    assert search["trials"]["trainings"] == 3 and search["trials"]["from_grid"] == 2
    assert search["storage"] == "sqlite:///optuna.db"  # no path of the machine it ran on
    registered = json.loads((repo_copy / "metrics" / "register.json").read_text())
    import mlflow

    store = f"sqlite:///{repo_copy / 'mlruns.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)
    version = client.get_model_version_by_alias("brats-swinunetr", "challenger")
    assert str(version.version) == str(registered["version"])
    assert float(version.tags["alpha"]) == pytest.approx(search["best"]["alpha"])
    assert (repo_copy / "mlruns").is_dir() and (repo_copy / "optuna.db").is_file()
    exported = repo_copy / "models" / "deploy" / "brats_swinunetr"  # the `export` stage: the challenger, deployable
    metadata = json.loads((exported / "configs" / "metadata.json").read_text())
    assert metadata["synthtrust"]["version"] == int(version.version)
    assert (exported / "models" / "model.ts").is_file()
    # the scorecard is bound to this version in this store, and the gate reads it as such
    card = json.loads((repo_copy / "reports" / "trust" / "scorecard.json").read_text())
    assert card["model"]["run_id"] == version.run_id and card["model"]["store"] == "sqlite:///mlruns.db"
    assert card["model"]["checkpoint_sha256"] == version.tags["checkpoint_sha256"]
    promoted = subprocess.run(["synthtrust", "promote", "--reason", "pipeline test"], cwd=repo_copy, env=_env(),
                              capture_output=True, text=True)
    if card["passed"]:
        assert promoted.returncode == 0, promoted.stderr[-2000:]
    else:
        assert promoted.returncode == 1 and "trust scorecard reports/trust/scorecard.json fails" in promoted.stderr


def test_a_fresh_clone_pulls_every_output_from_a_remote_and_reproduces_nothing(
        repo_copy: Path, tmp_path: Path, s3_server: str) -> None:
    """After the whole pipeline ran: push to the default remote and to an S3 remote (a real S3-speaking server
    on loopback); a fresh clone pulls from either and its `dvc repro` has nothing to do."""
    dvc = [sys.executable, "-m", "dvc"]
    home = {"HOME": str(tmp_path / "home")}  # the default remote is ~/.cache/synthtrust/dvc-remote
    _run([*dvc, "remote", "add", "s3", "s3://synthtrust/dvc"], repo_copy)
    _run([*dvc, "remote", "modify", "s3", "endpointurl", s3_server], repo_copy)
    for args in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ran"]):
        _run(args, repo_copy)
    pushed = _run([*dvc, "push"], repo_copy, **home).stdout
    assert "pushed" in pushed
    _run([*dvc, "push", "-r", "s3"], repo_copy)
    def outputs(root: Path) -> dict[Path, int]:  # the stage outputs under data/ and models/ (not git's files)
        tracked = set(_run(["git", "ls-files"], root).stdout.split())
        return {p.relative_to(root): p.stat().st_size for top in ("data", "models") for p in (root / top).rglob("*")
                if p.is_file() and str(p.relative_to(root)) not in tracked}

    produced = outputs(repo_copy)
    assert len(produced) > 50
    for remote in ("default", "s3"):
        clone = tmp_path / f"clone-{remote}"
        _run(["git", "clone", "-q", str(repo_copy), str(clone)], tmp_path)
        assert not outputs(clone)
        _run([*dvc, "pull", *(["-r", "s3"] if remote == "s3" else [])], clone, **home)
        assert outputs(clone) == produced, remote
        assert "up to date" in _run([*dvc, "status"], clone).stdout, remote
        assert "Running stage" not in _run([*dvc, "repro"], clone, **home).stdout, remote


def test_a_killed_dvc_repro_stops_its_stage_and_the_rerun_ends_the_same(repo_copy: Path) -> None:
    import signal
    import time

    import mlflow
    import psutil

    dvc = [sys.executable, "-m", "dvc"]
    _run([*dvc, "repro", "evaluate@0.0"], repo_copy)  # everything up to it, uninterrupted
    before = json.loads((repo_copy / "metrics/segmenter/alpha_0.0.json").read_text())
    proc = subprocess.Popen([*dvc, "repro", "-f", "-s", "train_segmenter@0.0"], cwd=repo_copy, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    models = repo_copy / "models" / "segmenter"
    deadline = time.time() + 300
    while not list(models.glob(".alpha_0.0.*.partial")) and time.time() < deadline:
        time.sleep(0.1)
    stage = [c for c in psutil.Process(proc.pid).children(recursive=True) if "train-segmenter" in " ".join(c.cmdline())]
    assert stage, "the stage did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(stage, timeout=60)
    assert not alive, "the stage kept running after dvc was killed"
    assert not list(models.glob(".alpha_0.0.*")), "the killed stage left its partial output"
    _run([*dvc, "repro", "evaluate@0.0"], repo_copy)
    after = json.loads((repo_copy / "metrics/segmenter/alpha_0.0.json").read_text())
    from synthtrust.tracking import flatten

    flat_after, flat_before = flatten(after), flatten(before)
    assert flat_after.keys() == flat_before.keys()
    for key, value in flat_before.items():  # same seeds, same figures (within floating-point tolerance)
        assert flat_after[key] == (pytest.approx(value, abs=1e-4) if isinstance(value, float) else value), key
    store = f"sqlite:///{repo_copy / 'mlruns.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]
