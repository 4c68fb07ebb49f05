"""The generator bundle's conditioning maps (scripts/conditioning.py): from label maps, and back."""

import numpy as np
import pytest
import torch

from synthtrust.bundles import GENERATOR
from tests.conftest import bundle_module

conditioning = bundle_module(GENERATOR, "conditioning")
CONDITION_CHANNELS, LabelToConditiond = conditioning.CONDITION_CHANNELS, conditioning.LabelToConditiond
condition_to_label, label_to_condition = conditioning.condition_to_label, conditioning.label_to_condition


def test_channels_are_one_hot_subregions_and_brain() -> None:
    label = torch.tensor([0, 1, 2, 4, 0]).reshape(1, 5, 1, 1)
    brain = torch.tensor([0, 1, 1, 1, 1]).reshape(1, 5, 1, 1)
    cond = label_to_condition(label, brain)
    assert cond.shape == (len(CONDITION_CHANNELS), 5, 1, 1)
    assert cond[:, :, 0, 0].T.tolist() == [
        [0, 0, 0, 0], [1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]]
    assert condition_to_label(cond).ravel().tolist() == [0, 1, 2, 4, 0]


def test_tumour_counts_as_brain_even_where_images_are_zero() -> None:
    cond = label_to_condition(torch.full((1, 2, 1, 1), 2), torch.zeros(1, 2, 1, 1))
    assert cond[3].sum() == 2


def test_unknown_label_names_the_source() -> None:
    with pytest.raises(conditioning.UnknownLabelError, match=r"case7_seg.nii.gz: unknown label values \[3\]"):
        label_to_condition(torch.tensor([0, 3]).reshape(1, 2, 1, 1), torch.ones(1, 2, 1, 1), "case7_seg.nii.gz")


def test_dictionary_transform_uses_any_nonzero_modality_as_brain() -> None:
    image = np.zeros((4, 3, 1, 1), np.float32)
    image[2, 1] = 5.0
    out = LabelToConditiond()({"image": image, "label": np.zeros((1, 3, 1, 1))})
    assert out["cond"][3].ravel().tolist() == [0, 1, 0]
