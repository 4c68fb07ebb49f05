"""BraTS-format phantoms: the embedded default dataset, made on the fly from data shipped in nilearn.

Anatomy is the MNI152 2009 template's grey- and white-matter probability maps and brain mask, which the
nilearn wheel carries (no download). Each case deforms them randomly (MONAI ``Rand3DElastic``: rotation,
scaling, translation and a smooth elastic field), grows a tumour inside the brain and renders four MR
contrasts from tissue classes:

========  ====  ====  ====  =======  ========  =========
contrast  CSF   GM    WM    oedema   necrosis  enhancing
========  ====  ====  ====  =======  ========  =========
t1        0.20  0.50  0.75  0.42     0.25      0.55
t1ce      0.22  0.52  0.76  0.44     0.24      1.00
t2        1.00  0.62  0.45  0.85     0.95      0.60
flair     0.12  0.58  0.48  0.95     0.50      0.70
========  ====  ====  ====  =======  ========  =========

so that T1 orders WM > GM > CSF, T2 and FLAIR show oedema bright, FLAIR suppresses CSF and T1ce shows the
enhancing rim bright. Per-case contrast jitter, a smooth multiplicative bias field per sequence
(MONAI ``RandBiasField``), Rician noise (``RandRicianNoise``) and skull stripping follow. Tumours have a
necrotic core (1) inside an enhancing rim (4) inside oedema (2) that prefers white matter; radii are drawn
log-uniformly so that small enhancing lesions occur. Everything is seeded per case: the same seed gives
the same bytes.

Files are written in the BraTS 2021 layout with an LPS-style affine like the challenge's, so phantoms take
exactly the loader path that real data takes.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from monai.transforms import (
    Compose,
    CropForeground,
    Rand3DElastic,
    RandBiasField,
    RandRicianNoise,
    Resize,
    SpatialPad,
)
from monai.utils import set_determinism
from nilearn import datasets as nilearn_datasets
from scipy import ndimage
from tqdm import tqdm

from synthtrust import __version__
from synthtrust.data.brats import MODALITIES, write_case
from synthtrust.io import atomic_dir, atomic_write_json
from synthtrust.params import DataParams, PhantomParams, replace

logger = logging.getLogger(__name__)

#: Mean intensity of each tissue class (columns) per contrast (rows), before jitter, bias and noise.
CLASSES = ("csf", "gm", "wm", "oedema", "necrosis", "enhancing")
CONTRASTS: dict[str, tuple[float, ...]] = {
    "t1": (0.20, 0.50, 0.75, 0.42, 0.25, 0.55),
    "t1ce": (0.22, 0.52, 0.76, 0.44, 0.24, 1.00),
    "t2": (1.00, 0.62, 0.45, 0.85, 0.95, 0.60),
    "flair": (0.12, 0.58, 0.48, 0.95, 0.50, 0.70),
}
BRAIN_FILL = 0.9  # fraction of the grid the template brain's longest side spans


@dataclass
class Phantom:
    """One generated case: (4, S, S, S) int16 image, uint8 BraTS label map, their affine, and the
    (3, S, S, S) CSF/GM/WM fractions it was rendered from (kept in memory for checks, never written)."""

    case_id: str
    image: np.ndarray
    label: np.ndarray
    affine: np.ndarray
    tissues: np.ndarray
    tumour: dict[str, float]


@functools.lru_cache(maxsize=4)
def template_tissues(size: int) -> tuple[np.ndarray, float]:
    """CSF, GM and WM fractions of the MNI152 template on an ``size``^3 grid, and its spacing in mm."""
    gm = nilearn_datasets.load_mni152_gm_template(resolution=1)
    wm = nilearn_datasets.load_mni152_wm_template(resolution=1)
    mask = nilearn_datasets.load_mni152_brain_mask(resolution=1)
    gm_a, wm_a = (np.asarray(i.get_fdata(), np.float32) for i in (gm, wm))
    # nilearn's mask thresholds the T1 template, which leaves out the (dark) ventricles: fill them in
    mask_a = ndimage.binary_fill_holes(np.asarray(mask.get_fdata()) > 0).astype(np.float32)
    csf_a = np.clip(mask_a - gm_a - wm_a, 0.0, 1.0) * mask_a
    tissues = np.stack([csf_a, gm_a * mask_a, wm_a * mask_a])
    brain_extent = CropForeground(margin=0)(tissues).shape[1:]
    target = int(round(size * BRAIN_FILL))
    spacing = max(brain_extent) / target  # template voxels are 1 mm
    grid = Compose(
        [
            CropForeground(margin=0),
            Resize(spatial_size=target, size_mode="longest", mode="area"),
            SpatialPad(spatial_size=(size, size, size)),
        ]
    )
    out = np.asarray(grid(torch.from_numpy(tissues)), dtype=np.float32)
    return np.clip(out, 0.0, 1.0), float(spacing)


def lps_affine(size: int, spacing: float) -> np.ndarray:
    """An affine like BraTS's (x and y flipped), centred on the origin."""
    half = spacing * (size - 1) / 2.0
    return np.array(
        [[-spacing, 0, 0, half], [0, -spacing, 0, half], [0, 0, spacing, -half], [0, 0, 0, 1]],
        dtype=np.float64,
    )


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian-smoothed noise."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field - field.mean()) / (field.std() + 1e-8)


def _grow_tumour(
    rng: np.random.Generator, brain: np.ndarray, wm: np.ndarray, size: int
) -> tuple[np.ndarray, dict[str, float]]:
    """A BraTS label map (0, 1, 2, 4) with ET within TC within WT, all inside ``brain``."""
    shape = brain.shape
    scale = size / 64.0
    r_wt = float(np.exp(rng.uniform(np.log(5.0), np.log(14.0)))) * scale
    r_tc = max(1.2 * scale, r_wt * float(rng.uniform(0.25, 0.65)))
    depth = ndimage.distance_transform_edt(brain)
    candidates = np.argwhere((depth > max(2.0, 0.6 * r_wt)) & (wm > 0.5))
    if len(candidates) == 0:
        candidates = np.argwhere(depth >= depth.max() * 0.5)
    centre = candidates[rng.integers(len(candidates))].astype(np.float32)
    coords = np.indices(shape, dtype=np.float32)
    dist = np.sqrt(((coords - centre[:, None, None, None]) ** 2).sum(0))
    wobble = _smooth_noise(rng, shape, sigma=3.0 * scale)
    tc = (dist < r_tc * (1.0 + 0.25 * wobble)) & brain
    tc[tuple(centre.astype(int))] = True
    oedema_reach = r_wt * (1.0 + 0.3 * _smooth_noise(rng, shape, 4.0 * scale)) * (0.75 + 0.35 * wm)
    # oedema wraps the core by at least one voxel, then spreads further along white matter
    wt = ((dist < oedema_reach) | ndimage.binary_dilation(tc)) & brain
    rim = max(1, int(round(rng.uniform(0.8, 2.0) * scale)))
    core = ndimage.binary_erosion(tc, iterations=rim) if rng.random() > 0.15 else np.zeros_like(tc)
    # a patchy rim: some of it does not enhance and counts as necrosis (TC is unchanged)
    patchy = (_smooth_noise(rng, shape, 1.5 * scale) < -1.0) & tc & ~core
    et = tc & ~core & ~patchy
    if not et.any():  # keep at least one enhancing voxel: BraTS cases nearly always have ET
        et = tc.copy()
    label = np.zeros(shape, np.uint8)
    label[wt] = 2
    label[tc] = 1
    label[et] = 4
    info = {"centre_vox": [int(c) for c in centre], "r_wt_vox": round(r_wt, 3), "r_tc_vox": round(r_tc, 3)}
    return label, info


def _render(
    rng: np.random.Generator, tissues: np.ndarray, label: np.ndarray, brain: np.ndarray, seed: int
) -> np.ndarray:
    """Four contrasts (t1, t1ce, t2, flair) as int16, zero outside the brain."""
    frac = np.zeros((len(CLASSES),) + label.shape, np.float32)
    frac[:3] = tissues / np.maximum(tissues.sum(0, keepdims=True), 1e-6)
    for cls, value in (("oedema", 2), ("necrosis", 1), ("enhancing", 4)):
        where = label == value
        frac[:, where] = 0.0
        frac[CLASSES.index(cls), where] = 1.0
    texture = 1.0 + 0.06 * _smooth_noise(rng, label.shape, 1.0) * (label > 0)
    images = []
    for i, modality in enumerate(MODALITIES):
        means = np.asarray(CONTRASTS[modality], np.float32) * rng.uniform(0.95, 1.05, len(CLASSES))
        img = np.tensordot(means.astype(np.float32), frac, axes=1) * texture
        img = ndimage.gaussian_filter(img, 0.5) * brain
        bias = RandBiasField(degree=3, coeff_range=(0.0, 0.12), prob=1.0)
        bias.set_random_state(seed=seed + i)
        noise = RandRicianNoise(prob=1.0, std=0.02, relative=False, sample_std=False)
        noise.set_random_state(seed=seed + 10 + i)
        img = np.asarray(noise(bias(img[None])))[0] * brain
        gain = 1000.0 * rng.uniform(0.8, 1.2)
        images.append(np.clip(np.round(img * gain), 0, np.iinfo(np.int16).max).astype(np.int16))
    return np.stack(images)


def make_phantom(index: int, size: int, seed: int) -> Phantom:
    """Generate phantom number ``index`` of the set seeded by ``seed``."""
    rng = np.random.default_rng([seed, index])
    case_seed = int(rng.integers(0, 2**31 - 1))
    tissues, spacing = template_tissues(size)
    scale = size / 64.0
    deform = Rand3DElastic(
        sigma_range=(6.0 * scale, 8.0 * scale),
        magnitude_range=(150.0 * scale, 300.0 * scale),
        prob=1.0,
        rotate_range=(0.12, 0.12, 0.12),
        scale_range=(0.07, 0.07, 0.07),
        translate_range=(2.0 * scale,) * 3,
        mode="bilinear",
        padding_mode="zeros",
    )
    deform.set_random_state(seed=case_seed)
    warped = np.clip(np.asarray(deform(torch.from_numpy(tissues)), np.float32), 0.0, 1.0)
    brain = warped.sum(0) > 0.5
    label, tumour = _grow_tumour(rng, brain, warped[2], size)
    image = _render(rng, warped, label, brain, case_seed)
    # store as BraTS does: x and y flipped, LPS-style affine
    flip = (slice(None), slice(None, None, -1), slice(None, None, -1))
    return Phantom(
        case_id=f"BraTS2021_{index:05d}",
        image=np.ascontiguousarray(image[flip]),
        label=np.ascontiguousarray(label[flip[1:]]),
        affine=lps_affine(size, spacing),
        tissues=np.ascontiguousarray(warped[flip]),
        tumour=tumour,
    )


def make_phantoms(out: str | Path, params: PhantomParams, progress: bool = True) -> list[str]:
    """Write ``params.n`` phantoms to ``out`` atomically (all or nothing); returns the case ids."""
    out = Path(out)
    set_determinism(seed=params.seed)
    logger.info("writing %d phantoms of %d^3 voxels to %s (seed %d)", params.n, params.size, out, params.seed)
    provenance: dict[str, object] = {
        "generator": f"synthtrust.data.phantoms {__version__}",
        "template": "MNI152 2009 (nilearn package data)",
        "params": params.model_dump(),
        "cases": {},
    }
    with atomic_dir(out) as tmp:
        for index in tqdm(range(params.n), desc="phantoms", unit="case", disable=not progress):
            phantom = make_phantom(index, params.size, params.seed)
            write_case(tmp / phantom.case_id, phantom.image, phantom.label, phantom.affine, np.int16)
            provenance["cases"][phantom.case_id] = phantom.tumour  # type: ignore[index]
        atomic_write_json(tmp / "phantoms.json", provenance)
    set_determinism(seed=None)
    return sorted(provenance["cases"])  # type: ignore[arg-type]


def phantom_stand_in(data: DataParams, n: int | None = None) -> DataParams:
    """``data`` with phantoms in place of its source, made on its grid: what benchmarks and the GPU smoke
    suite run a profile on where its real data are absent (the paper profile's 128^3 without BraTS)."""
    phantom = replace(data.phantom, size=max(data.spatial_size), n=n or data.phantom.n)
    return replace(data, source="phantom", spacing=None, phantom=phantom.model_dump())
