"""Loading this repository's MONAI bundles with values from params.yaml layered on top."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser

from synthtrust.errors import ParamsError
from synthtrust.io import sha256_file
from synthtrust.tracking import repo_root, tracking_uri

GENERATOR = "brats_ddpm_generator"
SEGMENTER = "brats_swinunetr_segmenter"


SOURCE_CHECKOUT = Path(__file__).resolve().parents[2]  # the repository of an editable install


def bundle_dir(name: str) -> Path:
    """``bundles/<name>`` of the repository around the working directory, else of this source checkout."""
    for root in dict.fromkeys((repo_root(), SOURCE_CHECKOUT)):
        path = root / "bundles" / name
        if (path / "configs").is_dir():
            return path
    raise ParamsError(f"bundles/{name}: MONAI bundle not found under {repo_root()} or {SOURCE_CHECKOUT}")


def parse_bundle(name: str, configs: list[str], overrides: dict[str, Any], root: str | Path | None = None
                 ) -> ConfigParser:
    """A ConfigParser for bundle ``name`` (or the bundle directory ``root``, e.g. a copy inside an MLflow
    model) with ``configs`` layered and ``overrides`` applied (``#`` ids)."""
    root = Path(root) if root is not None else bundle_dir(name)
    parser = ConfigParser()
    parser.read_config([str(root / "configs" / f"{c}.yaml") for c in configs])
    parser.read_meta(str(root / "configs" / "metadata.json"))
    parser["bundle_root"] = str(root)
    for key, value in overrides.items():
        parser[key] = value
    return parser


def run_bundle(name: str, configs: list[str], overrides: dict[str, Any], experiment: str, run: str,
               attach: Callable[[ConfigParser], None] | None = None) -> float:
    """Run bundle ``name``'s ``initialize`` then ``run`` sections, its MLFlowHandler logging into MLflow run
    ``run`` of ``experiment`` in the project's store; returns the seconds taken.

    ``attach(parser)`` is called between the two, to add handlers to the parsed engines (the parser
    caches its objects, so ``parser.get_parsed_content("validate#evaluator")`` is the running one).
    """
    parser = parse_bundle(name, configs, {"tracking_uri": tracking_uri(), "experiment_name": experiment,
                                          "run_name": run, **overrides})
    started = time.perf_counter()
    parser.get_parsed_content("initialize")
    if attach is not None:
        attach(parser)
    parser.get_parsed_content("run")
    return time.perf_counter() - started


def code_digest(name: str, package: Path) -> str:
    """One sha256 over bundle ``name``'s configs and the Python modules of ``package`` (a directory):
    what a model or a sample depends on besides its data and params."""
    files = [*sorted((bundle_dir(name) / "configs").glob("*")), *sorted(Path(package).glob("*.py"))]
    return hashlib.sha256("".join(f"{p.name}:{sha256_file(p)}\n" for p in files).encode()).hexdigest()
