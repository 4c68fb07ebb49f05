"""Real:synthetic training mixes of synthetic fraction alpha, written as MONAI datalists.

``replace`` (default): the training set keeps its N cases; a seeded subset of round(alpha * N) of them
uses its synthetic copy's images instead of the real ones. The label maps are the real ones for every
alpha, so only the image source changes. The subset is the first k cases of one seeded permutation, so
mixes are nested: a case synthetic at alpha = 0.25 is synthetic at 0.5 too.

``augment``: all N real cases plus round(alpha * N / (1 - alpha)) novel synthetic cases (made from
perturbed label maps), so alpha is still the synthetic fraction of the training set.

Validation is always the real validation split; the test split never appears in a mix. Paths are
relative to the repository root, so a mix is small, diffable and versioned by DVC; no image is copied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthtrust.data.brats import BRATS2021, LABEL_KEY, MODALITIES
from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError, ParamsError
from synthtrust.params import MixParams, check_alpha


def synthetic_item(root: Path, case_id: str, label: str | None = None) -> dict[str, Any]:
    """Datalist entry for the synthetic case in ``root/<case_id>`` (label: its own, unless given)."""
    case_dir = root / case_id
    return {
        "case_id": case_id,
        "image": [str(case_dir / BRATS2021.filename(case_id, m)) for m in MODALITIES],
        "label": label or str(case_dir / BRATS2021.filename(case_id, LABEL_KEY)),
    }


def _relative(item: dict[str, Any], root: Path, source: str) -> dict[str, Any]:
    def rel(path: str) -> str:
        p = Path(path).resolve()
        try:
            return str(p.relative_to(root))
        except ValueError:
            return str(p)

    return {"case_id": item["case_id"], "source": source, "image": [rel(p) for p in item["image"]],
            "label": rel(item["label"])}


def _require_files(items: list[dict[str, Any]]) -> None:
    for item in items:
        for path in [*item["image"], item["label"]]:
            if not Path(path).is_file():
                raise DataError(f"{path}: synthetic case file missing (run: dvc repro synthesize)")


def synthetic_count(alpha: float, mode: str, n_train: int) -> int:
    """How many synthetic cases the mix of ``alpha`` holds, for ``n_train`` real training cases."""
    return round(alpha * n_train) if mode == "replace" else round(alpha * n_train / (1.0 - alpha))


def make_mix(alpha: float, params: MixParams, manifest: str | Path = "data/prepared/manifest.json",
             synthetic: str | Path = "data/synthetic", root: str | Path = ".") -> dict[str, Any]:
    """The datalist of the mix at ``alpha`` (keys ``training``, ``validation`` and a description)."""
    try:
        alpha = check_alpha(alpha, params.mode)
    except ValueError as exc:
        raise ParamsError(f"mix.alphas: {exc}") from None
    root, synthetic = Path(root).resolve(), Path(synthetic)
    train = manifest_datalist(manifest, "train")
    val = manifest_datalist(manifest, "val")
    n = len(train)
    k = synthetic_count(alpha, params.mode, n)
    if params.mode == "replace":
        order = np.random.default_rng(params.seed).permutation(sorted(item["case_id"] for item in train))
        chosen = set(order[:k].tolist())
        swapped = [synthetic_item(synthetic / "train", item["case_id"], label=item["label"])
                   for item in train if item["case_id"] in chosen]
        _require_files(swapped)
        real = [item for item in train if item["case_id"] not in chosen]
        training = [_relative(i, root, "real") for i in real] + [_relative(i, root, "synthetic") for i in swapped]
    else:
        novel_dir = synthetic / "novel"
        available = sorted(p.name for p in novel_dir.iterdir() if p.is_dir()) if novel_dir.is_dir() else []
        if len(available) < k:
            raise ParamsError(
                f"mix.alphas: augment at alpha={alpha} needs {k} novel synthetic cases, {novel_dir} has "
                f"{len(available)} (raise generator.sample.novel_cases)"
            )
        novel = [synthetic_item(novel_dir, cid) for cid in available[:k]]
        _require_files(novel)
        training = [_relative(i, root, "real") for i in train] + [_relative(i, root, "synthetic") for i in novel]
    training.sort(key=lambda item: item["case_id"])
    return {
        "description": f"synthtrust {params.mode} mix, alpha={alpha}",
        "alpha": alpha,
        "mode": params.mode,
        "seed": params.seed,
        "n_real": sum(i["source"] == "real" for i in training),
        "n_synthetic": sum(i["source"] == "synthetic" for i in training),
        "training": training,
        "validation": [_relative(i, root, "real") for i in val],
    }
