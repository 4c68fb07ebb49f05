"""Stage ``train_segmenter``: train the SwinUNETR bundle on the mix of one alpha, tracked in MLflow."""

from __future__ import annotations

import logging
from pathlib import Path

from synthtrust import tracking
from synthtrust.params import SegmenterParams
from synthtrust.segmenter import EXPERIMENT
from synthtrust.segmenter.training import TRAINING_DATASETS, fit, read_mix, training_params

logger = logging.getLogger(__name__)


def run(params: SegmenterParams, mix_path: str | Path, out: str | Path) -> Path:
    """Train on the mix at ``mix_path``; returns the best-validation checkpoint ``out/model.pt``."""
    mix = read_mix(mix_path)
    with tracking.stage_run("train_segmenter", EXPERIMENT, f"train_segmenter-alpha_{mix['alpha']}",
                            params=training_params(mix, params), datasets=TRAINING_DATASETS) as active:
        validation = fit(params, mix_path, out, EXPERIMENT, active.info.run_name)
    logger.info("segmenter (alpha=%s) trained in %.0fs, best validation Dice %s (epoch %d): %s", mix["alpha"],
                validation["train_seconds"], validation["dice"], validation["best_epoch"], Path(out) / "model.pt")
    return Path(out).resolve() / "model.pt"
