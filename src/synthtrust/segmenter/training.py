"""Training the SwinUNETR bundle on a mix: what the ``train_segmenter`` and ``search`` stages share.

The bundle's CheckpointSaver keeps the checkpoint of the best validation mean Dice (real validation
split); :class:`ValidationHistory` records every validation round beside it, so the regional Dice of the
saved model (``validation.json``) is known without re-scoring.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
from ignite.engine import Engine, Events
from monai.bundle import ConfigParser

from synthtrust import bundles, tracking
from synthtrust.data.brats import REGION_NAMES
from synthtrust.errors import DataError
from synthtrust.io import atomic_dir, atomic_write_json, claim_output
from synthtrust.params import SegmenterParams

logger = logging.getLogger(__name__)
REGION_METRICS = {r: f"val_dice_{r.lower()}" for r in REGION_NAMES}  # the bundle's metric names
KEY_METRIC = "val_mean_dice"  # what the bundle's CheckpointSaver keeps the best of
VALIDATION_FILE = "validation.json"


def read_mix(path: str | Path) -> dict:
    """A mix datalist, checked: it has training cases, and every file it names exists."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: mix datalist not found (run: dvc repro mix)")
    try:
        mix = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a JSON mix datalist ({exc})") from None
    if not isinstance(mix, dict) or not mix.get("training"):
        raise DataError(f"{path}: the datalist has no training cases")
    for key in ("alpha", "mode", "seed", "n_real", "n_synthetic"):
        if key not in mix:
            raise DataError(f"{path}: no {key!r}: not a mix written by synthtrust mix")
    root = tracking.repo_root()
    for item in mix["training"] + mix.get("validation", []):
        if not isinstance(item, dict) or not {"case_id", "image", "label"} <= item.keys() \
                or not isinstance(item["image"], list):
            raise DataError(f"{path}: every case needs case_id, image (four paths) and label; got {str(item)[:80]}")
        if len(item["image"]) != 4:
            raise DataError(f"{path}: case {item['case_id']} has {len(item['image'])} image channels, expected 4 "
                            "(t1, t1ce, t2, flair)")
        for file in [*item["image"], item["label"]]:
            if not (root / file).is_file():
                raise DataError(f"{path}: case {item['case_id']} points at a missing file {file}")
    return mix


def _finite(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


class ValidationHistory:
    """Every validation round's metrics (trainer epoch, the bundle's ``val_*`` metrics); a MONAI-style
    handler for the bundle's evaluator, attached after its metric handlers so they have run."""

    def __init__(self) -> None:
        self.rounds: list[dict[str, Any]] = []

    def attach(self, evaluator: Engine) -> None:
        evaluator.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, evaluator: Engine) -> None:
        # the bundle's ValidationHandler runs the evaluator with the trainer's epoch as its own
        self.rounds.append({"epoch": evaluator.state.epoch,
                            **{k: _finite(v) for k, v in evaluator.state.metrics.items()}})

    def summary(self) -> dict[str, Any]:
        """The round the checkpoint comes from (first best ``val_mean_dice``) and its regional Dice."""
        if not self.rounds:
            raise DataError("training finished without a validation round (segmenter.val_interval too large?)")
        best = max(self.rounds, key=lambda r: (r.get(KEY_METRIC) or 0.0, -r["epoch"]))
        dice = {region: best.get(name) for region, name in REGION_METRICS.items()}
        known = [v for v in dice.values() if v is not None]
        return {"best_epoch": best["epoch"], "dice": dice,
                "mean_dice": sum(known) / len(dice) if known else 0.0, "history": self.rounds}


TRAINING_DATASETS = {"brats-prepared": "train", "brats-synthetic": "train"}


def training_params(mix: dict[str, Any], params: SegmenterParams, seed: int | None = None) -> dict[str, Any]:
    """What a training run logs as MLflow params: the mix, the segmenter section and the training's seed."""
    return {"alpha": mix["alpha"], "mix.mode": mix["mode"], "mix.seed": mix["seed"], "n_real": mix["n_real"],
            "n_synthetic": mix["n_synthetic"], "segmenter": params.model_dump(),
            "seed": params.seeds[0] if seed is None else seed}


def replicate_dir(model_dir: str | Path, seed: int) -> Path:
    """Where the replicate of seed ``seed`` lives inside an alpha's model folder (the first seed's model is the
    folder's own ``model.pt``)."""
    return Path(model_dir) / f"seed_{seed}"


def replicate_checkpoints(params: SegmenterParams, model: str | Path) -> dict[int, Path]:
    """Seed -> checkpoint of every replicate of the model at ``model`` (``<alpha folder>/model.pt``)."""
    model = Path(model)
    return {seed: model if i == 0 else replicate_dir(model.parent, seed) / model.name
            for i, seed in enumerate(params.seeds)}


def fit(params: SegmenterParams, mix_path: str | Path, out: str | Path, experiment: str, run: str,
        attach: Callable[[ConfigParser], None] | None = None, seed: int | None = None) -> dict[str, Any]:
    """Train on the mix inside the active MLflow run (named ``run`` in ``experiment``) with ``seed`` (default:
    the first of ``params.seeds``); writes ``out/model.pt`` and ``out/validation.json`` atomically and returns
    the validation summary.

    ``attach(parser)`` may add handlers to the parsed engines (the search's pruning does).
    """
    out = claim_output(Path(out).resolve(), VALIDATION_FILE, "train-segmenter")
    history = ValidationHistory()

    def attach_all(parser: ConfigParser) -> None:
        history.attach(parser.get_parsed_content("validate#evaluator"))
        if attach is not None:
            attach(parser)

    with atomic_dir(out) as tmp:  # a failed run leaves no checkpoint behind
        seconds = bundles.run(bundles.SEGMENTER, ["inference", "train"], {
            "mix_file": str(Path(mix_path).resolve()),
            "data_root": str(tracking.repo_root()),
            "ckpt_dir": str(tmp),
            **params.bundle_overrides(),
            **({} if seed is None else {"seed": seed}),
        }, experiment, run, attach=attach_all)
        if not (tmp / "model.pt").is_file():
            raise DataError(f"{out}: training finished without a checkpoint (no validation ran?)")
        validation = {**history.summary(), "train_seconds": round(seconds, 1)}
        atomic_write_json(tmp / VALIDATION_FILE, validation)
        mlflow.log_metric("train_seconds", seconds)
        mlflow.log_metrics({f"best_val_dice_{r}": v for r, v in validation["dice"].items() if v is not None})
        mlflow.log_artifacts(str(tmp), artifact_path="segmenter")
    return validation


def read_validation(model_dir: str | Path) -> dict[str, Any]:
    """The ``validation.json`` a training wrote beside its checkpoint."""
    path = Path(model_dir) / VALIDATION_FILE
    if not path.is_file():
        raise DataError(f"{path}: no validation summary beside the checkpoint (re-run: dvc repro train_segmenter)")
    return json.loads(path.read_text())
