"""Atomic outputs: what a killed process leaves is removed by the next run; a user's folder is never replaced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthtrust.errors import DataError
from synthtrust.io import atomic_dir, atomic_write_text, claim_output


def test_partials_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".out.{pid}-abc123.partial"
    stale_old = tmp_path / f".out.old-{pid}"
    alive = tmp_path / ".out.1-abc123.partial"  # pid 1 runs as long as the machine does
    sibling = tmp_path / f".trial_3.{pid}-x.partial"  # another output's, e.g. a killed search trial's
    mine = tmp_path / ".notes.partial"  # not of our pattern: never touched
    for d in (stale, stale_old, alive, sibling, mine):
        d.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "f").write_text("x")
    assert not stale.exists() and not stale_old.exists() and not sibling.exists()
    assert alive.exists() and mine.exists()
    assert (tmp_path / "out" / "f").read_text() == "x"


def test_claim_output(tmp_path: Path) -> None:
    assert claim_output(tmp_path / "new", "m.json", "cmd") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    claim_output(tmp_path / "empty", "m.json", "cmd")
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "m.json").write_text("{}")
    claim_output(tmp_path / "ours", "m.json", "cmd")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="theirs: not empty and not an output of cmd"):
        claim_output(tmp_path / "theirs", "m.json", "cmd")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="must be a directory"):
        claim_output(tmp_path / "file", "m.json", "cmd")


def test_a_file_output_that_is_a_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"{tmp_path}: is a directory"):
        atomic_write_text(tmp_path, "x")
