"""The segmenter section of params.yaml."""

import pytest

from synthtrust.config import section
from synthtrust.errors import ParamsError
from synthtrust.segmenter.params import SegmenterParams
from tests.conftest import REPO


def test_both_profiles_parse() -> None:
    assert section(SegmenterParams, "segmenter", REPO / "params.yaml").patch_size == (64, 64, 32)
    assert section(SegmenterParams, "segmenter", REPO / "profiles" / "paper.yaml").feature_size == 48


@pytest.mark.parametrize(
    "kwargs, key",
    [({"feature_size": 16}, "feature_size"), ({"depths": (1, 1, 1)}, "depths"),
     ({"patch_size": (32, 32, 32)}, "patch_size"), ({"roi_size": (64, 64, 48)}, "roi_size"),
     ({"max_steps": 0}, "max_steps"), ({"pos": 0, "neg": 0}, "pos/neg"), ({"learning_rate": 0.0}, "learning_rate"),
     ({"lr_schedule": "step"}, "lr_schedule")],
)
def test_bad_values_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ParamsError, match=f"segmenter.{key}"):
        SegmenterParams(**kwargs)
