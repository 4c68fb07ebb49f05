"""The synthetic dataset: the generator bundle's sampler writing BraTS-layout cases, resumably.

Each synthetic case is written in the BraTS 2021 layout (the one case writer, ``data.brats.write_case``):
the four sampled modalities, the label map it was conditioned on, and ``<case>_provenance.json`` (bundle and
version, checkpoint sha256, scheduler, steps, seed, source label-map sha256, code digest). A case is written
to a temporary directory and renamed into place, so an interrupted run never leaves half a case; a rerun
skips every case whose provenance already matches.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.transforms import RandAffined
from tqdm import tqdm

from synthtrust.bundles import GENERATOR, code_digest, parse, version
from synthtrust.data.brats import write_case
from synthtrust.errors import DataError, user_error
from synthtrust.io import sha256_file
from synthtrust.params import GeneratorParams

logger = logging.getLogger(__name__)
PROVENANCE_SUFFIX = "_provenance.json"


class Synthesizer:
    """Writes synthetic cases with the bundle's ``conditional_sampler`` (concat-conditioned diffusion)."""

    def __init__(self, params: GeneratorParams, checkpoint: str | Path) -> None:
        parser = parse(GENERATOR, ["common", "inference"], params.sample_overrides())
        self.sampler = parser.get_parsed_content("conditional_sampler")
        from scripts.conditioning import UnknownLabelError, condition_to_label  # the bundle's (now active)
        from scripts.sampler import case_seed

        self._condition_to_label, self._case_seed = condition_to_label, case_seed
        self._unknown_label = UnknownLabelError
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise DataError(f"{checkpoint}: generator checkpoint not found (run: dvc repro train_generator)")
        try:
            self.sampler.load_checkpoint(checkpoint)
        except Exception as exc:  # torch raises several types for a damaged file
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            if "loading state_dict" not in lines[0]:
                raise DataError(f"{checkpoint}: unreadable checkpoint ({type(exc).__name__}: {lines[0]})") from None
            detail = "; ".join(line.strip() for line in lines[1:4]) or lines[0]  # missing/unexpected keys, shapes
            raise DataError(f"{checkpoint}: checkpoint does not fit the generator network ({detail})") from None
        self.scheduler_name = type(parser.get_parsed_content("scheduler")).__name__
        self.provenance: dict[str, Any] = {
            "bundle": GENERATOR, "bundle_version": version(GENERATOR),
            "prediction_type": params.train.prediction_type,
            "checkpoint_sha256": sha256_file(checkpoint),
            # a change to the sampling code or configs makes every finished case stale
            "code_sha256": code_digest(GENERATOR, __file__),
        }
        self.sampler_name, self.steps = params.sample.sampler, params.sample.num_inference_steps

    def sample(self, cond: torch.Tensor, seed: int) -> torch.Tensor:
        """Sample (B, 4, ...) z-score images for (B, 4, ...) conditioning maps; zero outside the brain."""
        return self.sampler.sample(cond, seed)

    def _preprocess(self, item: dict[str, Any]) -> dict[str, Any]:
        """Load one case and build its conditioning; failures become a DataError naming the case."""
        try:
            return self.sampler.preprocessing(dict(item))
        except Exception as exc:
            known = user_error(exc)
            if known is not None:
                raise known from None
            root = exc
            while root.__cause__ is not None:
                root = root.__cause__
            if isinstance(root, self._unknown_label):  # its message names the label map
                raise DataError(str(root)) from None
            raise DataError(f"{item['label']}: cannot load case {item['case_id']} "
                            f"({type(root).__name__}: {root})") from None

    def _expected(self, case_id: str, seed: int, source_label: str) -> dict[str, Any]:
        return {**self.provenance, "case_id": case_id, "scheduler": self.scheduler_name,
                "sampler": self.sampler_name, "steps": self.steps, "seed": self._case_seed(seed, case_id),
                "source_label_sha256": sha256_file(source_label)}

    @staticmethod
    def _is_done(case_dir: Path, expected: dict[str, Any]) -> bool:
        sidecar = case_dir / f"{case_dir.name}{PROVENANCE_SUFFIX}"
        if not sidecar.is_file():
            return False
        try:
            return json.loads(sidecar.read_text()) == expected
        except json.JSONDecodeError:
            return False

    def _write(self, case_dir: Path, cond: torch.Tensor, label: np.ndarray, affine: np.ndarray,
               provenance: dict[str, Any]) -> None:
        image = self.sample(cond[None], provenance["seed"])[0].numpy()
        write_case(case_dir, image, label, affine, np.float32,
                   {f"{case_dir.name}{PROVENANCE_SUFFIX}": json.dumps(provenance, indent=2, sort_keys=True)})

    def write_case(self, item: dict[str, Any], output_dir: str | Path, seed: int) -> tuple[Path, bool]:
        """Synthesise the copy of one datalist case into ``output_dir/<case>``; returns (dir, written)."""
        case_dir = Path(output_dir) / item["case_id"]
        expected = self._expected(item["case_id"], seed, item["label"])
        if self._is_done(case_dir, expected):
            return case_dir, False
        data = self._preprocess(item)
        label = np.rint(np.asarray(data["label"])[0]).astype(np.uint8)
        self._write(case_dir, data["cond"], label, data["image"].affine.numpy(), expected)
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
            case_dir = Path(output_dir) / f"{item['case_id']}_novel{k:03d}"
            expected = {**self._expected(case_dir.name, seed, item["label"]), "perturbed_from": item["case_id"]}
            dirs.append(case_dir)
            if self._is_done(case_dir, expected):
                continue
            data = self._preprocess(item)
            perturb.set_random_state(seed=expected["seed"])
            cond = torch.as_tensor(perturb({"cond": data["cond"]})["cond"]).float()
            cond[:3] *= cond[3:4]  # tumour stays inside the (perturbed) brain
            self._write(case_dir, cond, self._condition_to_label(cond), data["image"].affine.numpy(), expected)
        return dirs
