"""Lesion-wise metrics as the BraTS challenges score them (2023 and later), through ``panoptica``.

Each region (TC, WT, ET) of a prediction and its reference is split into lesions (connected components),
reference and predicted lesions are matched one to one (maximum bipartite matching on Dice, any overlap
counts), and each reference lesion gets its Dice and HD95 (pooled 95th percentile of both directions'
surface distances, in mm). A missed lesion (false negative) and a spurious one (false positive) score Dice 0
and HD95 373.13 mm; the lesion-wise figure of a case is the mean over ``TP + FN + FP`` lesions, so missing a
small lesion costs as much as missing a large one.

Why panoptica: it is the BrainLesion group's instance-evaluation package that the BraTS organisers' own
evaluation (``brats-evaluation``, AGPL-3.0) is built on; panoptica itself is permissively licensed, so it
can be a dependency of this Apache-2.0 project where ``brats-evaluation`` could not. The evaluator below is
configured as the organisers' glioma configuration is (semantic input, connected components, maximum
bipartite matching on Dice at any overlap, Dice and HD95 per instance and globally).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

#: the BraTS maximum penalty (the diagonal of the 240 x 240 x 155 mm SRI-24 volume), also the segmenter
#: bundle's ``scripts.metrics.BRATS_MAX_HD95`` (the bundle is standalone and keeps its own copy)
MAX_HD95_MM = 373.13


@functools.cache
def _evaluator() -> Any:
    from panoptica import (
        ConnectedComponentsInstanceApproximator,
        InputType,
        MaxBipartiteMatching,
        Metric,
        Panoptica_Evaluator,
    )
    from panoptica.utils.citation_reminder import disable_citation_reminder
    from panoptica.utils.edge_case_handling import EdgeCaseHandler, EdgeCaseResult, MetricZeroTPEdgeCaseHandling
    from panoptica.utils.segmentation_class import LabelGroup, SegmentationClassGroups

    disable_citation_reminder()  # it prints on every call; the project's docs cite it

    def zero_tp(worst: EdgeCaseResult) -> MetricZeroTPEdgeCaseHandling:
        # no lesion matched: the worst value (read back here as Dice 0 and the BraTS maximum HD95)
        return MetricZeroTPEdgeCaseHandling(empty_prediction_result=worst, empty_reference_result=worst,
                                            no_instances_result=EdgeCaseResult.NAN, normal=worst)

    return Panoptica_Evaluator(
        expected_input=InputType.SEMANTIC,
        instance_approximator=ConnectedComponentsInstanceApproximator(),
        instance_matcher=MaxBipartiteMatching(matching_metric=Metric.DSC, matching_threshold=1e-6),
        instance_metrics=[Metric.DSC, Metric.HD95],
        global_metrics=[Metric.DSC],  # panoptica computes global metrics in voxels: the bundle's are in mm
        edge_case_handler=EdgeCaseHandler({Metric.DSC: zero_tp(EdgeCaseResult.ZERO),
                                           Metric.HD95: zero_tp(EdgeCaseResult.INF)}),
        segmentation_class_groups=SegmentationClassGroups({"region": LabelGroup([1], single_instance=False)}),
        verbose=False,
    )


def _finite(value: float | None, fallback: float) -> float:
    return fallback if value is None or not np.isfinite(value) else float(value)


def region_lesions(prediction: np.ndarray, reference: np.ndarray, spacing: Sequence[float]) -> dict[str, Any]:
    """Lesion-wise figures of one binary region: ``lesion_dice`` and ``lesion_hd95`` (BraTS 2023 rule),
    ``tp``/``fp``/``fn`` lesion counts, one row per reference lesion (``volume_ml``, ``dice``, ``hd95``,
    ``matched``)."""
    pred, ref = np.asarray(prediction).astype(np.uint8), np.asarray(reference).astype(np.uint8)
    if not pred.any() and not ref.any():
        return {"lesion_dice": 1.0, "lesion_hd95": 0.0, "tp": 0, "fp": 0, "fn": 0, "lesions": []}
    result = _evaluator().evaluate(pred, ref, voxelspacing=tuple(float(s) for s in spacing))["region"]
    found = result.to_dict(output_individual_instance_metrics=True)
    lesions = [{"volume_ml": round(float(row["volume"]) / 1000.0, 4), "matched": bool(row["is_matched"]),
                "dice": round(_finite(row.get("sq_dsc"), 0.0), 4) if row["is_matched"] else 0.0,
                "hd95": round(_finite(row.get("sq_hd95"), MAX_HD95_MM), 3) if row["is_matched"] else MAX_HD95_MM}
               for row in found.get("reference_instances", [])]
    tp, fp, fn = int(found["tp"]), int(found["fp"]), int(found["fn"])
    count = tp + fp + fn
    return {
        "lesion_dice": round(sum(x["dice"] for x in lesions) / count, 4),
        "lesion_hd95": round((sum(x["hd95"] for x in lesions) + MAX_HD95_MM * fp) / count, 3),
        "tp": tp, "fp": fp, "fn": fn, "lesions": lesions,
    }
