"""A blinded real-vs-synthetic reader study: which cases, in what order, and the folder readers open.

``draw`` picks ``reader_study.cases`` *distinct* source cases (seeded): ``round(cases * real_fraction)`` are
shown real, the rest as their synthetic copy, so no patient appears twice and a reader cannot pair a copy
with its source by its tumour. Cases are named ``case_01`` ... in a second seeded permutation.

``write_study`` writes one self-contained folder (open ``index.html`` from disk or any static server): the
page, the vendored NiiVue, and one script per case carrying its four modalities and label map, written
afresh with the *real* case's affine for both kinds, so nothing but the pixels differs. The key (truth,
source case, every volume's sha256) goes elsewhere; its sha256 over its own content is the study's identity
(``study``), which the folder and every answer file carry, so an edited key or another study's answers are
refused when scoring (:mod:`synthtrust.reader_study.answers`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthtrust import viewer
from synthtrust.data.datalist import read_manifest
from synthtrust.data.validation import load_case_dir
from synthtrust.errors import DataError
from synthtrust.params import ReaderStudyParams

KEY_FORMAT = "synthtrust-reader-study-key/1"
ANSWERS_FORMAT = "synthtrust-reader-study-answers/1"
CALLS = ("real", "synthetic")
PAGE = Path(__file__).resolve().parent / "page"
STUDY_DATA = "study-data.js"  # what the page is told: study id, blinded case names, modalities


@dataclass(frozen=True)
class Source:
    """A case that can be shown: its real directory and its synthetic copy's."""

    case_id: str
    split: str
    real: Path
    synthetic: Path


def sources(manifest: str | Path, synthetic: str | Path, splits: list[str]) -> list[Source]:
    """Every case of ``splits`` with both its prepared real directory and its synthetic copy."""
    manifest = Path(manifest)
    info = read_manifest(manifest)
    found = []
    for split in splits:
        for case_id in info["splits"][split]:
            real, copy = manifest.parent / split / case_id, Path(synthetic) / split / case_id
            for path, hint in ((real, "dvc repro prepare"), (copy, "dvc repro synthesize")):
                if not path.is_dir():
                    raise DataError(f"{path}: case missing (run: {hint})")
            found.append(Source(case_id, split, real, copy))
    return found


def draw(pool: list[Source], params: ReaderStudyParams) -> list[tuple[str, str, Source]]:
    """``(blinded id, truth, source)`` per case, in presentation order."""
    if len(pool) < params.cases:
        raise DataError(f"reader_study.cases: {params.cases} cases need {params.cases} distinct source cases, "
                        f"the splits {params.splits} have {len(pool)} (lower cases or add a split)")
    rng = np.random.default_rng(params.seed)
    chosen = [pool[i] for i in rng.permutation(len(pool))[:params.cases]]
    n_real = round(params.cases * params.real_fraction)
    truths = ["real"] * n_real + ["synthetic"] * (params.cases - n_real)
    width = len(str(params.cases))
    return [(f"case_{k + 1:0{width}d}", truths[i], chosen[i]) for k, i in enumerate(rng.permutation(params.cases))]


def digest(payload: dict[str, Any]) -> str:
    """sha256 of a key's content (canonical JSON, without its ``study`` and ``digest``)."""
    content = {k: v for k, v in payload.items() if k not in ("study", "digest")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _case_script(case: str, volumes: dict[str, bytes]) -> str:
    entries = ",\n".join(f'  "{name}": "{viewer.encode(data)}"' for name, data in volumes.items())
    return f'window.STUDY_CASES = window.STUDY_CASES || {{}};\nwindow.STUDY_CASES["{case}"] = {{\n{entries}\n}};\n'


def write_study(params: ReaderStudyParams, pool: list[Source], folder: Path) -> dict[str, Any]:
    """Write the study's folder into ``folder`` (an empty directory); returns the key."""
    cases: dict[str, Any] = {}
    (folder / "cases").mkdir()
    for case, truth, source in draw(pool, params):
        real = load_case_dir(source.real)
        shown = real if truth == "real" else load_case_dir(source.synthetic)
        if shown.image.shape != real.image.shape:
            raise DataError(f"{source.synthetic}: shape {shown.image.shape[1:]} differs from its real case's "
                            f"{real.image.shape[1:]}")
        volumes = viewer.case_volumes(shown.image, real.label, real.affine)
        (folder / "cases" / f"{case}.js").write_text(_case_script(case, volumes))
        cases[case] = {"truth": truth, "source": source.case_id, "split": source.split,
                       "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in volumes.items()}}
    key: dict[str, Any] = {"format": KEY_FORMAT, "params": params.model_dump(), "niivue": viewer.niivue_version(),
                           "cases": cases}
    key["digest"] = digest(key)
    key["study"] = key["digest"][:16]
    page = {"study": key["study"], "format": ANSWERS_FORMAT, "cases": list(cases),
            "modalities": viewer.modality_names(), "calls": list(CALLS),
            "niivue": key["niivue"]}
    (folder / STUDY_DATA).write_text(f"window.STUDY = {json.dumps(page, indent=1)};\n")
    for name in ("index.html", "study.js", "study.css", "README.txt"):
        shutil.copyfile(PAGE / name, folder / name)
    shutil.copyfile(viewer.VIEWER_JS, folder / "viewer.js")
    shutil.copyfile(viewer.niivue(), folder / "niivue.umd.js")
    shutil.copyfile(viewer.NIIVUE_LICENSE, folder / "NIIVUE-LICENSE.txt")
    return key
