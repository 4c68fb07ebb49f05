"""Stage evaluate: both test sets scored through the bundle, metrics JSON, per-case CSV, MLflow run."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import mlflow
import pytest

from synthtrust.errors import DataError
from synthtrust.segmenter import EXPERIMENT
from synthtrust.stages.evaluate import run as evaluate
from tests.conftest import TINY_SEGMENTER


@pytest.fixture
def model(trained_workspace: Path) -> Path:
    return trained_workspace / "models" / "segmenter" / "alpha_0.0" / "model.pt"


def test_evaluate_writes_metrics_and_per_case_csv(trained_workspace: Path, model: Path, tmp_path: Path,
                                                  mlflow_store: str) -> None:
    prepared = trained_workspace / "data" / "prepared"
    synthetic = tmp_path / "synthetic"
    shutil.copytree(prepared / "test", synthetic / "test")  # stand-in synthetic copies
    summary = evaluate(TINY_SEGMENTER, 0.5, model, tmp_path / "m.json", tmp_path / "cases.csv",
                       prepared / "manifest.json", synthetic)
    assert json.loads((tmp_path / "m.json").read_text()) == summary
    assert summary["alpha"] == 0.5 and summary["real_test"]["cases"] == 2
    assert summary["real_test"] == summary["synthetic_test"]  # identical images score identically
    rows = list(csv.DictReader((tmp_path / "cases.csv").open()))
    assert len(rows) == 2 * 2 * 3 and {r["region"] for r in rows} == {"TC", "WT", "ET"}
    assert all(0.0 <= float(r["dice"]) <= 1.0 for r in rows) and all(float(r["volume_ml"]) >= 0 for r in rows)
    client = mlflow.MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
    assert run.data.tags["stage"] == "evaluate" and run.data.params["alpha"] == "0.5"
    assert run.data.metrics["real_test_dice_WT"] == summary["real_test"]["dice"]["WT"]


def test_missing_model_and_synthetic_cases(trained_workspace: Path, model: Path, tmp_path: Path,
                                           mlflow_store: str) -> None:
    manifest = trained_workspace / "data" / "prepared" / "manifest.json"
    with pytest.raises(DataError, match="synthetic test case missing"):
        evaluate(TINY_SEGMENTER, 0.0, model, tmp_path / "m.json", tmp_path / "c.csv", manifest, tmp_path / "synthetic")
    synthetic = tmp_path / "synthetic"
    shutil.copytree(manifest.parent / "test", synthetic / "test")
    with pytest.raises(DataError, match="segmenter checkpoint not found"):
        evaluate(TINY_SEGMENTER, 0.0, tmp_path / "none.pt", tmp_path / "m.json", tmp_path / "c.csv", manifest,
                 synthetic)
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "c.csv").exists()
    assert mlflow.MlflowClient(mlflow_store).get_experiment_by_name(EXPERIMENT) is None  # no run was opened
