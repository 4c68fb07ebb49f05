"""Image comparisons the trust factors share: brain masks, paired SSIM/PSNR, MS-SSIM, a case distance.

Images are prepared BraTS cases: (4, H, W, D) float z-scores inside the brain, 0 outside, all on one grid.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import MultiScaleSSIMMetric, PSNRMetric, SSIMMetric

MS_SSIM_WEIGHTS = (0.3, 0.4, 0.3)  # three scales: the demo's 64^3 volumes are too small for the standard five
WINDOW = 7
PSNR_CAP_DB = 100.0                # identical images have infinite PSNR; JSON needs a number


def brain_mask(image: np.ndarray) -> np.ndarray:
    """Voxels where any modality is non-zero (prepared data are 0 outside the brain)."""
    return np.any(image != 0, axis=0)


def data_range(images: list[np.ndarray]) -> np.ndarray:
    """Per-modality intensity range over a set of images: the SSIM/PSNR ``data_range``."""
    stacked = np.stack([np.asarray(i, np.float32) for i in images])
    return np.maximum(stacked.max(axis=(0, 2, 3, 4)) - stacked.min(axis=(0, 2, 3, 4)), 1e-6)


def paired_similarity(real: np.ndarray, synth: np.ndarray, ranges: np.ndarray) -> dict[str, list[float]]:
    """SSIM and PSNR per modality of a synthetic copy against its real case, inside the real brain's
    bounding box with voxels outside the brain zeroed in both."""
    mask = brain_mask(real)
    box = tuple(slice(int(ix.min()), int(ix.max()) + 1) for ix in np.nonzero(mask))
    r = torch.as_tensor((real * mask)[(slice(None), *box)], dtype=torch.float32)
    s = torch.as_tensor((synth * mask)[(slice(None), *box)], dtype=torch.float32)
    ssim, psnr = [], []
    for c in range(r.shape[0]):
        pair = (s[None, c : c + 1], r[None, c : c + 1])
        ssim.append(float(SSIMMetric(spatial_dims=3, data_range=float(ranges[c]), win_size=WINDOW)(*pair)))
        value = float(PSNRMetric(max_val=float(ranges[c]))(*pair))
        psnr.append(min(value, PSNR_CAP_DB))
    return {"ssim": ssim, "psnr": psnr}


def ms_ssim(a: np.ndarray, b: np.ndarray, ranges: np.ndarray) -> float:
    """Mean over modalities of the three-scale MS-SSIM of two whole volumes."""
    values = [float(MultiScaleSSIMMetric(spatial_dims=3, data_range=float(ranges[c]), kernel_size=WINDOW,
                                         weights=MS_SSIM_WEIGHTS)(torch.as_tensor(a[None, c : c + 1]).float(),
                                                                  torch.as_tensor(b[None, c : c + 1]).float()))
              for c in range(a.shape[0])]
    return float(np.mean(values))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """1 - Pearson correlation over the union of both brains, averaged over modalities: 0 for a copy
    (also of a rescaled copy), about 1 for unrelated images, independent of the z-score scale."""
    mask = brain_mask(a) | brain_mask(b)
    values = []
    for c in range(a.shape[0]):
        x, y = a[c][mask].astype(np.float64), b[c][mask].astype(np.float64)
        x, y = x - x.mean(), y - y.mean()
        denom = np.sqrt((x * x).sum() * (y * y).sum())
        values.append(1.0 - float((x * y).sum() / denom) if denom > 0 else 1.0)
    return float(np.mean(values))
