"""What every benchmark shares: its command line (``--params``), a throw-away workspace of phantoms on the
params' grid, timers for the bundles' engines, and the figure lines ``make bench`` collects."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from monai.data import list_data_collate
from monai.utils import convert_to_tensor
from plain_loops import synchronize

from synthtrust.data.phantoms import make_phantoms, phantom_stand_in
from synthtrust.data.prepare import prepare
from synthtrust.params import DataParams

REPO = Path(__file__).resolve().parents[1]


def parse_args(doc: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """``--params`` (default: the repository's params.yaml) plus ``extra`` options; quiet logging."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    return args


@contextlib.contextmanager
def demo_workspace(data: DataParams, n: int | None = None) -> Iterator[Path]:
    """Work inside a temporary directory holding ``data/prepared`` made from ``n`` phantoms (default: the
    params') on the params' grid; restores the cwd and the MLflow environment afterwards."""
    data = phantom_stand_in(data, n)
    previous_uri = os.environ.get("MLFLOW_TRACKING_URI")
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlruns.db'}"
        os.chdir(work)
        try:
            make_phantoms("data/raw/phantom", data.phantom, progress=False)
            prepare(data, "data/prepared", progress=False)
            yield work
        finally:
            os.chdir(cwd)
            if previous_uri is None:
                os.environ.pop("MLFLOW_TRACKING_URI", None)
            else:
                os.environ["MLFLOW_TRACKING_URI"] = previous_uri


class IterationTimer:
    """Seconds per iteration of an ignite engine (between ITERATION_COMPLETED events, the device
    synchronised) and of each wait for data (GET_BATCH_STARTED to GET_BATCH_COMPLETED)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.steps, self.waits = device, [], []
        self._last = self._fetch = 0.0
        self._warm_up = True

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._start)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._fetch_start)
        engine.add_event_handler(Events.GET_BATCH_COMPLETED, self._fetch_end)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._step_end)

    def _now(self) -> float:
        synchronize(self.device)
        return time.perf_counter()

    def _start(self, engine: Engine) -> None:
        self._last, self._warm_up = self._now(), True  # epoch boundaries (checkpoints, validation) are not steps

    def _fetch_start(self, engine: Engine) -> None:
        self._fetch = time.perf_counter()

    def _fetch_end(self, engine: Engine) -> None:
        self.waits.append(time.perf_counter() - self._fetch)

    def _step_end(self, engine: Engine) -> None:
        now = self._now()
        if not self._warm_up:  # each epoch's first step is left out
            self.steps.append(now - self._last)
        self._last, self._warm_up = now, False

    def median_step(self) -> float:
        """Median seconds per step."""
        return statistics.median(self.steps)

    def wait_fraction(self) -> float:
        """Data waiting as a fraction of the step time (medians)."""
        return statistics.median(self.waits) / self.median_step()


def device() -> torch.device:
    """The device the bundles pick: the first GPU, else the CPU."""
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def describe_device() -> str:
    """The device in words, for the printed figures."""
    if torch.cuda.is_available():
        return f"cuda, {torch.cuda.get_device_name(0)}"
    return f"cpu, {torch.get_num_threads()} threads"


def figure(label: str, value: float, unit: str, detail: str = "") -> None:
    """Print one figure as ``label : value unit (detail)``: the line ``make bench`` collects."""
    print(f"{label:<34}: {value:.4g} {unit}" + (f" ({detail})" if detail else ""), flush=True)


def trainer_vs_plain(trainer: Engine, plain_round: Callable[[int], list[float]], where: torch.device
                     ) -> tuple[IterationTimer, list[float]]:
    """Run the bundle's ``trainer`` (its handlers attached) and, after each of its epochs, ``plain_round(n)``
    for as many steps, so that both see the same machine state (on a shared 2-core machine step times drift
    by 10 % within minutes). Returns the trainer's timer and the plain loop's step times; the first step of
    each epoch and of each plain round is left out of both as warm-up."""
    timer = IterationTimer(where)
    timer.attach(trainer)
    plain: list[float] = []

    def plain_after_epoch(engine: Engine) -> None:
        plain.extend(plain_round(engine.state.epoch_length)[1:])

    trainer.add_event_handler(Events.EPOCH_COMPLETED, plain_after_epoch)
    trainer.run()
    return timer, plain


def trainer_figures(name: str, timer: IterationTimer, plain: list[float], rounds: int, batch: str,
                    same: str) -> None:
    """Print the trainer-against-plain-loop figures of ``name``: each median step, their ratio, data waiting."""
    trainer_s, plain_s = timer.median_step(), statistics.median(plain)
    measured = f"median of {len(timer.steps)} steps in {rounds} rounds"
    figure(f"{name} trainer step", trainer_s, "s", f"{measured}, {batch}")
    figure(f"{name} plain loop step", plain_s, "s", f"{measured}, {same}")
    figure(f"{name} trainer / plain speed", plain_s / trainer_s, "x", "target >= 0.95")
    figure(f"{name} data waiting", 100 * timer.wait_fraction(), "%", "of the trainer's step, target < 5")


def device_batches(dataset: Sequence, batch_size: int, keys: tuple[str, str], where: torch.device,
                   count: int = 4) -> list[tuple[torch.Tensor, ...]]:
    """Up to ``count`` batches made once by the dataset's own transforms, as plain tensors on ``where``: the
    plain loops' data, already in memory on the device."""
    batches = []
    for start in range(0, min(len(dataset), count * batch_size) - batch_size + 1, batch_size):
        batch = list_data_collate([dataset[i] for i in range(start, start + batch_size)])
        batches.append(tuple(convert_to_tensor(batch[k], device=where, track_meta=False) for k in keys))
    return batches
