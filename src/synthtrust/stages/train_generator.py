"""Stage ``train_generator``: train the diffusion bundle on the training split, tracked in MLflow.

Resumable: the output directory keeps the latest full checkpoint and a fingerprint of the parameters,
training files and code; an interrupted run with the same fingerprint continues from its checkpoint,
anything else starts afresh.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import mlflow
import torch

from synthtrust import bundles, tracking
from synthtrust.data.datalist import read_manifest
from synthtrust.generator import EXPERIMENT
from synthtrust.io import atomic_write_json, claim_output
from synthtrust.params import GeneratorParams

logger = logging.getLogger(__name__)
FINGERPRINT = "fingerprint.json"


def fingerprint(params: GeneratorParams, manifest: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint depends on: training params, the training split's files, the bundle's configs
    and the generator code."""
    train = {cid: manifest["cases"][cid]["files"] for cid in manifest["splits"]["train"]}
    return json.loads(json.dumps({"train_params": params.train.model_dump(), "train_files": train,
                                  "code_sha256": bundles.code_digest(bundles.GENERATOR, __file__)}))


def resumable_checkpoint(out: Path, expected: dict[str, Any]) -> Path | None:
    """The newest checkpoint in ``out`` of an *unfinished* run with ``expected``'s params, data and code.

    A finished run is never resumed: the stage runs again only because something changed (or was forced),
    and continuing a finished ignite run would train past its schedule.
    """
    marker = out / FINGERPRINT
    if not marker.is_file() or json.loads(marker.read_text()) != expected:
        return None
    for checkpoint in sorted(out.glob("checkpoint*.pt"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:  # MONAI's CheckpointSaver writes in place: a run killed mid-save leaves a torn newest file
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)["trainer"]
        except Exception as exc:
            logger.warning("%s: unreadable (%s), trying an older checkpoint", checkpoint, type(exc).__name__)
            continue
        return None if state["iteration"] >= state["max_epochs"] * state["epoch_length"] else checkpoint
    return None


def run(params: GeneratorParams, manifest_path: str | Path = "data/prepared/manifest.json",
        out: str | Path = "models/generator") -> Path:
    """Train (or resume) the generator; returns the path of the EMA weights (``model.pt``)."""
    out, manifest_path = claim_output(Path(out).resolve(), FINGERPRINT, "train-generator"), Path(manifest_path)
    manifest = read_manifest(manifest_path)
    expected = fingerprint(params, manifest)
    resume = resumable_checkpoint(out, expected)
    if resume is None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        atomic_write_json(out / FINGERPRINT, expected)
    else:
        logger.info("resuming generator training from %s", resume)
    with tracking.stage_run("train_generator", EXPERIMENT, params={"generator": params.model_dump()},
                            tags={"resumed_from": str(resume) if resume else ""},
                            datasets={"brats-prepared": "train"}) as active:
        seconds = bundles.run(bundles.GENERATOR, ["common", "train"], {
            "dataset_dir": str(manifest_path.parent.resolve()),
            "ckpt_dir": str(out),
            "resume_from": str(resume) if resume else None,
            **params.train_overrides(),
        }, EXPERIMENT, active.info.run_name)
        model = out / "model.pt"
        for stale in out.glob("checkpoint_epoch=*.pt"):  # checkpoint.pt holds the same final state
            stale.unlink()
        mlflow.log_metric("train_seconds", seconds)
        mlflow.log_artifact(str(model), artifact_path="generator")
    logger.info("generator trained in %.0fs: %s", seconds, model)
    return model
