"""Stage ``mix``: the training datalist of synthetic fraction alpha (``mix.mode``); no image is copied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthtrust.io import atomic_write_json
from synthtrust.mixing import make_mix
from synthtrust.params import MixParams
from synthtrust.tracking import repo_root


def run(alpha: float, params: MixParams, out: str | Path, manifest: str | Path = "data/prepared/manifest.json",
        synthetic: str | Path = "data/synthetic") -> dict[str, Any]:
    """Write the mix of ``alpha`` to ``out`` (paths relative to the repository root); returns it."""
    datalist = make_mix(alpha, params, manifest, synthetic, root=repo_root())
    atomic_write_json(out, datalist)
    return datalist
