"""Phantoms: deterministic, seed-sensitive, with the contrasts and label nesting of real gliomas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from synthtrust.data.brats import discover_cases
from synthtrust.data.phantoms import BRAIN_FILL, make_phantom, make_phantoms, phantom_stand_in, template_tissues
from synthtrust.data.validation import MAX_VOXELS, SPACING_RANGE_MM, validate_cases
from synthtrust.errors import ParamsError
from synthtrust.io import sha256_file
from synthtrust.params import PhantomParams, load, validate
from tests.conftest import REPO


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path: Path, phantom_dir: Path) -> None:
    again = tmp_path / "again"
    make_phantoms(again, PhantomParams(n=8, size=32, seed=3), progress=False)
    assert _hashes(again) == _hashes(phantom_dir)


def test_other_seed_other_cases() -> None:
    a, b = make_phantom(0, 32, seed=3), make_phantom(0, 32, seed=4)
    assert not np.array_equal(a.label, b.label)
    assert not np.array_equal(a.image, b.image)
    c = make_phantom(1, 32, seed=3)  # another case of the same set differs too
    assert not np.array_equal(a.label, c.label)


def test_phantoms_pass_validation_in_brats_layout(phantom_dir: Path) -> None:
    cases = discover_cases(phantom_dir)
    assert [c.case_id for c in cases] == [f"BraTS2021_{i:05d}" for i in range(8)]
    assert all(r.ok for r in validate_cases(cases, progress=False))
    assert (phantom_dir / "phantoms.json").is_file()


def test_every_phantom_size_is_inside_the_validation_bounds() -> None:
    """PhantomParams.size is 32 to 256: the coarsest (32^3) and finest (256^3) phantoms' spacing and the
    largest one's voxel count pass validation's bounds."""
    coarsest = template_tissues(32)[1]
    finest = coarsest * round(32 * BRAIN_FILL) / round(256 * BRAIN_FILL)  # the same brain over more voxels
    low, high = SPACING_RANGE_MM
    assert low <= finest < coarsest <= high
    assert 256**3 <= MAX_VOXELS


@pytest.fixture(scope="module")
def phantoms64() -> list:
    return [make_phantom(i, 64, seed=0) for i in range(6)]


def _mean(img: np.ndarray, mask: np.ndarray) -> float:
    assert mask.sum() > 10, "too few voxels to compare"
    return float(img[mask].mean())


def test_contrast_ordering(phantoms64: list) -> None:
    for p in phantoms64:
        t1, t1ce, t2, flair = p.image.astype(np.float64)
        normal = p.label == 0
        csf, gm, wm = (normal & (p.tissues[i] > 0.8) for i in range(3))
        oedema, enhancing = p.label == 2, p.label == 4
        brain_normal = normal & (t1 > 0)
        assert _mean(t1, wm) > _mean(t1, gm) > _mean(t1, csf), p.case_id  # T1: WM > GM > CSF
        assert _mean(t2, csf) > _mean(t2, gm) > _mean(t2, wm), p.case_id  # T2: fluid bright
        assert _mean(flair, csf) < min(_mean(flair, gm), _mean(flair, wm)), p.case_id  # CSF suppressed
        for img in (t2, flair):  # oedema bright on T2 and FLAIR
            assert _mean(img, oedema) > _mean(img, brain_normal & ~csf), p.case_id
        assert _mean(t1ce, enhancing) > 1.2 * _mean(t1ce, brain_normal), p.case_id  # enhancing rim
        assert _mean(t1ce, enhancing) > _mean(t1, enhancing), p.case_id


def test_labels_nest_inside_the_brain(phantoms64: list) -> None:
    for p in phantoms64:
        label, brain = p.label, p.image[0] > 0
        assert set(np.unique(label)) <= {0, 1, 2, 4}
        wt, tc, et = label > 0, np.isin(label, (1, 4)), label == 4
        assert et.any() and tc.any() and wt.sum() > tc.sum() >= et.sum()
        assert not (wt & ~brain).any(), "tumour outside the brain"
        # the core is wrapped in oedema: one voxel around TC is tumour or outside the brain
        shell = ndimage.binary_dilation(tc) & ~tc
        assert not (shell & brain & ~wt).any(), p.case_id
        # necrosis sits inside the enhancing rim: it never touches healthy brain
        assert not (ndimage.binary_dilation(label == 1) & brain & (label == 0)).any(), p.case_id


def test_sizes_include_small_enhancing_regions() -> None:
    vox_ml = make_phantom(0, 64, 0).affine[0, 0] ** 2 * make_phantom(0, 64, 0).affine[2, 2] / 1000
    et_ml = [float((make_phantom(i, 64, 0).label == 4).sum()) * abs(vox_ml) for i in range(12)]
    assert min(et_ml) < 1.0 < max(et_ml), et_ml  # both small (< 1 ml) and larger enhancing tumours


@pytest.mark.parametrize(
    "kwargs, key",
    [({"n": 0}, "data.phantom: n"), ({"size": 16}, "data.phantom: size"), ({"seed": -1}, "data.phantom: seed"),
     ({"n": "ten"}, "data.phantom: n"), ({"size": 64.5}, "data.phantom: size")],
)
def test_bad_params_are_rejected(kwargs: dict, key: str) -> None:
    with pytest.raises(ParamsError, match=key):
        validate(PhantomParams, {"n": 8, "size": 32, "seed": 0, **kwargs}, "data.phantom")


def test_phantom_stand_in_keeps_the_grid() -> None:
    """The paper profile without BraTS: phantoms made on its 128^3 grid, at their own spacing."""
    paper = load(REPO / "profiles" / "paper.yaml").data
    stand_in = phantom_stand_in(paper, n=4)
    assert (stand_in.source, stand_in.spacing, stand_in.spatial_size) == ("phantom", None, [128, 128, 128])
    assert (stand_in.phantom.size, stand_in.phantom.n) == (128, 4)
