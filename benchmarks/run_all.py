"""Every benchmark, on whatever device is present: figures printed, medians written to benchmarks/RESULTS.md.

    python benchmarks/run_all.py [--params params.yaml] [--repeats 3] [--only bench_a,bench_b] [--skip ...]

(``make bench`` runs this.) Each benchmark runs ``--repeats`` times in its own process, one after another,
never two at once (on a small machine two heavy processes slow each other down many times over). Every
figure line it prints (``label : value unit (detail)``) is collected; RESULTS.md gets the median of the
runs, the runs themselves, the machine, the versions and the device. The section of this device is
replaced; sections of other devices (a GPU run, say) are kept. A benchmark that fails or cannot run here is
listed with its last line of output.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
#: ``label : value unit (detail)``, the unit one word; a logging line (``... - INFO - ...``) is not a figure
FIGURE = re.compile(r"^(?!.* - [A-Z]+ - )(?P<label>\S.*?)\s*: (?P<value>-?[\d.]+(?:e[-+]?\d+)?) ?"
                    r"(?P<unit>[^\s(]*)\s*(?:\((?P<detail>.*)\))?$")
#: benchmark -> (arguments, whether to repeat it): once where its figures are already medians over cases or
#: deterministic, or where one run takes many minutes
BENCHMARKS: dict[str, tuple[list[str], bool]] = {
    "bench_prepare": ([], True),
    "bench_generator": (["--steps", "8", "--rounds", "3"], True),
    "bench_synthesis": ([], False),          # fixed seeds: quality is deterministic, seconds averaged over cases
    "bench_segmenter": (["--steps", "8", "--rounds", "3"], True),
    "bench_evaluate": ([], False),           # medians over the cases of each grid
    "bench_deploy": ([], False),             # one full-size case through three paths, minutes on a CPU
    "bench_search": (["--max-steps", "20"], False),  # 11 + a few trainings
    "bench_dvc": ([], False),                # medians of its own; writes 12,510 files
    "bench_reproducibility": ([], False),    # differences, not timings: one run says it
}
logger = logging.getLogger("bench")


@dataclass
class Outcome:
    """What the runs of one benchmark printed."""

    figures: dict[str, list[float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    failure: str | None = None


def run(name: str, params: str, repeats: int) -> Outcome:
    """Run benchmark ``name`` ``repeats`` times; collect its figure lines."""
    args, repeatable = BENCHMARKS[name]
    outcome = Outcome()
    for attempt in range(repeats if repeatable else 1):
        logger.info("%s: run %d", name, attempt + 1)
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), "--params", params, *args], cwd=HERE,
                              capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            outcome.failure = f"exit {done.returncode}: {lines[-1]}"
            logger.warning("%s failed: %s", name, outcome.failure)
            return outcome
        for line in done.stdout.splitlines():
            match = FIGURE.match(line)
            if match and match["label"] not in ("device", "network", "checkpoint"):
                label = match["label"]
                outcome.figures.setdefault(label, []).append(float(match["value"]))
                outcome.units[label], outcome.details[label] = match["unit"].strip(), match["detail"] or ""
                print(line, flush=True)
    return outcome


def device_key() -> str:
    """The device in a section title: the GPU's name, or the CPU with its core count."""
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def installed(package: str) -> str:
    """``package``'s version, or "not installed" (a GPU machine may carry only what the benchmarks import)."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def section(outcomes: dict[str, Outcome], command: str) -> str:
    """The Markdown section of this device's results."""
    versions = ", ".join(f"{p} {installed(p)}" for p in ("torch", "monai", "mlflow", "optuna", "dvc"))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [f"<!-- device: {device_key()} -->", f"## {device_key()}", "",
             f"{datetime.date.today().isoformat()}, "
             f"`python benchmarks/run_all.py {command}`; "
             f"{platform.platform()}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}, "
             f"{versions}. Each figure is the median of the runs listed (a benchmark's own figure is already a median "
             "over steps or cases).", ""]
    for name, outcome in outcomes.items():
        lines += [f"### {name}", ""]
        if outcome.failure:
            lines += [f"not measured: {outcome.failure}", ""]
            continue
        lines += ["| figure | median | runs | what |", "|---|---|---|---|"]
        for label, values in outcome.figures.items():
            unit = outcome.units[label]
            runs = ", ".join(f"{v:.4g}" for v in values)
            lines.append(f"| {label} | {statistics.median(values):.4g} {unit} | {runs} | {outcome.details[label]} |")
        lines.append("")
    return "\n".join(lines) + END


END = "<!-- end -->\n"
SKIPPED = "not measured: skipped (--skip)"
KEPT = "Kept from an earlier run"


def _blocks(section: str) -> tuple[str, dict[str, str]]:
    """A device section's head and its ``### benchmark`` blocks by name."""
    head, *blocks = section.removesuffix(END).split("\n### ")
    return head, {block.split("\n", 1)[0]: "### " + block for block in blocks}


def merged(new: str, old: str) -> str:
    """The new section of a device, with the benchmarks it did not run (``--only``, ``--skip``) kept from the
    old one, each marked with the run it came from."""
    head, blocks = _blocks(new)
    old_head, old_blocks = _blocks(old)
    ran = {name for name, block in blocks.items() if SKIPPED not in block}
    when = next((line for line in old_head.splitlines() if line[:4].isdigit()), "an earlier run").split("`;")[0]
    for name, block in old_blocks.items():
        if name in ran or (SKIPPED in block and name in blocks):
            continue
        dated = any(line[:4].isdigit() for line in block.splitlines()[1:])  # a block that says where it came from
        if KEPT not in block and SKIPPED not in block and not dated:
            title, _, rest = block.partition("\n")
            block = f"{title}\n\n{KEPT} ({when.rstrip('`')}`).\n{rest}"
        blocks[name] = block
    order = list(BENCHMARKS)
    chosen = sorted(blocks, key=lambda n: order.index(n) if n in order else len(order))
    return head.rstrip("\n") + "\n\n" + "".join(blocks[n].rstrip("\n") + "\n\n" for n in chosen) + END


def write_results(text: str) -> None:
    """Replace this device's section of RESULTS.md (or add it), keeping every other device's and, within it,
    the benchmarks this run did not measure."""
    head = "# Benchmark results\n\nWritten by `make bench` (benchmarks/run_all.py), one section per device.\n\n"
    old = RESULTS.read_text() if RESULTS.is_file() else head
    marker = text.splitlines()[0]
    pattern = re.compile(re.escape(marker) + r".*?" + re.escape(END), re.S)
    found = pattern.search(old)
    new = pattern.sub(lambda m: merged(text, m.group(0)), old) if found else old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(HERE.parent / "params.yaml"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated benchmarks (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    skipped = [b for b in args.skip.split(",") if b]
    chosen = [b for b in (args.only.split(",") if args.only else BENCHMARKS) if b not in skipped]
    unknown = [b for b in chosen + skipped if b not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"--only/--skip: unknown benchmarks {unknown}; known: {', '.join(BENCHMARKS)}")
    params = str(Path(args.params).resolve())
    outcomes = {name: run(name, params, args.repeats) for name in chosen}
    outcomes.update({name: Outcome(failure="skipped (--skip)") for name in skipped})
    command = f"--params {os.path.relpath(params, HERE.parent)} --repeats {args.repeats}" + \
        (f" --only {args.only}" if args.only else "") + (f" --skip {args.skip}" if skipped else "")
    write_results(section(outcomes, command))
    logger.info("wrote %s", RESULTS)


if __name__ == "__main__":
    main()
