"""Where MLflow runs go: ``MLFLOW_TRACKING_URI`` if set, else the embedded store in the repository.

The embedded store is ``sqlite:///<repo>/mlruns.db`` with artifacts in ``<repo>/mlruns`` (MONAI's own
default layout). ``<repo>`` is the DVC repository root; inside a ``dvc exp run --temp`` workspace
(``<repo>/.dvc/tmp/exps/...``) it is the repository that owns the workspace, so experiment runs reach
the same store as ``dvc repro``.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow
import psutil
from mlflow.entities import RunStatus

from synthtrust.errors import SynthtrustError
from synthtrust.secrets import redact

DB_NAME, ARTIFACTS_DIR = "mlruns.db", "mlruns"
logger = logging.getLogger(__name__)
#: tags naming the process that owns a run, so a later run can tell a run whose process died
OWNER_TAGS = ("synthtrust.host", "synthtrust.pid", "synthtrust.process_started")


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


_DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "mysql": 3306}


def canonical_store(uri: str | None = None) -> str:
    """One spelling per store, without credentials: an SQLite or file store by its resolved path (symlinks,
    ``..`` and repeated slashes followed), a server by lower-case scheme and host, explicit port, and path
    without a trailing slash. Two spellings of one store give one string (the registry lock's key)."""
    uri = uri or tracking_uri()
    if uri.startswith("sqlite:///"):  # SQLAlchemy: sqlite:///relative/to/cwd, sqlite:////absolute
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return "file://" + str(Path(parts.path if parts.scheme else uri).resolve())
    scheme = parts.scheme.lower().split("+")[0]  # postgresql+psycopg2 is postgresql
    port = parts.port or _DEFAULT_PORTS.get(scheme)
    host = (parts.hostname or "").lower() + (f":{port}" if port else "")
    return urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))


def store_id(uri: str | None = None) -> str:
    """The store as it may be written down (scorecards, metrics): :func:`canonical_store`, with the embedded
    store's path relative to the repository."""
    canonical = canonical_store(uri)
    if canonical.startswith("sqlite:///"):
        path, root = Path(canonical.removeprefix("sqlite:///")), repo_root()
        if path.is_relative_to(root):
            return f"sqlite:///{path.relative_to(root)}"
    return canonical


def shown_uri(uri: str | None = None) -> str:
    """The tracking URI with any credentials masked, for messages."""
    return redact(uri or tracking_uri())


def actor(uri: str | None = None) -> tuple[str, str]:
    """Who acts on the store, and how that is known: on an MLflow server with authentication, the user the
    server authenticated (``/users/current``, answered with the request's own credentials); elsewhere this
    machine's account (``getpass``), which no server has checked."""
    uri = uri or tracking_uri()
    if urlsplit(uri).scheme in ("http", "https"):
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        response = http_request(get_default_host_creds(uri), "/api/2.0/mlflow/users/current", "GET")
        refused = _refusal(response.status_code)
        if refused is not None:
            raise SynthtrustError(refused)
        if response.ok:
            return response.json()["user"]["username"], "mlflow-server"
    return getpass.getuser(), "local-account"


def _refusal(status: int | None) -> str | None:
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or "anonymous"
    if status == 401:
        return (f"MLflow server {shown_uri()}: not authenticated as {user} (set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD)")
    if status == 403:
        return f"MLflow server {shown_uri()}: user {user} lacks the permission for this (ask an admin)"
    return None


def access_refused(exc: BaseException) -> str | None:
    """One line for an MLflow server's refusal (401: no or wrong credentials; 403: no permission), or None."""
    from mlflow.exceptions import MlflowException, RestException

    if not isinstance(exc, MlflowException):
        return None
    if isinstance(exc, RestException) and exc.get_http_status_code() in (401, 403):
        return _refusal(exc.get_http_status_code())
    codes = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403}
    found = re.search(r"error code (401|403) != 200", str(exc))  # a refusal without a JSON body
    return _refusal(codes.get(exc.error_code) or (int(found.group(1)) if found else None))


def raise_if_refused(exc: BaseException) -> None:
    """Turn an MLflow server's 401/403 into its one-line :class:`SynthtrustError`; otherwise return (the caller
    handles ``exc`` as before: "not found" must not hide "not allowed to look")."""
    refused = access_refused(exc)
    if refused is not None:
        raise SynthtrustError(refused) from None


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


def _process_started(pid: int) -> str:
    return f"{psutil.Process(pid).create_time():.2f}"


def owner_tags() -> dict[str, str]:
    """Tags naming this process (host, pid, start time): :func:`reap_dead_runs` reads them."""
    pid = os.getpid()
    return dict(zip(OWNER_TAGS, (socket.gethostname(), str(pid), _process_started(pid)), strict=True))


def _owner_alive(tags: dict[str, str]) -> bool | None:
    """Whether the process that owns a run (by its tags) still runs: None when it ran on another host or the
    run has no owner tags (nothing can be said)."""
    host, pid, started = (tags.get(k) for k in OWNER_TAGS)
    if host != socket.gethostname() or not pid or not started:
        return None
    try:
        return _process_started(int(pid)) == started  # a reused pid has another start time
    except (psutil.Error, ValueError):
        return False


def reap_dead_runs(experiment_id: str) -> list[str]:
    """End as KILLED every RUNNING run of the experiment whose process on this host is gone (SIGKILL, power
    loss): MLflow never ends those itself. Runs of live processes and of other hosts are left alone."""
    client = mlflow.MlflowClient(tracking_uri())
    reaped = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000):
        if _owner_alive(run.data.tags) is False:
            client.set_tag(run.info.run_id, "synthtrust.reaped_by", str(os.getpid()))
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
            reaped.append(run.info.run_id)
            logger.warning("MLflow run %s (%s) was left RUNNING by process %s, which is gone: marked KILLED",
                           run.info.run_id, run.info.run_name, run.data.tags.get("synthtrust.pid"))
    return reaped


@contextlib.contextmanager
def stage_run(stage: str, experiment_name: str, run_name: str | None = None, *, params: dict[str, Any] | None = None,
              tags: dict[str, Any] | None = None, datasets: dict[str, str] | None = None, nested: bool = False,
              run_id: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """The one way a synthtrust stage opens its MLflow run.

    In experiment ``experiment_name`` of the project's store, it starts (or, with ``run_id``, resumes) a run
    named ``<run_name or stage>-<time>-<id>`` (unique, so MONAI's MLFlowHandler attaches to exactly this run),
    tags it with the stage, the git commit and the owning process (plus ``tags``), logs ``params`` (nested
    dicts as dotted keys) and records each DVC-tracked ``datasets`` entry (dataset name -> context) as a
    dataset input. Runs of the experiment left RUNNING by a dead process are first marked KILLED; this run
    ends FINISHED, FAILED on an error, or KILLED on Ctrl-C or SIGTERM.
    """
    experiment_id = experiment(experiment_name)
    reap_dead_runs(experiment_id)  # also before a nested run: a search worker beside it may have died
    name = None if run_id else run_name_for(run_name or stage)
    run = mlflow.start_run(run_id=run_id, run_name=name, nested=nested)
    try:
        mlflow.set_tags({"stage": stage, "git_commit": git_commit(), **owner_tags(), **(tags or {})})
        if params:
            mlflow.log_params(flatten(params))
        for dataset, context in (datasets or {}).items():
            log_dataset(DATASETS[dataset], dataset, context)
        yield run
    except KeyboardInterrupt:
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
