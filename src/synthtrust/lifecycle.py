"""How a synthtrust process ends when it is told to, or when the ``dvc repro`` that started it is gone.

* SIGTERM is handled like Ctrl-C: it raises ``KeyboardInterrupt`` in the main thread, so every ``with`` block
  unwinds: partial outputs are removed (``io.atomic_dir``) and the MLflow run is ended as KILLED
  (``tracking.stage_run``).
* DVC starts a stage's command as its child and does not stop it when DVC itself is killed (SIGKILL leaves
  the stage running, writing into the workspace DVC no longer watches). Under DVC (``DVC_STAGE`` is set) a
  daemon thread watches the ``dvc`` process that started this one and sends this process SIGTERM once it
  is gone.
* SIGKILL cannot be handled at all; what it leaves is cleaned by the next run: stale partial directories
  (``io.remove_stale_partials``) and runs still RUNNING in MLflow (``tracking.reap_dead_runs``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import psutil

logger = logging.getLogger(__name__)
WATCH_SECONDS = 1.0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def handle_sigterm() -> None:
    """Turn SIGTERM into ``KeyboardInterrupt`` in this (main) thread."""
    signal.signal(signal.SIGTERM, _interrupt)


def dvc_ancestor() -> psutil.Process | None:
    """The ``dvc`` process this one runs under (the nearest ancestor running DVC), or None."""
    try:
        for parent in psutil.Process().parents():
            head = parent.cmdline()[:3]  # `dvc repro`, `python .../bin/dvc repro` or `python -m dvc repro`
            if any(os.path.basename(part) == "dvc" for part in head) or head[1:3] == ["-m", "dvc"]:
                return parent
    except psutil.Error:
        return None
    return None


def _alive(process: psutil.Process) -> bool:
    try:  # is_running() also compares the start time: a reused pid is not the same process
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _watch(parent: psutil.Process, interval: float) -> None:
    while _alive(parent):
        threading.Event().wait(interval)
    logger.error("dvc (pid %d) is gone: stopping this stage", parent.pid)
    os.kill(os.getpid(), signal.SIGTERM)


def stop_with_dvc(interval: float = WATCH_SECONDS) -> psutil.Process | None:
    """Under ``dvc repro`` (``DVC_STAGE`` set), stop this process when its ``dvc`` is gone; returns the
    watched process."""
    if "DVC_STAGE" not in os.environ:
        return None
    parent = dvc_ancestor()
    if parent is not None:
        threading.Thread(target=_watch, args=(parent, interval), name="dvc-watch", daemon=True).start()
    return parent
