"""Benchmark of the generator on the params' recipe: the bundle's trainer against a plain loop, and sampling.

    python benchmarks/bench_generator.py [--params params.yaml] [--steps 10] [--rounds 3]

On phantoms made on the params' grid in a temporary directory (the paper profile: 128^3, on a GPU):

1. The bundle's trainer as ``train_generator`` builds it (train.yaml's SupervisedTrainer with its EMA,
   checkpoint, logging and progress handlers, CacheDataset, random patches on the training device, AMP on
   CUDA), epochs of ``--steps`` iterations: median seconds per step and the median wait for data as a
   share of it.
2. The plain loop (``plain_loops.diffusion_loop``) with the same network, scheduler, optimizer, patch and
   batch (the bundle's own objects; batches made once and kept on the device) and the same EMA update, run
   for as many steps after each of the trainer's epochs: the trainer's speed as a fraction of it (target
   >= 0.95).
3. Seconds to sample one whole case with the params' sampler and step count (the short-trained network:
   speed only; ``bench_synthesis.py`` compares settings' quality on the pipeline's checkpoint).
Prints figures; asserts nothing. The MLflow store is a temporary one.
"""

from __future__ import annotations

import argparse
import copy
import time

from harness import (
    IterationTimer,
    demo_workspace,
    describe_device,
    device,
    device_batches,
    figure,
    parse_args,
    trainer_figures,
    trainer_vs_plain,
)
from plain_loops import diffusion_loop, synchronize

from synthtrust.bundles import GENERATOR, parse
from synthtrust.data.datalist import manifest_datalist
from synthtrust.generator.synthesis import Synthesizer
from synthtrust.params import GeneratorParams, load, replace


def trainer_and_plain_loop(gen: GeneratorParams, steps: int, rounds: int) -> tuple[IterationTimer, list[float]]:
    """The bundle's trainer and the plain loop on its network, scheduler, optimizer and patches, alternated;
    the trainer writes its EMA weights to ``bench_gen/model.pt``."""
    train = replace(gen.train, max_steps=steps * rounds, steps_per_epoch=steps)
    parser = parse(GENERATOR, ["common", "train"], {"ckpt_dir": "bench_gen", **train.bundle_overrides()})
    where, amp = parser.get_parsed_content("device"), bool(parser.get_parsed_content("amp"))
    dataset, batch_size = parser.get_parsed_content("train#dataset"), gen.train.batch_size
    batches = device_batches(dataset, batch_size, ("image", "cond"), where)
    network, scheduler, optimizer = (parser.get_parsed_content(k) for k in ("network", "noise_scheduler", "optimizer"))
    ema = copy.deepcopy(network)
    parser.get_parsed_content("initialize")  # as the job runs it: determinism, the per-epoch state saver
    return trainer_vs_plain(parser.get_parsed_content("trainer"), lambda n: diffusion_loop(
        network, batches, scheduler, optimizer, ema, gen.train.ema_momentum, n, amp), where)


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--steps", type=int, default=10, help="training steps per round")
        parser.add_argument("--rounds", type=int, default=3, help="rounds of trainer and plain loop, alternated")

    args = parse_args(__doc__, extra)
    params = load(args.params)
    gen, where = params.generator, device()
    with demo_workspace(params.data) as work:
        manifest = work / "data" / "prepared" / "manifest.json"
        timer, plain = trainer_and_plain_loop(gen, args.steps, args.rounds)
        synth = Synthesizer(gen, work / "bench_gen" / "model.pt")
        cond = synth.sampler.preprocessing(dict(manifest_datalist(manifest, "test")[0]))["cond"][None]
        synth.sample(cond[..., :16, :16, :16], seed=0)  # warm-up (kernels, allocator)
        synchronize(where)
        started = time.perf_counter()
        synth.sample(cond, seed=0)
        synchronize(where)
        sample_s = time.perf_counter() - started

    print(f"device                            : {describe_device()}")
    print(f"network                           : channels {list(gen.train.channels)}, attention "
          f"{gen.train.attention_levels}, flash {gen.train.use_flash_attention}")
    trainer_figures("generator", timer, plain, args.rounds, f"batch {gen.train.batch_size} of "
                    f"{list(gen.train.patch_size)}", "same network, scheduler, optimizer, batches, EMA")
    figure("sampling one case", sample_s, "s", f"{gen.sample.sampler} {gen.sample.num_inference_steps} steps, "
           f"{list(params.data.spatial_size)}")


if __name__ == "__main__":
    main()
