"""Running a bundle the way the model zoo documents it: ``python -m monai.bundle run`` from its folder, in a
process where ``import synthtrust`` fails (the bundles must run where only MONAI is installed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def without_synthtrust(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose ``synthtrust`` package refuses to import; first on PYTHONPATH, it hides the real one."""
    root = tmp_path_factory.mktemp("no-synthtrust")
    (root / "synthtrust").mkdir()
    (root / "synthtrust" / "__init__.py").write_text(
        'raise ImportError("a bundle imported synthtrust: bundles must run with MONAI alone")\n')
    return root


def bundle_run(bundle: Path, configs: list[str], blocker: Path, tmp_path: Path, launcher: list[str] | None = None,
               **overrides: object) -> subprocess.CompletedProcess:
    """``python -m monai.bundle run`` of ``configs`` in ``bundle``'s folder, ``overrides`` as flags; ``launcher``
    replaces ``python -m`` (``torchrun ... -m``). Tracks into ``tmp_path/mlruns.db``."""
    cmd = [*(launcher or [sys.executable, "-m"]), "monai.bundle", "run", "--config_file",
           json.dumps([f"configs/{c}.yaml" for c in configs])]
    for key, value in overrides.items():
        cmd += [f"--{key}", value if isinstance(value, str) else repr(value).replace(" ", "")]  # fire parses literals
    env = {**os.environ, "PYTHONPATH": str(blocker), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}"}
    result = subprocess.run(cmd, cwd=bundle, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "synthtrust" not in result.stderr.replace("synthtrust-", "")  # not even a warning about it
    return result
