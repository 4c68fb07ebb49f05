"""Seconds per case of ``evaluate`` (the segmenter bundle's evaluate.yaml through ``segmenter.scoring.score``):
sliding-window inference, Dice, HD95 and the lesion-wise figures, each timed, on the params' grid and at 128^3.

    python benchmarks/bench_evaluate.py [--params params.yaml] [--grids 64,128] [--cases 5]
                                        [--checkpoint models/segmenter/alpha_0.0/model.pt]

For each grid, ``--cases`` phantoms are made and prepared on it in a temporary directory and every one is
scored. The checkpoint is the pipeline's alpha = 0 model where it fits the params' network (a network
trained at 64^3 predicts plausibly at 128^3, which keeps HD95's cost realistic), else a freshly initialised
one. The metrics must cost less than the inference they score. Asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import torch
from harness import REPO, demo_workspace, describe_device, device, figure, parse_args
from monai.inferers import SlidingWindowInferer
from monai.metrics import DiceMetric
from plain_loops import synchronize

from synthtrust.bundles import SEGMENTER, activate_scripts, bundle_dir, parse
from synthtrust.data.datalist import manifest_datalist
from synthtrust.params import SegmenterParams, load, replace
from synthtrust.segmenter import scoring


@contextlib.contextmanager
def timed(owner: object, method: str, seconds: list[float]) -> Iterator[None]:
    """Append the wall time of every call of ``owner.method`` (a class's method or a module's function; the
    device synchronised) to ``seconds``."""
    original = getattr(owner, method)
    where = device()

    def wrapper(*args, **kwargs):
        synchronize(where)
        started = time.perf_counter()
        result = original(*args, **kwargs)
        synchronize(where)
        seconds.append(time.perf_counter() - started)
        return result

    with mock.patch.object(owner, method, wrapper):
        yield


def bundle_hd95() -> type:
    """The segmenter bundle's HD95 metric class (its ``scripts.metrics``), as evaluate.yaml instantiates it."""
    activate_scripts(bundle_dir(SEGMENTER))
    return importlib.import_module("scripts.metrics").BratsHausdorffDistanceMetric


def checkpoint_for(seg: SegmenterParams, requested: Path, work: Path) -> tuple[Path, str]:
    """``requested`` if it loads into the params' network, else a freshly initialised network's weights."""
    network = parse(SEGMENTER, ["inference"], {**seg.network_overrides(), "device": "cpu"}).get_parsed_content(
        "network")
    if requested.is_file():
        try:
            network.load_state_dict(torch.load(requested, map_location="cpu", weights_only=True))
            return requested, str(requested)
        except RuntimeError:
            pass
    path = work / "random.pt"
    torch.save(network.state_dict(), path)
    return path, "freshly initialised network"


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--grids", default="params,128",
                            help="comma-separated cube sizes; 'params' = data.spatial_size")
        parser.add_argument("--cases", type=int, default=5, help="phantoms made and scored per grid")
        parser.add_argument("--checkpoint", default=str(REPO / "models" / "segmenter" / "alpha_0.0" / "model.pt"))

    args = parse_args(__doc__, extra)
    params = load(args.params)
    seg = params.segmenter
    print(f"device                            : {describe_device()}")
    sizes = [list(params.data.spatial_size) if grid == "params" else [int(grid)] * 3 for grid in args.grids.split(",")]
    for size in [s for i, s in enumerate(sizes) if s not in sizes[:i]]:  # the paper grid is 128^3 already
        data = replace(params.data, spatial_size=size)
        with demo_workspace(data, n=args.cases) as work:
            manifest = work / "data" / "prepared" / "manifest.json"
            datalist = [item for split in ("train", "val", "test") for item in manifest_datalist(manifest, split)]
            checkpoint, source = checkpoint_for(seg, Path(args.checkpoint), work)
            infer, dice, hd, lesion = [], [], [], []
            with timed(SlidingWindowInferer, "__call__", infer), timed(DiceMetric, "_compute_tensor", dice), \
                    timed(bundle_hd95(), "_compute_tensor", hd), timed(scoring, "region_lesions", lesion):
                started = time.perf_counter()
                scoring.score(seg, checkpoint, datalist)
                total = (time.perf_counter() - started) / len(datalist)
        label = "x".join(map(str, size))
        print(f"evaluate at {label:<22}: scoring {len(datalist)} cases with {source}")
        figure(f"evaluate {label} per case", total, "s", "load, inference, post-processing, 3 Dice + 3 HD95, CSV")
        figure(f"evaluate {label} inference", statistics.median(infer), "s", "per case, sliding window")
        figure(f"evaluate {label} Dice", 3 * statistics.median(dice), "s", "per case, 3 regions")
        figure(f"evaluate {label} HD95", 3 * statistics.median(hd), "s", "per case, 3 regions")
        figure(f"evaluate {label} lesion-wise", 3 * statistics.median(lesion), "s",
               "per case, 3 regions (panoptica: components, matching, Dice and HD95 per lesion)")
        metrics = statistics.median(dice) + statistics.median(hd) + statistics.median(lesion)
        figure(f"evaluate {label} metrics / inference", 3 * metrics / statistics.median(infer), "x", "target < 1")


if __name__ == "__main__":
    main()
