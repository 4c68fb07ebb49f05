"""The app's own operators around the SDK's bundle inference operator: one BraTS case in, its label map out.

The SDK's NIfTI loader drops the affine, so the case is loaded with MONAI's ``LoadImage`` (the same reader
and stacking as the bundle's ``LoadImaged``), and the label map is written with the input's affine.
Every input problem is found before anything runs and raised as :class:`CaseError`, naming the file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from monai.deploy.core import ConditionType, Fragment, Image, Operator, OperatorSpec
from monai.transforms import LoadImage

#: The bundle's channel order (metadata.json ``channel_def``) and each modality's file suffixes:
#: BraTS 2021 names first, then BraTS 2023+ (t1n, t1c, t2w, t2f).
MODALITIES: dict[str, tuple[str, ...]] = {"t1": ("t1", "t1n"), "t1ce": ("t1ce", "t1c"),
                                          "t2": ("t2", "t2w"), "flair": ("flair", "t2f")}
NIFTI_SUFFIXES = (".nii.gz", ".nii")
# BraTS's labels and nested regions (synthtrust, which defines them for training, is not in this environment)
LABELS = (0, 1, 2, 4)
REGIONS = {"TC": (1, 4), "WT": (1, 2, 4), "ET": (4,)}
# Input bounds checked from each file's header before its data is read. They mirror MAX_VOXELS and
# SPACING_RANGE_MM in synthtrust.data.validation (keep them equal): at most 256^3 voxels per volume (BraTS is
# 240 x 240 x 155), and 0.2 to 10 mm voxels along every axis.
MAX_VOXELS = 256**3
SPACING_RANGE_MM = (0.2, 10.0)

logger = logging.getLogger(__name__)


class CaseError(ValueError):
    """The input case is missing, unreadable or inconsistent; the message names the file and the problem."""


def find_case(folder: str | Path) -> tuple[str, dict[str, Path]]:
    """Case id and the four modality files of the one BraTS case in ``folder`` (or in its only subfolder)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CaseError(f"{folder}: input folder not found")
    subfolders = [p for p in folder.iterdir() if p.is_dir()]
    if not any(p.name.endswith(NIFTI_SUFFIXES) for p in folder.iterdir()) and len(subfolders) == 1:
        folder = subfolders[0]
    files: dict[str, Path] = {}
    for modality, suffixes in MODALITIES.items():
        found = [p for p in sorted(folder.iterdir()) for end in _endings(modality)
                 if p.is_file() and p.name.endswith(end)]
        if not found:
            raise CaseError(f"{folder}: missing modality {modality} "
                            f"(expected <case>_{suffixes[0]}.nii.gz or <case>-{suffixes[1]}.nii.gz)")
        if len(found) > 1:
            raise CaseError(f"{folder}: more than one {modality} file: {[p.name for p in found]} "
                            "(one file per modality)")
        files[modality] = found[0]
    name = files["t1"].name
    case_id = next(name[: -len(end)] for end in _endings("t1") if name.endswith(end))
    return case_id, files


def _endings(modality: str) -> list[str]:
    """File name endings of ``modality``: ``_t1.nii.gz`` (BraTS 2021) or ``-t1n.nii.gz`` (BraTS 2023), and
    each name with the other separator or ``.nii``."""
    return [f"{sep}{s}{ext}" for s in MODALITIES[modality] for sep in "_-" for ext in NIFTI_SUFFIXES]


def _header_problem(img: nib.Nifti1Image) -> str | None:
    """What the header alone says is wrong (voxel type, size, dimensions, spacing), before any data is read."""
    dtype = img.get_data_dtype()
    if dtype.kind in "cV":  # complex, or structured: NIfTI RGB24 and RGBA32
        return (f"{img.header.get_value_label('datatype')} voxels: expected one real intensity per voxel "
                "(complex and RGB images are refused)")
    voxels = math.prod(img.shape)  # exact: a hostile header cannot overflow it
    if voxels > MAX_VOXELS:
        return f"{'x'.join(map(str, img.shape))} is {voxels:,} voxels, more than the {MAX_VOXELS:,} (256^3) allowed"
    if len(img.shape) != 3:
        return f"expected a 3D image, got shape {img.shape}"
    spacing = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))
    low, high = SPACING_RANGE_MM
    if not ((spacing >= low) & (spacing <= high)).all():
        return (f"voxel spacing {'x'.join(f'{s:.3g}' for s in spacing)} mm is implausible "
                f"(each axis must be {low:g} to {high:g} mm)")
    return None


def check_case(files: dict[str, Path]) -> tuple[tuple[int, ...], np.ndarray]:
    """Spatial shape and affine shared by the four files; :class:`CaseError` on any unreadable, complex or
    RGB, oversized, non-3D, implausibly spaced (these four from the header), non-finite, blank or mismatched
    file."""
    shape, affine = None, None
    for modality, path in files.items():
        try:
            img = nib.load(str(path))
            problem = _header_problem(img)
            data = None if problem else np.asanyarray(img.dataobj)
        except Exception as exc:  # nibabel raises many types for corrupt or truncated files
            raise CaseError(f"{path}: unreadable NIfTI ({type(exc).__name__}: {exc})") from exc
        if problem:
            raise CaseError(f"{path}: {problem}")
        if not np.isfinite(data).all():
            raise CaseError(f"{path}: contains NaN or infinite values")
        if not np.any(data):
            raise CaseError(f"{path}: no brain in the {modality} scan (every voxel is zero); nothing to segment")
        if shape is None:
            shape, affine, first = data.shape, img.affine, path
        elif data.shape != shape:
            raise CaseError(f"{path}: shape {data.shape} differs from {first.name}'s {shape}")
        elif not np.allclose(img.affine, affine, atol=1e-3):
            raise CaseError(f"{path}: affine differs from {first.name}'s")
    return shape, affine


def region_volumes_ml(label: np.ndarray, affine: np.ndarray) -> dict[str, float]:
    """TC, WT and ET volumes in ml of a BraTS label map with voxel-to-world ``affine`` (mm)."""
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    return {region: round(float(np.isin(label, labels).sum()) * voxel_ml, 4) for region, labels in REGIONS.items()}


class BratsCaseLoaderOperator(Operator):
    """Emits the case as a (4, H, W, D) ``Image`` in the bundle's channel order, with MONAI's metadata
    (affine included), and the case's id, affine and shape for the writer."""

    def __init__(self, fragment: Fragment, *args: Any, input_folder: Path, **kwargs: Any) -> None:
        self.case_id, self.files = find_case(input_folder)
        self.shape, self.affine = check_case(self.files)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output("image")
        spec.output("case")

    def compute(self, op_input, op_output, context) -> None:
        image = LoadImage(image_only=True)([str(self.files[m]) for m in MODALITIES])
        logger.info("loaded case %s: %s", self.case_id, tuple(image.shape))
        op_output.emit(Image(image.numpy(), metadata=dict(image.meta)), "image")
        op_output.emit({"case_id": self.case_id, "affine": self.affine, "shape": self.shape}, "case")


class LabelMapWriterOperator(Operator):
    """Writes ``<case>_seg.nii.gz`` (labels 0, 1, 2, 4; the input's affine) and ``<case>_volumes.json``."""

    def __init__(self, fragment: Fragment, *args: Any, output_folder: Path, **kwargs: Any) -> None:
        self.output_folder = Path(output_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("seg_image")
        spec.input("case")
        spec.output("volumes").condition(ConditionType.NONE)  # optional downstream

    def compute(self, op_input, op_output, context) -> None:
        seg, case = op_input.receive("seg_image"), op_input.receive("case")
        # the SDK's bundle operator hands the label map over as (D, H, W): back to the input's (H, W, D) grid
        label = np.swapaxes(np.asarray(seg.asnumpy()), 0, 2).astype(np.uint8)
        if label.shape != tuple(case["shape"]):
            raise RuntimeError(f"label map shape {label.shape} is not the input's {tuple(case['shape'])}")
        unknown = sorted(set(np.unique(label).tolist()) - set(LABELS))
        if unknown:
            raise RuntimeError(f"label map holds values {unknown}, not BraTS labels {LABELS}")
        volumes = {"case_id": case["case_id"], "volumes_ml": region_volumes_ml(label, case["affine"])}
        self.output_folder.mkdir(parents=True, exist_ok=True)
        seg_path = self.output_folder / f"{case['case_id']}_seg.nii.gz"
        json_path = self.output_folder / f"{case['case_id']}_volumes.json"
        with tempfile.TemporaryDirectory(dir=self.output_folder, prefix=".writing-") as tmp:
            nifti = nib.Nifti1Image(label, case["affine"])
            nifti.set_qform(case["affine"], code=1)
            nifti.set_sform(case["affine"], code=1)
            nib.save(nifti, Path(tmp) / seg_path.name)
            (Path(tmp) / json_path.name).write_text(json.dumps(volumes, indent=2) + "\n")
            os.replace(Path(tmp) / seg_path.name, seg_path)
            os.replace(Path(tmp) / json_path.name, json_path)  # last: its presence means the case is complete
        logger.info("wrote %s and %s: %s", seg_path, json_path.name, volumes["volumes_ml"])
        op_output.emit(volumes, "volumes")
