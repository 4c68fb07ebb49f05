"""A throw-away demo workspace for benchmarks: temporary directory, its own MLflow store, prepared phantoms."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from synthtrust.data.phantoms import make_phantoms
from synthtrust.data.prepare import DataParams, prepare


@contextlib.contextmanager
def demo_workspace(data: DataParams) -> Iterator[Path]:
    """Work inside a temporary directory holding ``data/prepared`` made from phantoms; restores the cwd
    and the MLflow environment afterwards."""
    previous_uri = os.environ.get("MLFLOW_TRACKING_URI")
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlruns.db'}"
        os.chdir(work)
        try:
            make_phantoms("data/raw/phantom", data.phantom, progress=False)
            prepare(data, "data/prepared", progress=False)
            yield work
        finally:
            os.chdir(cwd)
            if previous_uri is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = previous_uri
