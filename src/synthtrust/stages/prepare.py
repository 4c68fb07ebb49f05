"""Stage ``prepare``: validate the source (``data.source``), crop, normalise, fit to the grid, split by case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthtrust.data.prepare import MANIFEST, data_metrics, prepare
from synthtrust.io import atomic_write_json, claim_output
from synthtrust.params import DataParams


def run(params: DataParams, out: str | Path = "data/prepared", metrics: str | Path = "metrics/data.json"
        ) -> dict[str, Any]:
    """Write the prepared dataset (cases, manifest.json, datalist.json) and its metrics; returns the manifest."""
    manifest = prepare(params, claim_output(out, MANIFEST, "prepare"))
    atomic_write_json(metrics, data_metrics(manifest))
    return manifest
