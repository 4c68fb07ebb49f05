"""make bench's collector: figure lines parsed, medians per device section, other devices' sections kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import run_all  # noqa: E402


@pytest.mark.parametrize(("line", "expected"), [
    ("segmenter trainer step            : 2.282 s (median of 21 steps, batch 1)",
     ("segmenter trainer step", "2.282", "s", "median of 21 steps, batch 1")),
    ("segmenter trainer / plain speed   : 1.032 x (target >= 0.95)",
     ("segmenter trainer / plain speed", "1.032", "x", "target >= 0.95")),
    ("sampling ddim:10 contrast agreement: 0.9  (tumour-vs-brain contrast signs)",
     ("sampling ddim:10 contrast agreement", "0.9", "", "tumour-vs-brain contrast signs")),
    ("phantom generation                : 1.2e-05 s/case", ("phantom generation", "1.2e-05", "s/case", None)),
])
def test_figure_lines_are_parsed(line: str, expected: tuple) -> None:
    match = run_all.FIGURE.match(line)
    assert match is not None and (match["label"], match["value"], match["unit"].strip(), match["detail"]) == expected


@pytest.mark.parametrize("line", [
    "device                            : cpu, 2 threads",
    "2026-11-25 04:18:34,699 - INFO - Epoch: 2/3, Iter: 2/8 -- train_loss: 0.1090 ",
])
def test_prose_and_logging_are_not_figures(line: str) -> None:
    assert run_all.FIGURE.match(line) is None


def test_sections_are_replaced_per_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_all, "RESULTS", tmp_path / "RESULTS.md")
    cpu = run_all.Outcome(figures={"step": [2.0, 3.0, 2.5]}, units={"step": "s"}, details={"step": "median"})
    gpu_text = "<!-- device: cuda: H100 -->\n## cuda: H100\n\nold gpu figures\n<!-- end -->\n"
    run_all.write_results(gpu_text)
    run_all.write_results(run_all.section({"bench_x": cpu}, "--params params.yaml --repeats 3"))
    first = run_all.RESULTS.read_text()
    assert "| step | 2.5 s | 2, 3, 2.5 | median |" in first and "old gpu figures" in first
    failed = run_all.Outcome(failure="exit 1: no checkpoint")
    run_all.write_results(run_all.section({"bench_x": failed}, "--params params.yaml --repeats 3"))
    second = run_all.RESULTS.read_text()
    assert "not measured: exit 1: no checkpoint" in second and "| step |" not in second
    assert second.count("<!-- device:") == 2 and "old gpu figures" in second


def test_a_partial_run_keeps_the_benchmarks_it_did_not_measure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setattr(run_all, "RESULTS", tmp_path / "RESULTS.md")

    def outcome(value: float) -> run_all.Outcome:
        return run_all.Outcome(figures={"step": [value]}, units={"step": "s"}, details={"step": ""})

    run_all.write_results(run_all.section({"bench_prepare": outcome(1.0), "bench_dvc": outcome(2.0)}, "--repeats 1"))
    run_all.write_results(run_all.section({"bench_dvc": outcome(3.0),
                                           "bench_prepare": run_all.Outcome(failure="skipped (--skip)")},
                                          "--repeats 1 --only bench_dvc"))
    text = run_all.RESULTS.read_text()
    prepare, dvc = text.index("### bench_prepare"), text.index("### bench_dvc")
    assert prepare < dvc and "| step | 1 s | 1 |" in text and "| step | 3 s | 3 |" in text and "| 2 s" not in text
    assert text.count("Kept from an earlier run (") == 1 and "--only bench_dvc" in text
    assert text.count("<!-- device:") == 1 and text.count("<!-- end -->") == 1
    run_all.write_results(run_all.section({"bench_dvc": outcome(4.0)}, "--repeats 1 --only bench_dvc"))
    assert run_all.RESULTS.read_text().count("Kept from an earlier run (") == 1  # marked once, not again
    skipped = run_all.RESULTS.read_text().replace("| step | 1 s | 1 |", "2026-11-30, measured by hand\n\n| step |")
    run_all.RESULTS.write_text(skipped.replace("Kept from an earlier run (", "Earlier ("))
    run_all.write_results(run_all.section({"bench_dvc": outcome(5.0)}, "--repeats 1 --only bench_dvc"))
    assert "Kept from" not in run_all.RESULTS.read_text()  # a block that dates itself is not re-labelled
