"""A small workspace with prepared cases and synthetic copies, and a study made from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthtrust.params import ReaderStudyParams
from synthtrust.stages.reader_study import make
from tests.conftest import demo, write_synthetic_copies

#: the session's phantoms: 4 training and 2 test cases with copies, so 6 distinct sources
PARAMS: ReaderStudyParams = demo("reader_study", cases=6, real_fraction=0.5, splits=["train", "test"], seed=0)


@pytest.fixture(scope="session")
def study_workspace(tmp_path_factory: pytest.TempPathFactory, prepared_dir: Path) -> Path:
    """``data/prepared`` (32^3 phantoms) and ``data/synthetic`` copies (images scaled by 0.8)."""
    root = tmp_path_factory.mktemp("reader-study")
    shutil.copytree(prepared_dir, root / "data" / "prepared")
    write_synthetic_copies(root, scale=0.8)
    return root


def make_study(root: Path, out: Path, params: ReaderStudyParams = PARAMS) -> dict:
    """Make a study of ``root``'s cases: folder ``out/study``, key ``out/key.json``; returns the key."""
    return make(params, out / "study", out / "key.json", root / "data/prepared/manifest.json", root / "data/synthetic")


@pytest.fixture(scope="session")
def made_study(study_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-case study made once: ``study/`` and ``key.json``."""
    out = tmp_path_factory.mktemp("made-study")
    make_study(study_workspace, out)
    return out


@pytest.fixture
def study(made_study: Path, tmp_path: Path) -> tuple[Path, Path, dict]:
    """(folder, key path, key) of the 6-case study, copied for this test to change as it likes."""
    import json

    shutil.copytree(made_study, tmp_path, dirs_exist_ok=True)
    key = tmp_path / "key.json"
    return tmp_path / "study", key, json.loads(key.read_text())


def write_answers(path: Path, key: dict, reader: str, call=lambda case, truth: truth, **fields: object) -> Path:
    """An answer file as the page saves it, for study ``key``: ``call(case, truth)`` decides each call."""
    import json

    answers = {case: {"call": call(case, entry["truth"]), "confidence": 4, "plausibility": 3, "comment": "",
                      "comment_modality": "all", "comment_region": "whole image", "seconds": 20.5}
               for case, entry in key["cases"].items()}
    body = {"format": "synthtrust-reader-study-answers/1", "study": key["study"], "reader": reader,
            "started": "2026-12-01T09:00:00Z", "saved": "2026-12-01T09:20:00Z", "answers": answers, **fields}
    path.write_text(json.dumps(body, indent=1))
    return path
