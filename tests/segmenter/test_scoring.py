"""One scoring path: the bundle's evaluate.yaml scores exactly the label maps the bundle's inference writes."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtrust.data.brats import REGIONS, voxel_spacing, voxel_volume_ml
from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError
from synthtrust.segmenter.scoring import per_case_csv, score, summarise
from tests.conftest import DEMO, TINY_SEGMENTER, bundle_label_map

BRATS_MAX_HD95 = 373.13


def reference_metrics(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...]) -> dict[str, dict]:
    """Dice and HD95 (mm) per region of two BraTS label maps from panoptica's metrics (the package the BraTS
    organisers' evaluation is built on), the empty-region rules written out."""
    from panoptica import Metric

    out = {}
    for region, labels in REGIONS.items():
        p, r = np.isin(pred, labels).astype(np.uint8), np.isin(ref, labels).astype(np.uint8)
        if not p.any() and not r.any():
            out[region] = {"dice": 1.0, "hd95": 0.0}
        elif not p.any() or not r.any():
            out[region] = {"dice": 0.0, "hd95": BRATS_MAX_HD95}
        else:
            out[region] = {"dice": float(Metric.DSC(r, p)), "hd95": float(Metric.HD95(r, p, voxelspacing=spacing))}
    return out


@pytest.fixture(scope="module")
def workspace(trained_workspace: Path) -> Path:
    return trained_workspace


def test_scores_equal_the_written_label_maps(workspace: Path, tmp_path: Path) -> None:
    """Per case and region, what `score` reports is what the deployed label map scores against the reference."""
    model = workspace / "models" / "segmenter" / "alpha_0.0" / "model.pt"
    datalist = manifest_datalist(workspace / "data" / "prepared" / "manifest.json", "test")
    scored = score(TINY_SEGMENTER, model, datalist)
    assert list(scored) == [item["case_id"] for item in datalist]
    for item in datalist:
        written = bundle_label_map(item["image"], model.parent, tmp_path / item["case_id"])
        reference = nib.load(item["label"])
        expected = reference_metrics(written, np.asarray(reference.dataobj), voxel_spacing(reference.affine))
        for region in REGIONS:
            got = scored[item["case_id"]]["metrics"][region]
            assert got["dice"] == pytest.approx(expected[region]["dice"], abs=1e-6), (item["case_id"], region)
            assert got["hd95"] == pytest.approx(expected[region]["hd95"], abs=1e-4), (item["case_id"], region)
            lesions = scored[item["case_id"]]["lesions"][region]
            assert 0.0 <= got["lesion_dice"] <= 1.0 and got["tp"] + got["fn"] == len(lesions)
            volume = np.isin(np.asarray(reference.dataobj), REGIONS[region]).sum() * voxel_volume_ml(reference.affine)
            assert scored[item["case_id"]]["volume_ml"][region] == pytest.approx(volume)
    summary = summarise(scored, DEMO.intervals)
    assert summary["cases"] == len(datalist) and set(summary["dice"]) == set(REGIONS)
    for region in REGIONS:  # each mean sits inside its interval over the cases
        low, high = summary["dice_interval"][region]
        assert low <= summary["dice"][region] <= high
    assert per_case_csv({"real": {0: scored}}).count("\n") == 1 + 3 * len(datalist)


def test_missing_and_mismatched_checkpoints(workspace: Path, tmp_path: Path) -> None:
    datalist = manifest_datalist(workspace / "data" / "prepared" / "manifest.json", "test")
    with pytest.raises(DataError, match="none.pt: segmenter checkpoint not found"):
        score(TINY_SEGMENTER, tmp_path / "none.pt", datalist)
    wider = type(TINY_SEGMENTER).model_validate({**TINY_SEGMENTER.model_dump(), "feature_size": 24})
    with pytest.raises(DataError, match="model.pt: checkpoint does not fit the segmenter network"):
        score(wider, workspace / "models" / "segmenter" / "alpha_0.0" / "model.pt", datalist)
