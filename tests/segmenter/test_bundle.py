"""The segmenter bundle with MONAI's own bundle tooling: layout, verify_net_in_out, traced ckpt_export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser

from tests.conftest import REPO

BUNDLE = REPO / "bundles" / "brats_swinunetr_segmenter"
CONFIGS = BUNDLE / "configs"


def _bundle_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=cwd, capture_output=True,
                            text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_layout_and_metadata() -> None:
    for name in ("LICENSE", "docs/README.md", "configs/metadata.json", "configs/inference.yaml",
                 "configs/train.yaml", "configs/evaluate.yaml", "configs/multi_gpu_train.yaml",
                 "configs/logging.conf"):
        assert (BUNDLE / name).is_file(), name
    fmt = json.loads((CONFIGS / "metadata.json").read_text())["network_data_format"]
    assert list(fmt["inputs"]["image"]["channel_def"].values()) == ["t1", "t1ce", "t2", "flair"]
    assert list(fmt["outputs"]["pred"]["channel_def"].values()) == ["TC", "WT", "ET"]


def test_multi_gpu_config_layers_over_training() -> None:
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / f"{c}.yaml") for c in ("inference", "train", "multi_gpu_train")])
    assert parser["train#dataloader#sampler"] == "@train#sampler"
    assert parser["train#dataloader#shuffle"] is False
    assert "DistributedDataParallel" in parser["network"]


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
    assert json.loads(extra["metadata.json"])["version"] == "0.1.0" and extra["inference.json"]
    x = torch.randn(1, 4, 64, 64, 64)
    with torch.no_grad():
        assert torch.allclose(traced(x), network(x), atol=1e-4)
