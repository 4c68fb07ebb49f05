"""The generator bundle's prepare-batch extension (scripts/engine.py): concat mode and the target each prediction
type needs."""

import pytest
import torch
from monai.networks.schedulers import DDPMScheduler

from synthtrust.bundles import GENERATOR
from tests.conftest import bundle_module

ConcatDiffusionPrepareBatch = bundle_module(GENERATOR, "engine").ConcatDiffusionPrepareBatch


@pytest.mark.parametrize("kind", ["epsilon", "sample", "v_prediction"])
def test_target_and_mode(kind: str) -> None:
    scheduler = DDPMScheduler(num_train_timesteps=50, prediction_type=kind)
    batch = {"image": torch.randn(2, 4, 8, 8, 8), "cond": torch.ones(2, 4, 8, 8, 8)}
    images, target, args, kwargs = ConcatDiffusionPrepareBatch(scheduler)(batch, device="cpu")
    assert kwargs["mode"] == "concat" and torch.equal(kwargs["condition"], batch["cond"])
    assert args == () and kwargs["timesteps"].max() < 50
    expected = {
        "epsilon": kwargs["noise"],
        "sample": batch["image"],
        "v_prediction": scheduler.get_velocity(batch["image"], kwargs["noise"], kwargs["timesteps"]),
    }[kind]
    assert torch.allclose(target, expected)
