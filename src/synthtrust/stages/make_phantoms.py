"""Stage ``make_phantoms``: the embedded default dataset, BraTS-format phantoms (``data.phantom``)."""

from __future__ import annotations

from pathlib import Path

from synthtrust.data.phantoms import make_phantoms
from synthtrust.io import claim_output
from synthtrust.params import PhantomParams


def run(params: PhantomParams, out: str | Path = "data/raw/phantom") -> list[str]:
    """Write the phantoms to ``out`` (all or nothing); returns their case ids."""
    return make_phantoms(claim_output(out, "phantoms.json", "make-phantoms"), params)
