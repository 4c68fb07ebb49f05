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

from harness import parse_args

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
    print(f"cpu cores                    : {os.cpu_count()}")
    print(f"phantoms                     : n={ph.n}, {ph.size}^3, seed {ph.seed}")
    print(f"template load + resample     : {template_s:.2f} s (once per process)")
    print(f"phantom generation           : {ph.n / gen_s:.2f} cases/s ({gen_s / ph.n:.3f} s/case, in process)")
    print(f"make_phantoms stage (CLI)    : {phantoms_stage:.1f} s")
    print(f"prepare stage (CLI)          : {prepare_stage:.1f} s  (target < 60 s)")


if __name__ == "__main__":
    main()
