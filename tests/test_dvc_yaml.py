"""dvc.yaml against params.yaml: every stage is well formed, every parameter it names exists in both
profiles, every top-level plot is some stage's output."""

from __future__ import annotations

import pytest
import yaml

from synthtrust.config import load_params
from tests.conftest import REPO

PIPELINE = yaml.safe_load((REPO / "dvc.yaml").read_text())


def _outputs() -> set[str]:
    found = set()
    for stage in PIPELINE["stages"].values():
        body = stage.get("do", stage)
        for kind in ("outs", "metrics", "plots"):
            for out in body.get(kind, []):
                found.add(next(iter(out)) if isinstance(out, dict) else out)
    return found


@pytest.mark.parametrize("profile", ["params.yaml", "profiles/paper.yaml"])
def test_every_stage_parameter_exists(profile: str) -> None:
    params = load_params(REPO / profile)
    for name, stage in PIPELINE["stages"].items():
        body = stage.get("do", stage)
        assert body.get("cmd") and body.get("deps"), name
        for dotted in body.get("params", []):
            node = params
            for key in dotted.split("."):
                assert isinstance(node, dict) and key in node, f"{name}: {dotted} missing from {profile}"
                node = node[key]


def test_every_plot_is_a_stage_output() -> None:
    outputs = _outputs()
    for plot in PIPELINE["plots"]:
        path = next(iter(plot)) if isinstance(plot, dict) else plot
        targets = plot[path].get("y", {path: None}) if isinstance(plot, dict) else {path: None}
        for target in targets:
            assert target in outputs, target
