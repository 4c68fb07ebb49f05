"""dvc.yaml against the code and params.yaml: every stage is well formed, every parameter it names exists in both
profiles, every top-level plot is some stage's output, and every stage depends on all the code it runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from synthtrust.params import read_yaml
from tests.conftest import REPO

PIPELINE = yaml.safe_load((REPO / "dvc.yaml").read_text())
SRC = REPO / "src"
CLI = SRC / "synthtrust" / "cli.py"
BUNDLE_OF = {"GENERATOR": "bundles/brats_ddpm_generator", "SEGMENTER": "bundles/brats_swinunetr_segmenter"}
# a bundle's code: its configs (but the multi-GPU layer, which no stage loads) and its scripts; not metadata.json,
# whose eval_metrics record the pipeline's own run (depending on it would make every run stale)
PIPELINE_CONFIGS = {"GENERATOR": ("common", "train", "inference"), "SEGMENTER": ("inference", "train", "evaluate")}


def _stages() -> dict[str, dict]:
    return {name: stage.get("do", stage) for name, stage in PIPELINE["stages"].items()}


def _outputs() -> set[str]:
    found = set()
    for body in _stages().values():
        for kind in ("outs", "metrics", "plots"):
            for out in body.get(kind, []):
                found.add(next(iter(out)) if isinstance(out, dict) else out)
    return found


def _module_file(name: str) -> Path | None:
    """The source file of synthtrust module ``name`` (a package's __init__.py), None outside synthtrust."""
    if name != "synthtrust" and not name.startswith("synthtrust."):
        return None
    path = SRC.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(tree: ast.AST) -> set[str]:
    """Every synthtrust module an AST imports, at any depth (functions import lazily); ``from synthtrust.x
    import y`` counts ``synthtrust.x.y`` too when y is a module."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if (file := _module_file(name)) is not None and file.is_file()}


def code_of(command: str) -> set[str]:
    """Repository paths of the code ``synthtrust <verb> ...`` runs: cli.py, the modules its verb imports and
    their synthtrust imports, transitively (with their packages' __init__), and the bundles they load."""
    words = command.split()
    cli = ast.parse(CLI.read_text())
    functions = {n.name: n for n in cli.body if isinstance(n, ast.FunctionDef)}
    group = "_".join(words[1:3]).replace("-", "_")  # a group's sub-command: `reader-study make`
    function = functions[group] if group in functions else functions[words[1].replace("-", "_")]
    todo = _imports(function) | {n for n in _imports(ast.Module(body=[s for s in cli.body if not
                                                                       isinstance(s, ast.FunctionDef)],
                                                                  type_ignores=[]))}
    files, done = {CLI}, set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        parts = name.split(".")
        todo |= {".".join(parts[:i]) for i in range(1, len(parts))} - done  # packages run their __init__
        file = _module_file(name)
        files.add(file)
        text = file.read_text()
        todo |= _imports(ast.parse(text)) - done
    paths = {str(f.relative_to(REPO)) for f in files}
    for file in files - {SRC / "synthtrust" / "bundles.py"}:  # where the names are defined, not used
        for key, bundle in BUNDLE_OF.items():
            if re.search(rf"\b{key}\b", file.read_text()):
                paths |= {f"{bundle}/configs/{c}.yaml" for c in PIPELINE_CONFIGS[key]} | {f"{bundle}/scripts"}
    return paths


@pytest.mark.parametrize("name", sorted(_stages()))
def test_every_stage_depends_on_the_code_it_runs(name: str) -> None:
    """DVC re-runs a stage when a dependency changes: a module it runs but does not list would let DVC call the
    stage up to date after its code changed."""
    body = _stages()[name]
    deps = [d.rstrip("/") for d in body["deps"]]
    missing = sorted(p for p in code_of(body["cmd"]) if not any(p == d or p.startswith(f"{d}/") for d in deps))
    assert not missing, f"stage {name}: add to deps {missing}"


def test_the_dependency_finder_sees_lazy_imports_and_bundles() -> None:
    found = code_of("synthtrust trust --params params.yaml")
    assert {"src/synthtrust/trust/report.py", "src/synthtrust/segmenter/checkpoint.py", "src/synthtrust/params.py",
            "src/synthtrust/stages/__init__.py", "bundles/brats_swinunetr_segmenter/scripts",
            "bundles/brats_swinunetr_segmenter/configs/evaluate.yaml"} <= found
    assert not any(p.startswith("bundles/brats_ddpm_generator") for p in found)
    assert "src/synthtrust/stages/search.py" not in found


@pytest.mark.parametrize("profile", ["params.yaml", "profiles/paper.yaml"])
def test_every_stage_parameter_exists(profile: str) -> None:
    params = read_yaml(REPO / profile)
    for name, body in _stages().items():
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


@pytest.mark.parametrize("name", sorted(_stages()))
def test_every_stage_command_line_is_accepted_as_written(name: str) -> None:
    """The checks that refuse a mistyped flag before anything runs accept every stage's command line."""
    import shlex

    from synthtrust.arguments import check_argv
    from synthtrust.cli import COMMANDS, command_of

    argv = shlex.split(re.sub(r"\$\{item\}", "0.0", _stages()[name]["cmd"]))
    assert argv[0] == "synthtrust" and argv[1] in COMMANDS
    check_argv(*command_of(argv[1:]))
