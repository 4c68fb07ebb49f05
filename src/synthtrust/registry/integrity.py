"""What a registered model version is, by content: recorded at registration, verified before any use.

A version's bundle configs execute Python when parsed (``$`` expressions) and its checkpoint is what gets
deployed, so neither is trusted because it sits in an artifact store. ``register`` records the sha256 of the
checkpoint, of the bundle copy (every file, by relative path) and of the network params, and of the
evaluation the gate reads its figures from, twice: as params of the registering MLflow run (MLflow refuses
to change a logged param) and as version tags. Before ``export-bundle``, the promotion gate or the pyfunc's
``load_context`` parse or load anything, the downloaded files are hashed and compared; a mismatch, a missing
file, or tags that disagree with the run's params is refused with one line naming what differs.

``mlflow.pyfunc.load_model`` unpickles the model's ``python_model.pkl`` before any of this code runs: that
file is MLflow's own trust root. The digests travel inside it, so editing a config or the checkpoint of a
stored model is caught, and the registry's own record is checked by the synthtrust commands.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from synthtrust import tracking
from synthtrust.errors import DataError
from synthtrust.io import digest_files, sha256_file

ARTIFACTS = ("checkpoint", "bundle", "network")
DIGESTS = {"checkpoint": "checkpoint_sha256", "bundle": "bundle_sha256", "network": "network_sha256"}
EVALUATION_PATH, EVALUATION_DIGEST = "evaluation/test.json", "evaluation_sha256"
RECORDED = (*DIGESTS.values(), EVALUATION_DIGEST)


class IntegrityError(DataError):
    """A stored model or its evidence does not match what was recorded when it was registered."""


def file_digest(path: str | Path) -> str:
    """sha256 of a file, or of a directory's files (relative paths and contents, sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        return digest_files(files, name=lambda p: p.relative_to(path).as_posix())
    return sha256_file(path)


def artifact_digests(artifacts: dict[str, str | Path]) -> dict[str, str]:
    """The recorded digests of a model's ``checkpoint``, ``bundle`` and ``network`` artifacts."""
    return {DIGESTS[name]: file_digest(artifacts[name]) for name in ARTIFACTS}


def verify(artifacts: dict[str, str | Path], expected: dict[str, str], what: str) -> None:
    """Refuse ``artifacts`` unless each exists and hashes to ``expected``."""
    for name in ARTIFACTS:
        path = Path(artifacts[name])
        if not path.exists():
            raise IntegrityError(f"{what}: its {name} artifact is missing ({path.name}); refused")
        digest = file_digest(path)
        if digest != expected.get(DIGESTS[name]):
            raise IntegrityError(f"{what}: its {name} artifact ({path.name}) has sha256 {digest[:12]}, not the "
                                 f"{str(expected.get(DIGESTS[name]))[:12]} recorded at registration; refused")


def recorded(client: mlflow.MlflowClient, version: ModelVersion) -> dict[str, str]:
    """The digests recorded for ``version``: its registering run's params (immutable), which its tags must
    repeat."""
    what = f"{version.name} version {version.version}"
    if not version.run_id:
        raise IntegrityError(f"{what}: no registering run, so nothing to verify it against (not registered by "
                             "synthtrust register?); refused")
    try:
        params = client.get_run(version.run_id).data.params
    except MlflowException as exc:
        tracking.raise_if_refused(exc)
        raise IntegrityError(f"{what}: its registering run {version.run_id} cannot be read ({exc.message})") from None
    missing = [k for k in RECORDED if k not in params]
    if missing:
        raise IntegrityError(f"{what}: its registering run recorded no {', '.join(missing)} (not registered by "
                             "synthtrust register?); refused")
    edited = [k for k in RECORDED if k in version.tags and version.tags[k] != params[k]]
    if edited:
        raise IntegrityError(f"{what}: tag {edited[0]} differs from what its registering run recorded; refused")
    return {k: params[k] for k in RECORDED}


def _store() -> dict[str, str]:
    """Point MLflow at the project's store for ``models:/`` and ``runs:/`` downloads. MLflow resolves a
    ``models:/`` URI through its process-wide registry URI even when one is passed per call, so both are set
    (a synthtrust command is one process with one store)."""
    uri = tracking.tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return {"tracking_uri": uri, "registry_uri": uri}


@dataclass(frozen=True)
class VerifiedModel:
    """A downloaded, verified synthtrust segmenter model."""

    checkpoint: Path
    bundle: Path
    network: dict[str, Any]
    version: ModelVersion | None
    run_id: str


_MODELS_URI = re.compile(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))")


def resolve(client: mlflow.MlflowClient, uri: str) -> ModelVersion:
    """The registry's version behind ``models:/<name>@<alias>`` or ``models:/<name>/<version>``."""
    match = _MODELS_URI.fullmatch(uri)
    if match is None:
        raise IntegrityError(f"{uri}: give a registered model as models:/<name>@<alias> or models:/<name>/<version>"
                             " (only a registered version can be verified)")
    name, alias, number = match.groups()
    try:
        return client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
    except MlflowException as exc:
        tracking.raise_if_refused(exc)
        raise IntegrityError(f"{uri}: not in the registry ({exc.message})") from None


def fetch(client: mlflow.MlflowClient, version: ModelVersion, dst: str | Path) -> VerifiedModel:
    """Download ``version``'s model to ``dst`` and verify it against :func:`recorded`; nothing in it is
    parsed or loaded before it passes."""
    what = f"{version.name} version {version.version}"
    expected = recorded(client, version)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{version.name}/{version.version}",
                                                         dst_path=str(dst), **_store()))
    except (MlflowException, OSError) as exc:
        raise IntegrityError(f"{what}: its model files cannot be downloaded ({getattr(exc, 'message', exc)})") from None
    mlmodel = local / "MLmodel"
    flavor = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {}).get("python_function", {}) \
        if mlmodel.is_file() else {}
    artifacts = flavor.get("artifacts", {})
    if not set(ARTIFACTS) <= artifacts.keys():
        raise IntegrityError(f"{what}: not a synthtrust segmenter model (no checkpoint/bundle/network artifacts)")
    paths = {name: local / artifacts[name]["path"] for name in ARTIFACTS}
    verify(paths, expected, what)
    return VerifiedModel(paths["checkpoint"], paths["bundle"], json.loads(paths["network"].read_text()), version,
                         version.run_id)


def evaluation(client: mlflow.MlflowClient, version: ModelVersion, dst: str | Path) -> dict[str, Any]:
    """The real-test evaluation ``register`` logged for ``version``, verified against its recorded sha256."""
    what = f"{version.name} version {version.version}"
    expected = recorded(client, version)[EVALUATION_DIGEST]
    try:
        path = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=EVALUATION_PATH,
                                                        dst_path=str(dst), **_store()))
    except (MlflowException, OSError) as exc:
        raise IntegrityError(f"{what}: its evaluation {EVALUATION_PATH} cannot be read "
                             f"({getattr(exc, 'message', exc)})") from None
    if sha256_file(path) != expected:
        raise IntegrityError(f"{what}: {EVALUATION_PATH} differs from what was recorded at registration; refused")
    return json.loads(path.read_text())


def evaluation_bytes(evaluation: dict[str, Any]) -> bytes:
    """How ``register`` writes the evaluation artifact (so its sha256 is reproducible)."""
    return (json.dumps(evaluation, indent=2, sort_keys=True) + "\n").encode()


def evaluation_digest(evaluation: dict[str, Any]) -> str:
    """sha256 of :func:`evaluation_bytes`."""
    return hashlib.sha256(evaluation_bytes(evaluation)).hexdigest()
