"""The ``train_segmenter`` job: train the SwinUNETR bundle on one alpha mix, tracked in MLflow."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlflow

from synthtrust import tracking
from synthtrust.bundles import SEGMENTER, run_bundle
from synthtrust.errors import DataError
from synthtrust.io import atomic_dir
from synthtrust.segmenter.params import SegmenterParams

logger = logging.getLogger(__name__)
EXPERIMENT = "synthtrust-segmenter"


def read_mix(path: str | Path) -> dict:
    """A mix datalist, checked: it has training cases, and every file it names exists."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: mix datalist not found (run: dvc repro mix)")
    mix = json.loads(path.read_text())
    if not mix.get("training"):
        raise DataError(f"{path}: the datalist has no training cases")
    root = tracking.repo_root()
    for item in mix["training"] + mix.get("validation", []):
        if len(item["image"]) != 4:
            raise DataError(f"{path}: case {item['case_id']} has {len(item['image'])} image channels, expected 4 "
                            "(t1, t1ce, t2, flair)")
        for file in [*item["image"], item["label"]]:
            if not (root / file).is_file():
                raise DataError(f"{path}: case {item['case_id']} points at a missing file {file}")
    return mix


def train_segmenter(params: SegmenterParams, mix_path: str | Path, out: str | Path) -> Path:
    """Train on the mix at ``mix_path``; returns the best-validation checkpoint ``out/model.pt``."""
    mix = read_mix(mix_path)
    out = Path(out).resolve()
    tracking.experiment(EXPERIMENT)
    name = tracking.run_name(f"train_segmenter-alpha_{mix['alpha']}")
    with mlflow.start_run(run_name=name), atomic_dir(out) as tmp:  # a failed run leaves no checkpoint behind
        mlflow.log_params({"alpha": mix["alpha"], "mix.mode": mix["mode"], "mix.seed": mix["seed"],
                           "n_real": mix["n_real"], "n_synthetic": mix["n_synthetic"],
                           **tracking.flatten({"segmenter": params.as_dict()})})
        mlflow.set_tags({"stage": "train_segmenter", "git_commit": tracking.git_commit()})
        for path, dataset in (("data/prepared", "brats-prepared"), ("data/synthetic", "brats-synthetic")):
            tracking.log_dataset(path, dataset, context="train")
        seconds = run_bundle(SEGMENTER, ["inference", "train"], {
            "mix_file": str(Path(mix_path).resolve()),
            "data_root": str(tracking.repo_root()),
            "ckpt_dir": str(tmp),
            **params.train_overrides(),
        }, EXPERIMENT, name)
        if not (tmp / "model.pt").is_file():
            raise DataError(f"{out}: training finished without a checkpoint (no validation ran?)")
        mlflow.log_metric("train_seconds", seconds)
        mlflow.log_artifact(str(tmp / "model.pt"), artifact_path="segmenter")
    logger.info("segmenter (alpha=%s) trained in %.0fs: %s", mix["alpha"], seconds, out / "model.pt")
    return out / "model.pt"
