"""Sampling and writing synthetic cases with the bundle's sampler and a tiny network."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError
from synthtrust.generator.synthesis import Synthesizer
from synthtrust.params import GeneratorParams
from tests.conftest import tiny_generator

TINY = tiny_generator()


def load_synthesizer(params: GeneratorParams, checkpoint: Path, manifest: Path) -> Synthesizer:
    return Synthesizer(params, checkpoint)


@pytest.fixture
def checkpoint(generator_checkpoint: Path) -> Path:
    """The tiny generator's random weights (tests/conftest.py)."""
    return generator_checkpoint


def test_copies_keep_label_brain_and_affine(checkpoint: Path, prepared_dir: Path, tmp_path: Path) -> None:
    synth = load_synthesizer(TINY, checkpoint, prepared_dir / "manifest.json")
    item = manifest_datalist(prepared_dir / "manifest.json", "test")[0]
    case_dir, written = synth.write_case(item, tmp_path / "out", seed=0)
    assert written
    cid = item["case_id"]
    assert sorted(p.name for p in case_dir.iterdir()) == sorted(
        [f"{cid}_{k}.nii.gz" for k in ("t1", "t1ce", "t2", "flair", "seg")] + [f"{cid}_provenance.json"])
    real_seg = nib.load(item["label"])
    seg = nib.load(str(case_dir / f"{cid}_seg.nii.gz"))
    assert np.array_equal(np.asarray(seg.dataobj), np.asarray(real_seg.dataobj))
    assert np.allclose(seg.affine, real_seg.affine)
    flair = np.asarray(nib.load(str(case_dir / f"{cid}_flair.nii.gz")).dataobj)
    real_brain = np.any([np.asarray(nib.load(p).dataobj) != 0 for p in item["image"]], axis=0)
    assert not flair[~(real_brain | (np.asarray(seg.dataobj) > 0))].any()  # zero outside the brain
    assert np.abs(flair).max() <= 4.0 + 1e-5
    prov = json.loads((case_dir / f"{cid}_provenance.json").read_text())
    assert prov["checkpoint_sha256"] == synth.provenance["checkpoint_sha256"]
    assert prov["scheduler"] == "DDIMScheduler" and prov["steps"] == 2 and prov["bundle_version"] == "0.3.0"
    assert prov["source_label_sha256"] and prov["seed"] > 0 and len(prov["code_sha256"]) == 64


def test_same_seed_same_sample_other_seed_other(checkpoint: Path, prepared_dir: Path) -> None:
    synth = load_synthesizer(TINY, checkpoint, prepared_dir / "manifest.json")
    cond = torch.zeros(1, 4, 32, 32, 32)
    cond[:, 3, 4:28, 4:28, 4:28] = 1
    a, b, c = synth.sample(cond, 1), synth.sample(cond, 1), synth.sample(cond, 2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_rerun_skips_finished_cases_and_redoes_stale_ones(checkpoint: Path, prepared_dir: Path,
                                                          tmp_path: Path) -> None:
    datalist = manifest_datalist(prepared_dir / "manifest.json", "test")
    synth = load_synthesizer(TINY, checkpoint, prepared_dir / "manifest.json")
    first = synth.write_all(datalist, tmp_path / "out", seed=0)
    stamps = {d: d.stat().st_mtime_ns for d in first}
    assert [synth.write_case(item, tmp_path / "out", 0)[1] for item in datalist] == [False, False]
    assert {d: d.stat().st_mtime_ns for d in first} == stamps
    other = load_synthesizer(tiny_generator(num_inference_steps=3), checkpoint,
                             prepared_dir / "manifest.json")
    assert [other.write_case(item, tmp_path / "out", 0)[1] for item in datalist] == [True, True]


def test_ddpm_sampler(checkpoint: Path, prepared_dir: Path, tmp_path: Path) -> None:
    params = tiny_generator(sampler="ddpm", num_inference_steps=3)
    synth = load_synthesizer(params, checkpoint, prepared_dir / "manifest.json")
    item = manifest_datalist(prepared_dir / "manifest.json", "test")[0]
    case_dir, _ = synth.write_case(item, tmp_path, seed=0)
    prov = json.loads((case_dir / f"{item['case_id']}_provenance.json").read_text())
    assert prov["scheduler"] == "DDPMScheduler" and prov["sampler"] == "ddpm"


def test_novel_cases_have_valid_labels_inside_the_brain(checkpoint: Path, prepared_dir: Path,
                                                        tmp_path: Path) -> None:
    synth = load_synthesizer(TINY, checkpoint, prepared_dir / "manifest.json")
    train = manifest_datalist(prepared_dir / "manifest.json", "train")
    dirs = synth.write_novel(train, tmp_path / "novel", n=2, seed=0)
    assert [d.name for d in dirs] == [f"{train[0]['case_id']}_novel000", f"{train[1]['case_id']}_novel001"]
    for d in dirs:
        label = np.asarray(nib.load(str(d / f"{d.name}_seg.nii.gz")).dataobj)
        source = np.asarray(nib.load(train[int(d.name[-3:])]["label"]).dataobj)
        assert set(np.unique(label)) <= {0, 1, 2, 4} and (label > 0).any()
        assert not np.array_equal(label, source)  # perturbed, not copied


def test_missing_corrupt_and_incompatible_checkpoints(checkpoint: Path, prepared_dir: Path,
                                                      tmp_path: Path) -> None:
    manifest = prepared_dir / "manifest.json"
    with pytest.raises(DataError, match="generator checkpoint not found"):
        load_synthesizer(TINY, tmp_path / "none.pt", manifest)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(DataError, match="corrupt.pt: unreadable checkpoint"):
        load_synthesizer(TINY, corrupt, manifest)
    wider = tiny_generator({"channels": [16, 16, 16]})
    with pytest.raises(DataError, match="model.pt: checkpoint does not fit the generator network"):
        load_synthesizer(wider, checkpoint, manifest)


def test_unknown_label_in_conditioning_map_writes_nothing(checkpoint: Path, prepared_dir: Path,
                                                           tmp_path: Path, write_case) -> None:
    from tests.conftest import synthetic_arrays

    image, label = synthetic_arrays(shape=(32, 32, 32))
    label[label == 4] = 3
    case_dir = write_case(tmp_path / "raw", "BraTS2021_00042", image=image.astype(np.float32), label=label)
    item = {"case_id": "BraTS2021_00042",
            "image": [str(case_dir / f"BraTS2021_00042_{m}.nii.gz") for m in ("t1", "t1ce", "t2", "flair")],
            "label": str(case_dir / "BraTS2021_00042_seg.nii.gz")}
    synth = load_synthesizer(TINY, checkpoint, prepared_dir / "manifest.json")
    with pytest.raises(DataError, match=r"BraTS2021_00042_seg.nii.gz: unknown label values \[3\]"):
        synth.write_case(item, tmp_path / "out", seed=0)
    assert not (tmp_path / "out" / "BraTS2021_00042").exists()
