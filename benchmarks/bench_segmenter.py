"""Benchmark of the segmenter on the demo params: training speed, data wait, full-size CPU inference.

    python benchmarks/bench_segmenter.py [--params params.yaml]

1. Trains for one epoch (one pass over the training cases: ignite's BasicTimeProfiler sizes its buffers by
   the loader's length) through the real job on phantoms made in a temporary directory, with the profiler
   attached: iterations/s and the fraction of step time spent waiting for data.
2. Runs the bundle's sliding-window inferer over one full-size BraTS volume (4 x 240 x 240 x 155, random
   intensities) on the CPU in a fresh process: seconds and that process's peak resident memory.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from unittest import mock

import torch
from harness import demo_workspace, parse_args
from ignite.engine import Engine
from ignite.handlers import BasicTimeProfiler

from synthtrust.bundles import SEGMENTER, parse
from synthtrust.data.datalist import read_manifest
from synthtrust.io import atomic_write_json
from synthtrust.mixing import make_mix
from synthtrust.params import SegmenterParams, load, replace
from synthtrust.stages.train_segmenter import run as train_segmenter


def full_size_inference(seg: SegmenterParams) -> float:
    """Seconds for the bundle's sliding-window inference over one random 4 x 240 x 240 x 155 volume."""
    bundle = parse(SEGMENTER, ["inference"], seg.network_overrides())
    network = bundle.get_parsed_content("network").eval()
    inferer = bundle.get_parsed_content("inferer")
    volume = torch.randn(1, 4, 240, 240, 155)
    started = time.perf_counter()
    with torch.no_grad():
        inferer(volume, network)
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__)
    params = load(args.params)
    data, seg = params.data, params.segmenter
    profilers: list[BasicTimeProfiler] = []
    original_run = Engine.run

    def profiled_run(engine: Engine, *a, **kw):  # attach a profiler to the trainer the bundle builds
        if type(engine).__name__ == "SupervisedTrainer" and not profilers:
            profiler = BasicTimeProfiler()
            profiler.attach(engine)
            profilers.append(profiler)
        return original_run(engine, *a, **kw)

    with demo_workspace(data) as work:
        n_train = len(read_manifest("data/prepared/manifest.json")["splits"]["train"])
        per_epoch = n_train // seg.batch_size
        short = replace(seg, max_steps=per_epoch, steps_per_epoch=per_epoch, val_interval=1)
        atomic_write_json("mix.json", make_mix(0.0, params.mix, "data/prepared/manifest.json",
                                               "data/synthetic", root=work))
        with mock.patch.object(Engine, "run", profiled_run):
            train_segmenter(short, "mix.json", work / "seg")
    results = profilers[0].get_results()
    data_s = float(results["dataflow_stats"]["total"])
    step_s = float(results["processing_stats"]["total"])
    iters = profilers[0].dataflow_times.numel()

    # a fresh process, so that its peak memory is the inference's and not training's
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        infer_s = pool.apply(full_size_inference, (seg,))
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0

    print(f"device                       : cpu, {torch.get_num_threads()} threads")
    print(f"network                      : SwinUNETR feature_size {seg.feature_size}, depths {list(seg.depths)}")
    print(f"training                     : {iters / (data_s + step_s):.2f} it/s over {iters} iterations "
          f"({list(seg.patch_size)} crops, {seg.num_samples} per case, batch {seg.batch_size})")
    print(f"waiting for data             : {100 * data_s / (data_s + step_s):.1f} % of step time")
    print(f"inference 4x240x240x155      : {infer_s:.1f} s (sliding window {list(seg.roi_size)}, overlap 0.25)")
    print(f"peak resident memory         : {peak_mib:.0f} MiB (the whole inference process: Python, torch, "
          "the network and the volume)")


if __name__ == "__main__":
    main()
