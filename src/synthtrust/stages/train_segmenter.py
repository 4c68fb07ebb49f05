"""Stage ``train_segmenter``: train the SwinUNETR bundle on the mix of one alpha, once per seed of
``segmenter.seeds``, each training its own MLflow run.

The first seed's model is the alpha's model of record (``<out>/model.pt``); every further seed is a replicate
in ``<out>/seed_<seed>/``. The folder is replaced only when every replicate has trained.
"""

from __future__ import annotations

import logging
from pathlib import Path

from synthtrust import tracking
from synthtrust.io import atomic_dir, claim_output
from synthtrust.params import SegmenterParams
from synthtrust.segmenter import EXPERIMENT
from synthtrust.segmenter.training import (
    TRAINING_DATASETS,
    VALIDATION_FILE,
    fit,
    read_mix,
    replicate_dir,
    training_params,
)

logger = logging.getLogger(__name__)


def run(params: SegmenterParams, mix_path: str | Path, out: str | Path) -> Path:
    """Train on the mix at ``mix_path`` once per seed; returns the model of record's checkpoint
    ``out/model.pt`` (the best-validation checkpoint of the first seed)."""
    mix = read_mix(mix_path)
    out = claim_output(Path(out).resolve(), VALIDATION_FILE, "train-segmenter")
    with atomic_dir(out) as staging:
        for i, seed in enumerate(params.seeds):
            where = staging if i == 0 else replicate_dir(staging, seed)
            name = f"train_segmenter-alpha_{mix['alpha']}" + ("" if i == 0 else f"-seed_{seed}")
            with tracking.stage_run("train_segmenter", EXPERIMENT, name, params=training_params(mix, params, seed),
                                    datasets=TRAINING_DATASETS) as active:
                validation = fit(params, mix_path, where, EXPERIMENT, active.info.run_name, seed=seed)
            logger.info("segmenter (alpha=%s, seed %d of %s) trained in %.0fs, best validation Dice %s (epoch %d)",
                        mix["alpha"], seed, params.seeds, validation["train_seconds"], validation["dice"],
                        validation["best_epoch"])
    return out / "model.pt"
