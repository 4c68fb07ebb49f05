"""Sampling synthetic copies of BraTS cases from the trained generator, one case directory at a time.

Each synthetic case is written in the BraTS 2021 layout: the four sampled modalities, the label map it was
conditioned on, and ``<case>_provenance.json`` (bundle and version, checkpoint sha256, scheduler, steps,
seed, source label-map sha256). A case is written to a temporary directory and renamed into place, so an
interrupted run never leaves half a case; a rerun skips every case whose provenance already matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.inferers import DiffusionInferer
from monai.networks.schedulers import Scheduler
from monai.transforms import RandAffined
from tqdm import tqdm

from synthtrust.data.brats import BRATS2021, LABEL_KEY, MODALITIES
from synthtrust.errors import DataError, user_error
from synthtrust.generator.conditioning import condition_to_label
from synthtrust.io import atomic_dir, sha256_file, write_nifti

logger = logging.getLogger(__name__)
PROVENANCE_SUFFIX = "_provenance.json"


def case_seed(seed: int, case_id: str) -> int:
    """A per-case seed: stable across runs and independent of the order cases are processed in."""
    return int(hashlib.sha256(f"{seed}:{case_id}".encode()).hexdigest()[:8], 16)


class Synthesizer:
    """Samples and writes synthetic cases with a label-conditioned diffusion model (concat mode)."""

    def __init__(
        self,
        network: torch.nn.Module,
        inferer: DiffusionInferer,
        scheduler: Scheduler,
        sampler: str,
        num_inference_steps: int,
        preprocessing: Callable[[dict[str, Any]], dict[str, Any]],
        intensity_range: float,
        device: torch.device | str = "cpu",
        amp: bool = False,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.network, self.inferer, self.scheduler = network, inferer, scheduler
        self.sampler, self.num_inference_steps = sampler, int(num_inference_steps)
        self.preprocessing, self.intensity_range = preprocessing, float(intensity_range)
        self.device, self.amp = torch.device(device), bool(amp)
        self.provenance: dict[str, Any] = dict(provenance or {})

    def load_checkpoint(self, path: str | Path) -> str:
        """Load the network weights from ``path``; returns the checkpoint's sha256.

        Raises:
            DataError: the file is missing, unreadable, or does not fit the network (names the mismatch).
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: generator checkpoint not found (run: dvc repro train_generator)")
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # torch raises several types for a damaged file
            raise DataError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from exc
        if isinstance(state, dict) and "network" in state:
            state = state["network"]
        try:
            self.network.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
            raise DataError(f"{path}: checkpoint does not fit the generator network ({detail})") from exc
        self.network.eval()
        digest = sha256_file(path)
        self.provenance["checkpoint_sha256"] = digest
        return digest

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, seed: int) -> torch.Tensor:
        """Sample (B, 4, ...) z-score images for (B, 4, ...) conditioning maps; zero outside the brain."""
        generator = torch.Generator().manual_seed(seed)
        shape = (cond.shape[0], len(MODALITIES), *cond.shape[2:])
        noise = torch.randn(shape, generator=generator).to(self.device)
        torch.manual_seed(seed)  # DDPM steps draw fresh noise from the global generator
        self.scheduler.set_timesteps(num_inference_steps=self.num_inference_steps)
        cond = cond.to(self.device)
        with torch.autocast(self.device.type, enabled=self.amp and self.device.type == "cuda"):
            image = self.inferer.sample(noise, self.network, scheduler=self.scheduler, conditioning=cond,
                                        mode="concat", verbose=False)
        brain = cond[:, 3:4] > 0.5
        return (image.float().clamp(-1.0, 1.0) * self.intensity_range * brain).cpu()

    def _preprocess(self, item: dict[str, Any]) -> dict[str, Any]:
        """Load one case and build its conditioning; failures become a DataError naming the case."""
        try:
            return self.preprocessing(dict(item))
        except Exception as exc:
            known = user_error(exc)
            if known is not None:
                raise known from None
            root = exc
            while root.__cause__ is not None:
                root = root.__cause__
            raise DataError(f"{item['label']}: cannot load case {item['case_id']} "
                            f"({type(root).__name__}: {root})") from exc

    def _expected(self, case_id: str, seed: int, source_label: str) -> dict[str, Any]:
        return {
            **self.provenance,
            "case_id": case_id,
            "scheduler": type(self.scheduler).__name__,
            "sampler": self.sampler,
            "steps": self.num_inference_steps,
            "seed": seed,
            "source_label_sha256": sha256_file(source_label),
        }

    def _is_done(self, case_dir: Path, expected: dict[str, Any]) -> bool:
        sidecar = case_dir / f"{case_dir.name}{PROVENANCE_SUFFIX}"
        if not sidecar.is_file():
            return False
        try:
            return json.loads(sidecar.read_text()) == expected
        except json.JSONDecodeError:
            return False

    def _write(self, case_dir: Path, image: np.ndarray, label: np.ndarray, affine: np.ndarray,
               provenance: dict[str, Any]) -> None:
        case_id = case_dir.name
        with atomic_dir(case_dir) as tmp:
            for channel, modality in enumerate(MODALITIES):
                write_nifti(tmp / BRATS2021.filename(case_id, modality), image[channel], affine, np.float32)
            write_nifti(tmp / BRATS2021.filename(case_id, LABEL_KEY), label, affine, np.uint8)
            (tmp / f"{case_id}{PROVENANCE_SUFFIX}").write_text(json.dumps(provenance, indent=2, sort_keys=True))

    def write_case(self, item: dict[str, Any], output_dir: str | Path, seed: int) -> tuple[Path, bool]:
        """Synthesise the copy of one datalist case into ``output_dir/<case>``; returns (dir, written)."""
        case_id = item["case_id"]
        case_dir = Path(output_dir) / case_id
        expected = self._expected(case_id, case_seed(seed, case_id), item["label"])
        if self._is_done(case_dir, expected):
            return case_dir, False
        data = self._preprocess(item)
        image = self.sample(data["cond"][None], expected["seed"])[0].numpy()
        label = np.rint(np.asarray(data["label"])[0]).astype(np.uint8)
        self._write(case_dir, image, label, data["image"].affine.numpy(), expected)
        return case_dir, True

    def write_all(self, datalist: Sequence[dict[str, Any]], output_dir: str | Path, seed: int = 0) -> list[Path]:
        """Synthesise every case of ``datalist``; finished cases with matching provenance are skipped."""
        written = skipped = 0
        dirs = []
        for item in tqdm(datalist, desc=f"synthesize {Path(output_dir).name}", unit="case"):
            case_dir, new = self.write_case(item, output_dir, seed)
            dirs.append(case_dir)
            written, skipped = written + new, skipped + (not new)
        logger.info("%s: %d cases written, %d already up to date", output_dir, written, skipped)
        return dirs

    def write_novel(self, datalist: Sequence[dict[str, Any]], output_dir: str | Path, n: int,
                    seed: int = 0) -> list[Path]:
        """Write ``n`` novel cases: training label maps (with their brain masks) randomly rotated, scaled
        and shifted with MONAI's ``RandAffined``, then sampled. Their label maps are the perturbed ones."""
        if n and not datalist:
            raise DataError("no training cases to perturb for novel synthetic cases")
        perturb = RandAffined(keys="cond", prob=1.0, rotate_range=(0.2, 0.2, 0.2), scale_range=(0.15,) * 3,
                              translate_range=(4, 4, 4), mode="nearest", padding_mode="zeros")
        dirs = []
        for k in tqdm(range(n), desc="synthesize novel", unit="case"):
            item = datalist[k % len(datalist)]
            case_id = f"{item['case_id']}_novel{k:03d}"
            case_dir = Path(output_dir) / case_id
            expected = self._expected(case_id, case_seed(seed, case_id), item["label"])
            expected["perturbed_from"] = item["case_id"]
            dirs.append(case_dir)
            if self._is_done(case_dir, expected):
                continue
            data = self._preprocess(item)
            perturb.set_random_state(seed=expected["seed"])
            cond = torch.as_tensor(perturb({"cond": data["cond"]})["cond"]).float()
            cond[:3] *= cond[3:4]  # tumour stays inside the (perturbed) brain
            image = self.sample(cond[None], expected["seed"])[0].numpy()
            self._write(case_dir, image, condition_to_label(cond), data["image"].affine.numpy(), expected)
        return dirs
