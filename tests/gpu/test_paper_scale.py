"""GPU smoke suite (``pytest -m gpu``): the paper profile at its full 128^3 size runs and fits one GPU.

Phantoms on the paper grid stand in for BraTS. Each test runs the real job for a few steps and prints the
peak GPU memory beside the params check's estimate; where there is no CUDA every test skips, saying so.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from synthtrust import capacity
from synthtrust.data.datalist import manifest_datalist
from synthtrust.params import load, replace
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from harness import demo_workspace  # noqa: E402  (the benchmarks' workspace: phantoms on the params' grid)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the GPU smoke suite runs on a GPU "
                       "machine (`pytest -m gpu`)"),
]
PAPER = load(REPO / "profiles" / "paper.yaml")
STEPS = 4


def _report(what: str, seconds: float, estimate_gib: float | None = None) -> float:
    """Print and return the peak GPU memory (GiB) since the last reset."""
    peak = torch.cuda.max_memory_allocated() / capacity.GIB
    extra = f", estimate {estimate_gib:.1f} GiB" if estimate_gib is not None else ""
    print(f"\n[gpu] {what}: {seconds:.1f} s, peak {peak:.1f} GiB{extra} on {torch.cuda.get_device_name()}")
    torch.cuda.reset_peak_memory_stats()
    return peak


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    """Six phantoms prepared on the paper grid (128^3), a throw-away MLflow store, the cwd inside."""
    with demo_workspace(PAPER.data, n=6) as work:
        torch.cuda.reset_peak_memory_stats()
        yield work


@pytest.fixture(scope="module")
def generator_model(workspace: Path) -> Path:
    from synthtrust.stages.train_generator import run as train_generator

    train = replace(PAPER.generator.train, max_steps=STEPS, steps_per_epoch=STEPS)
    generator = replace(PAPER.generator, train=train.model_dump())
    started = time.perf_counter()
    model = train_generator(generator, workspace / "data/prepared/manifest.json", workspace / "gen")
    estimate = capacity.activation_gib(train.channels, train.num_res_blocks, train.patch_size, train.batch_size)
    peak = _report(f"generator training, {STEPS} steps of {train.patch_size}", time.perf_counter() - started,
                   estimate)
    assert peak < capacity.DEVICE_MEMORY_GIB
    return model


def test_generator_trains_at_paper_size(generator_model: Path) -> None:
    assert generator_model.is_file()


def test_generator_samples_one_case(workspace: Path, generator_model: Path) -> None:
    from synthtrust.generator.synthesis import Synthesizer

    synth = Synthesizer(PAPER.generator, generator_model)
    item = manifest_datalist(workspace / "data/prepared/manifest.json", "test")[0]
    cond = synth.sampler.preprocessing(dict(item))["cond"][None]
    started = time.perf_counter()
    image = synth.sample(cond, seed=0)
    _report(f"sampling one {list(cond.shape[2:])} case, {PAPER.generator.sample.sampler} "
            f"{PAPER.generator.sample.num_inference_steps} steps", time.perf_counter() - started)
    assert image.shape == (1, 4, *PAPER.data.spatial_size) and torch.isfinite(image).all()


def test_segmenter_trains_at_paper_size(workspace: Path) -> None:
    from synthtrust.io import atomic_write_json
    from synthtrust.mixing import make_mix
    from synthtrust.stages.train_segmenter import run as train_segmenter

    seg = replace(PAPER.segmenter, max_steps=STEPS, steps_per_epoch=STEPS, val_interval=1)
    atomic_write_json("mix.json", make_mix(0.0, PAPER.mix, "data/prepared/manifest.json", "data/synthetic",
                                           root=workspace))
    started = time.perf_counter()
    model = train_segmenter(seg, "mix.json", workspace / "seg")
    peak = _report(f"segmenter training, {STEPS} steps of {seg.patch_size} and one validation",
                   time.perf_counter() - started)
    assert model.is_file() and peak < capacity.DEVICE_MEMORY_GIB


def test_full_size_inference() -> None:
    """One BraTS-size volume (4 x 240 x 240 x 155) through the bundle's sliding-window inferer."""
    from synthtrust.bundles import SEGMENTER, parse

    bundle = parse(SEGMENTER, ["inference"], PAPER.segmenter.network_overrides())
    network, inferer = bundle.get_parsed_content("network").eval(), bundle.get_parsed_content("inferer")
    volume = torch.randn(1, 4, 240, 240, 155, device=bundle.get_parsed_content("device"))
    started = time.perf_counter()
    with torch.no_grad(), torch.autocast("cuda"):
        out = inferer(volume, network)
    torch.cuda.synchronize()
    _report("full-size inference 4x240x240x155", time.perf_counter() - started)
    assert out.shape == (1, 3, 240, 240, 155)
