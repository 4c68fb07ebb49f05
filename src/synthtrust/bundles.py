"""This repository's MONAI bundles, loaded as ``monai.bundle.ConfigWorkflow`` with params.yaml values on top.

The bundles are self-contained (configs, their own ``scripts/`` package, docs) and run with MONAI alone.
synthtrust drives them in-process: it overrides config ids (the ``generator``/``segmenter`` sections of
params.yaml carry the ids' names), attaches its own handlers between ``initialize`` and ``run`` where it
needs to, and reads results from the parsed objects.

Both bundles name their code ``scripts`` (the model-zoo convention: ``_target_: scripts.<module>.<name>``),
so one process that uses both must switch which ``scripts`` is imported: :func:`activate_scripts`.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monai.bundle import ConfigParser, ConfigWorkflow

from synthtrust.errors import ParamsError
from synthtrust.io import digest_files
from synthtrust.tracking import tracking_uri

GENERATOR = "brats_ddpm_generator"
SEGMENTER = "brats_swinunetr_segmenter"
#: the checkout this package was installed from (editable install); bundles are read from here only, never
#: from the working directory, since their configs execute Python
SOURCE_CHECKOUT = Path(__file__).resolve().parents[2]


def bundle_dir(name: str) -> Path:
    """``bundles/<name>`` of this source checkout."""
    path = SOURCE_CHECKOUT / "bundles" / name
    if not (path / "configs").is_dir():
        raise ParamsError(f"bundles/{name}: MONAI bundle not found under {SOURCE_CHECKOUT}")
    return path


def activate_scripts(root: Path) -> None:
    """Make ``import scripts`` resolve to ``root/scripts`` (forgetting another bundle's, if loaded)."""
    root = Path(root).resolve()
    loaded = sys.modules.get("scripts")
    if loaded is not None and Path(loaded.__path__[0]).resolve().parent == root:
        return
    for module in [m for m in sys.modules if m == "scripts" or m.startswith("scripts.")]:
        del sys.modules[module]
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()


class _NoLoggingNotice(logging.Filter):
    """ConfigWorkflow warns when it is told not to apply the bundle's logging.conf; in-process that is the
    point (the CLI configured logging), so the notice is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "skipping logging" not in record.getMessage()


logging.getLogger("monai.bundle.workflows").addFilter(_NoLoggingNotice())


def load(name: str, configs: list[str], overrides: dict[str, Any], root: str | Path | None = None) -> ConfigWorkflow:
    """Bundle ``name`` (or the bundle folder ``root``, e.g. a copy inside an MLflow model) as a ConfigWorkflow:
    ``configs`` layered in order, ``overrides`` (config ids, ``#`` paths allowed) applied."""
    root = Path(root) if root is not None else bundle_dir(name)
    activate_scripts(root)
    return ConfigWorkflow(config_file=[str(root / "configs" / f"{c}.yaml") for c in configs],
                          meta_file=str(root / "configs" / "metadata.json"), logging_file=False,
                          **{"bundle_root": str(root), **overrides})


def parse(name: str, configs: list[str], overrides: dict[str, Any], root: str | Path | None = None
          ) -> ConfigParser:
    """The parser of :func:`load`'s workflow, for reading objects (``get_parsed_content``) without running it."""
    return load(name, configs, overrides, root).parser


def run(name: str, configs: list[str], overrides: dict[str, Any], experiment: str, run_name: str,
        attach: Callable[[ConfigParser], None] | None = None) -> float:
    """Run bundle ``name``'s ``initialize``, ``run`` and ``finalize``; its MLFlowHandlers log into the run
    ``run_name`` of ``experiment`` in the project's store. Returns the seconds taken.

    ``attach(parser)`` is called after ``initialize``, to add handlers to the parsed engines (the parser
    caches its objects, so ``parser.get_parsed_content("validate#evaluator")`` is the running one).
    """
    workflow = load(name, configs, {"tracking_uri": tracking_uri(), "experiment_name": experiment,
                                    "run_name": run_name, **overrides})
    started = time.perf_counter()
    workflow.initialize()
    if attach is not None:
        attach(workflow.parser)
    workflow.run()
    workflow.finalize()
    return time.perf_counter() - started


def version(name: str) -> str:
    """The bundle's version (its metadata.json)."""
    return ConfigParser.load_config_file(str(bundle_dir(name) / "configs" / "metadata.json"))["version"]


def code_digest(name: str, *modules: str | Path) -> str:
    """One sha256 over bundle ``name``'s configs and scripts and the given Python ``modules`` (files): what a
    model or a sample depends on besides its data and params."""
    root = bundle_dir(name)
    files = [*sorted((root / "configs").glob("*")), *sorted((root / "scripts").glob("*.py")), *map(Path, modules)]
    return digest_files(files, name=lambda p: p.name)
