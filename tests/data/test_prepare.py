"""The prepare stage: grid, orientation, normalisation, split, manifest, and all-or-nothing output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtrust.data.prepare import data_metrics, prepare, split_cases
from synthtrust.errors import DataError, ParamsError
from synthtrust.io import sha256_file
from synthtrust.params import PhantomParams, SplitParams
from tests.conftest import demo


@pytest.fixture
def in_tmp_repo(tmp_path: Path, phantom_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with phantoms at data/raw/phantom, as the make_phantoms stage leaves them."""
    shutil.copytree(phantom_dir, tmp_path / "data" / "raw" / "phantom")
    monkeypatch.chdir(tmp_path)
    return tmp_path


PARAMS = demo("data", spatial_size=[32, 32, 32], split={"val": 0.25, "test": 0.25, "seed": 1})


def replace(params, **changes):
    """``params`` with ``changes``, validated."""
    return type(params).model_validate({**params.model_dump(), **changes})


def test_split_is_seeded_disjoint_and_complete() -> None:
    ids = [f"c{i:02d}" for i in range(20)]
    a = split_cases(ids, SplitParams(val=0.2, test=0.1, seed=5))
    assert a == split_cases(list(reversed(ids)), SplitParams(val=0.2, test=0.1, seed=5))
    assert a != split_cases(ids, SplitParams(val=0.2, test=0.1, seed=6))
    assert [len(a[k]) for k in ("train", "val", "test")] == [14, 4, 2]
    assert sorted(a["train"] + a["val"] + a["test"]) == ids
    with pytest.raises(DataError, match="too few"):
        split_cases(ids[:2], SplitParams(val=0.2, test=0.2, seed=0))


def test_prepare_writes_brats_layout_on_the_grid(in_tmp_repo: Path) -> None:
    manifest = prepare(PARAMS, "data/prepared", progress=False)
    root = in_tmp_repo / "data" / "prepared"
    datalist = json.loads((root / "datalist.json").read_text())  # MONAI Decathlon format, paths relative to it
    assert [item["case_id"] for item in datalist["testing"]] == manifest["splits"]["test"]
    assert all((root / path).is_file() for item in datalist["training"] for path in [*item["image"], item["label"]])
    assert {k: len(v) for k, v in manifest["splits"].items()} == {"train": 4, "val": 2, "test": 2}
    for case_id, record in manifest["cases"].items():
        case_dir = root / record["split"] / case_id
        assert sorted(p.name for p in case_dir.iterdir()) == sorted(
            f"{case_id}_{k}.nii.gz" for k in ("t1", "t1ce", "t2", "flair", "seg"))
        for entry in record["files"].values():
            assert sha256_file(root / entry["path"]) == entry["sha256"]
        seg = nib.load(str(case_dir / f"{case_id}_seg.nii.gz"))
        assert seg.shape == (32, 32, 32)
        assert nib.aff2axcodes(seg.affine) == ("R", "A", "S")
        label = np.asarray(seg.dataobj)
        assert set(np.unique(label)) <= {0, 1, 2, 4}
        assert record["volumes_vox"]["WT"] == int((label > 0).sum()) > 0
        flair = nib.load(str(case_dir / f"{case_id}_flair.nii.gz"))
        assert np.allclose(flair.affine, seg.affine)
        data = np.asarray(flair.dataobj)
        brain = data != 0
        assert abs(data[brain].mean()) < 1e-3 and abs(data[brain].std() - 1) < 1e-2  # z-score in brain
    assert json.loads((root / "manifest.json").read_text()) == manifest
    metrics = data_metrics(manifest)
    assert metrics["cases"] == {"train": 4, "val": 2, "test": 2}
    assert metrics["min_volume_ml"]["ET"] > 0


def test_prepare_is_deterministic(in_tmp_repo: Path) -> None:
    first = prepare(PARAMS, "a", progress=False)
    second = prepare(PARAMS, "b", progress=False)
    assert first["cases"] == second["cases"]


def test_spacing_resamples_the_grid(in_tmp_repo: Path) -> None:
    manifest = prepare(replace(PARAMS, spacing=[9.0, 9.0, 9.0]), "data/prepared", progress=False)
    record = next(iter(manifest["cases"].values()))
    assert record["spacing_mm"] == [9.0, 9.0, 9.0]


def test_a_broken_case_fails_the_stage_and_writes_nothing(in_tmp_repo: Path) -> None:
    raw = in_tmp_repo / "data" / "raw" / "phantom"
    t1ce = raw / "BraTS2021_00003" / "BraTS2021_00003_t1ce.nii.gz"
    t1ce.write_bytes(t1ce.read_bytes()[:500])
    (raw / "BraTS2021_00005" / "BraTS2021_00005_flair.nii.gz").unlink()
    with pytest.raises(DataError) as err:
        prepare(PARAMS, "data/prepared", progress=False)
    message = str(err.value)
    assert "2 problem(s)" in message and "nothing was written to data/prepared" in message
    assert f"{t1ce.relative_to(in_tmp_repo)}: unreadable NIfTI" in message
    assert "BraTS2021_00005_flair.nii.gz: missing file" in message
    assert not (in_tmp_repo / "data" / "prepared").exists()
    assert list((in_tmp_repo / "data").iterdir()) == [in_tmp_repo / "data" / "raw"]  # no temp leftovers


def test_a_failed_run_keeps_the_previous_output(in_tmp_repo: Path) -> None:
    prepare(PARAMS, "data/prepared", progress=False)
    before = sha256_file(in_tmp_repo / "data" / "prepared" / "manifest.json")
    shutil.rmtree(in_tmp_repo / "data" / "raw" / "phantom" / "BraTS2021_00001")
    (in_tmp_repo / "data" / "raw" / "phantom" / "BraTS2021_00001").mkdir()
    with pytest.raises(DataError):
        prepare(PARAMS, "data/prepared", progress=False)
    assert sha256_file(in_tmp_repo / "data" / "prepared" / "manifest.json") == before


def test_tumour_outside_the_grid_is_an_error(in_tmp_repo: Path) -> None:
    # 64^3 phantoms' brains do not fit a 32^3 grid at native spacing; tumours near the edge are cut
    raw = in_tmp_repo / "data" / "raw" / "phantom"
    shutil.rmtree(raw)
    from synthtrust.data.phantoms import make_phantoms

    make_phantoms(raw, PhantomParams(n=4, size=64, seed=0), progress=False)
    with pytest.raises(DataError, match="tumour voxels fall outside data.spatial_size"):
        prepare(replace(PARAMS, spatial_size=[32, 32, 32]), "data/prepared", progress=False)


def test_missing_brats_dir_names_the_setting(in_tmp_repo: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: BraTS directory does not exist \(set data.brats_dir"):
        prepare(replace(PARAMS, source="brats", brats_dir="nowhere"), "out", progress=False)


def test_brats_source_reads_both_namings(in_tmp_repo: Path, write_case) -> None:
    from synthtrust.data.brats import BRATS_GLI

    root = in_tmp_repo / "brats"
    for i in range(4):
        write_case(root, f"BraTS2021_{i:05d}", seed=i)
    write_case(root, "BraTS-GLI-00009-000", scheme=BRATS_GLI, seed=9)  # seed 0 would duplicate BraTS2021_00000
    manifest = prepare(replace(PARAMS, source="brats", brats_dir=str(root)), "out", progress=False)
    assert manifest["cases"]["BraTS-GLI-00009-000"]["source_scheme"] == "brats-gli"
    assert manifest["cases"]["BraTS-GLI-00009-000"]["volumes_vox"]["ET"] == 4**3 - 2**3  # GLI label 3 read as ET


def test_duplicate_cases_fail_the_stage_and_write_nothing(in_tmp_repo: Path) -> None:
    raw = in_tmp_repo / "data" / "raw" / "phantom"
    gli = raw / "BraTS-GLI-00003-000"  # BraTS2021_00003 renamed to 2023 GLI naming: same patient, same images
    gli.mkdir()
    for key, suffix in {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f"}.items():
        shutil.copyfile(raw / "BraTS2021_00003" / f"BraTS2021_00003_{key}.nii.gz", gli / f"{gli.name}-{suffix}.nii.gz")
    seg = nib.load(str(raw / "BraTS2021_00003" / "BraTS2021_00003_seg.nii.gz"))
    label = np.asarray(seg.dataobj)
    gli_label = np.where(label == 4, 3, label).astype(np.uint8)
    nib.save(nib.Nifti1Image(gli_label, seg.affine), str(gli / f"{gli.name}-seg.nii.gz"))
    with pytest.raises(DataError) as err:
        prepare(PARAMS, "data/prepared", progress=False)
    assert str(err.value).splitlines()[1:] == [
        "  - BraTS2021_00003: duplicate of BraTS-GLI-00003-000 (identical image content); keep one case"]
    assert not (in_tmp_repo / "data" / "prepared").exists()


@pytest.mark.parametrize(("changes", "message"), [
    ({"spacing": [12.0, 1.0, 1.0]}, r"data.spacing: \[12.0, 1.0, 1.0\] mm is outside the plausible 0.2 to 10 mm"),
    ({"spatial_size": [512, 512, 128]}, r"data.spatial_size: \[512, 512, 128\] is 33,554,432 voxels, more than"),
])
def test_a_grid_validation_would_refuse_is_refused_first(in_tmp_repo: Path, changes: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        prepare(replace(PARAMS, **changes), "data/prepared", progress=False)
    assert not (in_tmp_repo / "data" / "prepared").exists()
