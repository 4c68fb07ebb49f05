"""Where MLflow runs go: ``MLFLOW_TRACKING_URI`` if set, else the embedded store in the repository.

The embedded store is ``sqlite:///<repo>/mlruns.db`` with artifacts in ``<repo>/mlruns`` (MONAI's own
default layout). ``<repo>`` is the DVC repository root; inside a ``dvc exp run --temp`` workspace
(``<repo>/.dvc/tmp/exps/...``) it is the repository that owns the workspace, so experiment runs reach
the same store as ``dvc repro``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow

DB_NAME, ARTIFACTS_DIR = "mlruns.db", "mlruns"


def repo_root(start: str | Path | None = None) -> Path:
    """The DVC repository root above ``start`` (default: the working directory)."""
    here = Path(start or os.getcwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    for candidate in (here, *here.parents):
        if (candidate / ".dvc").is_dir():
            return candidate
    return here


def tracking_uri() -> str:
    """The tracking URI every synthtrust run uses."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / DB_NAME}"


def artifact_location() -> str | None:
    """Artifact root for new experiments: ``<repo>/mlruns`` for the embedded store, else the server's."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return None
    return (repo_root() / ARTIFACTS_DIR).as_uri()


def experiment(name: str) -> str:
    """Point mlflow at the store and return the id of experiment ``name`` (created if needed)."""
    mlflow.set_tracking_uri(tracking_uri())
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        mlflow.set_experiment(experiment_id=found.experiment_id)
        return found.experiment_id
    experiment_id = mlflow.create_experiment(name, artifact_location=artifact_location())
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def run_name_for(stage: str) -> str:
    """A unique run name, so MONAI's MLFlowHandler (which picks an unfinished run by name) attaches to
    exactly the run the job opened."""
    return f"{stage}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def git_commit() -> str:
    """The repository's HEAD commit, or 'unknown' outside git."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys, for ``mlflow.log_params``."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def dvc_hashes(*paths: str) -> dict[str, str]:
    """DVC's recorded md5 of stage outputs (from dvc.lock), e.g. ``{"data/prepared": "ab12....dir"}``."""
    import yaml

    lock = repo_root() / "dvc.lock"
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    found = {out["path"]: out.get("md5", "") for stage in stages.values() for out in stage.get("outs", [])}
    return {p: found[p] for p in paths if p in found}


def log_dataset(path: str, name: str, context: str) -> None:
    """Record a DVC-tracked directory as an MLflow dataset input, with DVC's hash as its digest."""
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    digest = dvc_hashes(path).get(path, "untracked")
    source = HTTPDatasetSource(url=(repo_root() / path).as_uri())
    mlflow.log_input(MetaDataset(source=source, name=name, digest=digest[:36]), context=context)
    mlflow.set_tag(f"dvc.{path}", digest)


#: The DVC-tracked inputs a stage can record as MLflow datasets, by name.
DATASETS = {"brats-prepared": "data/prepared", "brats-synthetic": "data/synthetic"}


@contextlib.contextmanager
def stage_run(stage: str, experiment_name: str, run_name: str | None = None, *, params: dict[str, Any] | None = None,
              tags: dict[str, Any] | None = None, datasets: dict[str, str] | None = None, nested: bool = False,
              run_id: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """The one way a synthtrust stage opens its MLflow run.

    In experiment ``experiment_name`` of the project's store, it starts (or, with ``run_id``, resumes) a run
    named ``<run_name or stage>-<time>-<id>`` (unique, so MONAI's MLFlowHandler attaches to exactly this run),
    tags it with the stage and the git commit (plus ``tags``), logs ``params`` (nested dicts as dotted keys)
    and records each DVC-tracked ``datasets`` entry (dataset name -> context) as a dataset input.
    """
    experiment(experiment_name)
    name = None if run_id else run_name_for(run_name or stage)
    with mlflow.start_run(run_id=run_id, run_name=name, nested=nested) as run:
        mlflow.set_tags({"stage": stage, "git_commit": git_commit(), **(tags or {})})
        if params:
            mlflow.log_params(flatten(params))
        for dataset, context in (datasets or {}).items():
            log_dataset(DATASETS[dataset], dataset, context)
        yield run
