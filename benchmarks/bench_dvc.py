"""Benchmark of DVC on BraTS 2021's file count: 1,251 cases x 5 NIfTI files, and a synthetic copy of each.

    python benchmarks/bench_dvc.py [--cases 1251] [--repeats 3] [--size 16]

In a throw-away git repository, a pipeline shaped like synthtrust's data stages (``prepare`` writes
``data/prepared/<case>/`` with four modalities and a label map, ``synthesize`` writes ``data/synthetic/<case>/``
from it, ``mix`` reads both) runs once; then it times what a user pays on every command: ``dvc status`` and
a no-op ``dvc repro`` (target < 10 s), ``dvc push`` to a local remote, and in a fresh clone ``dvc pull``
followed by a ``dvc repro`` that must run nothing. Volumes are small (``--size``^3); DVC's cost is per file.
Prints figures; asserts nothing but the clone's no-op (a pipeline that re-runs after a pull is a failure).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import figure, parse_args

MAKE_CASES = '''"""Write CASES case folders of five small NIfTI volumes (four modalities, a label map) under OUT."""
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

out, cases, size = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(len(str(out)))
for i in range(cases):
    case = out / f"BraTS2021_{i:05d}"
    case.mkdir(parents=True, exist_ok=True)
    for name in ("t1", "t1ce", "t2", "flair", "seg"):
        data = rng.integers(0, 4, (size,) * 3).astype(np.uint8) if name == "seg" else \\
            rng.normal(size=(size,) * 3).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.eye(4)), case / f"{case.name}_{name}.nii.gz")
'''

DVC_YAML = '''stages:
  prepare:
    cmd: {python} make_cases.py data/prepared {cases} {size}
    deps: [make_cases.py]
    outs: [data/prepared]
  synthesize:
    cmd: {python} make_cases.py data/synthetic {cases} {size}
    deps: [make_cases.py, data/prepared]
    outs: [data/synthetic]
  mix:
    cmd: {python} -c "import pathlib; pathlib.Path('mix.txt').write_text('mixed')"
    deps: [data/prepared, data/synthetic]
    outs: [mix.txt]
'''


def _run(args: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def _median(args: list[str], cwd: Path, repeats: int) -> tuple[float, list[float], str]:
    runs = [_run(args, cwd) for _ in range(repeats)]
    seconds = [round(s, 2) for s, _ in runs]
    return statistics.median(seconds), seconds, runs[-1][1]


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--cases", type=int, default=1251)
        parser.add_argument("--size", type=int, default=16)
        parser.add_argument("--repeats", type=int, default=3)

    args = parse_args(__doc__, extra)  # --params is accepted like every benchmark's, and not needed here
    dvc, git = [sys.executable, "-m", "dvc"], ["git", "-c", "user.name=bench", "-c", "user.email=bench@example"]
    with tempfile.TemporaryDirectory() as tmp:
        repo, clone, remote = Path(tmp) / "repo", Path(tmp) / "clone", Path(tmp) / "remote"
        repo.mkdir()
        (repo / "make_cases.py").write_text(MAKE_CASES)
        (repo / "dvc.yaml").write_text(DVC_YAML.format(python=sys.executable, cases=args.cases, size=args.size))
        for command in (["git", "init", "-q"], [*dvc, "init", "-q"],
                        [*dvc, "remote", "add", "-d", "storage", str(remote)]):
            _run(command, repo)
        first, _ = _run([*dvc, "repro"], repo)
        _run([*git, "add", "-A"], repo)
        _run([*git, "commit", "-qm", "pipeline"], repo)
        files = sum(1 for p in (repo / "data").rglob("*.nii.gz"))
        status, status_runs, out = _median([*dvc, "status"], repo, args.repeats)
        noop, noop_runs, _ = _median([*dvc, "repro"], repo, args.repeats)
        push, _ = _run([*dvc, "push"], repo)
        _run(["git", "clone", "-q", str(repo), str(clone)], Path(tmp))
        pull, _ = _run([*dvc, "pull"], clone)
        clone_noop, clone_out = _run([*dvc, "repro"], clone)
        if "Running stage" in clone_out:
            raise SystemExit(f"after dvc pull the clone's dvc repro ran stages:\n{clone_out}")
        clone_status, clone_status_runs, _ = _median([*dvc, "status"], clone, args.repeats)
    print(f"files tracked                     : {files} ({args.cases} cases x 5, and a synthetic copy of each)")
    figure("first dvc repro (writes and hashes)", first, "s", "includes writing the volumes")
    figure("dvc status, nothing changed", status, "s", f"runs {status_runs}; target < 10 s")
    figure("dvc repro, nothing to do", noop, "s", f"runs {noop_runs}; target < 10 s")
    figure("dvc push to a local remote", push, "s", "every file, once")
    figure("dvc pull into a fresh clone", pull, "s", "every file, once")
    figure("dvc repro in the clone after pull", clone_noop, "s", "ran nothing (checked)")
    figure("dvc status in the clone", clone_status, "s", f"runs {clone_status_runs}")


if __name__ == "__main__":
    main()
