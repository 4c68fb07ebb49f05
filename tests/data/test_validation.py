"""The bad-input corpus: every broken case gets an error naming its file and its problem."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtrust.data.brats import BRATS_GLI, discover_cases
from synthtrust.data.validation import format_report, load_case, validate_cases
from tests.conftest import synthetic_arrays


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _break(case_dir: Path, kind: str) -> tuple[str, str]:
    """Damage a written BraTS 2021 case; return (file name expected in the error, problem pattern)."""
    cid = case_dir.name
    if kind == "truncated":
        _truncate(case_dir / f"{cid}_t1ce.nii.gz")
        return f"{cid}_t1ce.nii.gz", "unreadable NIfTI"
    if kind == "not_gzip":
        (case_dir / f"{cid}_t2.nii.gz").write_bytes(b"this is not a nifti file")
        return f"{cid}_t2.nii.gz", "unreadable NIfTI"
    if kind == "missing_modality":
        (case_dir / f"{cid}_flair.nii.gz").unlink()
        return f"{cid}_flair.nii.gz", "missing file"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["truncated", "not_gzip", "missing_modality"])
def test_file_level_damage(tmp_path: Path, write_case, kind: str) -> None:
    name, problem = _break(write_case(tmp_path, "BraTS2021_00001"), kind)
    loaded, report = load_case(discover_cases(tmp_path)[0])
    assert loaded is None and not report.ok
    assert any(name in e and problem in e for e in report.errors), report.errors


def test_mismatched_shape(tmp_path: Path, write_case) -> None:
    image, label = synthetic_arrays()
    write_case(tmp_path, "BraTS2021_00001", image=image, label=label[:, :, :-2])
    _, report = load_case(discover_cases(tmp_path)[0])
    assert any("_seg.nii.gz" in e and "shape (24, 24, 18) differs" in e for e in report.errors)


def test_mismatched_affine(tmp_path: Path, write_case) -> None:
    case_dir = write_case(tmp_path, "BraTS2021_00001")
    path = case_dir / "BraTS2021_00001_t2.nii.gz"
    img = nib.load(str(path))
    shifted = img.affine.copy()
    shifted[0, 3] += 2.5
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), shifted), str(path))
    _, report = load_case(discover_cases(tmp_path)[0])
    assert report.errors == [f"{path}: affine differs from BraTS2021_00001_t1.nii.gz (max abs difference 2.5)"]


def test_nan_voxels(tmp_path: Path, write_case) -> None:
    image, label = synthetic_arrays()
    image = image.astype(np.float32)
    image[2, 5, 5, 5] = np.nan
    image[2, 6, 6, 6] = np.inf
    write_case(tmp_path, "BraTS2021_00001", image=image, label=label)
    _, report = load_case(discover_cases(tmp_path)[0])
    assert report.errors == [f"{tmp_path}/BraTS2021_00001/BraTS2021_00001_t2.nii.gz: 2 non-finite voxels (NaN or Inf)"]


def test_label_3_in_a_brats2021_case(tmp_path: Path, write_case) -> None:
    image, label = synthetic_arrays()
    label[label == 4] = 3
    write_case(tmp_path, "BraTS2021_00001", image=image, label=label)
    _, report = load_case(discover_cases(tmp_path)[0])
    assert len(report.errors) == 1
    assert "BraTS2021_00001_seg.nii.gz: unknown label values [3] for brats2021 naming" in report.errors[0]


def test_label_4_in_a_gli_case(tmp_path: Path, write_case) -> None:
    image, label = synthetic_arrays()
    label[0, 0, 0] = 5  # GLI maps 4 -> 3 when writing; 5 is foreign to both schemes
    write_case(tmp_path, "BraTS-GLI-00001-000", scheme=BRATS_GLI, image=image, label=label)
    _, report = load_case(discover_cases(tmp_path)[0])
    assert "unknown label values [5] for brats-gli naming (expected 0, 1, 2, 3)" in report.errors[0]


def test_empty_tumour_and_empty_brain(tmp_path: Path, write_case) -> None:
    image, label = synthetic_arrays()
    write_case(tmp_path, "BraTS2021_00001", image=image, label=np.zeros_like(label))
    write_case(tmp_path, "BraTS2021_00002", image=np.zeros_like(image), label=label)
    r1, r2 = validate_cases(discover_cases(tmp_path), progress=False)
    seg = tmp_path / "BraTS2021_00001" / "BraTS2021_00001_seg.nii.gz"
    assert r1.errors == [f"{seg}: empty tumour (label map has no tumour voxels)"]
    assert r2.errors == [f"{tmp_path}/BraTS2021_00002: empty brain (all four modalities are zero everywhere)"]


def test_a_case_directory_with_no_files(tmp_path: Path, write_case) -> None:
    write_case(tmp_path, "BraTS2021_00001")
    (tmp_path / "BraTS2021_00002").mkdir()
    reports = validate_cases(discover_cases(tmp_path), progress=False)
    assert reports[0].ok and len(reports[1].errors) == 5
    assert all("missing file" in e for e in reports[1].errors)


def test_report_lists_every_case_and_counts(tmp_path: Path, write_case) -> None:
    write_case(tmp_path, "BraTS2021_00001")
    _break(write_case(tmp_path, "BraTS2021_00002"), "truncated")
    text = format_report(validate_cases(discover_cases(tmp_path), progress=False))
    assert "OK    BraTS2021_00001  24x24x20 @ 1x1x1 mm  TC=0.1ml WT=0.5ml ET=0.1ml" in text
    assert "FAIL  BraTS2021_00002" in text and "unreadable NIfTI" in text
    assert text.endswith("1 of 2 cases valid, 1 failed")


def test_gzip_of_garbage_is_reported_not_raised(tmp_path: Path, write_case) -> None:
    case_dir = write_case(tmp_path, "BraTS2021_00001")
    with gzip.open(case_dir / "BraTS2021_00001_seg.nii.gz", "wb") as fh:
        fh.write(b"\x00" * 10)
    _, report = load_case(discover_cases(tmp_path)[0])
    assert "BraTS2021_00001_seg.nii.gz: unreadable NIfTI" in report.errors[0]


def test_read_case_dir_returns_arrays_or_names_the_problem(tmp_path: Path, write_case) -> None:
    from synthtrust.data.validation import read_case_dir
    from synthtrust.errors import DataError

    image, label = read_case_dir(write_case(tmp_path, "BraTS2021_00001"))
    assert image.shape == (4, 24, 24, 20) and set(np.unique(label)) == {0, 1, 2, 4}
    (tmp_path / "notes").mkdir()
    with pytest.raises(DataError, match="notes: not a BraTS case directory"):
        read_case_dir(tmp_path / "notes")
    _break(write_case(tmp_path, "BraTS2021_00002"), "missing_modality")
    with pytest.raises(DataError, match="BraTS2021_00002_flair.nii.gz: missing file"):
        read_case_dir(tmp_path / "BraTS2021_00002")


def _header_only(path: Path, shape: tuple[int, ...], dtype: str, affine: np.ndarray) -> None:
    """A .nii that is a NIfTI header and no voxel data: reading its data fails, so a refusal that names
    anything but "unreadable" was made from the header alone."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    header["vox_offset"] = 352
    path.write_bytes(header.binaryblock + b"\0" * 4)


@pytest.mark.parametrize(
    ("dtype", "shape", "problem"),
    [
        ("int16", (24, 24, 20), "unreadable NIfTI"),  # control: a sound header, so the data is read and fails
        ("complex64", (24, 24, 20), "complex64 voxels: expected one real intensity per voxel (complex and RGB "
                                    "images are refused)"),
        ("RGB", (24, 24, 20), "RGB voxels: expected one real intensity per voxel"),
        ("RGBA", (24, 24, 20), "RGBA voxels: expected one real intensity per voxel"),
        ("uint8", (384, 384, 384), "384x384x384 is 56,623,104 voxels, more than the 16,777,216 (256^3) allowed "
                                   "per volume"),
        ("uint8", (24, 24, 20, 3), "expected a 3D volume, got shape (24, 24, 20, 3)"),
    ],
)
def test_header_problems_are_refused_before_the_data_is_read(tmp_path: Path, write_case, dtype: str,
                                                            shape: tuple[int, ...], problem: str) -> None:
    case_dir = write_case(tmp_path, "BraTS2021_00001")
    gz = case_dir / "BraTS2021_00001_t2.nii.gz"
    path = gz.with_name("BraTS2021_00001_t2.nii")
    _header_only(path, shape, dtype, nib.load(str(gz)).affine)
    gz.unlink()
    loaded, report = load_case(discover_cases(tmp_path)[0])
    assert loaded is None
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{path}: {problem}"), report.errors


@pytest.mark.parametrize("kind", ["complex", "rgb"])
def test_complex_or_rgb_data_is_refused_not_truncated(tmp_path: Path, write_case, kind: str) -> None:
    """Complex voxels used to lose their imaginary part silently; RGB ones must not be read as intensities."""
    case_dir = write_case(tmp_path, "BraTS2021_00001")
    path = case_dir / "BraTS2021_00001_flair.nii.gz"
    img = nib.load(str(path))
    data = np.asarray(img.dataobj)
    if kind == "complex":
        data = (data + 1j * data).astype(np.complex64)
    else:
        data = np.rec.fromarrays([data.astype(np.uint8)] * 3, names="R,G,B").view(
            np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]))
    nib.save(nib.Nifti1Image(data, img.affine), str(path))
    _, report = load_case(discover_cases(tmp_path)[0])
    name = "complex64" if kind == "complex" else "RGB"
    assert report.errors == [f"{path}: {name} voxels: expected one real intensity per voxel "
                             "(complex and RGB images are refused)"]


@pytest.mark.parametrize(("size", "shown"), [(100.0, "100"), (1e-6, "1e-06")])
def test_implausible_spacing_names_each_file_and_the_spacing(tmp_path: Path, write_case, size: float,
                                                             shown: str) -> None:
    write_case(tmp_path, "BraTS2021_00001", affine=np.diag([size, 1.0, 1.0, 1.0]))
    case = discover_cases(tmp_path)[0]
    _, report = load_case(case)
    assert report.errors == [f"{path}: voxel spacing {shown}x1x1 mm is implausible (each axis must be 0.2 to 10 mm)"
                             for path in case.files.values()]


def test_spacing_range_ends_are_accepted(tmp_path: Path, write_case) -> None:
    write_case(tmp_path, "BraTS2021_00001", affine=np.diag([0.2, 10.0, 1.0, 1.0]))
    assert load_case(discover_cases(tmp_path)[0])[1].ok


@pytest.mark.parametrize("modalities", [(1,), (0, 3)])
def test_an_empty_modality_is_refused(tmp_path: Path, write_case, modalities: tuple[int, ...]) -> None:
    image, label = synthetic_arrays()
    image[list(modalities)] = 0
    write_case(tmp_path, "BraTS2021_00001", image=image, label=label)
    case = discover_cases(tmp_path)[0]
    _, report = load_case(case)
    names = ["t1", "t1ce", "t2", "flair"]
    assert report.errors == [f"{case.images[names[m]]}: empty modality (every voxel is zero; a non-empty brain is "
                             "needed in every modality)" for m in modalities]


def test_nii_and_nii_gz_of_one_modality_are_refused(tmp_path: Path, write_case) -> None:
    case_dir = write_case(tmp_path, "BraTS2021_00001")
    gz = case_dir / "BraTS2021_00001_t2.nii.gz"
    nib.save(nib.load(str(gz)), str(case_dir / "BraTS2021_00001_t2.nii"))
    _, report = load_case(discover_cases(tmp_path)[0])
    assert report.errors == [f"{gz}: BraTS2021_00001_t2.nii is present too (one file per modality: remove one)"]


@pytest.mark.parametrize("kind", ["loop", "broken", "broken .nii"])
def test_bad_symlinks_are_named_as_such(tmp_path: Path, write_case, kind: str) -> None:
    case_dir = write_case(tmp_path, "BraTS2021_00001")
    gz = case_dir / "BraTS2021_00001_t1ce.nii.gz"
    gz.unlink()
    link = gz.with_name("BraTS2021_00001_t1ce.nii") if kind == "broken .nii" else gz
    link.symlink_to(link.name if kind == "loop" else "../elsewhere/gone.nii.gz")
    _, report = load_case(discover_cases(tmp_path)[0])
    problem = "symlink loop" if kind == "loop" else "broken symbolic link to ../elsewhere/gone.nii.gz"
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{link}: {problem}"), report.errors


def test_duplicate_cases_are_refused_naming_both(tmp_path: Path, write_case) -> None:
    import shutil

    original = write_case(tmp_path, "BraTS2021_00001", seed=1)
    copy = tmp_path / "BraTS2021_00007"  # byte-identical files under another id
    copy.mkdir()
    for path in original.iterdir():
        shutil.copyfile(path, copy / path.name.replace("00001", "00007"))
    write_case(tmp_path, "BraTS-GLI-00008-000", scheme=BRATS_GLI, seed=1)  # the same arrays in 2023 naming
    write_case(tmp_path, "BraTS2021_00012", seed=12)
    write_case(tmp_path, "BraTS-GLI-00012-000", scheme=BRATS_GLI, seed=13)  # one patient, other contents
    write_case(tmp_path, "BraTS-GLI-00012-001", scheme=BRATS_GLI, seed=14)  # its follow-up: not a duplicate
    reports = validate_cases(discover_cases(tmp_path), progress=False)
    assert {r.case_id: r.errors for r in reports if r.errors} == {
        "BraTS2021_00001": ["BraTS2021_00001: duplicate of BraTS-GLI-00008-000 (identical image content); keep one "
                            "case"],
        "BraTS2021_00007": ["BraTS2021_00007: duplicate of BraTS-GLI-00008-000 (identical image content); keep one "
                            "case"],
        "BraTS2021_00012": [f"BraTS2021_00012: same patient as {gli} (patient 00012 under both BraTS 2021 and GLI "
                            "naming); keep one case" for gli in ("BraTS-GLI-00012-000", "BraTS-GLI-00012-001")],
    }
    assert "FAIL  BraTS2021_00007" in format_report(reports)
