"""The ``evaluate`` job: regional Dice and HD95 of one alpha's model on the real and synthetic test sets.

The real test set is the prepared test split; the synthetic test set is the synthetic copies of the same
test label maps (utility parity compares the two). Predictions come from the segmenter bundle's own
network, preprocessing and sliding-window inferer, collapsed to a label map exactly as the bundle's
inference does (so what is scored is what is deployed); metrics are MONAI's, per case and region, with the
BraTS conventions for empty regions: both prediction and reference empty scores Dice 1 and HD95 0,
exactly one empty scores Dice 0 and HD95 373.13 mm (the BraTS maximum).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses

from synthtrust import tracking
from synthtrust.bundles import SEGMENTER, parse_bundle
from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError
from synthtrust.io import atomic_write_json, atomic_write_text
from synthtrust.mixing import synthetic_item
from synthtrust.segmenter.checkpoint import load_network_state
from synthtrust.segmenter.params import SegmenterParams
from synthtrust.segmenter.train import EXPERIMENT
from synthtrust.segmenter.transforms import regions_to_label

logger = logging.getLogger(__name__)
REGIONS = ("TC", "WT", "ET")  # the network's output channels, in order
BRATS_MAX_HD95 = 373.13
BRATS_REGIONS = ConvertToMultiChannelBasedOnBratsClasses()  # labels 1, 2, 4 -> TC, WT, ET channels
TEST_SETS = ("real", "synthetic")


def regional_metrics(pred: torch.Tensor, label: torch.Tensor, spacing: tuple[float, ...]) -> dict[str, dict]:
    """Dice and HD95 (mm) per region for (3, ...) binary prediction and reference, BraTS conventions."""
    out = {}
    for c, region in enumerate(REGIONS):
        p, y = pred[c : c + 1][None].bool(), label[c : c + 1][None].bool()
        if not p.any() and not y.any():
            dice, hd95 = 1.0, 0.0
        elif not p.any() or not y.any():
            dice, hd95 = 0.0, BRATS_MAX_HD95
        else:
            dice = float(compute_dice(p.float(), y.float(), include_background=True))
            hd95 = float(compute_hausdorff_distance(p.float(), y.float(), include_background=True,
                                                    percentile=95, spacing=list(spacing)))
        out[region] = {"dice": dice, "hd95": hd95}
    return out


class RegionalEvaluator:
    """Scores a segmenter checkpoint on datalists, with the bundle's preprocessing and inferer."""

    def __init__(self, params: SegmenterParams, model: str | Path) -> None:
        parser = parse_bundle(SEGMENTER, ["inference", "train"], params.network_overrides())
        self.network: torch.nn.Module = parser.get_parsed_content("network")
        self.preprocessing = parser.get_parsed_content("validate#preprocessing")
        self.inferer = parser.get_parsed_content("inferer")
        self.device = parser.get_parsed_content("device")
        model = Path(model)
        if not model.is_file():
            raise DataError(f"{model}: segmenter checkpoint not found (run: dvc repro train_segmenter)")
        state, _ = load_network_state(model, self.device)
        try:
            self.network.load_state_dict(state)
        except RuntimeError as exc:
            raise DataError(f"{model}: checkpoint does not fit the segmenter network ({exc})") from exc
        self.network.eval()

    @torch.no_grad()
    def score_case(self, item: dict[str, Any]) -> dict[str, Any]:
        """Regional metrics and reference volumes (ml) of one datalist case."""
        data = self.preprocessing(dict(item))
        image, label = data["image"], data["label"]
        logits = self.inferer(image[None].to(self.device), self.network)[0]
        # score the regions of the label map the bundle writes (nested TC/WT/ET), not the raw channels
        pred = BRATS_REGIONS(regions_to_label((torch.sigmoid(logits) > 0.5).cpu())[0])
        spacing = tuple(float(s) for s in image.pixdim[:3])
        voxel_ml = float(np.prod(spacing)) / 1000.0
        return {"metrics": regional_metrics(pred, label, spacing),
                "volume_ml": {r: float(label[c].sum()) * voxel_ml for c, r in enumerate(REGIONS)}}

    def score(self, datalist: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per-case results, keyed by case id."""
        return {item["case_id"]: self.score_case(item) for item in datalist}


def summarise(per_case: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean Dice and HD95 per region, and the mean Dice over regions."""
    dice = {r: float(np.mean([c["metrics"][r]["dice"] for c in per_case.values()])) for r in REGIONS}
    hd95 = {r: float(np.mean([c["metrics"][r]["hd95"] for c in per_case.values()])) for r in REGIONS}
    return {"dice": {r: round(v, 4) for r, v in dice.items()}, "hd95": {r: round(v, 3) for r, v in hd95.items()},
            "mean_dice": round(float(np.mean(list(dice.values()))), 4), "cases": len(per_case)}


def evaluation_datalists(manifest: str | Path, synthetic: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The real test split and the synthetic copies of its label maps (same labels, synthetic images)."""
    real = manifest_datalist(manifest, "test")
    synth = [synthetic_item(Path(synthetic) / "test", item["case_id"], label=item["label"]) for item in real]
    for item in synth:
        for path in item["image"]:
            if not Path(path).is_file():
                raise DataError(f"{path}: synthetic test case missing (run: dvc repro synthesize)")
    return {"real": real, "synthetic": synth}


def per_case_csv(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Per test set, case and region: Dice, HD95 and the reference volume (ml), as CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["test_set", "case_id", "region", "dice", "hd95", "volume_ml"])
    for test_set, per_case in results.items():
        for case_id, case in sorted(per_case.items()):
            for region in REGIONS:
                m = case["metrics"][region]
                writer.writerow([test_set, case_id, region, f"{m['dice']:.4f}", f"{m['hd95']:.3f}",
                                 f"{case['volume_ml'][region]:.3f}"])
    return buffer.getvalue()


def evaluate(params: SegmenterParams, alpha: float, model: str | Path, metrics: str | Path,
             per_case: str | Path, manifest: str | Path = "data/prepared/manifest.json",
             synthetic: str | Path = "data/synthetic") -> dict[str, Any]:
    """Run the stage for one alpha; writes the metrics JSON and the per-case CSV, returns the metrics."""
    evaluator = RegionalEvaluator(params, model)
    datalists = evaluation_datalists(manifest, synthetic)
    tracking.experiment(EXPERIMENT)
    with mlflow.start_run(run_name=tracking.run_name(f"evaluate-alpha_{alpha}")):
        mlflow.log_params({"alpha": alpha, **tracking.flatten({"segmenter": params.as_dict()})})
        mlflow.set_tags({"stage": "evaluate", "git_commit": tracking.git_commit()})
        tracking.log_dataset("data/prepared", "brats-prepared", context="test")
        results = {name: evaluator.score(datalist) for name, datalist in datalists.items()}
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
