"""Region channels back to BraTS labels: the inverse of MONAI's ConvertToMultiChannelBasedOnBratsClasses."""

import itertools

import torch
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses

from synthtrust.segmenter.transforms import REGIONS_TO_LABEL_CONFIG, RegionsToLabeld, regions_to_label


def test_round_trip_through_monai_regions() -> None:
    label = torch.tensor([0, 1, 2, 4, 2, 1]).reshape(1, 6, 1, 1)
    regions = ConvertToMultiChannelBasedOnBratsClasses()(label[0])
    assert torch.equal(regions_to_label(regions), label.to(torch.uint8))


def test_dictionary_transform_keeps_metadata() -> None:
    pred = MetaTensor(torch.zeros(3, 2, 2, 2), affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    pred[1, 0, 0, 0] = 1
    out = RegionsToLabeld("pred")({"pred": pred})["pred"]
    assert out.shape == (1, 2, 2, 2) and out.dtype == torch.uint8 and int(out[0, 0, 0, 0]) == 2
    assert torch.equal(out.affine, pred.affine)


def test_collapse_keeps_regions_nested() -> None:
    # the enhancing channel fires outside the core and the core outside the whole tumour
    tc = torch.tensor([0, 1, 1, 0, 1], dtype=torch.float32)
    wt = torch.tensor([0, 0, 1, 1, 1], dtype=torch.float32)
    et = torch.tensor([1, 1, 0, 0, 1], dtype=torch.float32)
    label = regions_to_label(torch.stack([tc, wt, et]))
    assert label.ravel().tolist() == [0, 0, 1, 2, 4]


def test_config_form_equals_the_transform_on_every_channel_combination() -> None:
    regions = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3))).T.reshape(3, 8, 1, 1)
    pred = MetaTensor(regions, affine=torch.diag(torch.tensor([1.0, 2.0, 3.0, 1.0])))
    parser = ConfigParser({"imports": ["$import torch"], "collapse": REGIONS_TO_LABEL_CONFIG})
    out = parser.get_parsed_content("collapse")({"pred": pred})["pred"]
    assert torch.equal(out.as_tensor(), regions_to_label(regions))
    assert out.dtype == torch.uint8 and torch.equal(out.affine, pred.affine)
