"""Reading the prepared manifest: a damaged one is refused naming the file and the key, never a KeyError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthtrust.data.datalist import manifest_datalist, read_manifest
from synthtrust.errors import DataError

FILES = {k: {"path": f"train/a/a_{k}.nii.gz", "sha256": "0"} for k in ("t1", "t1ce", "t2", "flair", "seg")}
GOOD = {"splits": {"train": ["a"], "val": [], "test": []}, "cases": {"a": {"split": "train", "files": FILES}}}


def test_a_sound_manifest_gives_its_datalist(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(GOOD))
    assert read_manifest(path) == GOOD
    (item,) = manifest_datalist(path, "train")
    assert item["image"][0] == str(tmp_path / "train/a/a_t1.nii.gz") and item["label"].endswith("a_seg.nii.gz")


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ([1, 2], "manifest is not a JSON object (got list)"),
        ({"cases": {}}, "manifest key 'splits' is missing or not an object"),
        ({"splits": {"train": []}}, "manifest key 'cases' is missing or not an object"),
        ({"splits": [], "cases": {}}, "manifest key 'splits' is missing or not an object"),
        ({**GOOD, "splits": {"train": "a"}}, "splits.train is not a list of case ids"),
        ({**GOOD, "splits": {"train": ["a"], "test": ["b", "c"]}},
         "splits.test names case(s) not in 'cases': ['b', 'c']"),
        ({**GOOD, "cases": {"a": {"split": "train"}}}, "cases.a.files lacks the path of t1, t1ce, t2, flair, seg"),
        ({**GOOD, "cases": {"a": {"files": {**FILES, "seg": {}}}}}, "cases.a.files lacks the path of seg"),
    ],
)
def test_a_damaged_manifest_names_the_file_and_the_key(tmp_path: Path, manifest: object, problem: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(DataError) as err:
        manifest_datalist(path, "train")
    assert str(err.value) == f"{path}: {problem}"
