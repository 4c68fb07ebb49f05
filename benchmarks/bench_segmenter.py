"""Benchmark of the segmenter on the params' recipe: the bundle's trainer against a plain loop, and inference.

    python benchmarks/bench_segmenter.py [--params params.yaml] [--steps 10] [--rounds 3]

On phantoms made on the params' grid in a temporary directory (the paper profile: 128^3, on a GPU):

1. The bundle's trainer as ``train_segmenter`` builds it (train.yaml's SupervisedTrainer with its handlers,
   CacheDataset, random transforms on the training device, AMP on CUDA), one epoch of ``--steps``
   iterations per round: median seconds per step and the median wait for data as a share of it.
2. The plain loop (``plain_loops.segmenter_loop``) with the same network, loss, optimizer, crop and batch
   (the bundle's own objects; batches made once by its transforms and kept on the device), run for as
   many steps after each of the trainer's epochs. The trainer's speed as a fraction of the plain loop's is
   the figure to watch (target >= 0.95).
3. The bundle's sliding-window inference over one full-size BraTS volume (4 x 240 x 240 x 155): seconds
   and peak memory (on CPU the resident memory of a fresh process; on CUDA the peak GPU allocation).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import torch
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
from plain_loops import segmenter_loop, synchronize

from synthtrust.bundles import SEGMENTER, parse
from synthtrust.io import atomic_write_json
from synthtrust.mixing import make_mix
from synthtrust.params import SegmenterParams, load
from synthtrust.tracking import repo_root


def full_size_inference(seg: SegmenterParams) -> tuple[float, float]:
    """Seconds and peak GPU GiB (0 on CPU) of the bundle's sliding-window inference over one random
    4 x 240 x 240 x 155 volume, on the bundle's device with its AMP setting."""
    bundle = parse(SEGMENTER, ["inference"], seg.network_overrides())
    network, inferer = bundle.get_parsed_content("network").eval(), bundle.get_parsed_content("inferer")
    where, amp = bundle.get_parsed_content("device"), bool(bundle.get_parsed_content("amp"))
    volume = torch.randn(1, 4, 240, 240, 155, device=where)
    if where.type == "cuda":
        torch.cuda.reset_peak_memory_stats(where)
    synchronize(where)
    started = time.perf_counter()
    with torch.no_grad(), torch.autocast(where.type, enabled=amp):
        inferer(volume, network)
    synchronize(where)
    seconds = time.perf_counter() - started
    return seconds, (torch.cuda.max_memory_allocated(where) / 2**30 if where.type == "cuda" else 0.0)


def trainer_and_plain_loop(seg: SegmenterParams, steps: int, rounds: int) -> tuple[IterationTimer, list[float]]:
    """The bundle's trainer and the plain loop on its network, loss, optimizer and batches, alternated."""
    parser = parse(SEGMENTER, ["inference", "train"], {
        "mix_file": "mix.json", "data_root": str(repo_root()), "ckpt_dir": "bench_seg", **seg.bundle_overrides(),
        "max_steps": steps * rounds, "steps_per_epoch": steps, "val_interval": 10**6})  # training only
    where, amp = parser.get_parsed_content("device"), bool(parser.get_parsed_content("amp"))
    dataset = parser.get_parsed_content("train#dataset")
    batches = device_batches(dataset, seg.batch_size, ("image", "label"), where)
    network, loss, optimizer = (parser.get_parsed_content(k) for k in ("network", "loss", "optimizer"))
    return trainer_vs_plain(parser.get_parsed_content("train#trainer"),
                            lambda n: segmenter_loop(network, batches, loss, optimizer, n, amp), where)


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--steps", type=int, default=10, help="training steps per round")
        parser.add_argument("--rounds", type=int, default=3, help="rounds of trainer and plain loop, alternated")

    args = parse_args(__doc__, extra)
    params = load(args.params)
    seg = params.segmenter
    where = device()
    with demo_workspace(params.data) as work:
        atomic_write_json("mix.json", make_mix(0.0, params.mix, "data/prepared/manifest.json",
                                               "data/synthetic", root=work))
        timer, plain = trainer_and_plain_loop(seg, args.steps, args.rounds)

    if where.type == "cuda":
        infer_s, peak_gib = full_size_inference(seg)
        peak = peak_gib * 1024
    else:  # a fresh process, so that its peak resident memory is the inference's and not training's
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            infer_s, _ = pool.apply(full_size_inference, (seg,))
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0

    print(f"device                            : {describe_device()}")
    print(f"network                           : SwinUNETR feature_size {seg.feature_size}, depths {list(seg.depths)}, "
          f"heads {list(seg.num_heads)}, window {seg.window_size}")
    crops = f"{seg.num_samples} x {list(seg.patch_size)} crops per case, batch {seg.batch_size}"
    trainer_figures("segmenter", timer, plain, args.rounds, crops,
                    "same network, loss, optimizer and batches, data on the device")
    figure("full-size inference", infer_s, "s", f"4x240x240x155, sliding window {list(seg.roi_size)}, overlap 0.25")
    figure("full-size inference peak memory", peak, "MiB",
           "GPU allocation" if where.type == "cuda" else "resident memory of the whole process")


if __name__ == "__main__":
    main()
