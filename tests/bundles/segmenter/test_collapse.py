"""The bundle's one label collapse (``regions_to_label`` in inference.yaml): TC, WT, ET channels to BraTS labels."""

import itertools

import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses

from tests.conftest import REPO

INFERENCE = REPO / "bundles" / "brats_swinunetr_segmenter" / "configs" / "inference.yaml"


def collapse(regions: torch.Tensor) -> MetaTensor:
    """The config item applied to (3, ...) binary regions, as the bundle applies it to ``pred``."""
    parser = ConfigParser()
    parser.read_config(str(INFERENCE))
    pred = MetaTensor(regions.float(), affine=torch.diag(torch.tensor([1.0, 2.0, 3.0, 1.0])))
    return parser.get_parsed_content("regions_to_label")({"pred": pred})["pred"]


def test_round_trip_through_monai_regions() -> None:
    label = torch.tensor([0, 1, 2, 4, 2, 1]).reshape(1, 6, 1, 1)
    regions = ConvertToMultiChannelBasedOnBratsClasses()(label[0])
    out = collapse(regions)
    assert torch.equal(out.as_tensor(), label.to(torch.uint8))
    assert out.dtype == torch.uint8 and out.shape == (1, 6, 1, 1)
    assert torch.equal(out.affine, torch.diag(torch.tensor([1.0, 2.0, 3.0, 1.0])).to(out.affine.dtype))


def test_collapse_keeps_regions_nested_on_every_channel_combination() -> None:
    """ET only inside TC, TC only inside WT: whatever the three sigmoid channels say."""
    combos = list(itertools.product([0, 1], repeat=3))  # (tc, wt, et)
    regions = torch.tensor(combos).T.reshape(3, 8, 1, 1)
    expected = [0 if not wt else (2 if not tc else (4 if et else 1)) for tc, wt, et in combos]
    assert collapse(regions).ravel().tolist() == expected
