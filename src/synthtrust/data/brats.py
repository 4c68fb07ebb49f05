"""BraTS naming conventions, label sets and regions, and discovery of cases on disk.

Two naming schemes are read:

* BraTS 2021: ``BraTS2021_00000/BraTS2021_00000_{t1,t1ce,t2,flair,seg}.nii.gz``, labels 0, 1, 2, 4.
* BraTS 2023+ (GLI): ``BraTS-GLI-00000-000/BraTS-GLI-00000-000-{t1n,t1c,t2w,t2f,seg}.nii.gz``,
  labels 0, 1, 2, 3 with 3 (enhancing tumour) mapped to 4 on reading.

Everything downstream sees the BraTS 2021 convention. Channel order is always t1, t1ce, t2, flair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthtrust.errors import DataError
from synthtrust.io import NIFTI_SUFFIXES, atomic_dir, write_nifti

MODALITIES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")
LABEL_KEY = "seg"
BRATS_LABELS: frozenset[int] = frozenset({0, 1, 2, 4})
#: Tumour regions as unions of BraTS 2021 labels: tumour core, whole tumour, enhancing tumour. The
#: segmenter's output channels come in this order (MONAI's ConvertToMultiChannelBasedOnBratsClasses).
REGIONS: dict[str, tuple[int, ...]] = {"TC": (1, 4), "WT": (1, 2, 4), "ET": (4,)}
REGION_NAMES: tuple[str, ...] = tuple(REGIONS)


@dataclass(frozen=True)
class NamingScheme:
    """How one BraTS release names its files and labels."""

    name: str
    separator: str
    suffixes: dict[str, str]  # canonical key (t1, t1ce, t2, flair, seg) -> file suffix
    labels: frozenset[int]
    label_map: dict[int, int] = field(default_factory=dict)  # release label -> BraTS 2021 label

    def filename(self, case_id: str, key: str, ext: str = ".nii.gz") -> str:
        return f"{case_id}{self.separator}{self.suffixes[key]}{ext}"


BRATS2021 = NamingScheme(
    name="brats2021",
    separator="_",
    suffixes={"t1": "t1", "t1ce": "t1ce", "t2": "t2", "flair": "flair", "seg": "seg"},
    labels=BRATS_LABELS,
)
BRATS_GLI = NamingScheme(
    name="brats-gli",
    separator="-",
    suffixes={"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f", "seg": "seg"},
    labels=frozenset({0, 1, 2, 3}),
    label_map={3: 4},
)
SCHEMES: tuple[NamingScheme, ...] = (BRATS2021, BRATS_GLI)
_CASE_DIR = re.compile(r"^(BraTS\d{4}_\d+|BraTS-[A-Z]+-\d+-\d+)$")
#: BraTS 2023 GLI ids keep the BraTS 2021 patient number: BraTS2021_00012 is BraTS-GLI-00012-000.
_GLIOMA_PATIENT = re.compile(r"^(?:BraTS2021_(?P<b21>\d+)|BraTS-GLI-(?P<gli>\d+)-\d+)$")


@dataclass(frozen=True)
class BratsCase:
    """One case directory: where its four modalities and label map are (or should be)."""

    case_id: str
    directory: Path
    scheme: NamingScheme
    images: dict[str, Path]  # modality -> path, in MODALITIES order
    label: Path

    @property
    def files(self) -> dict[str, Path]:
        """All five expected files, modalities first then the label map."""
        return {**self.images, LABEL_KEY: self.label}

    def present(self, key: str) -> list[Path]:
        """Every file of ``key`` in the case directory (.nii.gz, then .nii); a dangling symlink counts."""
        return _present(self.directory, self.scheme, self.case_id, key)


def _present(directory: Path, scheme: NamingScheme, case_id: str, key: str) -> list[Path]:
    paths = [directory / scheme.filename(case_id, key, ext) for ext in NIFTI_SUFFIXES]
    return [p for p in paths if p.exists() or p.is_symlink()]


def _existing(directory: Path, scheme: NamingScheme, case_id: str, key: str) -> Path:
    """The path of ``key`` in ``directory``: the .nii.gz or .nii present (even as a broken or looping
    symlink, so that it is reported as such), else the expected .nii.gz."""
    return next(iter(_present(directory, scheme, case_id, key)), directory / scheme.filename(case_id, key))


def patient_id(case_id: str) -> str | None:
    """The glioma patient number of a BraTS 2021 or 2023 GLI case id (``00012`` for both BraTS2021_00012 and
    BraTS-GLI-00012-000), or None for other ids (other cohorts number their patients independently)."""
    match = _GLIOMA_PATIENT.match(case_id)
    return None if match is None else match["b21"] or match["gli"]


def _detect_scheme(directory: Path) -> NamingScheme | None:
    """The scheme whose modality files are present in ``directory``, or a guess from its name."""
    names = {p.name for p in directory.iterdir()} if directory.is_dir() else set()
    best, best_hits = None, 0
    for scheme in SCHEMES:
        hits = sum(
            any(scheme.filename(directory.name, key, ext) in names for ext in (".nii.gz", ".nii"))
            for key in scheme.suffixes
        )
        if hits > best_hits:
            best, best_hits = scheme, hits
    if best is None and _CASE_DIR.match(directory.name):
        best = BRATS_GLI if directory.name.startswith("BraTS-") else BRATS2021
    return best


def case_from_dir(directory: str | Path) -> BratsCase | None:
    """Describe the case in ``directory``; None when it holds no BraTS-named files and is not named as a case."""
    directory = Path(directory)
    scheme = _detect_scheme(directory)
    if scheme is None:
        return None
    case_id = directory.name
    return BratsCase(
        case_id=case_id,
        directory=directory,
        scheme=scheme,
        images={m: _existing(directory, scheme, case_id, m) for m in MODALITIES},
        label=_existing(directory, scheme, case_id, LABEL_KEY),
    )


def discover_cases(root: str | Path) -> list[BratsCase]:
    """All cases under ``root`` (one sub-directory each), sorted by case id.

    Raises:
        DataError: ``root`` does not exist, is not a directory, or holds no BraTS case.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: data directory does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    cases = [c for d in sorted(root.iterdir()) if d.is_dir() and (c := case_from_dir(d)) is not None]
    if not cases:
        raise DataError(
            f"{root}: no BraTS cases found (expected sub-directories like BraTS2021_00000/ holding "
            "BraTS2021_00000_{t1,t1ce,t2,flair,seg}.nii.gz, or BraTS-GLI-00000-000/ with t1n,t1c,t2w,t2f)"
        )
    return cases


def to_brats2021_labels(label: np.ndarray, scheme: NamingScheme) -> np.ndarray:
    """Map a label array of ``scheme`` to BraTS 2021 labels (GLI's 3 becomes 4)."""
    out = np.asarray(label).copy()
    for src, dst in scheme.label_map.items():
        out[label == src] = dst
    return out


def region_masks(label: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean TC, WT and ET masks from a BraTS 2021 label array."""
    return {name: np.isin(label, labels) for name, labels in REGIONS.items()}


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel sizes (mm) along the three array axes of a NIfTI affine."""
    return tuple(float(s) for s in np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0)))  # type: ignore[return-value]


def voxel_volume_ml(affine: np.ndarray) -> float:
    """The volume of one voxel in ml (1 ml = 1000 mm^3)."""
    return float(np.prod(voxel_spacing(affine))) / 1000.0


def write_case(case_dir: str | Path, image: np.ndarray, label: np.ndarray, affine: np.ndarray,
               image_dtype: type | np.dtype = np.float32, sidecars: dict[str, str] | None = None) -> dict[str, Path]:
    """Write one case in the BraTS 2021 layout, atomically: ``case_dir/<case>_{t1,t1ce,t2,flair,seg}.nii.gz``
    (image channels in MODALITIES order, ``image_dtype``; the label map as uint8) plus ``sidecars``
    (file name -> text). The case id is the directory's name. Returns key -> final path."""
    case_dir = Path(case_dir)
    case_id = case_dir.name
    names = {key: BRATS2021.filename(case_id, key) for key in (*MODALITIES, LABEL_KEY)}
    with atomic_dir(case_dir) as tmp:
        for channel, modality in enumerate(MODALITIES):
            write_nifti(tmp / names[modality], image[channel], affine, image_dtype)
        write_nifti(tmp / names[LABEL_KEY], label, affine, np.uint8)
        for name, text in (sidecars or {}).items():
            (tmp / name).write_text(text)
    return {key: case_dir / name for key, name in names.items()}
