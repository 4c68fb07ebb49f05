"""``synthtrust registry``: the versions of the registered model, their aliases and regional Dice."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from synthtrust import tracking
from synthtrust.data.brats import REGION_NAMES
from synthtrust.errors import SynthtrustError
from synthtrust.params import RegistryParams


def versions_table(params: RegistryParams) -> list[dict[str, Any]]:
    """One row per version: aliases, alpha, regional real-test and validation Dice, promotion trail."""
    client = mlflow.MlflowClient(tracking.tracking_uri())
    name = params.model_name
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as exc:
        tracking.raise_if_refused(exc)
        raise SynthtrustError(f"{name}: not in the registry at {tracking.tracking_uri()} (run: dvc repro register)"
                              ) from exc
    by_version: dict[str, list[str]] = {}
    for alias, v in aliases.items():
        by_version.setdefault(str(v), []).append(alias)
    rows = []
    for v in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
        t = v.tags
        rows.append({"version": int(v.version), "aliases": ",".join(sorted(by_version.get(str(v.version), []))),
                     "alpha": t.get("alpha", ""), "mode": t.get("mix_mode", ""),
                     **{f"test_{r}": t.get(f"test_dice_{r}", "") for r in REGION_NAMES},
                     **{f"val_{r}": t.get(f"val_dice_{r}", "") for r in REGION_NAMES},
                     "promoted": t.get("promoted_at", ""), "by": t.get("promoted_by", "")})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width text table."""
    if not rows:
        return "(no versions)"
    cells = [[str(k) for k in rows[0]]] + [[_fmt(v) for v in r.values()] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.3f}" if isinstance(value, str) and "." in value else str(value)
    except ValueError:
        return str(value)
