"""The generator bundle on its own: metadata, and `python -m monai.bundle run` as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO

BUNDLE = REPO / "bundles" / "brats_ddpm_generator"


def test_bundle_layout_and_metadata() -> None:
    for name in ("LICENSE", "docs/README.md", "configs/metadata.json", "configs/common.yaml",
                 "configs/train.yaml", "configs/inference.yaml", "configs/logging.conf"):
        assert (BUNDLE / name).is_file(), name
    meta = json.loads((BUNDLE / "configs" / "metadata.json").read_text())
    inputs, outputs = meta["network_data_format"]["inputs"], meta["network_data_format"]["outputs"]
    assert inputs["image"]["num_channels"] == 8 and outputs["pred"]["num_channels"] == 4
    assert list(outputs["pred"]["channel_def"].values()) == ["t1", "t1ce", "t2", "flair"]
    assert meta["monai_version"].startswith("1.6")


@pytest.mark.slow
def test_monai_bundle_run_trains_standalone(prepared_dir: Path, tmp_path: Path) -> None:
    configs = [str(BUNDLE / "configs" / c) for c in ("common.yaml", "train.yaml")]
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", json.dumps(configs),
           "--bundle_root", str(BUNDLE), "--dataset_dir", str(prepared_dir), "--ckpt_dir", str(tmp_path / "m"),
           "--channels", "[8,16,16]", "--attention_levels", "[False,False,False]",
           "--patch_size", "[16,16,16]", "--max_steps", "2", "--steps_per_epoch", "1"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns.db'}"}
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert state["conv_in.conv.weight"].shape[:2] == (8, 8)  # 8 out channels, 4 noisy + 4 conditioning in
    assert (tmp_path / "mlruns.db").is_file()
