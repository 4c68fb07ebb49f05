"""Does a synthetic copy keep the real case's tumour contrasts? A sign test per region and modality."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthtrust.data.brats import MODALITIES, REGIONS
from synthtrust.data.validation import read_case_dir

#: Tumour sub-regions and regions compared against normal brain.
CONTRAST_REGIONS: dict[str, tuple[int, ...]] = {"NCR": (1,), "ED": (2,), **REGIONS}


def region_contrasts(image: np.ndarray, label: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean intensity of each region minus that of normal brain, per modality (NaN for an empty region)."""
    normal = (label == 0) & np.any(image != 0, axis=0)
    out: dict[str, dict[str, float]] = {}
    for m, modality in enumerate(MODALITIES):
        base = float(image[m][normal].mean())
        out[modality] = {
            region: float(image[m][np.isin(label, labels)].mean()) - base if np.isin(label, labels).any()
            else float("nan")
            for region, labels in CONTRAST_REGIONS.items()
        }
    return out


def contrast_agreement(pairs: Sequence[tuple[Path, Path]]) -> dict[str, Any]:
    """Compare tumour-vs-normal contrasts of real and synthetic cases (pairs of case directories).

    Contrasts are averaged over cases; a region/modality pair agrees when real and synthetic contrasts
    have the same sign. Returns the per-pair means and the fraction that agree.
    """
    real = [region_contrasts(*read_case_dir(r)) for r, _ in pairs]
    synth = [region_contrasts(*read_case_dir(s)) for _, s in pairs]
    table: dict[str, dict[str, dict[str, float | bool]]] = {}
    agree = total = 0
    for modality in MODALITIES:
        table[modality] = {}
        for region in CONTRAST_REGIONS:
            r = float(np.nanmean([c[modality][region] for c in real]))
            s = float(np.nanmean([c[modality][region] for c in synth]))
            same = bool(np.sign(r) == np.sign(s))
            table[modality][region] = {"real": round(r, 4), "synthetic": round(s, 4), "agree": same}
            agree, total = agree + same, total + 1
    return {"pairs": table, "agreement": agree / total, "agreeing": agree, "compared": total,
            "cases": len(pairs)}


def format_agreement(result: dict[str, Any]) -> str:
    """A table: per modality and region, real vs synthetic contrast and whether the signs agree."""
    lines = [f"{'modality':8} {'region':6} {'real':>8} {'synthetic':>10}  sign"]
    for modality, regions in result["pairs"].items():
        for region, row in regions.items():
            mark = "agree" if row["agree"] else "DIFFER"
            lines.append(f"{modality:8} {region:6} {row['real']:8.3f} {row['synthetic']:10.3f}  {mark}")
    lines.append(f"signs agree in {result['agreeing']} of {result['compared']} region/modality pairs "
                 f"({100 * result['agreement']:.0f} %) over {result['cases']} cases")
    return "\n".join(lines)
