"""The 3D viewer the reader-study pages and the trust report embed: NiiVue (vendored at set-up time by
``scripts/vendor-niivue.py``, never fetched when a page is read) driven by ``viewer.js``, with volumes carried
as base64 gzipped NIfTI inside scripts, since a page opened from disk may not fetch files beside it.

Volumes are written afresh for the page (a new header: nothing of the source file's name or description
travels), images as int16 scaled over their range (``scl_slope``: 65,536 levels, visually lossless, half the
bytes of float32), label maps as uint8.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from synthtrust.data.brats import MODALITIES
from synthtrust.errors import DataError

HERE = Path(__file__).resolve().parent
NIIVUE = HERE / "vendor" / "niivue.umd.js"
NIIVUE_STAMP = HERE / "vendor" / "niivue.json"
NIIVUE_LICENSE = HERE / "NIIVUE-LICENSE.txt"
VIEWER_JS = HERE / "viewer.js"
PAIRS_JS = HERE / "pairs.js"
MODALITY_NAMES = {"t1": "T1", "t1ce": "T1ce", "t2": "T2", "flair": "FLAIR"}


def niivue() -> Path:
    """The vendored NiiVue script; a missing one is named with the command that vendors it."""
    if not NIIVUE.is_file():
        raise DataError(f"{NIIVUE}: NiiVue is not vendored (run: make setup, or python3 scripts/vendor-niivue.py)")
    return NIIVUE


def niivue_version() -> str:
    """``@niivue/niivue@<version>`` as vendored."""
    niivue()
    stamp = json.loads(NIIVUE_STAMP.read_text()) if NIIVUE_STAMP.is_file() else {}
    return f"{stamp.get('package', '@niivue/niivue')}@{stamp.get('version', 'unknown')}"


def nifti_bytes(array: np.ndarray, affine: np.ndarray, label: bool = False) -> bytes:
    """Gzipped NIfTI of one 3D volume with a fresh header: int16 scaled over the range (images) or uint8 (labels).
    Equal inputs give equal bytes."""
    if label:
        image = nib.Nifti1Image(np.asarray(array).astype(np.uint8), np.asarray(affine, np.float64))
    else:
        image = nib.Nifti1Image(np.asarray(array, np.float32), np.asarray(affine, np.float64))
        image.set_data_dtype(np.int16)  # nibabel picks scl_slope/scl_inter to cover the range
    image.set_qform(image.affine, code=1)
    image.set_sform(image.affine, code=1)
    image.header.set_xyzt_units("mm")
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


def case_volumes(image: np.ndarray, label: np.ndarray, affine: np.ndarray) -> dict[str, bytes]:
    """A case's modalities (keyed as ``MODALITIES``) and its label map (``label``) as gzipped NIfTI."""
    volumes = {m: nifti_bytes(image[c], affine) for c, m in enumerate(MODALITIES)}
    volumes["label"] = nifti_bytes(label, affine, label=True)
    return volumes


def modality_names() -> list[list[str]]:
    """``[key, display name]`` of each modality, in ``MODALITIES`` order, as the viewer's scripts take them."""
    return [[m, MODALITY_NAMES[m]] for m in MODALITIES]


def encode(data: bytes) -> str:
    """base64 text of ``data``, as the viewer's scripts carry volumes."""
    return base64.b64encode(data).decode("ascii")


def inline_scripts(*extra: Path) -> str:
    """``<script>`` elements holding NiiVue, the viewer and ``extra`` scripts, for a single self-contained page."""
    # "</script" inside a script would end the element early; <\/script means the same to JavaScript
    bodies = [path.read_text().replace("</script", "<\\/script") for path in (niivue(), VIEWER_JS, *extra)]
    return "".join(f"<script>\n{body}\n</script>" for body in bodies)
