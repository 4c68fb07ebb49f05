"""The registered model as an MLflow pyfunc: one BraTS case in, its label map (0, 1, 2, 4) out.

It carries the segmenter bundle's configs, the checkpoint and the network params as artifacts and
predicts with the bundle's own ``preprocessing``, ``inferer`` and ``pred_to_label`` (the label collapse
and the inversion to the input's orientation), so ``predict`` equals ``python -m monai.bundle run
inference``::

    model = mlflow.pyfunc.load_model("models:/brats-swinunetr@challenger")
    label = model.predict({"t1": ..., "t1ce": ..., "t2": ..., "flair": ...})   # NIfTI paths
    label = model.predict(array)                                                 # (4, H, W, D), RAS
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

from synthtrust.bundles import SEGMENTER, bundle_dir, parse
from synthtrust.data.brats import MODALITIES
from synthtrust.errors import DataError
from synthtrust.registry import integrity
from synthtrust.registry.integrity import IntegrityError
from synthtrust.segmenter.checkpoint import load_network_state

NETWORK_FILE = "network.json"


class SegmenterModel(mlflow.pyfunc.PythonModel):
    """SwinUNETR segmenter bundle, served through MLflow. It carries the sha256 of its artifacts (checkpoint,
    bundle copy, network params) and refuses to load artifacts that differ (:mod:`integrity`)."""

    def __init__(self, digests: dict[str, str] | None = None) -> None:
        self.digests = digests

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        if not self.digests:
            raise IntegrityError("this model records no digests of its artifacts (registered by an older "
                                 "synthtrust?); refused: re-register it")
        integrity.verify(context.artifacts, self.digests, "MLflow model")  # before any config is parsed
        network = json.loads(Path(context.artifacts["network"]).read_text())
        parser = parse(SEGMENTER, ["inference"], network, root=context.artifacts["bundle"])
        self.device = parser.get_parsed_content("device")
        self.network = parser.get_parsed_content("network")
        self.network.load_state_dict(load_network_state(context.artifacts["checkpoint"], self.device)[0])
        self.network.eval()
        self.preprocessing = parser.get_parsed_content("preprocessing")
        # an array carries no file to load: the same transforms after loading, on an identity (RAS) affine
        self.array_preprocessing = Compose([t for t in self.preprocessing.transforms
                                            if not isinstance(t, LoadImaged | EnsureChannelFirstd)])
        self.inferer = parser.get_parsed_content("inferer")
        self.pred_to_label = Compose(parser.get_parsed_content("pred_to_label"))

    @staticmethod
    def _case(model_input: Any) -> dict[str, Any]:
        """``{"image": [four paths]}`` or ``{"image": MetaTensor}`` from the accepted input forms."""
        if hasattr(model_input, "to_dict") and hasattr(model_input, "columns"):  # a pandas DataFrame
            if len(model_input) != 1:
                raise DataError(f"predict takes one case at a time, got {len(model_input)} rows")
            model_input = model_input.iloc[0].to_dict()
        if isinstance(model_input, dict):
            missing = [m for m in MODALITIES if m not in model_input]
            if missing:
                raise DataError(f"predict: missing modalities {missing} (need {list(MODALITIES)})")
            model_input = [model_input[m] for m in MODALITIES]
        if isinstance(model_input, list | tuple):
            if len(model_input) != len(MODALITIES) or not all(isinstance(p, str | Path) for p in model_input):
                raise DataError(f"predict: expected four NIfTI paths ({', '.join(MODALITIES)})")
            for path in model_input:
                if not Path(path).is_file():
                    raise DataError(f"{path}: no such file")
            return {"image": [str(p) for p in model_input]}
        array = np.asarray(model_input, dtype=np.float32)
        if array.ndim != 4 or array.shape[0] != len(MODALITIES):
            raise DataError(f"predict: expected an array of shape (4, H, W, D), got {array.shape}")
        if not np.isfinite(array).all():
            raise DataError("predict: the image contains NaN or infinite values")
        return {"image": MetaTensor(torch.from_numpy(array), affine=torch.eye(4))}

    @torch.no_grad()
    def predict(self, context, model_input, params=None):  # no hints: MLflow would read them as a schema
        """The (H, W, D) uint8 label map of one case, in the input's voxel grid and orientation."""
        case = self._case(model_input)
        transform = self.preprocessing if isinstance(case["image"], list) else self.array_preprocessing
        data = transform(case)
        image = data["image"]
        logits = self.inferer(image[None].to(self.device), self.network)[0].cpu()
        data["pred"] = MetaTensor(logits, meta=image.meta, applied_operations=image.applied_operations)
        return np.asarray(self.pred_to_label(data)["pred"][0], dtype=np.uint8)


def model_artifacts(checkpoint: str | Path, network_overrides: dict[str, Any], staging: str | Path
                    ) -> dict[str, str]:
    """The artifacts of :class:`SegmenterModel`, staged under ``staging``: the checkpoint, a copy of the
    bundle (configs, metadata, docs) and the network params the checkpoint was trained with."""
    staging = Path(staging)
    bundle = staging / "bundle"
    shutil.copytree(bundle_dir(SEGMENTER), bundle, ignore=shutil.ignore_patterns("models", "eval", "__pycache__"))
    network = staging / NETWORK_FILE
    network.write_text(json.dumps(network_overrides, indent=2))
    return {"checkpoint": str(checkpoint), "bundle": str(bundle), "network": str(network)}
