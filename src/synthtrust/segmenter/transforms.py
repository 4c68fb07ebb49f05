"""The one transform MONAI lacks here: region channels (TC, WT, ET) back to BraTS labels.

MONAI's ``ConvertToMultiChannelBasedOnBratsClassesd`` maps labels 1, 2, 4 to the nested regions
TC = {1, 4}, WT = {1, 2, 4}, ET = {4}; ``RegionsToLabeld`` is its inverse for predictions. Three sigmoid
channels need not nest (a model can predict enhancing tumour outside its own whole tumour), so the
collapse is hierarchical: whole tumour first, tumour core only inside it, enhancing tumour only inside
the core. Taking the union instead would let the least reliable channels add false positives to WT.
The result has one channel, which MONAI Deploy's bundle operator needs.

``REGIONS_TO_LABEL_CONFIG`` is the same collapse as a plain MONAI ``Lambdad`` config item, for the
exported deployable bundle, which must run where synthtrust is not installed (a MONAI Deploy package).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform


def regions_to_label(regions: torch.Tensor) -> torch.Tensor:
    """(3, ...) binary TC, WT, ET channels to a (1, ...) uint8 BraTS label map (0, 1, 2, 4), nested:
    ET within TC within WT."""
    tc, wt, et = (regions[i] > 0.5 for i in range(3))
    tc = tc & wt
    et = et & tc
    label = torch.zeros_like(tc, dtype=torch.uint8)
    label[wt] = 2
    label[tc] = 1
    label[et] = 4
    return label[None]


#: With binary channels, WT * (2 - TC + 3 * TC * ET) is 2 in WT only, 1 in TC (within WT), 4 in ET (within TC
#: within WT) and 0 elsewhere: the nesting of ``regions_to_label`` in one expression (tested equal on all eight
#: channel combinations). The regions come from ``AsDiscreted(threshold=0.5)``, hence 0.0 or 1.0.
REGIONS_TO_LABEL_CONFIG: dict[str, str] = {
    "_target_": "Lambdad",
    "keys": "pred",
    "func": "$lambda x: (x[1:2] * (2 - x[0:1] + 3 * x[0:1] * x[2:3])).to(torch.uint8)",
}


class RegionsToLabeld(MapTransform):
    """Replace each key's (3, ...) region channels with a (1, ...) BraTS label map, keeping its metadata."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            label = regions_to_label(torch.as_tensor(value))
            d[key] = MetaTensor(label, meta=value.meta, applied_operations=value.applied_operations) \
                if isinstance(value, MetaTensor) else label
        return d
