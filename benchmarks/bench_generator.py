"""Benchmark of the generator on the demo params: training steps/s and seconds per synthetic case.

    python benchmarks/bench_generator.py [--params params.yaml] [--train-steps 20] [--full]

Trains for a few steps through the real job (MONAI SupervisedTrainer, data loading included) on freshly
made phantoms in a temporary directory, then times sampling one whole case with DDIM (the params' step
count) and with DDPM over the full training schedule. Without --full, DDPM is timed over 25 steps and
scaled to the schedule length (its per-step cost is constant); --full runs all of it.
Prints figures; asserts nothing. The MLflow store is a temporary one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from harness import demo_workspace, parse_args

from synthtrust.data.datalist import manifest_datalist
from synthtrust.generator.synthesis import Synthesizer
from synthtrust.params import GeneratorParams, load, replace
from synthtrust.stages.train_generator import run as train_generator


def _time_case(params: GeneratorParams, checkpoint: Path, manifest: Path, steps: int, sampler: str) -> float:
    sample = replace(params.sample, sampler=sampler, num_inference_steps=steps)
    synth = Synthesizer(replace(params, sample=sample.model_dump()), checkpoint)
    cond = synth.sampler.preprocessing(dict(manifest_datalist(manifest, "test")[0]))["cond"][None]
    started = time.perf_counter()
    synth.sample(cond, seed=0)
    return time.perf_counter() - started


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--train-steps", type=int, default=20)
        parser.add_argument("--full", action="store_true", help="run DDPM over the whole schedule")

    args = parse_args(__doc__, extra)
    params = load(args.params)
    data, gen = params.data, params.generator
    steps = args.train_steps
    gen_short = replace(gen, train=replace(gen.train, max_steps=steps, steps_per_epoch=steps).model_dump())
    with demo_workspace(data) as work:
        manifest = work / "data" / "prepared" / "manifest.json"
        started = time.perf_counter()
        model = train_generator(gen_short, manifest, work / "gen")
        train_s = time.perf_counter() - started
        ddim_s = _time_case(gen, model, manifest, gen.sample.num_inference_steps, "ddim")
        schedule = gen.train.num_train_timesteps
        measured = schedule if args.full else 25
        ddpm_s = _time_case(gen, model, manifest, measured, "ddpm") * schedule / measured
    print(f"device                       : {'cuda' if torch.cuda.is_available() else 'cpu'}, "
          f"{torch.get_num_threads()} threads")
    print(f"network channels             : {list(gen.train.channels)}, volume {list(data.spatial_size)}")
    print(f"training                     : {steps / train_s:.2f} steps/s ({train_s / steps:.2f} s/step, "
          f"{steps} steps incl. data loading and start-up, batch {gen.train.batch_size} of "
          f"{list(gen.train.patch_size)})")
    print(f"DDIM, {gen.sample.num_inference_steps} steps               : {ddim_s:.1f} s per case")
    label = "measured" if args.full else f"from {measured} measured steps"
    print(f"DDPM, {schedule} steps ({label}) : {ddpm_s:.1f} s per case")
    print(f"DDPM / DDIM                  : {ddpm_s / ddim_s:.0f}x")


if __name__ == "__main__":
    main()
