"""The segmenter bundle with MONAI's own bundle tooling: layout, metadata, verify_net_in_out, traced
ckpt_export, and ``python -m monai.bundle run`` train, evaluate and inference with MONAI alone."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser

from tests.bundles.conftest import bundle_run
from tests.conftest import REPO

BUNDLE = REPO / "bundles" / "brats_swinunetr_segmenter"
CONFIGS = BUNDLE / "configs"
TINY = {"patch_size": [64, 64, 32], "roi_size": [64, 64, 32], "num_samples": 1, "max_steps": 2,
        "steps_per_epoch": 1, "val_interval": 1}


def _bundle_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=cwd, capture_output=True,
                            text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_layout_and_metadata() -> None:
    for name in ("LICENSE", "docs/README.md", "configs/metadata.json", "configs/inference.yaml",
                 "configs/train.yaml", "configs/evaluate.yaml", "configs/multi_gpu_train.yaml",
                 "configs/logging.conf", "scripts/__init__.py", "scripts/metrics.py"):
        assert (BUNDLE / name).is_file(), name
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    fmt = meta["network_data_format"]
    assert list(fmt["inputs"]["image"]["channel_def"].values()) == ["t1", "t1ce", "t2", "flair"]
    assert list(fmt["outputs"]["pred"]["channel_def"].values()) == ["TC", "WT", "ET"]
    assert "synthtrust" not in meta["required_packages_version"]
    assert {"real_test_dice_TC", "real_test_dice_WT", "real_test_dice_ET"} <= set(meta["eval_metrics"])
    for path in BUNDLE.rglob("*"):
        if path.suffix in (".py", ".yaml", ".json"):
            assert "import synthtrust" not in path.read_text() and "synthtrust." not in path.read_text(), path


def test_multi_gpu_config_builds_rank_zeros_handlers_only_there() -> None:
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / f"{c}.yaml") for c in ("inference", "train", "multi_gpu_train")])
    rank_zero_only = {"train#handlers": ["StatsHandler", "ignite.handlers.ProgressBar", "MLFlowHandler"],
                      "validate#handlers": ["StatsHandler", "MLFlowHandler"]}
    for handlers, targets in rank_zero_only.items():
        disabled = [h["_target_"] for h in parser[handlers] if h.get("_disabled_") == "$not @rank_zero"]
        assert disabled == targets, f"{handlers}: {disabled}"
    assert "DistributedDataParallel" in parser["network"]


@pytest.fixture(scope="module")
def single_process(prepared_64: Path, tmp_path_factory: pytest.TempPathFactory, without_synthtrust: Path) -> Path:
    """The documented single-process training on the prepared datalist (synthtrust hidden): ``models/model.pt``
    and its MLflow store ``mlruns.db`` in the returned folder."""
    out = tmp_path_factory.mktemp("single-process")
    bundle_run(BUNDLE, ["inference", "train"], without_synthtrust, out, ckpt_dir=str(out / "models"),
               **_training_data(prepared_64))
    return out


def _training_data(prepared: Path) -> dict:
    return {"mix_file": str(prepared / "datalist.json"), "data_root": str(prepared), **TINY, "log_every": 1}


@pytest.mark.slow
def test_torchrun_with_two_gloo_processes_ends_like_single_process_training(
        single_process: Path, prepared_64: Path, tmp_path: Path, without_synthtrust: Path) -> None:
    """``multi_gpu_train.yaml`` under torchrun, the model zoo's command, on two CPU ranks (gloo): the same
    checkpoint (an unwrapped state dict) and the same MLflow metrics, from rank 0 only, as one process."""
    import mlflow

    one, two = single_process, tmp_path
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nnodes=1", "--nproc_per_node=2",
                "-m"]
    bundle_run(BUNDLE, ["inference", "train", "multi_gpu_train"], without_synthtrust, two, torchrun,
               ckpt_dir=str(two / "models"), **_training_data(prepared_64))
    single = torch.load(one / "models" / "model.pt", weights_only=True)
    ranks = torch.load(two / "models" / "model.pt", weights_only=True)
    assert {k: v.shape for k, v in ranks.items()} == {k: v.shape for k, v in single.items()}
    assert all(torch.isfinite(v).all() for v in ranks.values() if v.is_floating_point())
    histories = []
    for out in (one, two):
        client = mlflow.MlflowClient(f"sqlite:///{out / 'mlruns.db'}")
        (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])  # rank 0 alone
        histories.append({k: len(client.get_metric_history(run.info.run_id, k)) for k in run.data.metrics})
    assert histories[1] == histories[0] and {"val_mean_dice", "val_dice_tc", "val_dice_wt", "val_dice_et",
                                             "train_loss"} <= set(histories[0])


@pytest.mark.slow
def test_train_evaluate_infer_with_monai_alone(single_process: Path, prepared_64: Path, tmp_path: Path,
                                               without_synthtrust: Path) -> None:
    """The three documented commands on the prepared dataset's datalist.json, synthtrust hidden (the training:
    the ``single_process`` fixture)."""
    models, scores, labels = single_process / "models", tmp_path / "scores", tmp_path / "labels"
    datalist = prepared_64 / "datalist.json"
    assert (models / "model.pt").is_file()
    bundle_run(BUNDLE, ["inference", "train", "evaluate"], without_synthtrust, tmp_path,
               dataset_dir=str(prepared_64), ckpt_dir=str(models), output_dir=str(scores), roi_size=TINY["roi_size"])
    testing = json.loads(datalist.read_text())["testing"]
    with (scores / "dice_et_raw.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:]] == [item["case_id"] for item in testing]
    assert (scores / "hd95_wt_raw.csv").is_file()
    bundle_run(BUNDLE, ["inference"], without_synthtrust, tmp_path, dataset_dir=str(prepared_64),
               ckpt_dir=str(models), output_dir=str(labels), roi_size=TINY["roi_size"])
    for item in testing:
        (written,) = labels.glob(f"{item['case_id']}_t1*_seg.nii.gz")
        reference = nib.load(prepared_64 / item["label"])
        seg = nib.load(written)
        assert seg.shape == reference.shape and np.allclose(seg.affine, reference.affine)
        assert set(np.unique(np.asarray(seg.dataobj)).tolist()) <= {0, 1, 2, 4}


@pytest.mark.slow
def test_verify_net_in_out_and_traced_export_match(tmp_path: Path) -> None:
    _bundle_cli("verify_net_in_out", "network_def", "--meta_file", str(CONFIGS / "metadata.json"),
                "--config_file", str(CONFIGS / "inference.yaml"), cwd=tmp_path)
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.yaml"))
    torch.manual_seed(0)
    network = parser.get_parsed_content("network_def").eval()
    torch.save(network.state_dict(), tmp_path / "model.pt")
    _bundle_cli("ckpt_export", "network_def", "--filepath", str(tmp_path / "model.ts"),
                "--ckpt_file", str(tmp_path / "model.pt"), "--meta_file", str(CONFIGS / "metadata.json"),
                "--config_file", str(CONFIGS / "inference.yaml"), "--use_trace", "True",
                "--input_shape", "[1, 4, 64, 64, 64]", cwd=tmp_path)
    extra = {"metadata.json": "", "inference.json": ""}
    traced = torch.jit.load(str(tmp_path / "model.ts"), _extra_files=extra)
    version = json.loads((CONFIGS / "metadata.json").read_text())["version"]
    assert json.loads(extra["metadata.json"])["version"] == version and extra["inference.json"]
    x = torch.randn(1, 4, 64, 64, 64)
    with torch.no_grad():
        assert torch.allclose(traced(x), network(x), atol=1e-4)
