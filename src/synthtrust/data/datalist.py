"""MONAI datalists (lists of dicts of paths) built from a prepared dataset's manifest.

The prepare stage also writes ``datalist.json`` beside the manifest: the same splits in MONAI's Decathlon
datalist format (``training``, ``validation``, ``testing``; paths relative to the file), which is what the
bundles read when they run on their own (``monai.data.load_decathlon_datalist``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synthtrust.data.brats import LABEL_KEY, MODALITIES
from synthtrust.errors import DataError

DATALIST = "datalist.json"
DECATHLON_KEYS = {"train": "training", "val": "validation", "test": "testing"}


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest written by the prepare stage, checked for what the datalists read from it.

    Raises:
        DataError: naming the file and the key: not found, not JSON, not an object, ``splits`` or ``cases``
            missing, a split naming a case not in ``cases``, or a case without its five files' paths.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found (run the prepare stage first: dvc repro prepare)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: manifest is not a JSON object (got {type(manifest).__name__})")
    for key in ("splits", "cases"):
        if not isinstance(manifest.get(key), dict):
            raise DataError(f"{path}: manifest key {key!r} is missing or not an object")
    cases = manifest["cases"]
    for split, ids in manifest["splits"].items():
        if not isinstance(ids, list):
            raise DataError(f"{path}: splits.{split} is not a list of case ids")
        unknown = [cid for cid in ids if not isinstance(cid, str) or cid not in cases]
        if unknown:
            raise DataError(f"{path}: splits.{split} names case(s) not in 'cases': {unknown}")
        for cid in ids:
            files = cases[cid].get("files") if isinstance(cases[cid], dict) else None
            files = files if isinstance(files, dict) else {}
            missing = [k for k in (*MODALITIES, LABEL_KEY) if not isinstance(files.get(k), dict)
                       or not isinstance(files[k].get("path"), str)]
            if missing:
                raise DataError(f"{path}: cases.{cid}.files lacks the path of {', '.join(missing)}")
    return manifest


def case_item(root: Path, files: dict[str, Any], case_id: str) -> dict[str, Any]:
    """One datalist entry: ``image`` is the four modality paths in channel order, ``label`` the seg."""
    return {
        "case_id": case_id,
        "image": [str(root / files[m]["path"]) for m in MODALITIES],
        "label": str(root / files[LABEL_KEY]["path"]),
    }


def manifest_datalist(manifest_path: str | Path, split: str) -> list[dict[str, Any]]:
    """Datalist of the cases of ``split`` (train, val or test) with absolute-or-relative paths as given."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    if split not in manifest["splits"]:
        raise DataError(f"{manifest_path}: no split {split!r} (have {sorted(manifest['splits'])})")
    root = manifest_path.parent
    return [case_item(root, manifest["cases"][cid]["files"], cid) for cid in manifest["splits"][split]]


def decathlon_datalist(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest's splits as a MONAI Decathlon datalist, paths relative to the manifest's directory."""
    lists = {key: [case_item(Path(), manifest["cases"][cid]["files"], cid) for cid in manifest["splits"][split]]
             for split, key in DECATHLON_KEYS.items()}
    return {"description": f"synthtrust prepared {manifest['source']} cases", "modality": list(MODALITIES), **lists}
