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
    if how == "other affine":  # moved by 5 mm (scaling it could make the spacing implausible, refused first)
        moved = img.affine.copy()
        moved[0, 3] += 5.0
        nib.save(nib.Nifti1Image(data, moved), path)
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


def _spoil(case_dir: Path, how: str) -> str:
    """Make the copied case unusable ``how`` (each found from the header, or a blank scan); returns the message."""
    path = case_dir / f"{CASE}_t1ce.nii.gz"
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    if how == "nii beside nii.gz":
        shutil.copyfile(path, path.with_suffix(""))
        return f"{case_dir}: more than one t1ce file: ['{CASE}_t1ce.nii', '{CASE}_t1ce.nii.gz'] (one file per modality)"
    if how in ("complex", "RGB"):
        data = (data + 1j * data).astype(np.complex64) if how == "complex" else np.rec.fromarrays(
            [data.astype(np.uint8)] * 3, names="R,G,B").view(np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]))
        nib.save(nib.Nifti1Image(data, img.affine), path)
        kind = "complex64" if how == "complex" else "RGB"
        return f"{path}: {kind} voxels: expected one real intensity per voxel (complex and RGB images are refused)"
    if how == "384^3 header, no data":  # a refusal from the header alone: reading the data would fail
        header = nib.Nifti1Header()
        header.set_data_shape((384, 384, 384))
        header.set_data_dtype(np.uint8)
        header["vox_offset"] = 352
        path.unlink()
        path = path.with_suffix("")
        path.write_bytes(header.binaryblock + b"\0" * 4)
        return f"{path}: 384x384x384 is 56,623,104 voxels, more than the 16,777,216 (256^3) allowed"
    if how.startswith("spacing"):
        size = float(how.split()[1])
        nib.save(nib.Nifti1Image(data, np.diag([-size, -1.0, 1.0, 1.0])), path)
        return f"{path}: voxel spacing {size:.3g}x1x1 mm is implausible (each axis must be 0.2 to 10 mm)"
    if how == "blank t2":
        path = case_dir / f"{CASE}_t2.nii.gz"
        nib.save(nib.Nifti1Image(np.zeros_like(data), img.affine), path)
        return f"{path}: no brain in the t2 scan (every voxel is zero); nothing to segment"
    assert how in ("blank scan", "blank scan, 2023 names")
    written = []
    for modality, suffix in {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"}.items():
        path = case_dir / f"{CASE}_{modality}.nii.gz"
        nib.save(nib.Nifti1Image(np.zeros_like(data), img.affine), path)
        if how.endswith("2023 names"):  # BraTS 2023's own file names: -t1n, not _t1n
            path = path.rename(case_dir / f"BraTS-GLI-00001-000-{suffix}.nii.gz")
        written.append(path)
    return f"{written[0]}: no brain in the t1 scan (every voxel is zero); nothing to segment"


@pytest.mark.parametrize("how", ["nii beside nii.gz", "complex", "RGB", "384^3 header, no data", "spacing 100",
                                 "spacing 1e-6", "blank t2", "blank scan", "blank scan, 2023 names"])
def test_unusable_scans_are_refused_before_the_model_runs(how: str, deploy_python: str, phantom_dir: Path,
                                                         tmp_path: Path) -> None:
    """The case is refused (exit 2, one line, no traceback, nothing written) before any model is read, so a
    placeholder model serves: were the case let through, the run would fail on it with status 1 instead."""
    case_dir = tmp_path / CASE
    shutil.copytree(phantom_dir / CASE, case_dir)
    message = _spoil(case_dir, how)
    model = tmp_path / "model.ts"
    model.write_bytes(b"not a TorchScript file")
    out = tmp_path / "out"
    done = run_app(deploy_python, case_dir, out, model)
    assert done.returncode == 2, (done.stdout + done.stderr)[-4000:]
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not out.exists()
