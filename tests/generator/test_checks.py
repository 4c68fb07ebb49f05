"""The tumour-contrast sign test on real files."""

from pathlib import Path

import numpy as np

from synthtrust.data.validation import read_case_dir as read_case
from synthtrust.generator.checks import contrast_agreement


def _copy_with(src: Path, dest_root: Path, transform) -> Path:
    from synthtrust.data.brats import BRATS2021, LABEL_KEY, MODALITIES
    from synthtrust.io import write_nifti

    image, label = read_case(src)
    dest = dest_root / src.name
    dest.mkdir(parents=True)
    new = transform(image, label)
    for c, m in enumerate(MODALITIES):
        write_nifti(dest / BRATS2021.filename(src.name, m), new[c], np.eye(4), np.float32)
    write_nifti(dest / BRATS2021.filename(src.name, LABEL_KEY), label, np.eye(4), np.uint8)
    return dest


def test_identical_copies_agree_everywhere(prepared_dir: Path, tmp_path: Path) -> None:
    cases = sorted((prepared_dir / "test").iterdir())
    result = contrast_agreement([(c, c) for c in cases])
    assert result["agreement"] == 1.0 and result["compared"] == 20
    assert result["pairs"]["flair"]["ED"]["real"] > 0  # oedema is FLAIR-bright in the phantoms
    assert result["pairs"]["t1ce"]["ET"]["real"] > 0


def test_inverted_contrast_disagrees(prepared_dir: Path, tmp_path: Path) -> None:
    cases = sorted((prepared_dir / "test").iterdir())
    flipped = [(c, _copy_with(c, tmp_path, lambda img, lab: -img)) for c in cases]
    assert contrast_agreement(flipped)["agreement"] <= 0.2
