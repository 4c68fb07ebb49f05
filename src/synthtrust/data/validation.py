"""Checks that a BraTS case is complete and consistent before anything is trained on it."""

from __future__ import annotations

import errno
import hashlib
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from tqdm import tqdm

from synthtrust.data.brats import (
    LABEL_KEY,
    MODALITIES,
    BratsCase,
    case_from_dir,
    patient_id,
    region_masks,
    to_brats2021_labels,
    voxel_spacing,
    voxel_volume_ml,
)
from synthtrust.errors import DataError

logger = logging.getLogger(__name__)
#: How far (mm) an affine may differ from the case's t1 affine.
AFFINE_ATOL_MM = 1e-3
#: Largest volume read, in voxels per file, checked from the header before any data is read. BraTS is
#: 240 x 240 x 155 = 8.9 M voxels; 256^3 = 16.8 M leaves room for other 1 mm grids and 256^3 phantoms.
MAX_VOXELS = 256**3
#: Plausible voxel size (mm) along every axis. Phantoms are 0.8 (256^3) to 6.2 mm (32^3); clinical slices
#: reach 5-7 mm; the upper end leaves room for prepare's coarse resampling (data.spacing), whose output is
#: read back through the same checks.
SPACING_RANGE_MM = (0.2, 10.0)


@dataclass
class LoadedCase:
    """A validated case in memory: (4, X, Y, Z) float32 image in t1, t1ce, t2, flair order."""

    case: BratsCase
    image: np.ndarray
    label: np.ndarray  # uint8, BraTS 2021 labels
    affine: np.ndarray


@dataclass
class CaseReport:
    """The outcome of checking one case."""

    case_id: str
    errors: list[str] = field(default_factory=list)
    shape: tuple[int, ...] | None = None
    spacing: tuple[float, ...] | None = None
    volumes_ml: dict[str, float] = field(default_factory=dict)
    content_sha256: str | None = None  # of the four modality arrays as read (float32), to find duplicates

    @property
    def ok(self) -> bool:
        return not self.errors


def _missing(path: Path) -> str | None:
    """Why ``path`` is not there to read (a missing file, a broken or looping symlink), or None."""
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (the link never reaches a file)"
        if path.is_symlink():
            return f"broken symbolic link to {os.readlink(path)}"
        return "missing file" if exc.errno == errno.ENOENT else f"cannot access ({exc.strerror})"
    return None


def _header_problem(img: nib.Nifti1Image) -> str | None:
    """What the header alone says is wrong (voxel type, size, dimensions, spacing), before any data is read."""
    dtype = img.get_data_dtype()
    if dtype.kind in "cV":  # complex, or structured: NIfTI RGB24 and RGBA32
        return (f"{img.header.get_value_label('datatype')} voxels: expected one real intensity per voxel "
                "(complex and RGB images are refused)")
    voxels = math.prod(img.shape)
    if voxels > MAX_VOXELS:
        return (f"{'x'.join(map(str, img.shape))} is {voxels:,} voxels, more than the {MAX_VOXELS:,} "
                "(256^3) allowed per volume")
    if len(img.shape) != 3 and img.shape[3:] != (1,):
        return f"expected a 3D volume, got shape {img.shape}"
    spacing = voxel_spacing(img.affine)
    low, high = SPACING_RANGE_MM
    if not all(low <= s <= high for s in spacing):
        return (f"voxel spacing {'x'.join(f'{s:.3g}' for s in spacing)} mm is implausible "
                f"(each axis must be {low:g} to {high:g} mm)")
    return None


def _read(path: Path, errors: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Read a 3D NIfTI fully (a truncated file fails here, not later) once its header passes
    :func:`_header_problem`; record a problem in ``errors``."""
    missing = _missing(path)
    if missing:
        errors.append(f"{path}: {missing}")
        return None
    try:
        img = nib.load(str(path))
        problem = _header_problem(img)
        if problem:
            errors.append(f"{path}: {problem}")
            return None
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt input; all mean "unreadable"
        errors.append(f"{path}: unreadable NIfTI ({type(exc).__name__}: {exc})")
        return None
    return data.reshape(data.shape[:3]), img.affine


def load_case(case: BratsCase, require_tumour: bool = True) -> tuple[LoadedCase | None, CaseReport]:
    """Read and check every file of ``case``.

    Checks: one file per modality and label map, each present (not a broken or looping symlink), with a
    header giving real scalar voxels, at most MAX_VOXELS, 3D, spacing within SPACING_RANGE_MM (all before
    its data is read), then readable; equal shapes, matching affines, finite intensities, label values in the
    naming scheme's set, a non-empty brain in every modality and (optionally) a non-empty tumour. Returns the
    loaded case (None on any error) and a report naming each problem's file.
    """
    report = CaseReport(case.case_id)
    errors = report.errors
    for key, path in case.files.items():
        errors.extend(f"{path}: {other.name} is present too (one file per modality: remove one)"
                      for other in case.present(key) if other != path)
    arrays: dict[str, np.ndarray] = {}
    affines: dict[str, np.ndarray] = {}
    for key, path in case.files.items():
        read = _read(path, errors)
        if read is not None:
            arrays[key], affines[key] = read
    if errors:
        return None, report

    ref_key = MODALITIES[0]
    ref_path, ref_shape, ref_affine = case.files[ref_key], arrays[ref_key].shape, affines[ref_key]
    for key, path in case.files.items():
        if arrays[key].shape != ref_shape:
            errors.append(f"{path}: shape {arrays[key].shape} differs from {ref_path.name} shape {ref_shape}")
        elif not np.allclose(affines[key], ref_affine, atol=AFFINE_ATOL_MM):
            diff = float(np.abs(affines[key] - ref_affine).max())
            errors.append(f"{path}: affine differs from {ref_path.name} (max abs difference {diff:.4g})")
    for key in MODALITIES:
        bad = int((~np.isfinite(arrays[key])).sum())
        if bad:
            errors.append(f"{case.files[key]}: {bad} non-finite voxels (NaN or Inf)")
    raw_label = arrays[LABEL_KEY]
    if np.isfinite(raw_label).all() and not np.array_equal(raw_label, np.round(raw_label)):
        errors.append(f"{case.label}: label map has non-integer values")
    elif np.isfinite(raw_label).all():
        values = {int(v) for v in np.unique(raw_label)}
        unknown = sorted(values - set(case.scheme.labels))
        if unknown:
            expected = ", ".join(map(str, sorted(case.scheme.labels)))
            errors.append(
                f"{case.label}: unknown label values {unknown} for {case.scheme.name} naming "
                f"(expected {expected})"
            )
    else:
        errors.append(f"{case.label}: label map has non-finite values")
    if errors:
        return None, report

    image = np.stack([arrays[m] for m in MODALITIES])
    label = to_brats2021_labels(raw_label, case.scheme).astype(np.uint8)
    empty = [m for m in MODALITIES if not np.any(arrays[m])]
    if len(empty) == len(MODALITIES):
        errors.append(f"{case.directory}: empty brain (all four modalities are zero everywhere)")
    elif empty:
        errors.extend(f"{case.files[m]}: empty modality (every voxel is zero; a non-empty brain is needed in "
                      "every modality)" for m in empty)
    else:
        digest = hashlib.sha256(str(image.shape).encode())
        for m in MODALITIES:  # the arrays as read: a copy in another file type or naming hashes the same
            digest.update(np.ascontiguousarray(arrays[m]).data)
        report.content_sha256 = digest.hexdigest()
    if require_tumour and not np.any(label):
        errors.append(f"{case.label}: empty tumour (label map has no tumour voxels)")

    report.shape, report.spacing = tuple(int(s) for s in ref_shape), voxel_spacing(ref_affine)
    voxel_ml = voxel_volume_ml(ref_affine)
    report.volumes_ml = {r: float(m.sum()) * voxel_ml for r, m in region_masks(label).items()}
    if errors:
        return None, report
    return LoadedCase(case, image, label, ref_affine), report


def load_case_dir(case_dir: str | Path) -> LoadedCase:
    """One case directory, checked like any input: image, label map and affine.

    Raises:
        DataError: the directory is not a readable, consistent BraTS case (every problem is named).
    """
    case = case_from_dir(case_dir)
    if case is None:
        raise DataError(f"{case_dir}: not a BraTS case directory")
    loaded, report = load_case(case, require_tumour=False)
    if loaded is None:
        raise DataError("; ".join(report.errors))
    return loaded


def read_case_dir(case_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(4, ...) float32 image and BraTS label map of one case directory (:func:`load_case_dir`)."""
    loaded = load_case_dir(case_dir)
    return loaded.image, loaded.label


def duplicate_problems(reports: list[CaseReport]) -> dict[str, list[str]]:
    """Problems of cases that repeat an earlier one in ``reports``, keyed by the later case's id, each naming
    both ids: identical modality arrays (a copy under another id, or renamed to the other BraTS naming), or
    one glioma patient under both BraTS 2021 and 2023 GLI naming (see :func:`patient_id`). Either would let
    one patient's scans land in two splits."""
    problems: dict[str, list[str]] = {}
    by_content: dict[str, str] = {}
    by_patient: dict[str, list[str]] = {}
    for report in reports:
        cid = report.case_id
        same = by_content.setdefault(report.content_sha256, cid) if report.content_sha256 else cid
        if same != cid:
            problems.setdefault(cid, []).append(
                f"{cid}: duplicate of {same} (identical image content); keep one case")
        patient = patient_id(cid)
        if patient is None:
            continue
        for other in by_patient.setdefault(patient, []):  # GLI follow-ups (-001) of one patient are not duplicates
            if other != same and other.startswith("BraTS2021_") != cid.startswith("BraTS2021_"):
                problems.setdefault(cid, []).append(
                    f"{cid}: same patient as {other} (patient {patient} under both BraTS 2021 and GLI "
                    "naming); keep one case")
        by_patient[patient].append(cid)
    return problems


def validate_cases(cases: Iterable[BratsCase], progress: bool = True) -> list[CaseReport]:
    """Check every case, then across cases for duplicates (:func:`duplicate_problems`); never stops at the
    first failure so the report lists them all."""
    cases = list(cases)
    reports = []
    for case in tqdm(cases, desc="validate", unit="case", disable=not progress):
        _, report = load_case(case)
        reports.append(report)
    for case_id, problems in duplicate_problems(reports).items():
        next(r for r in reports if r.case_id == case_id).errors.extend(problems)
    return reports


def format_report(reports: list[CaseReport]) -> str:
    """A per-case, human-readable table of results with each problem on its own line."""
    lines = []
    for r in reports:
        if r.ok:
            shape = "x".join(map(str, r.shape or ()))
            spacing = "x".join(f"{s:.2g}" for s in r.spacing or ())
            vols = " ".join(f"{k}={v:.1f}ml" for k, v in r.volumes_ml.items())
            lines.append(f"OK    {r.case_id}  {shape} @ {spacing} mm  {vols}")
        else:
            lines.append(f"FAIL  {r.case_id}")
            lines.extend(f"      - {e}" for e in r.errors)
    n_bad = sum(not r.ok for r in reports)
    lines.append(f"{len(reports) - n_bad} of {len(reports)} cases valid, {n_bad} failed")
    return "\n".join(lines)
