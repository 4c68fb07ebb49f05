"""Benchmark of the data layer on the demo params: phantom generation rate and the prepare stage's time.

    python benchmarks/bench_prepare.py [--params params.yaml]

Prints figures; asserts nothing. Runs in a temporary directory, so the repository's data/ is untouched.
The stage times include the `synthtrust` process start (imports), as `dvc repro` pays it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import figure, parse_args

from synthtrust.data.phantoms import make_phantoms, template_tissues
from synthtrust.params import load


def _stage(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__)
    params = load(args.params).data
    ph = params.phantom
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(args.params, work / "params.yaml")
        started = time.perf_counter()
        template_tissues(ph.size)
        template_s = time.perf_counter() - started
        started = time.perf_counter()
        make_phantoms(work / "inproc", ph, progress=False)
        gen_s = time.perf_counter() - started
        phantoms_stage = _stage(["synthtrust", "make-phantoms", "--params", "params.yaml",
                                 "--out", "data/raw/phantom"], work)
        prepare_stage = _stage(["synthtrust", "prepare", "--params", "params.yaml"], work)
    print(f"device                            : cpu, {os.cpu_count()} cores")
    print(f"phantoms                          : n={ph.n}, {ph.size}^3, seed {ph.seed}")
    figure("template load + resample", template_s, "s", "once per process")
    figure("phantom generation", gen_s / ph.n, "s/case", "in process")
    figure("make_phantoms stage (CLI)", phantoms_stage, "s")
    figure("prepare stage (CLI)", prepare_stage, "s", "target < 60 s")


if __name__ == "__main__":
    main()
