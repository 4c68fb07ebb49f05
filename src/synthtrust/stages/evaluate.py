"""Stage ``evaluate``: regional Dice and HD95 of one alpha's models (one per seed) on the real and the
synthetic test sets.

The real test set is the prepared test split; the synthetic test set is the synthetic copies of the same
test label maps (utility parity compares the two). Every replicate is scored by the segmenter bundle's
evaluate config (``segmenter.scoring``), per case and region. The figures are means over cases of each
case's value averaged over the replicates, with their bootstrap interval over cases; beside them each
seed's own means and their spread (min, max) over seeds.
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
from synthtrust.params import IntervalParams, SegmenterParams
from synthtrust.segmenter import EXPERIMENT, TEST_SETS
from synthtrust.segmenter.scoring import (
    lesions_csv,
    mean_over_seeds,
    per_case_csv,
    require_checkpoint,
    score,
    summarise,
)
from synthtrust.segmenter.training import replicate_checkpoints

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


def run(params: SegmenterParams, intervals: IntervalParams, alpha: float, model: str | Path, metrics: str | Path,
        per_case: str | Path, manifest: str | Path = "data/prepared/manifest.json",
        synthetic: str | Path = "data/synthetic", lesions: str | Path | None = None) -> dict[str, Any]:
    """Score alpha's models; writes the metrics JSON (means with their intervals over cases), the per-case CSV
    and the per-lesion CSV (default: ``lesions.csv`` beside the per-case one), returns the metrics."""
    checkpoints = replicate_checkpoints(params, model)
    for checkpoint in checkpoints.values():
        require_checkpoint(checkpoint)
    datalists = evaluation_datalists(manifest, synthetic)
    with tracking.stage_run("evaluate", EXPERIMENT, f"evaluate-alpha_{alpha}",
                            params={"alpha": alpha, "segmenter": params.model_dump(),
                                    "intervals": intervals.model_dump()},
                            datasets={"brats-prepared": "test"}):
        results = {name: {seed: score(params, checkpoint, datalist) for seed, checkpoint in checkpoints.items()}
                   for name, datalist in datalists.items()}
        summary = {"alpha": alpha, "seeds": list(checkpoints)}
        for name, per_seed in results.items():
            block = summarise(mean_over_seeds(per_seed), intervals)
            by_seed = {seed: summarise(per_case, intervals)["dice"] for seed, per_case in per_seed.items()}
            block["seed_dice"] = {str(seed): dice for seed, dice in by_seed.items()}
            block["seed_spread"] = {r: [min(d[r] for d in by_seed.values()), max(d[r] for d in by_seed.values())]
                                    for r in block["dice"]}
            summary[f"{name}_test"] = block
        for name in TEST_SETS:
            block = summary[f"{name}_test"]
            mlflow.log_metrics({f"{name}_test_dice_{r}": v for r, v in block["dice"].items()})
            mlflow.log_metrics({f"{name}_test_hd95_{r}": v for r, v in block["hd95"].items()})
            mlflow.log_metric(f"{name}_test_mean_dice", block["mean_dice"])
            mlflow.log_metrics({f"{name}_test_lesion_dice_{r}": v for r, v in block["lesion_dice"].items()})
            mlflow.log_metrics({f"{name}_test_dice_{r}_{end}": v for r, (low, high) in block["dice_interval"].items()
                                for end, v in (("low", low), ("high", high)) if v is not None})
        atomic_write_text(per_case, per_case_csv(results))
        lesions = Path(lesions) if lesions is not None else Path(per_case).with_name("lesions.csv")
        atomic_write_text(lesions, lesions_csv(results))
        atomic_write_json(metrics, summary)
        mlflow.log_artifact(str(per_case))
        mlflow.log_artifact(str(lesions))
    logger.info("alpha=%s real test Dice %s, synthetic test Dice %s", alpha, summary["real_test"]["dice"],
                summary["synthetic_test"]["dice"])
    return summary
