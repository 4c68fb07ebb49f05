"""Checks that a BraTS case is complete and consistent before anything is trained on it."""

from __future__ import annotations

import logging
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
    region_masks,
    to_brats2021_labels,
    voxel_spacing,
    voxel_volume_ml,
)
from synthtrust.errors import DataError

logger = logging.getLogger(__name__)
AFFINE_ATOL_MM = 1e-3


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

    @property
    def ok(self) -> bool:
        return not self.errors


def _read(path: Path, errors: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Read a 3D NIfTI fully (a truncated file fails here, not later); record a problem in ``errors``."""
    if not path.exists():
        errors.append(f"{path}: missing file")
        return None
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt input; all mean "unreadable"
        errors.append(f"{path}: unreadable NIfTI ({type(exc).__name__}: {exc})")
        return None
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        errors.append(f"{path}: expected a 3D volume, got shape {data.shape}")
        return None
    return data, img.affine


def load_case(case: BratsCase, require_tumour: bool = True) -> tuple[LoadedCase | None, CaseReport]:
    """Read and check every file of ``case``.

    Checks: all four modalities and the label map present and readable, equal shapes, matching affines,
    finite intensities, label values in the naming scheme's set, a non-empty brain and (optionally) a
    non-empty tumour. Returns the loaded case (None on any error) and a report naming each problem's file.
    """
    report = CaseReport(case.case_id)
    errors = report.errors
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
    if not np.any(image != 0):
        errors.append(f"{case.directory}: empty brain (all four modalities are zero everywhere)")
    if require_tumour and not np.any(label):
        errors.append(f"{case.label}: empty tumour (label map has no tumour voxels)")

    report.shape, report.spacing = tuple(int(s) for s in ref_shape), voxel_spacing(ref_affine)
    voxel_ml = voxel_volume_ml(ref_affine)
    report.volumes_ml = {r: float(m.sum()) * voxel_ml for r, m in region_masks(label).items()}
    if errors:
        return None, report
    return LoadedCase(case, image, label, ref_affine), report


def read_case_dir(case_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(4, ...) float32 image and BraTS label map of one case directory, checked like any input.

    Raises:
        DataError: the directory is not a readable, consistent BraTS case (every problem is named).
    """
    case = case_from_dir(case_dir)
    if case is None:
        raise DataError(f"{case_dir}: not a BraTS case directory")
    loaded, report = load_case(case, require_tumour=False)
    if loaded is None:
        raise DataError("; ".join(report.errors))
    return loaded.image, loaded.label


def validate_cases(cases: Iterable[BratsCase], progress: bool = True) -> list[CaseReport]:
    """Check every case; never stops at the first failure so the report lists them all."""
    cases = list(cases)
    reports = []
    for case in tqdm(cases, desc="validate", unit="case", disable=not progress):
        _, report = load_case(case)
        reports.append(report)
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
