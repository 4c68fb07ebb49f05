"""The generator section of params.yaml."""

import pytest

from synthtrust.config import section
from synthtrust.errors import ParamsError
from synthtrust.generator.params import GeneratorParams, GeneratorSampleParams, GeneratorTrainParams
from tests.conftest import REPO


def test_repository_params_parse_and_map_to_bundle_ids() -> None:
    demo = section(GeneratorParams, "generator", REPO / "params.yaml")
    paper = section(GeneratorParams, "generator", REPO / "profiles" / "paper.yaml")
    assert demo.train.prediction_type == "sample" and paper.train.prediction_type == "epsilon"
    assert demo.train_overrides()["channels"] == [16, 32, 64, 64]
    assert demo.sample_overrides()["num_inference_steps"] == 10


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: GeneratorTrainParams(prediction_type="noise"), "prediction_type"),
        (lambda: GeneratorTrainParams(patch_size=(32, 32, 20)), "patch_size"),
        (lambda: GeneratorTrainParams(attention_levels=(False,)), "attention_levels"),
        (lambda: GeneratorTrainParams(max_steps=0), "max_steps"),
        (lambda: GeneratorTrainParams(ema_momentum=0.0), "ema_momentum"),
        (lambda: GeneratorSampleParams(sampler="euler"), "sampler"),
        (lambda: GeneratorSampleParams(steps=0), "steps"),
        (lambda: GeneratorSampleParams(novel_cases=-1), "novel_cases"),
        (lambda: GeneratorParams(train=GeneratorTrainParams(num_train_timesteps=5),
                                 sample=GeneratorSampleParams(steps=10)), "steps"),
    ],
)
def test_bad_values_name_the_key(make, key: str) -> None:
    with pytest.raises(ParamsError, match=f"generator.*{key}"):
        make()
