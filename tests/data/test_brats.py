"""Case discovery in both BraTS naming schemes and the label convention."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtrust.data.brats import (
    BRATS2021,
    BRATS_GLI,
    MODALITIES,
    discover_cases,
    region_masks,
    to_brats2021_labels,
)
from synthtrust.data.validation import load_case
from synthtrust.errors import DataError


def test_discovers_both_schemes_sorted(tmp_path: Path, write_case) -> None:
    write_case(tmp_path, "BraTS2021_00002")
    write_case(tmp_path, "BraTS-GLI-00001-000", scheme=BRATS_GLI)
    (tmp_path / "notes").mkdir()  # not a case: ignored
    (tmp_path / "README.txt").write_text("x")
    cases = discover_cases(tmp_path)
    assert [c.case_id for c in cases] == ["BraTS-GLI-00001-000", "BraTS2021_00002"]
    gli, b21 = cases
    assert gli.scheme is BRATS_GLI and b21.scheme is BRATS2021
    assert [p.name for p in gli.images.values()] == [
        f"BraTS-GLI-00001-000-{s}.nii.gz" for s in ("t1n", "t1c", "t2w", "t2f")
    ]
    assert list(b21.images) == list(MODALITIES)
    assert b21.label.name == "BraTS2021_00002_seg.nii.gz"


def test_gli_enhancing_label_3_is_read_as_4(tmp_path: Path, write_case) -> None:
    write_case(tmp_path, "BraTS-GLI-00001-000", scheme=BRATS_GLI)
    seg = tmp_path / "BraTS-GLI-00001-000" / "BraTS-GLI-00001-000-seg.nii.gz"
    raw = np.asarray(nib.load(str(seg)).dataobj)
    assert 3 in raw and 4 not in raw
    loaded, report = load_case(discover_cases(tmp_path)[0])
    assert report.ok, report.errors
    assert set(np.unique(loaded.label)) == {0, 1, 2, 4}


def test_uncompressed_nii_is_found(tmp_path: Path, write_case) -> None:
    case_dir = write_case(tmp_path, "BraTS2021_00001")
    gz = case_dir / "BraTS2021_00001_t2.nii.gz"
    nib.save(nib.load(str(gz)), str(case_dir / "BraTS2021_00001_t2.nii"))
    gz.unlink()
    (case,) = discover_cases(tmp_path)
    assert case.images["t2"].name == "BraTS2021_00001_t2.nii"
    assert load_case(case)[1].ok


@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
def test_bad_roots_name_the_path(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "data"
    if kind == "file":
        root.write_text("not a directory")
    elif kind == "empty":
        root.mkdir()
    with pytest.raises(DataError, match=str(root)):
        discover_cases(root)


def test_regions_follow_brats_definition() -> None:
    label = np.array([0, 1, 2, 4])
    masks = region_masks(label)
    assert masks["TC"].tolist() == [False, True, False, True]
    assert masks["WT"].tolist() == [False, True, True, True]
    assert masks["ET"].tolist() == [False, False, False, True]
    assert to_brats2021_labels(np.array([0, 1, 2, 3]), BRATS_GLI).tolist() == [0, 1, 2, 4]
