"""Stages ``reader_study`` and ``score_readers``: make the blinded study folder and its key; score the answer
files readers send back (JSON for the trust stage's T6, and an MLflow run).

The folder goes to the readers, the key never does: ``make`` refuses a key path inside the folder. The
study is a function of the params and the data (same inputs, same bytes), so ``dvc repro`` leaves a study
that readers already answered alone until its data or params change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow

from synthtrust import tracking
from synthtrust.errors import DataError
from synthtrust.io import atomic_dir, atomic_write_json, claim_output, usual_mode
from synthtrust.params import IntervalParams, ReaderStudyParams
from synthtrust.reader_study.answers import read_all, read_key
from synthtrust.reader_study.scoring import score as score_answers
from synthtrust.reader_study.study import STUDY_DATA, sources, write_study

logger = logging.getLogger(__name__)
EXPERIMENT = "synthtrust-reader-study"


def make(params: ReaderStudyParams, out: str | Path = "reports/reader_study",
         key: str | Path = "data/reader_study/key.json", manifest: str | Path = "data/prepared/manifest.json",
         synthetic: str | Path = "data/synthetic") -> dict[str, Any]:
    """Write the study folder ``out`` and its key ``key``; returns the key."""
    out, key = Path(out), Path(key)
    if key.resolve().is_relative_to(out.resolve()):
        raise DataError(f"{key}: the key would sit inside the study folder {out}, which goes to the readers; "
                        "give a --key outside it")
    claim_output(out, STUDY_DATA, "synthtrust reader-study make")
    pool = sources(manifest, synthetic, list(params.splits))
    with atomic_dir(out) as folder:
        study = write_study(params, pool, folder)
        folder.chmod(usual_mode(0o777))  # a temporary directory is private; readers' web servers must read it
        atomic_write_json(key, study)
    truths = [c["truth"] for c in study["cases"].values()]
    logger.info("reader study %s: %d cases (%d real, %d synthetic) in %s/index.html; key %s (keep it from the "
                "readers)", study["study"], len(truths), truths.count("real"), truths.count("synthetic"), out, key)
    return study


def _metric_name(reader: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", reader).strip("_") or "reader"


def log_to_mlflow(scores: dict[str, Any], params: ReaderStudyParams, out: Path) -> None:
    """One MLflow run per scoring: pooled and per-reader figures, and the scores JSON."""
    with tracking.stage_run("score_readers", EXPERIMENT, params={"reader_study": params.model_dump()},
                            tags={"study": scores["study"], "readers": str(len(scores["readers"]))}):
        pooled = scores["pooled"]
        for name in ("accuracy", "sensitivity", "specificity", "auc"):
            mlflow.log_metric(f"pooled_{name}", pooled[name]["mean"])
            if pooled[name]["low"] is not None:
                mlflow.log_metrics({f"pooled_{name}_low": pooled[name]["low"],
                                    f"pooled_{name}_high": pooled[name]["high"]})
        kappa = scores["agreement"]["fleiss_kappa"]
        if kappa is not None:
            mlflow.log_metric("fleiss_kappa", kappa["mean"])
        mlflow.log_metrics({f"plausibility_{k}": scores["plausibility"][k]["mean"] for k in ("synthetic", "real")})
        for reader, figures in scores["readers"].items():
            mlflow.log_metrics({f"reader.{_metric_name(reader)}.accuracy": figures["accuracy"]["mean"],
                                f"reader.{_metric_name(reader)}.auc": figures["auc"]["mean"]})
        mlflow.log_artifact(str(out), artifact_path="reader_study")


def score(params: ReaderStudyParams, intervals: IntervalParams, answers: Sequence[str | Path],
          key: str | Path = "data/reader_study/key.json", out: str | Path = "metrics/reader_study.json"
          ) -> dict[str, Any]:
    """Score the answer files (files, or directories of ``*.json``) against ``key``; write ``out``, log to
    MLflow when there is anything to score; returns the scores."""
    study = read_key(key)
    readers = read_all(answers, study)
    scores = score_answers(study, readers, intervals)
    atomic_write_json(out, scores)
    if not readers:
        logger.info("reader study %s: no answer files yet; T6 stays not applicable", study["study"])
        return scores
    log_to_mlflow(scores, params, Path(out))
    pooled = scores["pooled"]
    logger.info("reader study %s: %d readers x %d cases, pooled accuracy %.3f [%s, %s]", study["study"],
                len(readers), scores["cases"], pooled["accuracy"]["mean"], pooled["accuracy"]["low"],
                pooled["accuracy"]["high"])
    return scores
