"""Stage ``plot_segmenter``: Dice against alpha, per region, real vs synthetic test, with the bootstrap interval
over test cases of each mean, as CSV (a DVC plot) and PNG."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from synthtrust.data.brats import REGION_NAMES
from synthtrust.errors import DataError
from synthtrust.io import atomic_write_text
from synthtrust.plots import dice_vs_alpha
from synthtrust.segmenter import TEST_SETS


def dice_rows(alphas: Sequence[float], metrics_dir: str | Path = "metrics/segmenter") -> list[dict[str, float]]:
    """One row per alpha: ``alpha``, ``<test set>_<region>`` mean Dice and its interval
    (``<test set>_<region>_low``/``_high``) and the seed spread (``_seed_min``/``_seed_max``),
    ``<test set>_cases`` and ``seeds``, read from the evaluate stage."""
    rows = []
    for alpha in alphas:
        path = Path(metrics_dir) / f"alpha_{alpha}.json"
        if not path.is_file():
            raise DataError(f"{path}: no evaluation for alpha={alpha} (run: dvc repro evaluate)")
        summary = json.loads(path.read_text())
        row: dict[str, float] = {"alpha": float(alpha)}
        for t in TEST_SETS:
            block = summary[f"{t}_test"]
            for r in REGION_NAMES:
                low, high = block["dice_interval"][r]
                seed_min, seed_max = block["seed_spread"][r]
                row.update({f"{t}_{r}": block["dice"][r], f"{t}_{r}_low": low, f"{t}_{r}_high": high,
                            f"{t}_{r}_seed_min": seed_min, f"{t}_{r}_seed_max": seed_max})
            row[f"{t}_cases"] = block["cases"]
        row["seeds"] = len(summary["seeds"])
        row["confidence"] = summary["real_test"]["confidence"]
        rows.append(row)
    return rows


def run(alphas: Sequence[float], csv_path: str | Path, png_path: str | Path,
                        metrics_dir: str | Path = "metrics/segmenter") -> list[dict[str, float]]:
    """Write the CSV (a DVC plot) and the PNG of Dice vs alpha."""
    rows = dice_rows(alphas, metrics_dir)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(csv_path, buffer.getvalue())
    dice_vs_alpha(rows, png_path, rows[0]["confidence"])
    return rows
