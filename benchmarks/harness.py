"""What every benchmark shares: its command line (``--params``) and a throw-away demo workspace."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from synthtrust.data.phantoms import make_phantoms, phantom_stand_in
from synthtrust.data.prepare import prepare
from synthtrust.params import DataParams

REPO = Path(__file__).resolve().parents[1]


def parse_args(doc: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """``--params`` (default: the repository's params.yaml) plus ``extra`` options; quiet logging."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    return args


@contextlib.contextmanager
def demo_workspace(data: DataParams, n: int | None = None) -> Iterator[Path]:
    """Work inside a temporary directory holding ``data/prepared`` made from ``n`` phantoms (default: the
    params') on the params' grid; restores the cwd and the MLflow environment afterwards."""
    data = phantom_stand_in(data, n)
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
