"""Sampling images from the trained generator, conditioned on label maps.

:class:`ConditionalSampler` loads the EMA weights, samples a (4, ...) image for a conditioning map with a
per-case seed, and for a standalone bundle run writes each case's synthetic image with MONAI's
``SaveImage`` (``<output_dir>/<case>_synthetic.nii.gz``, four channels t1, t1ce, t2, flair, on the label
map's grid and affine).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.data import MetaTensor
from monai.inferers import DiffusionInferer
from monai.networks.schedulers import Scheduler
from monai.transforms import SaveImage

logger = logging.getLogger(__name__)


def case_seed(seed: int, case_id: str) -> int:
    """A per-case seed: stable across runs and independent of the order cases are processed in."""
    return int(hashlib.sha256(f"{seed}:{case_id}".encode()).hexdigest()[:8], 16)


class ConditionalSampler:
    """Samples four-modality images with a label-conditioned diffusion model (concat conditioning)."""

    def __init__(
        self,
        network: torch.nn.Module,
        inferer: DiffusionInferer,
        scheduler: Scheduler,
        num_inference_steps: int,
        preprocessing: Callable[[dict[str, Any]], dict[str, Any]],
        intensity_range: float,
        modalities: int = 4,
        device: torch.device | str = "cpu",
        amp: bool = False,
    ) -> None:
        self.network, self.inferer, self.scheduler = network, inferer, scheduler
        self.num_inference_steps = int(num_inference_steps)
        self.preprocessing, self.intensity_range = preprocessing, float(intensity_range)
        self.modalities, self.device, self.amp = int(modalities), torch.device(device), bool(amp)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load the network weights (a state dict, or the ``network`` entry of a training checkpoint) from
        ``path``, with ``weights_only=True``."""
        state = torch.load(path, map_location=self.device, weights_only=True)
        if isinstance(state, dict) and "network" in state:
            state = state["network"]
        self.network.load_state_dict(state)
        self.network.eval()

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, seed: int) -> torch.Tensor:
        """Sample (B, modalities, ...) z-score images for (B, 4, ...) conditioning maps; zero outside the brain."""
        generator = torch.Generator().manual_seed(seed)
        shape = (cond.shape[0], self.modalities, *cond.shape[2:])
        noise = torch.randn(shape, generator=generator).to(self.device)
        torch.manual_seed(seed)  # DDPM steps draw fresh noise from the global generator
        self.scheduler.set_timesteps(num_inference_steps=self.num_inference_steps)
        cond = cond.to(self.device)
        with torch.autocast(self.device.type, enabled=self.amp and self.device.type == "cuda"):
            image = self.inferer.sample(noise, self.network, scheduler=self.scheduler, conditioning=cond,
                                        mode="concat", verbose=False)
        brain = cond[:, 3:4] > 0.5
        return (image.float().clamp(-1.0, 1.0) * self.intensity_range * brain).cpu()

    def save_all(self, datalist: Sequence[dict[str, Any]], output_dir: str | Path, seed: int = 0) -> list[Path]:
        """Sample every case of ``datalist`` (``image``, ``label``, ``case_id``) and write its synthetic image."""
        saver = SaveImage(output_dir=str(output_dir), output_postfix="synthetic", separate_folder=False,
                          resample=False, print_log=False)
        written = []
        for item in datalist:
            data = self.preprocessing(dict(item))
            image = self.sample(data["cond"][None], case_seed(seed, item["case_id"]))[0]
            meta = dict(data["label"].meta)
            meta["filename_or_obj"] = item["case_id"]
            saver(MetaTensor(image, affine=data["label"].affine, meta=meta))
            written.append(Path(output_dir) / f"{item['case_id']}_synthetic.nii.gz")
            logger.info("sampled %s", item["case_id"])
        return written
