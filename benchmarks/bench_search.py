"""Benchmark: how many trainings the Optuna search needs to come within 0.01 mean validation Dice of the best
point of an 11-point alpha grid, and how long, against the grid itself.

    python benchmarks/bench_search.py [--params params.yaml] [--max-steps N] [--budget 11]

Needs the demo data the pipeline makes (``dvc repro synthesize``: data/prepared and data/synthetic). Runs in
the repository with a temporary MLflow store, Optuna storage and model directory; touches nothing else.

1. Grid: trains alpha = 0.0, 0.1, ..., 1.0 with the segmenter params (``--max-steps`` shortens every
   training alike), each through the real train_segmenter job; records validation mean Dice and seconds.
2. Search: starts as the pipeline does, from the ``mix.alphas`` grid models (taken from step 1, their
   training time counted), and runs the real search job one more trial at a time until its best trial is
   within 0.01 of the grid's best or it has used ``--budget`` trainings. Pruned trials count as trainings.
Prints both counts, both times and their ratios; asserts nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from harness import REPO, figure, parse_args

from synthtrust.mixing import make_mix
from synthtrust.params import MixParams, SegmenterParams, load, replace
from synthtrust.segmenter.training import read_validation
from synthtrust.stages.search import run as run_search
from synthtrust.stages.train_segmenter import run as train_segmenter

GRID = tuple(round(i / 10, 1) for i in range(11))
TOLERANCE = 0.01


def train_grid(seg: SegmenterParams, mix: MixParams, out: Path) -> dict[float, dict]:
    """Validation summary (with train_seconds) of every alpha of GRID, trained into ``out/alpha_<a>``."""
    results = {}
    for alpha in GRID:
        mix_path = out / "mixes" / f"alpha_{alpha}.json"
        mix_path.parent.mkdir(parents=True, exist_ok=True)
        mix_path.write_text(json.dumps(make_mix(alpha, replace(mix, alphas=[alpha]), root=REPO)))
        started = time.perf_counter()
        train_segmenter(seg, mix_path, out / f"alpha_{alpha}")
        results[alpha] = {**read_validation(out / f"alpha_{alpha}"), "wall_seconds": time.perf_counter() - started}
        print(f"grid alpha={alpha:.1f}: validation mean Dice {results[alpha]['mean_dice']:.4f} "
              f"({results[alpha]['wall_seconds']:.0f} s)", flush=True)
    return results


def main() -> None:
    args = parse_args(__doc__, lambda p: (p.add_argument("--max-steps", type=int, default=None),
                                          p.add_argument("--budget", type=int, default=len(GRID))))
    params = load(args.params)
    seg, mix = params.segmenter, params.mix
    if args.max_steps:
        seg = replace(seg, max_steps=args.max_steps)
    search = replace(params.search, storage=None)
    os.chdir(REPO)
    with tempfile.TemporaryDirectory(prefix="bench_search.") as tmp:
        work = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlruns.db'}"
        os.environ["OPTUNA_STORAGE"] = f"sqlite:///{work / 'optuna.db'}"
        grid = train_grid(seg, mix, work / "grid")
        grid_best = max(grid, key=lambda a: grid[a]["mean_dice"])
        target = grid[grid_best]["mean_dice"] - TOLERANCE
        grid_seconds = sum(r["wall_seconds"] for r in grid.values())

        start_dir = work / "start"  # the pipeline's grid (mix.alphas), as the search stage finds it
        for alpha in mix.alphas:
            shutil.copytree(work / "grid" / f"alpha_{alpha}", start_dir / f"alpha_{alpha}")
        search_seconds = sum(grid[a]["wall_seconds"] for a in mix.alphas)
        trainings, n_trials, best = len(mix.alphas), len(mix.alphas), -1.0
        while best < target and trainings < args.budget:
            n_trials += 1
            started = time.perf_counter()
            summary = run_search(replace(search, n_trials=n_trials), seg, mix, grid_dir=start_dir,
                                 out=work / "search", metrics=work / "search.json", csv_path=work / "trials.csv",
                                 figure=work / "objective.png")
            search_seconds += time.perf_counter() - started
            trainings = len(mix.alphas) + summary["trials"]["trained"] + summary["trials"]["pruned"]
            best = summary["best"]["val_mean_dice"]
            print(f"search trial {n_trials}: {trainings} trainings, best alpha={summary['best']['alpha']:.3f} "
                  f"mean Dice {best:.4f} (target {target:.4f})", flush=True)

    print(f"\n== bench_search (segmenter max_steps={seg.max_steps}) ==")
    print(f"grid of {len(GRID)}: best alpha={grid_best}, validation mean Dice {grid[grid_best]['mean_dice']:.4f}, "
          f"{len(GRID)} trainings, {grid_seconds:.0f} s")
    reached = "reached" if best >= target else "did not reach"
    print(f"search ({search.sampler}, from the {len(mix.alphas)}-point pipeline grid): {reached} {target:.4f} with "
          f"{trainings} trainings, {search_seconds:.0f} s")
    figure("grid trainings", len(GRID), "", f"{grid_seconds:.0f} s")
    figure("search trainings to the grid's best", trainings, "", f"{reached} {target:.4f}, {search_seconds:.0f} s")
    figure("search / grid trainings", trainings / len(GRID), "x")
    figure("search / grid time", search_seconds / grid_seconds, "x")


if __name__ == "__main__":
    main()
