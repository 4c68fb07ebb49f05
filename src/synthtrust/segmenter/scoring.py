"""Scoring a segmenter checkpoint: the one path of the evaluate and register stages (trust reads their results).

Cases are scored by the segmenter bundle's own ``evaluate.yaml`` (MONAI evaluator, the bundle's
preprocessing and sliding-window inferer, the prediction collapsed to the BraTS label map exactly as
inference writes it, MONAI's Dice and the bundle's HD95 as the BraTS challenges define it, with their rules
for empty regions). This module runs it on a datalist, reads the per-case values back from the evaluator's
``metric_details``, and adds the lesion-wise figures of each case (:mod:`synthtrust.segmenter.lesions`)
from the same post-processed predictions.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from ignite.engine import Engine, Events

from synthtrust import bundles
from synthtrust.data.brats import REGION_NAMES, voxel_spacing, voxel_volume_ml
from synthtrust.errors import DataError
from synthtrust.params import IntervalParams, SegmenterParams
from synthtrust.segmenter.lesions import region_lesions
from synthtrust.stats import mean_interval

EVALUATE_CONFIGS = ["inference", "train", "evaluate"]
#: per case and region, beside the whole-volume dice and hd95
LESION_FIGURES = ("lesion_dice", "lesion_hd95", "tp", "fp", "fn")


class CaseRecords:
    """Per case, read off the evaluator's batches and post-processed outputs: its id, the reference volume
    (ml) of each region and the region's lesion-wise figures."""

    def __init__(self) -> None:
        self.cases: list[tuple[str, dict[str, float], dict[str, dict[str, Any]]]] = []

    def attach(self, evaluator: Engine) -> None:
        evaluator.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, evaluator: Engine) -> None:
        # the evaluator's decollated batch and outputs: one dict per case, in the same order
        for item, output in zip(evaluator.state.batch, evaluator.state.output, strict=True):
            label = item["label"]  # (3, ...) TC, WT, ET regions
            affine = np.asarray(label.affine)
            voxel_ml = voxel_volume_ml(affine)
            spacing = voxel_spacing(affine)
            lesions = {r: region_lesions(output[f"pred_{r.lower()}"][0].cpu().numpy(),
                                         output[f"label_{r.lower()}"][0].cpu().numpy(), spacing)
                       for r in REGION_NAMES}
            self.cases.append((item["case_id"], {r: float(label[c].sum()) * voxel_ml
                                                 for c, r in enumerate(REGION_NAMES)}, lesions))


def require_checkpoint(checkpoint: str | Path) -> Path:
    """``checkpoint`` as a Path, or DataError when there is no such file."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint}: segmenter checkpoint not found (run: dvc repro train_segmenter)")
    return checkpoint


def score(params: SegmenterParams, checkpoint: str | Path, datalist: list[dict[str, Any]]) -> dict[str, dict]:
    """Per case id: ``metrics`` (region -> whole-volume ``dice`` and ``hd95`` in mm, lesion-wise
    ``lesion_dice``, ``lesion_hd95``, ``tp``, ``fp``, ``fn``), ``volume_ml`` of the reference regions and
    ``lesions`` (region -> one row per reference lesion)."""
    checkpoint = require_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory() as details:
        workflow = bundles.load(bundles.SEGMENTER, EVALUATE_CONFIGS, {
            **params.network_overrides(), "datalist": datalist, "model_file": str(checkpoint.resolve()),
            "output_dir": details})
        workflow.initialize()
        evaluator = workflow.parser.get_parsed_content("evaluate#evaluator")
        records = CaseRecords()
        records.attach(evaluator)
        try:
            workflow.run()
        except RuntimeError as exc:  # MONAI wraps the CheckpointLoader's error in its config expression's
            cause: BaseException | None = exc
            while cause is not None and "loading state_dict" not in str(cause):
                cause = cause.__cause__
            if cause is None:
                raise
            lines = str(cause).strip().splitlines()
            raise DataError(f"{checkpoint}: checkpoint does not fit the segmenter network "
                            f"({'; '.join(line.strip() for line in lines[1:3])})") from None
        workflow.finalize()
    found = evaluator.state.metric_details
    per_case = {}
    for row, (case_id, volume, lesions) in enumerate(records.cases):
        per_case[case_id] = {"metrics": {r: {"dice": float(found[f"dice_{r.lower()}"][row, 0]),
                                             "hd95": float(found[f"hd95_{r.lower()}"][row, 0]),
                                             **{k: lesions[r][k] for k in LESION_FIGURES}}
                                         for r in REGION_NAMES},
                             "volume_ml": volume, "lesions": {r: lesions[r]["lesions"] for r in REGION_NAMES}}
    return per_case


def summarise(per_case: dict[str, dict[str, Any]], intervals: IntervalParams) -> dict[str, Any]:
    """Mean Dice and HD95 per region and the mean Dice over regions, each with its bootstrap interval over
    cases (:mod:`synthtrust.stats`), and the number of cases behind them."""
    cases = sorted(per_case)

    def column(metric: str, region: str) -> list[float]:
        return [per_case[c]["metrics"][region][metric] for c in cases]

    dice = {r: mean_interval(column("dice", r), intervals) for r in REGION_NAMES}
    hd95 = {r: mean_interval(column("hd95", r), intervals, digits=3) for r in REGION_NAMES}
    lesion_dice = {r: mean_interval(column("lesion_dice", r), intervals) for r in REGION_NAMES}
    lesion_hd95 = {r: mean_interval(column("lesion_hd95", r), intervals, digits=3) for r in REGION_NAMES}
    mean = mean_interval([float(np.mean([per_case[c]["metrics"][r]["dice"] for r in REGION_NAMES])) for c in cases],
                         intervals)
    return {"dice": {r: v["mean"] for r, v in dice.items()}, "hd95": {r: v["mean"] for r, v in hd95.items()},
            "mean_dice": mean["mean"], "cases": len(cases), "confidence": intervals.confidence,
            "dice_interval": {r: [v["low"], v["high"]] for r, v in dice.items()},
            "hd95_interval": {r: [v["low"], v["high"]] for r, v in hd95.items()},
            "mean_dice_interval": [mean["low"], mean["high"]],
            "lesion_dice": {r: v["mean"] for r, v in lesion_dice.items()},
            "lesion_dice_interval": {r: [v["low"], v["high"]] for r, v in lesion_dice.items()},
            "lesion_hd95": {r: v["mean"] for r, v in lesion_hd95.items()},
            "lesion_hd95_interval": {r: [v["low"], v["high"]] for r, v in lesion_hd95.items()},
            # lesion counts over the cases (means over seeds where a case's figures are)
            "lesions": {r: {k: round(float(sum(column(k, r))), 2) for k in ("tp", "fp", "fn")} for r in REGION_NAMES}}


def mean_over_seeds(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per case, each metric averaged over the replicates that scored it (same cases for every seed)."""
    runs = list(per_seed.values())
    return {case_id: {"metrics": {r: {m: float(np.mean([run[case_id]["metrics"][r][m] for run in runs]))
                                      for m in ("dice", "hd95", *LESION_FIGURES)} for r in REGION_NAMES},
                      "volume_ml": runs[0][case_id]["volume_ml"]} for case_id in runs[0]}


def per_case_csv(results: dict[str, dict[int, dict[str, dict[str, Any]]]]) -> str:
    """Per test set, seed (replicate), case and region: Dice, HD95 and the reference volume (ml), as CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["test_set", "seed", "case_id", "region", "dice", "hd95", "volume_ml", *LESION_FIGURES])
    for test_set, per_seed in results.items():
        for seed, per_case in per_seed.items():
            for case_id, case in sorted(per_case.items()):
                for region in REGION_NAMES:
                    m = case["metrics"][region]
                    writer.writerow([test_set, seed, case_id, region, f"{m['dice']:.4f}", f"{m['hd95']:.3f}",
                                     f"{case['volume_ml'][region]:.3f}", f"{m['lesion_dice']:.4f}",
                                     f"{m['lesion_hd95']:.3f}", m["tp"], m["fp"], m["fn"]])
    return buffer.getvalue()


def lesions_csv(results: dict[str, dict[int, dict[str, dict[str, Any]]]]) -> str:
    """One row per reference lesion (test set, seed, case, region): its volume (ml), whether a predicted lesion
    matched it, and its Dice and HD95 (0 and the BraTS maximum when missed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["test_set", "seed", "case_id", "region", "volume_ml", "matched", "dice", "hd95"])
    for test_set, per_seed in results.items():
        for seed, per_case in per_seed.items():
            for case_id, case in sorted(per_case.items()):
                for region in REGION_NAMES:
                    for lesion in case["lesions"][region]:
                        writer.writerow([test_set, seed, case_id, region, lesion["volume_ml"], int(lesion["matched"]),
                                         lesion["dice"], lesion["hd95"]])
    return buffer.getvalue()
