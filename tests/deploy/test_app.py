"""The MONAI Deploy app run for real on CPU, in its own environment (``make deploy-env``): its label map
equals the segmenter bundle's in-process inference voxel for voxel, and bad input exits non-zero, writing
nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtrust.data.brats import MODALITIES
from synthtrust.stages.export import run as export_bundle
from tests.conftest import REPO, TINY_SEGMENTER, bundle_label_map

pytestmark = pytest.mark.slow
APP = REPO / "deploy" / "app.py"
CASE = "BraTS2021_00001"


@pytest.fixture(scope="module")
def deploy_python() -> str:
    """The deploy environment's interpreter: $SYNTHTRUST_DEPLOY_PYTHON (``make test`` sets it), else .venv-deploy."""
    configured = os.environ.get("SYNTHTRUST_DEPLOY_PYTHON")
    python = Path(configured or REPO / ".venv-deploy" / "bin" / "python")
    if not python.is_file():
        if configured:
            pytest.fail(f"SYNTHTRUST_DEPLOY_PYTHON={configured}: no such interpreter (run `make deploy-env`)")
        pytest.skip("no MONAI Deploy environment: `make deploy-env` builds it (`make test` does)")
    return str(python)


@pytest.fixture(scope="module")
def bundle(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The alpha = 0 test model exported as a deployable bundle."""
    root = tmp_path_factory.mktemp("export")
    export_bundle(str(trained_workspace / "models" / "segmenter" / "alpha_0.0" / "model.pt"), root / "bundle",
                  TINY_SEGMENTER)
    return root / "bundle"


def run_app(python: str, case_dir: Path, out: Path, model: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([python, str(APP), "-i", str(case_dir), "-o", str(out), "-m", str(model)],
                          capture_output=True, text=True, env=env, cwd=out.parent, timeout=600)


def test_label_map_equals_in_process_bundle_inference(deploy_python: str, bundle: Path, phantom_dir: Path,
                                                      trained_workspace: Path, tmp_path: Path) -> None:
    case_dir = phantom_dir / CASE  # a raw phantom: BraTS naming and orientation, not the prepared grid
    paths = [str(case_dir / f"{CASE}_{m}.nii.gz") for m in MODALITIES]
    expected = bundle_label_map(paths, trained_workspace / "models" / "segmenter" / "alpha_0.0", tmp_path / "ref")

    out = tmp_path / "out"
    done = run_app(deploy_python, case_dir, out, bundle)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    seg = nib.load(out / f"{CASE}_seg.nii.gz")
    label = np.asarray(seg.dataobj)
    assert label.dtype == np.uint8 and set(np.unique(label)) <= {0, 1, 2, 4}
    np.testing.assert_array_equal(label, expected)
    source = nib.load(paths[0])
    np.testing.assert_allclose(seg.affine, source.affine, atol=1e-5)
    voxel_ml = float(np.prod(source.header.get_zooms()[:3])) / 1000.0
    volumes = json.loads((out / f"{CASE}_volumes.json").read_text())
    assert volumes["case_id"] == CASE
    for region, labels in {"TC": (1, 4), "WT": (1, 2, 4), "ET": (4,)}.items():
        assert volumes["volumes_ml"][region] == pytest.approx(np.isin(expected, labels).sum() * voxel_ml, abs=1e-3)

    again = run_app(deploy_python, case_dir, tmp_path / "out_ts", bundle / "models" / "model.ts")  # -m the file
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / "out_ts" / f"{CASE}_seg.nii.gz").dataobj), expected)


def _break(case_dir: Path, how: str) -> str:
    """Damage the copied case ``how``; returns what the error must say."""
    if how == "missing modality":
        (case_dir / f"{CASE}_flair.nii.gz").unlink()
        return f"{case_dir}: missing modality flair"
    path = case_dir / f"{CASE}_t1ce.nii.gz"
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    if how == "wrong shape":
        nib.save(nib.Nifti1Image(data[:, :, :-4], img.affine), path)
        return f"{path}: shape (32, 32, 28) differs from {CASE}_t1.nii.gz's (32, 32, 32)"
    if how == "other affine":
        nib.save(nib.Nifti1Image(data, img.affine @ np.diag([2.0, 1.0, 1.0, 1.0])), path)
        return f"{path}: affine differs from {CASE}_t1.nii.gz's"
    if how == "NaN":
        data = data.astype(np.float32)
        data[3, 3, 3] = np.nan
        nib.save(nib.Nifti1Image(data, img.affine), path)
        return f"{path}: contains NaN or infinite values"
    path.write_bytes(path.read_bytes()[:400])  # unreadable: a truncated gzip stream
    return f"{path}: unreadable NIfTI"


@pytest.mark.parametrize("how", ["missing modality", "wrong shape", "other affine", "NaN", "unreadable file"])
def test_bad_input_exits_non_zero_and_writes_nothing(how: str, deploy_python: str, bundle: Path, phantom_dir: Path,
                                                     tmp_path: Path) -> None:
    case_dir = tmp_path / CASE
    shutil.copytree(phantom_dir / CASE, case_dir)
    message = _break(case_dir, how)
    out = tmp_path / "out"
    done = run_app(deploy_python, case_dir, out, bundle)
    assert done.returncode == 2, (done.stdout + done.stderr)[-4000:]
    assert message in done.stdout + done.stderr
    assert not out.exists()
