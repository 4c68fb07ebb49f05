"""Conditioning maps: one-hot necrotic core, oedema, enhancing tumour, and the brain mask.

This is the Med-DDPM recipe (concatenate the semantic map to the noisy image). The brain mask tells the
model where anatomy is, so a synthetic copy keeps the real case's brain outline.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

#: Conditioning channels, in order, and the BraTS 2021 label of each tumour channel.
CONDITION_CHANNELS = ("necrotic_core", "oedema", "enhancing", "brain")
LABEL_OF = {"necrotic_core": 1, "oedema": 2, "enhancing": 4}
BRATS_LABELS = frozenset({0, 1, 2, 4})


class UnknownLabelError(ValueError):
    """A label map holds values other than the BraTS labels 0, 1, 2, 4."""


def label_to_condition(label: torch.Tensor, brain: torch.Tensor, source: str = "label map") -> torch.Tensor:
    """(4, ...) float conditioning from a (1, ...) BraTS label map and a (1, ...) brain mask.

    Raises:
        UnknownLabelError: the label map holds other values than 0, 1, 2, 4 (``source`` names the file).
    """
    values = {int(v) for v in torch.unique(label).tolist()}
    unknown = sorted(values - BRATS_LABELS)
    if unknown:
        raise UnknownLabelError(f"{source}: unknown label values {unknown} in a conditioning map (expected 0, 1, 2, 4)")
    channels = [(label == LABEL_OF[name]) for name in CONDITION_CHANNELS[:3]]
    channels.append((brain > 0) | (label > 0))
    return torch.cat(channels, dim=0).to(torch.float32)


class LabelToConditiond(MapTransform):
    """Add ``cond_key``: the conditioning map of ``label_key``, with the brain mask from ``brain_key``.

    The brain mask is where any channel of ``brain_key`` (the images) is non-zero.
    """

    def __init__(self, keys: KeysCollection = "label", brain_key: str = "image", cond_key: str = "cond",
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.brain_key, self.cond_key = brain_key, cond_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            label = torch.as_tensor(d[key])
            brain = torch.as_tensor(d[self.brain_key]).ne(0).any(dim=0, keepdim=True)
            source = getattr(d[key], "meta", {}).get("filename_or_obj", str(key))
            d[self.cond_key] = label_to_condition(label, brain, str(source))
        return d


def condition_to_label(cond: torch.Tensor | np.ndarray) -> np.ndarray:
    """Back from a (4, ...) conditioning map to a BraTS label map (for perturbed, novel label maps)."""
    cond = np.asarray(cond) > 0.5
    label = np.zeros(cond.shape[1:], np.uint8)
    label[cond[1]] = 2
    label[cond[0]] = 1
    label[cond[2]] = 4
    return label
