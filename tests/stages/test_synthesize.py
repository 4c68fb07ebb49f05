"""Stage ``synthesize`` under SIGKILL: the rerun finishes the dataset, identical to an uninterrupted run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import yaml

from synthtrust.generator.synthesis import PROVENANCE_SUFFIX
from synthtrust.io import sha256_file
from tests.conftest import DEMO, tiny_generator

pytestmark = pytest.mark.slow


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*.nii.gz"))}


def test_a_killed_synthesis_resumes_to_the_same_dataset(prepared_dir: Path, generator_checkpoint: Path,
                                                       tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / ".dvc").mkdir(parents=True)
    shutil.copytree(prepared_dir, root / "data" / "prepared")
    (root / "models" / "generator").mkdir(parents=True)
    shutil.copy(generator_checkpoint, root / "models" / "generator" / "model.pt")
    params = tiny_generator(num_inference_steps=6)  # a case takes a second or two: killed after the 2nd case
    (root / "params.yaml").write_text(yaml.safe_dump({**DEMO.model_dump(), "generator": params.model_dump()}))
    store = f"sqlite:///{root / 'mlruns.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    script = str(Path(sys.executable).with_name("synthtrust"))

    def synthesize(out: str) -> list[str]:
        return [script, "synthesize", "--out", out, "--metrics", f"{out}.json", "--figure", f"{out}.png"]

    proc = subprocess.Popen(synthesize("data/synthetic"), cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    train = root / "data" / "synthetic" / "train"
    deadline = time.time() + 300
    while len(list(train.glob(f"*/*{PROVENANCE_SUFFIX}"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "synthesis ended before it could be killed: " + proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(train.glob(f"*/*{PROVENANCE_SUFFIX}")))
    assert 2 <= done < 4, done

    for out in ("data/synthetic", "data/reference"):  # the rerun, and an uninterrupted run
        result = subprocess.run(synthesize(out), cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    assert _files(root / "data" / "synthetic") == _files(root / "data" / "reference")
    assert not list(root.rglob("*.partial")) and not list(root.rglob(".*.old-*"))
    client = mlflow.MlflowClient(store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED", "KILLED"]
