"""``synthtrust export-bundle`` for real: a registered model (or a checkpoint) becomes a MONAI bundle whose
traced TorchScript gives the checkpoint's output and whose config runs without synthtrust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from synthtrust.bundles import SEGMENTER, parse
from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError
from synthtrust.io import sha256_file
from synthtrust.segmenter.checkpoint import load_network_state
from synthtrust.stages.export import run as export_stage
from tests.conftest import TINY_SEGMENTER, bundle_label_map, write_tiny_params


def export_bundle(model: str, out: Path, params: Path | None = None) -> dict:
    """The export stage, with the segmenter params of ``params`` (a params file; default: the tiny network)."""
    from synthtrust.params import load

    return export_stage(model, out, load(params).segmenter if params else TINY_SEGMENTER)


SEG = TINY_SEGMENTER
FILES = ("LICENSE", "configs/metadata.json", "configs/inference.json", "configs/logging.conf", "configs/train.yaml",
         "configs/evaluate.yaml", "scripts/metrics.py", "docs/README.md", "models/model.pt", "models/model.ts")


@pytest.mark.slow
def test_registered_model_exports_to_an_equivalent_standalone_bundle(registered: dict, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = export_bundle("models:/brats-swinunetr@challenger", out)
    assert all((out / name).is_file() for name in FILES)
    assert not (out / "configs" / "inference.yaml").exists()  # inference.json, with the network's values, is it
    checkpoint = Path("models/segmenter/alpha_0.0/model.pt")
    meta = json.loads((out / "configs" / "metadata.json").read_text())
    assert meta["synthtrust"]["version"] == 1 and meta["synthtrust"]["aliases"] == ["challenger"]
    assert meta["synthtrust"]["checkpoint_sha256"] == sha256_file(checkpoint) == sha256_file(out / "models/model.pt")
    assert "Intended use" in (out / "docs" / "model_card.md").read_text()
    config_text = (out / "configs" / "inference.json").read_text()
    assert "synthtrust" not in config_text and json.loads(config_text)["roi_size"] == list(SEG.roi_size)

    extra = {"metadata.json": "", "inference.json": ""}
    traced = torch.jit.load(str(out / "models" / "model.ts"), map_location="cpu", _extra_files=extra)
    assert json.loads(extra["inference.json"]) == json.loads(config_text)
    assert json.loads(extra["metadata.json"])["name"] == meta["name"]
    assert result["max_abs_diff"] <= 1e-4

    # the traced network's logits equal the checkpoint's on a real test case, through the sliding window
    (first, *_) = manifest_datalist("data/prepared/manifest.json", "test")
    case = {"image": [str(Path(p).resolve()) for p in first["image"]]}  # the subprocess runs elsewhere
    parser = parse(SEGMENTER, ["inference"], SEG.network_overrides())
    image = parser.get_parsed_content("preprocessing")({"image": case["image"]})["image"][None]
    network = parser.get_parsed_content("network")
    network.load_state_dict(load_network_state(checkpoint)[0])
    inferer = parser.get_parsed_content("inferer")
    with torch.no_grad():
        expected, actual = inferer(image, network.eval()), inferer(image, traced)
    assert torch.allclose(actual, expected, atol=1e-4)

    # the exported config runs on its own with monai.bundle and writes the bundle's label map
    expected_label = bundle_label_map(case["image"], checkpoint.parent, tmp_path / "ref")
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(out / "configs/inference.json"),
               "--bundle_root", str(out), "--datalist", repr([case]), "--output_dir", str(tmp_path / "exported")]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = (tmp_path / "exported").glob("*_seg.nii.gz")
    np.testing.assert_array_equal(np.asarray(nib.load(written).dataobj), expected_label)


@pytest.mark.slow
def test_checkpoint_exports_with_the_network_params_of_params_yaml(trained_workspace: Path, tmp_path: Path) -> None:
    params = write_tiny_params(tmp_path / "params.yaml")
    checkpoint = trained_workspace / "models" / "segmenter" / "alpha_1.0" / "model.pt"
    result = export_bundle(str(checkpoint), tmp_path / "bundle", params)
    meta = json.loads((tmp_path / "bundle" / "configs" / "metadata.json").read_text())
    assert meta["synthtrust"]["checkpoint"] == str(checkpoint) and result["max_abs_diff"] <= 1e-4
    assert not (tmp_path / "bundle" / "docs" / "model_card.md").exists()


def test_bad_sources_name_the_problem_and_write_nothing(tmp_path: Path, mlflow_store: str) -> None:
    out = tmp_path / "bundle"
    with pytest.raises(DataError, match="no-such.pt: no such checkpoint"):
        export_bundle(str(tmp_path / "no-such.pt"), out)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="corrupt.pt: not a readable PyTorch checkpoint"):
        export_bundle(str(corrupt), out)
    with pytest.raises(DataError, match="models:/no-such-model@champion: not in the registry"):
        export_bundle("models:/no-such-model@champion", out)
    from synthtrust.bundles import GENERATOR
    from tests.conftest import DEMO

    generator = tmp_path / "generator.pt"  # the generator's weights, as its CheckpointSaver writes them
    network = parse(GENERATOR, ["common"], DEMO.generator.sample_overrides()).get_parsed_content("network")
    torch.save({"network": network.state_dict()}, generator)
    with pytest.raises(DataError, match="generator.pt: not a checkpoint of this segmenter network"):
        export_bundle(str(generator), out)
    assert not out.exists() and not list(tmp_path.glob(".bundle*"))
