"""params.yaml as one typed model: both profiles validate, bad files name the key, bundle keys are bundle ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from monai.bundle import ConfigParser

from synthtrust.bundles import GENERATOR, SEGMENTER, bundle_dir
from synthtrust.errors import ParamsError
from synthtrust.params import GeneratorParams, Params, load, read_yaml
from tests.conftest import DEMO, REPO

PROFILES = (REPO / "params.yaml", REPO / "profiles" / "paper.yaml")


def _bundle_ids(name: str, configs: list[str]) -> set[str]:
    parser = ConfigParser()
    parser.read_config([str(bundle_dir(name) / "configs" / f"{c}.yaml") for c in configs])
    return set(parser.get())


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_both_profiles_validate(path: Path) -> None:
    params = load(path)
    assert set(read_yaml(path)) == set(Params.model_fields)
    assert params.registry.model_name == "brats-swinunetr"


def test_profiles_differ_where_they_should() -> None:
    demo, paper = load(PROFILES[0]), load(PROFILES[1])
    assert (demo.data.source, paper.data.source) == ("phantom", "brats")
    assert (demo.segmenter.feature_size, paper.segmenter.feature_size) == (12, 48)
    assert len(paper.mix.alphas) == 11 and paper.search.sampler == "gp"
    assert demo.generator.sample_overrides()["num_inference_steps"] == 10


def test_bundle_sections_set_bundle_ids() -> None:
    """Every key of the generator and segmenter sections, but the job's own, is an id of the bundle's configs."""
    generator = _bundle_ids(GENERATOR, ["common", "train", "inference"])
    segmenter = _bundle_ids(SEGMENTER, ["inference", "train"])
    assert set(DEMO.generator.train.bundle_overrides()) <= generator
    assert set(DEMO.generator.sample.bundle_overrides()) <= generator
    assert set(DEMO.generator.sample_overrides()) <= _bundle_ids(GENERATOR, ["common", "inference"])
    assert set(DEMO.segmenter.bundle_overrides()) <= segmenter
    assert set(DEMO.segmenter.network_overrides()) <= _bundle_ids(SEGMENTER, ["inference"])


def test_bundle_defaults_are_the_demo_recipe() -> None:
    """Run on their own, the bundles train what the demo pipeline trains (one set of values, not two)."""
    for name, configs, section in ((SEGMENTER, ["inference", "train"], DEMO.segmenter),
                                   (GENERATOR, ["common", "train"], DEMO.generator.train),
                                   (GENERATOR, ["common", "inference"], DEMO.generator.sample)):
        parser = ConfigParser()
        parser.read_config([str(bundle_dir(name) / "configs" / f"{c}.yaml") for c in configs])
        for key, value in section.bundle_overrides().items():
            assert parser[key] == value, f"{name}: {key}"


def _write(tmp_path: Path, change: dict) -> Path:
    raw = read_yaml(REPO / "params.yaml")
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for name in parents:
            node = node[name]
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(("change", "message"), [
    ({"data.sauce": "phantom"}, "data.sauce: unknown key"),
    ({"data.phantom.n": "many"}, "data.phantom.n: Input should be a valid integer"),
    ({"data.spatial_size": 64}, "data.spatial_size: Input should be a valid list"),
    ({"data.split.seed": True}, "data.split.seed: Input should be a valid integer"),
    ({"data.source": "kaggle"}, "data.source: Input should be 'phantom' or 'brats'"),
    ({"data.split.val": 0.5, "data.split.test": 0.5}, "data.split: val \\+ test must leave training cases"),
    ({"segmenter.feature_size": 16}, "segmenter.feature_size: Input should be a multiple of 12"),
    ({"segmenter.depths": [1, 1, 1]}, "segmenter.depths: List should have at least 4 items"),
    ({"segmenter.patch_size": [32, 32, 32]}, "segmenter: patch_size: three multiples of 32"),
    ({"segmenter.max_steps": 0}, "segmenter.max_steps: Input should be greater than or equal to 1"),
    ({"segmenter.pos": 0, "segmenter.neg": 0}, "segmenter: pos/neg: not both zero"),
    ({"segmenter.lr_schedule": "step"}, "segmenter.lr_schedule: Input should be 'constant' or 'cosine'"),
    ({"segmenter.learning_rate": ...}, "segmenter.learning_rate: missing key"),
    ({"generator.train.prediction_type": "noise"}, "generator.train.prediction_type"),
    ({"generator.train.patch_size": [32, 32, 20]}, "generator.train: patch_size: three sizes divisible by 8"),
    ({"generator.train.attention_levels": [False]}, "generator.train: attention_levels: need one entry per level"),
    ({"generator.train.num_head_channels": 0}, "generator.train.num_head_channels"),
    ({"generator.train.use_flash_attention": "yes"}, "generator.train.use_flash_attention: Input should be a valid"),
    ({"segmenter.num_heads": [5, 6, 12, 24]}, "segmenter: num_heads: stage 0 has 12 channels .* not divisible by 5"),
    ({"segmenter.window_size": 1}, "segmenter.window_size"),
    ({"generator.train.ema_momentum": 0.0}, "generator.train.ema_momentum: Input should be greater than 0"),
    ({"generator.sample.sampler": "euler"}, "generator.sample.sampler"),
    ({"generator.sample.steps": 10}, "generator.sample.steps: unknown key"),
    ({"generator.sample.novel_cases": -1}, "generator.sample.novel_cases"),
    ({"generator.train.num_train_timesteps": 5}, "generator: sample.num_inference_steps: at most"),
    ({"mix.alphas": [0.5, 1.5]}, "mix: alpha must be a number in \\[0, 1\\], got 1.5"),
    ({"mix.mode": "augment"}, "mix: alpha = 1 is impossible in augment mode"),
    ({"search.n_trials": 0}, "search.n_trials"),
    ({"search.sampler": "cmaes"}, "search.sampler"),
    ({"search.modes": ["replace", "replace"]}, "search: modes: distinct entries"),
    ({"search.modes": ["swap"]}, "search.modes.0"),
    ({"search.heartbeat_interval": 10, "search.grace_period": 10}, "search: grace_period must exceed"),
    ({"registry.margin": 2}, "registry.margin"),
    ({"trust.privacy_percentile": 100}, "trust.privacy_percentile: Input should be less than 100"),
    ({"trust.diversity_ratio_max": 0.5}, "trust.diversity_ratio_max"),
    ({"data.spacing": [float("inf"), 1.0, 1.0]}, "data.spacing.0: Input should be a finite number"),
    ({"trust.parity_margin": float("nan")}, "trust.parity_margin: Input should be a finite number"),
    ({"data.spatial_size": [48, 64, 64]}, "data: spatial_size: each size a multiple of 32"),
    ({"data.spatial_size": [64, 32, 64]}, "segmenter.patch_size: training crops \\[64, 64, 32\\] larger"),
])
def test_bad_values_name_the_file_and_key(tmp_path: Path, change: dict, message: str) -> None:
    path = _write(tmp_path, change)
    with pytest.raises(ParamsError, match=f"^{path}: {message}") as caught:
        load(path)
    assert "\n" not in str(caught.value)


PAPER_GENERATOR = {f"generator.train.{k}": v for k, v in read_yaml(PROFILES[1])["generator"]["train"].items()}


@pytest.mark.parametrize(("change", "message"), [
    # the case: attention at 32^3 tokens without flash attention asks for one 64 GiB matrix
    ({**PAPER_GENERATOR, "generator.train.use_flash_attention": False},
     "generator.train: attention_levels: level 2 attends over 32768 tokens \\(32x32x32 at patch_size "
     "\\[128, 128, 128\\]\\); one attention matrix is 64.0 GiB \\(16 heads, batch 1, float32\\), over the 8 GiB "
     "bound: use_flash_attention: true, or attention_levels\\[2\\]: false"),
    # flash attention bounds memory, not compute: 64^3 tokens are refused either way
    ({**PAPER_GENERATOR, "generator.train.attention_levels": [False, True, True, True]},
     "generator.train: attention_levels: level 1 attends over 262144 tokens \\(64x64x64 at patch_size .* over the "
     "32768-token bound"),
    # the middle block always attends at the lowest level
    ({**PAPER_GENERATOR, "generator.train.channels": [64, 128, 256]},
     "generator.train: attention_levels: need one entry per level"),
    ({**PAPER_GENERATOR, "generator.train.channels": [64, 128, 256], "generator.train.attention_levels": [False] * 3,
      "generator.train.use_flash_attention": False},
     "generator.train: attention_levels: level 2 attends over 32768 tokens .* the middle block\\); one attention "
     "matrix is 64.0 GiB .*: use_flash_attention: true, or more levels in channels"),
    ({**PAPER_GENERATOR, "generator.train.batch_size": 3},
     "generator.train: batch_size: a training step keeps about 89 GiB of activations \\(batch 3 of "
     "\\[128, 128, 128\\], channels \\[64, 128, 256, 256\\]\\), over the 72 GiB"),
    # training on patches fits, but sampling runs on the whole grid
    ({"generator.train.use_flash_attention": False, "generator.train.attention_levels": [False, True, False, False],
      "data.spatial_size": [128, 128, 128]},
     "generator.train.attention_levels: level 1 attends over 262144 tokens \\(64x64x64 at data.spatial_size"),
])
def test_networks_that_cannot_fit_one_gpu_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    """The memory check runs on CPU, from params alone: the key, the figure and the fix in one line."""
    path = _write(tmp_path, change)
    with pytest.raises(ParamsError, match=f"^{path}: {message}") as caught:
        load(path)
    assert "\n" not in str(caught.value)


def test_the_paper_generator_fits() -> None:
    """Attention at the two lowest levels at 128^3 fits with flash attention (the issue's 31 GiB measurement)."""
    paper = load(PROFILES[1]).generator.train
    assert paper.use_flash_attention and paper.attention_levels == [False, False, True, True]


@pytest.mark.parametrize(("text", "message"), [
    ("data: [1, 2\n", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping of sections"),
    ("data: {}\n", "data.source: missing key"),
])
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=message):
        load(path)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="params file not found"):
        load(tmp_path / "nope.yaml")


def test_generator_sampling_takes_the_network_of_training() -> None:
    overrides = GeneratorParams.model_validate(DEMO.generator.model_dump()).sample_overrides()
    assert overrides["channels"] == DEMO.generator.train.channels
    assert "learning_rate" not in overrides and "novel_cases" not in overrides


def test_storage_env_overrides_params(monkeypatch: pytest.MonkeyPatch) -> None:
    search = DEMO.search
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    assert search.storage_url("sqlite:///d.db") == "sqlite:///d.db"
    stored = type(search).model_validate({**search.model_dump(), "storage": "sqlite:///p.db"})
    assert stored.storage_url("sqlite:///d.db") == "sqlite:///p.db"
    monkeypatch.setenv("OPTUNA_STORAGE", "postgresql://u:pw@host/optuna")
    assert stored.storage_url("sqlite:///d.db") == "postgresql://u:pw@host/optuna"
