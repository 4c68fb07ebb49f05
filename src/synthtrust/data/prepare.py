"""The ``prepare`` stage: validate the source, crop, normalise, fit to a fixed grid, split by case.

Pre-processing, per case, with MONAI dictionary transforms on the image (4 channels) and label map:

1. ``Orientationd`` to RAS, so every prepared case shares one orientation.
2. ``Spacingd`` to ``data.spacing`` mm when it is set (bilinear for images, nearest for labels); phantoms
   keep their native grid.
3. ``CropForegroundd`` to the brain (any modality non-zero) with a small margin.
4. ``ResizeWithPadOrCropd`` to ``data.spatial_size``, centred: background is zero-padded. A case whose
   brain does not fit is cropped and reported; a case that would lose tumour voxels is an error.
5. ``NormalizeIntensityd(nonzero=True, channel_wise=True)``: per-modality z-score over brain voxels,
   background kept at 0. This is the usual BraTS choice (MR intensities have no absolute scale, and
   skull-stripped background must not shift the statistics); the generator and the segmenter see the same.

Cases are split once, by case, with a seeded permutation into train/val/test. The manifest records every
prepared file's sha256, each source file's sha256, region volumes (TC/WT/ET, voxels and ml) and the split.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    CropForegroundd,
    NormalizeIntensityd,
    Orientationd,
    ResizeWithPadOrCropd,
    Spacingd,
)
from tqdm import tqdm

from synthtrust.data.brats import (
    MODALITIES,
    REGIONS,
    discover_cases,
    region_masks,
    voxel_spacing,
    voxel_volume_ml,
    write_case,
)
from synthtrust.data.datalist import DATALIST, decathlon_datalist
from synthtrust.data.validation import (
    MAX_VOXELS,
    SPACING_RANGE_MM,
    CaseReport,
    LoadedCase,
    duplicate_problems,
    load_case,
)
from synthtrust.errors import DataError, ParamsError
from synthtrust.io import atomic_dir, atomic_write_json, sha256_file
from synthtrust.params import DataParams, SplitParams

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"


def split_cases(case_ids: list[str], params: SplitParams) -> dict[str, list[str]]:
    """Seeded split of case ids into train/val/test; each split gets at least one case."""
    n = len(case_ids)
    n_val, n_test = max(1, round(params.val * n)), max(1, round(params.test * n))
    if n - n_val - n_test < 1:
        raise DataError(f"only {n} cases: too few to split into train, val and test")
    order = np.random.default_rng(params.seed).permutation(sorted(case_ids))
    return {
        "test": sorted(order[:n_test].tolist()),
        "val": sorted(order[n_test : n_test + n_val].tolist()),
        "train": sorted(order[n_test + n_val :].tolist()),
    }


def preprocessing(params: DataParams) -> tuple[Compose, Compose]:
    """The MONAI transform chains applied to every case (see the module docstring).

    Two chains so that what the fixed grid cuts away can be measured between them: the first reorients,
    resamples and crops to the brain; the second pads or crops to ``spatial_size`` and normalises.
    """
    keys = ("image", "label")
    to_brain: list[Any] = [Orientationd(keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S")))]
    if params.spacing is not None:
        to_brain.append(Spacingd(keys, pixdim=params.spacing, mode=("bilinear", "nearest")))
    to_brain.append(CropForegroundd(keys, source_key="image", margin=2, allow_smaller=True))
    to_grid = [
        ResizeWithPadOrCropd(keys, spatial_size=params.spatial_size),
        NormalizeIntensityd("image", nonzero=True, channel_wise=True),
    ]
    return Compose(to_brain), Compose(to_grid)


def check_grid(params: DataParams) -> None:
    """Refuse a ``data.spacing`` or ``data.spatial_size`` whose prepared cases would fail the validation
    they are read back through (SPACING_RANGE_MM, MAX_VOXELS).

    Raises:
        ParamsError: naming the key and the bound.
    """
    low, high = SPACING_RANGE_MM
    if params.spacing is not None and not all(low <= s <= high for s in params.spacing):
        raise ParamsError(f"data.spacing: {params.spacing} mm is outside the plausible {low:g} to {high:g} mm "
                          "per axis that validation accepts")
    voxels = int(np.prod(params.spatial_size))
    if voxels > MAX_VOXELS:
        raise ParamsError(f"data.spatial_size: {params.spatial_size} is {voxels:,} voxels, more than the "
                          f"{MAX_VOXELS:,} (256^3) validation accepts per volume")


def _to_meta(loaded: LoadedCase) -> dict[str, MetaTensor]:
    affine = torch.as_tensor(loaded.affine, dtype=torch.float64)
    return {
        "image": MetaTensor(torch.from_numpy(loaded.image), affine=affine),
        "label": MetaTensor(torch.from_numpy(loaded.label[None].astype(np.float32)), affine=affine),
    }


def prepare(params: DataParams, out: str | Path = "data/prepared", progress: bool = True) -> dict[str, Any]:
    """Run the prepare stage from ``params.raw_dir()`` into ``out``; returns the manifest.

    All cases are checked, each on its own and then for duplicates across cases (identical images, or one
    patient under both namings); if any fails, a DataError lists every problem and ``out`` is not written.
    """
    started = time.perf_counter()
    check_grid(params)
    raw_dir = params.raw_dir()
    if params.source == "brats" and not raw_dir.exists():
        raise DataError(f"{raw_dir}: BraTS directory does not exist (set data.brats_dir in params.yaml)")
    cases = discover_cases(raw_dir)
    splits = split_cases([c.case_id for c in cases], params.split)
    split_of = {cid: name for name, ids in splits.items() for cid in ids}
    to_brain, to_grid = preprocessing(params)
    out = Path(out)
    errors: list[str] = []
    records: dict[str, Any] = {}
    reports: list[CaseReport] = []
    logger.info("preparing %d %s cases from %s into %s", len(cases), params.source, raw_dir, out)
    with atomic_dir(out) as tmp:
        for case in tqdm(cases, desc="prepare", unit="case", disable=not progress):
            loaded, report = load_case(case)
            reports.append(report)
            if loaded is None:
                errors.extend(report.errors)
                continue
            brain = to_brain(_to_meta(loaded))
            result = to_grid(brain)
            image = result["image"].numpy().astype(np.float32)
            label = np.rint(result["label"].numpy()[0]).astype(np.uint8)
            affine = result["image"].affine.numpy()
            lost = int((brain["label"] > 0).sum()) - int((label > 0).sum())
            if lost > 0:
                errors.append(
                    f"{case.label}: {lost} tumour voxels fall outside data.spatial_size "
                    f"{list(params.spatial_size)}; enlarge it or coarsen data.spacing"
                )
                continue
            cropped = [b for b, s in zip(brain["image"].shape[1:], params.spatial_size, strict=True) if b > s]
            if cropped:
                logger.warning("%s: brain extent %s exceeds spatial_size %s; its edges are cropped",
                               case.case_id, list(brain["image"].shape[1:]), list(params.spatial_size))
            after = {r: int(m.sum()) for r, m in region_masks(label).items()}
            split = split_of[case.case_id]
            written = write_case(tmp / split / case.case_id, image, label, affine)
            voxel_ml = voxel_volume_ml(affine)
            records[case.case_id] = {
                "split": split,
                "source_scheme": case.scheme.name,
                "files": {
                    key: {"path": str(path.relative_to(tmp)), "sha256": sha256_file(path)}
                    for key, path in written.items()
                },
                "source_sha256": {key: sha256_file(path) for key, path in case.files.items()},
                "volumes_vox": after,
                "volumes_ml": {r: round(v * voxel_ml, 4) for r, v in after.items()},
                "spacing_mm": [round(s, 6) for s in voxel_spacing(affine)],
            }
        errors.extend(problem for problems in duplicate_problems(reports).values() for problem in problems)
        if errors:
            raise DataError(
                f"{len(errors)} problem(s) in {raw_dir}; nothing was written to {out}:\n  - "
                + "\n  - ".join(errors)
            )
        manifest = {
            "version": 1,
            "source": params.source,
            "source_dir": str(raw_dir),
            "params": params.model_dump(),
            "modalities": list(MODALITIES),
            "labels": {"necrotic_core": 1, "oedema": 2, "enhancing": 4},
            "regions": {name: list(labels) for name, labels in REGIONS.items()},
            "normalisation": "per-modality z-score over brain voxels (MONAI NormalizeIntensityd nonzero)",
            "splits": splits,
            "cases": records,
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        atomic_write_json(tmp / DATALIST, decathlon_datalist(manifest))
    logger.info(
        "prepared %s in %.1fs", ", ".join(f"{len(v)} {k}" for k, v in splits.items()),
        time.perf_counter() - started,
    )
    return json.loads((out / MANIFEST).read_text())  # exactly what was written (lists, not tuples)


def data_metrics(manifest: dict[str, Any]) -> dict[str, Any]:
    """Small summary for ``dvc metrics``: cases per split and median region volumes (ml)."""
    vols = {r: [c["volumes_ml"][r] for c in manifest["cases"].values()] for r in REGIONS}
    return {
        "cases": {split: len(ids) for split, ids in manifest["splits"].items()},
        "median_volume_ml": {r: round(float(np.median(v)), 3) for r, v in vols.items()},
        "min_volume_ml": {r: round(float(np.min(v)), 3) for r, v in vols.items()},
    }
