"""The generator bundle on its own: metadata, and ``python -m monai.bundle run`` train and inference, as
documented, with MONAI alone (synthtrust hidden)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from tests.bundles.conftest import bundle_run
from tests.conftest import REPO

BUNDLE = REPO / "bundles" / "brats_ddpm_generator"
TINY = {"channels": [8, 16, 16], "attention_levels": [False, False, False], "num_train_timesteps": 100}


def test_bundle_layout_and_metadata() -> None:
    for name in ("LICENSE", "docs/README.md", "configs/metadata.json", "configs/common.yaml",
                 "configs/train.yaml", "configs/inference.yaml", "configs/logging.conf",
                 "scripts/__init__.py", "scripts/conditioning.py", "scripts/engine.py", "scripts/sampler.py"):
        assert (BUNDLE / name).is_file(), name
    meta = json.loads((BUNDLE / "configs" / "metadata.json").read_text())
    inputs, outputs = meta["network_data_format"]["inputs"], meta["network_data_format"]["outputs"]
    assert inputs["image"]["num_channels"] == 8 and outputs["pred"]["num_channels"] == 4
    assert inputs["image"]["format"] == "magnitude" and inputs["image"]["modality"] == "MR"
    assert list(outputs["pred"]["channel_def"].values()) == ["t1", "t1ce", "t2", "flair"]
    assert meta["monai_version"].startswith("1.6") and "synthtrust" not in meta["required_packages_version"]
    for path in BUNDLE.rglob("*"):
        if path.suffix in (".py", ".yaml", ".json"):
            assert "import synthtrust" not in path.read_text() and "synthtrust." not in path.read_text(), path


@pytest.mark.slow
def test_train_then_sample_with_monai_alone(prepared_dir: Path, tmp_path: Path, without_synthtrust: Path) -> None:
    models, out = tmp_path / "models", tmp_path / "eval"
    bundle_run(BUNDLE, ["common", "train"], without_synthtrust, tmp_path, dataset_dir=str(prepared_dir),
               ckpt_dir=str(models), patch_size=[16, 16, 16], max_steps=2, steps_per_epoch=1, **TINY)
    state = torch.load(models / "model.pt", weights_only=True)
    assert state["conv_in.conv.weight"].shape[:2] == (8, 8)  # 8 out channels, 4 noisy + 4 conditioning in
    assert (tmp_path / "mlruns.db").is_file()
    bundle_run(BUNDLE, ["common", "inference"], without_synthtrust, tmp_path, dataset_dir=str(prepared_dir),
               ckpt_dir=str(models), output_dir=str(out), num_inference_steps=2, **TINY)
    testing = json.loads((prepared_dir / "datalist.json").read_text())["testing"]
    for item in testing:
        written = nib.load(out / f"{item['case_id']}_synthetic.nii.gz")
        label = nib.load(prepared_dir / item["label"])
        assert written.shape == (*label.shape, 4) and np.allclose(written.affine, label.affine)
        assert np.isfinite(np.asarray(written.dataobj)).all()
