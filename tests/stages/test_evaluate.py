"""Stage evaluate: both test sets scored through the bundle, metrics JSON, per-case CSV, MLflow run."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import mlflow
import pytest

from synthtrust.errors import DataError
from synthtrust.params import replace
from synthtrust.segmenter import EXPERIMENT
from synthtrust.stages.evaluate import run as evaluate
from tests.conftest import DEMO, TINY_SEGMENTER


@pytest.fixture
def model(trained_workspace: Path) -> Path:
    return trained_workspace / "models" / "segmenter" / "alpha_0.0" / "model.pt"


def test_evaluate_writes_metrics_and_per_case_csv(trained_workspace: Path, model: Path, tmp_path: Path,
                                                  mlflow_store: str) -> None:
    prepared = trained_workspace / "data" / "prepared"
    synthetic = tmp_path / "synthetic"
    shutil.copytree(prepared / "test", synthetic / "test")  # stand-in synthetic copies
    models = tmp_path / "alpha_0.5"  # the model of record and a replicate of seed 7 (here the same weights)
    (models / "seed_7").mkdir(parents=True)
    shutil.copy(model, models / "model.pt")
    shutil.copy(model, models / "seed_7" / "model.pt")
    summary = evaluate(replace(TINY_SEGMENTER, seeds=[0, 7]), DEMO.intervals, 0.5, models / "model.pt",
                       tmp_path / "m.json", tmp_path / "cases.csv", prepared / "manifest.json", synthetic)
    assert json.loads((tmp_path / "m.json").read_text()) == summary
    assert summary["alpha"] == 0.5 and summary["real_test"]["cases"] == 2 and summary["seeds"] == [0, 7]
    assert summary["real_test"] == summary["synthetic_test"]  # identical images score identically
    block = summary["real_test"]
    assert block["seed_dice"]["0"] == block["seed_dice"]["7"] == block["dice"]  # equal replicates, no spread
    assert all(low == high for low, high in block["seed_spread"].values())
    rows = list(csv.DictReader((tmp_path / "cases.csv").open()))
    assert len(rows) == 2 * 2 * 2 * 3 and {r["region"] for r in rows} == {"TC", "WT", "ET"}  # sets, seeds, cases
    assert {r["seed"] for r in rows} == {"0", "7"}
    assert all(0.0 <= float(r["dice"]) <= 1.0 for r in rows) and all(float(r["volume_ml"]) >= 0 for r in rows)
    client = mlflow.MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert run.data.tags["stage"] == "evaluate" and run.data.params["alpha"] == "0.5"
    assert run.data.metrics["real_test_dice_WT"] == summary["real_test"]["dice"]["WT"]
    low, high = summary["real_test"]["dice_interval"]["WT"]
    assert run.data.metrics["real_test_dice_WT_low"] == low and run.data.metrics["real_test_dice_WT_high"] == high
    assert summary["real_test"]["confidence"] == DEMO.intervals.confidence


def test_missing_model_and_synthetic_cases(trained_workspace: Path, model: Path, tmp_path: Path,
                                           mlflow_store: str) -> None:
    manifest = trained_workspace / "data" / "prepared" / "manifest.json"
    with pytest.raises(DataError, match="synthetic test case missing"):
        evaluate(TINY_SEGMENTER, DEMO.intervals, 0.0, model, tmp_path / "m.json", tmp_path / "c.csv", manifest,
                 tmp_path / "synthetic")
    synthetic = tmp_path / "synthetic"
    shutil.copytree(manifest.parent / "test", synthetic / "test")
    with pytest.raises(DataError, match="segmenter checkpoint not found"):
        evaluate(TINY_SEGMENTER, DEMO.intervals, 0.0, tmp_path / "none.pt", tmp_path / "m.json", tmp_path / "c.csv",
                 manifest, synthetic)
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "c.csv").exists()
    assert mlflow.MlflowClient(mlflow_store).get_experiment_by_name(EXPERIMENT) is None  # no run was opened
