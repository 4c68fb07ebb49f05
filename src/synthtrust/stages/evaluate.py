"""Stage ``evaluate``: regional Dice and HD95 of one alpha's model on the real and the synthetic test sets.

The real test set is the prepared test split; the synthetic test set is the synthetic copies of the same
test label maps (utility parity compares the two). Both are scored by the segmenter bundle's evaluate
config (``segmenter.scoring``), per case and region.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow

from synthtrust import tracking
from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError
from synthtrust.io import atomic_write_json, atomic_write_text
from synthtrust.mixing import synthetic_item
from synthtrust.params import SegmenterParams
from synthtrust.segmenter import EXPERIMENT, TEST_SETS
from synthtrust.segmenter.scoring import per_case_csv, require_checkpoint, score, summarise

logger = logging.getLogger(__name__)


def evaluation_datalists(manifest: str | Path, synthetic: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The real test split and the synthetic copies of its label maps (same labels, synthetic images)."""
    real = manifest_datalist(manifest, "test")
    synth = [synthetic_item(Path(synthetic) / "test", item["case_id"], label=item["label"]) for item in real]
    for item in synth:
        for path in item["image"]:
            if not Path(path).is_file():
                raise DataError(f"{path}: synthetic test case missing (run: dvc repro synthesize)")
    return {"real": real, "synthetic": synth}


def run(params: SegmenterParams, alpha: float, model: str | Path, metrics: str | Path, per_case: str | Path,
        manifest: str | Path = "data/prepared/manifest.json", synthetic: str | Path = "data/synthetic"
        ) -> dict[str, Any]:
    """Score alpha's model; writes the metrics JSON and the per-case CSV, returns the metrics."""
    require_checkpoint(model)
    datalists = evaluation_datalists(manifest, synthetic)
    with tracking.stage_run("evaluate", EXPERIMENT, f"evaluate-alpha_{alpha}",
                            params={"alpha": alpha, "segmenter": params.model_dump()},
                            datasets={"brats-prepared": "test"}):
        results = {name: score(params, model, datalist) for name, datalist in datalists.items()}
        summary = {"alpha": alpha, **{f"{name}_test": summarise(r) for name, r in results.items()}}
        for name in TEST_SETS:
            block = summary[f"{name}_test"]
            mlflow.log_metrics({f"{name}_test_dice_{r}": v for r, v in block["dice"].items()})
            mlflow.log_metrics({f"{name}_test_hd95_{r}": v for r, v in block["hd95"].items()})
            mlflow.log_metric(f"{name}_test_mean_dice", block["mean_dice"])
        atomic_write_text(per_case, per_case_csv(results))
        atomic_write_json(metrics, summary)
        mlflow.log_artifact(str(per_case))
    logger.info("alpha=%s real test Dice %s, synthetic test Dice %s", alpha, summary["real_test"]["dice"],
                summary["synthetic_test"]["dice"])
    return summary
