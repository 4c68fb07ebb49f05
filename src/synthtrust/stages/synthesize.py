"""Stage ``synthesize``: synthetic copies of every training and test case, plus optional novel cases.

Writes ``data/synthetic/{train,test}/<case>/`` (and ``novel/`` when asked) in BraTS layout, then checks
that tumour contrasts survive (sign agreement of region-vs-normal contrasts on the test split), writes
``metrics/generator.json`` and a real-vs-synthetic slice figure, and logs all of it to MLflow.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import mlflow

from synthtrust import tracking
from synthtrust.data.datalist import manifest_datalist
from synthtrust.generator import EXPERIMENT
from synthtrust.generator.checks import contrast_agreement, format_agreement
from synthtrust.generator.synthesis import PROVENANCE_SUFFIX, Synthesizer
from synthtrust.io import atomic_write_json, claim_output
from synthtrust.params import GeneratorParams
from synthtrust.plots import real_vs_synthetic

logger = logging.getLogger(__name__)
SPLITS = ("train", "test")


def _prune(directory: Path, keep: set[str]) -> None:
    """Remove synthetic cases (directories with this stage's provenance sidecar) that are no longer part of
    the dataset (e.g. after a new split); nothing else is touched."""
    if directory.is_dir():
        for case_dir in directory.iterdir():
            if case_dir.name not in keep and (case_dir / f"{case_dir.name}{PROVENANCE_SUFFIX}").is_file():
                shutil.rmtree(case_dir)


def run(params: GeneratorParams, checkpoint: str | Path = "models/generator/model.pt",
        manifest_path: str | Path = "data/prepared/manifest.json", out: str | Path = "data/synthetic",
        metrics: str | Path = "metrics/generator.json",
        figure: str | Path = "reports/generator/real_vs_synthetic.png") -> dict[str, Any]:
    """Run the stage; returns the metrics written to ``metrics``."""
    out = claim_output(out, "train", "synthesize")
    synthesizer = Synthesizer(params, checkpoint)
    with tracking.stage_run("synthesize", EXPERIMENT, params={"generator": params.model_dump()},
                            tags={"checkpoint_sha256": synthesizer.provenance["checkpoint_sha256"]},
                            datasets={"brats-prepared": "conditioning"}):
        started = time.perf_counter()
        written = 0
        for split in SPLITS:
            datalist = manifest_datalist(manifest_path, split)
            _prune(out / split, {item["case_id"] for item in datalist})
            written += len(synthesizer.write_all(datalist, out / split, seed=params.sample.sample_seed))
        novel = synthesizer.write_novel(manifest_datalist(manifest_path, "train"), out / "novel",
                                        params.sample.novel_cases, seed=params.sample.sample_seed)
        _prune(out / "novel", {d.name for d in novel})
        seconds = time.perf_counter() - started
        test = manifest_datalist(manifest_path, "test")
        pairs = [(Path(item["label"]).parent, out / "test" / item["case_id"]) for item in test]
        agreement = contrast_agreement(pairs)
        logger.info("tumour contrast, real vs synthetic test copies:\n%s", format_agreement(agreement))
        result = {
            "contrast_sign_agreement": round(agreement["agreement"], 4),
            "contrast_pairs": agreement["pairs"],
            "cases": {"train": len(manifest_datalist(manifest_path, "train")), "test": len(test),
                      "novel": len(novel)},
            "sampler": params.sample.sampler,
            "steps": params.sample.num_inference_steps,
        }
        atomic_write_json(metrics, result)
        real_vs_synthetic(pairs, figure)
        mlflow.log_metrics({"contrast_sign_agreement": agreement["agreement"], "synthesis_seconds": seconds})
        mlflow.log_artifact(str(figure), artifact_path="figures")
        mlflow.log_artifact(str(metrics))
    logger.info("synthesized %d cases in %.0fs (%d novel)", written + len(novel), seconds, len(novel))
    return result
