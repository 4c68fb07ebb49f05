"""Regional metrics with the BraTS conventions, and scoring a checkpoint on real files."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from synthtrust.errors import DataError
from synthtrust.segmenter.evaluate import BRATS_MAX_HD95, evaluate, regional_metrics
from synthtrust.segmenter.params import SegmenterParams


def _regions(*masks: torch.Tensor) -> torch.Tensor:
    return torch.stack(masks).float()


def test_brats_conventions_for_empty_regions() -> None:
    empty, full = torch.zeros(8, 8, 8), torch.zeros(8, 8, 8)
    full[2:6, 2:6, 2:6] = 1
    pred, ref = _regions(empty, full, full), _regions(empty, empty, full)
    m = regional_metrics(pred, ref, (1.0, 1.0, 1.0))
    assert m["TC"] == {"dice": 1.0, "hd95": 0.0}  # both empty
    assert m["WT"] == {"dice": 0.0, "hd95": BRATS_MAX_HD95}  # false positive on an empty reference
    assert m["ET"] == {"dice": 1.0, "hd95": 0.0}  # perfect


def test_partial_overlap_dice_and_hd95_in_mm() -> None:
    ref, pred = torch.zeros(16, 16, 16), torch.zeros(16, 16, 16)
    ref[4:8, 4:8, 4:8] = 1
    pred[4:8, 4:8, 6:10] = 1  # half overlaps, shifted 2 voxels
    m = regional_metrics(_regions(pred, pred, pred), _regions(ref, ref, ref), (2.0, 2.0, 2.0))
    assert m["WT"]["dice"] == pytest.approx(0.5)
    assert m["WT"]["hd95"] == pytest.approx(4.0)  # 2 voxels of 2 mm


@pytest.fixture
def model(tmp_path: Path) -> Path:
    from synthtrust.bundles import SEGMENTER, parse_bundle

    torch.manual_seed(0)
    net = parse_bundle(SEGMENTER, ["inference"], TINY.network_overrides()).get_parsed_content("network_def")
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    return path


TINY = SegmenterParams(roi_size=(64, 64, 32), patch_size=(64, 64, 32))  # depths (1, 1, 1, 1) by default


def test_evaluate_writes_metrics_and_per_case_csv(prepared_64: Path, model: Path, tmp_path: Path,
                                                  mlflow_store: str) -> None:
    synthetic = tmp_path / "synthetic"
    shutil.copytree(prepared_64 / "test", synthetic / "test")  # stand-in synthetic copies
    summary = evaluate(TINY, 0.5, model, tmp_path / "m.json", tmp_path / "cases.csv",
                       prepared_64 / "manifest.json", synthetic)
    assert json.loads((tmp_path / "m.json").read_text()) == summary
    assert summary["alpha"] == 0.5 and summary["real_test"]["cases"] == 2
    assert summary["real_test"] == summary["synthetic_test"]  # identical images score identically
    rows = list(csv.DictReader((tmp_path / "cases.csv").open()))
    assert len(rows) == 2 * 2 * 3 and {r["region"] for r in rows} == {"TC", "WT", "ET"}
    assert all(0.0 <= float(r["dice"]) <= 1.0 for r in rows) and all(float(r["volume_ml"]) >= 0 for r in rows)


def test_missing_model_and_synthetic_cases(prepared_64: Path, model: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="segmenter checkpoint not found"):
        evaluate(TINY, 0.0, tmp_path / "none.pt", tmp_path / "m.json", tmp_path / "c.csv",
                 prepared_64 / "manifest.json", tmp_path / "synthetic")
    with pytest.raises(DataError, match="synthetic test case missing"):
        evaluate(TINY, 0.0, model, tmp_path / "m.json", tmp_path / "c.csv",
                 prepared_64 / "manifest.json", tmp_path / "synthetic")
    assert not (tmp_path / "m.json").exists()


@pytest.mark.slow
def test_bundle_inference_writes_what_evaluation_scores(prepared_64: Path, model: Path, tmp_path: Path) -> None:
    """The label maps `python -m monai.bundle run inference.yaml` writes score exactly as the evaluator says."""
    import os
    import subprocess
    import sys

    import nibabel as nib
    import numpy as np

    from synthtrust.data.datalist import manifest_datalist
    from synthtrust.segmenter.evaluate import RegionalEvaluator
    from tests.conftest import REPO

    bundle = REPO / "bundles" / "brats_swinunetr_segmenter"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(bundle / "configs" / "inference.yaml"),
           "--bundle_root", str(bundle), "--ckpt_dir", str(model.parent), "--dataset_dir", str(prepared_64),
           "--output_dir", str(tmp_path / "out"), "--depths", "[1,1,1,1]", "--roi_size", "[64,64,32]"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-2000:]
    evaluator = RegionalEvaluator(TINY, model)
    for item in manifest_datalist(prepared_64 / "manifest.json", "test"):
        written = next((tmp_path / "out").glob(f"{item['case_id']}_*seg.nii.gz"))
        label = np.asarray(nib.load(str(written)).dataobj)
        assert set(np.unique(label)) <= {0, 1, 2, 4}
        assert np.allclose(nib.load(str(written)).affine, nib.load(item["label"]).affine)
        reference = np.asarray(nib.load(item["label"]).dataobj)
        scored = evaluator.score_case(item)["metrics"]
        for region, labels in {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}.items():
            p, r = np.isin(label, labels), np.isin(reference, labels)
            dice = 1.0 if not p.any() and not r.any() else 2 * (p & r).sum() / (p.sum() + r.sum())
            assert dice == pytest.approx(scored[region]["dice"], abs=1e-6), (item["case_id"], region)
