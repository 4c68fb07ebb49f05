"""Alpha mixes: counts, nesting, identical labels, no test cases, bad alphas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthtrust.data.datalist import read_manifest
from synthtrust.errors import DataError, ParamsError
from synthtrust.mixing import make_mix
from synthtrust.params import MixParams, replace
from tests.conftest import DEMO


@pytest.fixture
def synthetic(prepared_dir: Path, tmp_path: Path) -> Path:
    """A synthetic tree shaped like the synthesize stage's: copies of the training cases, 3 novel cases."""
    root = tmp_path / "synthetic"
    for case_dir in sorted((prepared_dir / "train").iterdir()):
        shutil.copytree(case_dir, root / "train" / case_dir.name)
    for k, case_dir in enumerate(sorted((prepared_dir / "train").iterdir())[:3]):
        novel = f"{case_dir.name}_novel{k:03d}"
        for f in case_dir.iterdir():
            (root / "novel" / novel).mkdir(parents=True, exist_ok=True)
            shutil.copy(f, root / "novel" / novel / f.name.replace(case_dir.name, novel))
    return root


def _mix(alpha, prepared_dir, synthetic, **kw):
    kw.setdefault("alphas", [0.0])  # the grid in params is checked on its own; this alpha is passed directly
    return make_mix(alpha, replace(DEMO.mix, **kw), prepared_dir / "manifest.json", synthetic, root="/")


def test_replace_mode_counts_nesting_and_labels(prepared_dir: Path, synthetic: Path) -> None:
    mixes = {a: _mix(a, prepared_dir, synthetic) for a in (0.0, 0.25, 0.5, 1.0)}
    n = len(read_manifest(prepared_dir / "manifest.json")["splits"]["train"])
    previous: set[str] = set()
    for alpha, mix in mixes.items():
        assert len(mix["training"]) == n and mix["n_synthetic"] == round(alpha * n)
        chosen = {i["case_id"] for i in mix["training"] if i["source"] == "synthetic"}
        assert previous <= chosen  # nested
        previous = chosen
        for item in mix["training"]:
            assert ("/synthetic/train/" in item["image"][0]) == (item["source"] == "synthetic")
    labels = [[i["label"] for i in mix["training"]] for mix in mixes.values()]
    assert all(lab == labels[0] for lab in labels)  # identical label maps for every alpha
    assert _mix(0.5, prepared_dir, synthetic)["training"] == mixes[0.5]["training"]  # seeded
    other = {i["case_id"] for i in _mix(0.5, prepared_dir, synthetic, seed=7)["training"] if i["source"] == "synthetic"}
    assert len(other) == mixes[0.5]["n_synthetic"]


def test_no_test_case_ever_appears(prepared_dir: Path, synthetic: Path) -> None:
    test_ids = set(read_manifest(prepared_dir / "manifest.json")["splits"]["test"])
    for alpha in (0.0, 1.0):
        mix = _mix(alpha, prepared_dir, synthetic)
        used = {i["case_id"] for i in mix["training"] + mix["validation"]}
        assert not used & test_ids
        assert all("/test/" not in p for i in mix["training"] + mix["validation"] for p in i["image"])


def test_augment_mode_keeps_all_real_and_adds_novel(prepared_dir: Path, synthetic: Path) -> None:
    mix = _mix(0.4, prepared_dir, synthetic, mode="augment")  # 4 real -> round(0.4 * 4 / 0.6) = 3 novel
    assert (mix["n_real"], mix["n_synthetic"]) == (4, 3)
    assert all("_novel" in i["case_id"] for i in mix["training"] if i["source"] == "synthetic")
    with pytest.raises(ParamsError, match="needs 4 novel synthetic cases.*has 3"):
        _mix(0.5, prepared_dir, synthetic, mode="augment")


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "half", True])
def test_alpha_outside_unit_interval_is_rejected(alpha, prepared_dir: Path, synthetic: Path) -> None:
    with pytest.raises(ParamsError, match="mix.alphas: alpha must be a number in"):
        _mix(alpha, prepared_dir, synthetic)


def test_alpha_one_in_augment_mode_is_rejected(prepared_dir: Path, synthetic: Path) -> None:
    params = MixParams.model_construct(mode="augment", alphas=[0.0], seed=0)  # alpha comes from --alpha here
    with pytest.raises(ParamsError, match="impossible in augment mode"):
        make_mix(1.0, params, prepared_dir / "manifest.json", synthetic, root="/")


def test_missing_synthetic_files_are_named(prepared_dir: Path, synthetic: Path) -> None:
    shutil.rmtree(next((synthetic / "train").iterdir()))
    with pytest.raises(DataError, match="synthetic case file missing"):
        _mix(1.0, prepared_dir, synthetic)
