"""`dvc repro` for real, in a temporary git repository holding a copy of this working tree."""

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


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
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
    params["data"]["spatial_size"] = [32, 32, 32]
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
