"""Training, registration, promotion and rollback against a team MLflow server over HTTP on loopback: MLflow's
authentication on, PostgreSQL behind it, artifacts served by the server; who may move `champion` is MLflow's
registry permissions, and the trail names the user the server authenticated."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.server import get_app_client

from synthtrust.params import replace
from synthtrust.registry import CHALLENGER, CHAMPION
from tests.conftest import REPO, TINY_SEGMENTER, free_port, use_store
from tests.registry.conftest import NAME, register_versions

pytestmark = pytest.mark.slow
USERS = ("trainer", "reader")


def _credentials(monkeypatch: pytest.MonkeyPatch, user: str | None, passwords: dict[str, str]) -> None:
    for name, value in (("MLFLOW_TRACKING_USERNAME", user), ("MLFLOW_TRACKING_PASSWORD", passwords.get(user))):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def team_server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """``scripts/mlflow-server.sh`` on loopback with a fresh PostgreSQL database; an admin, and the users
    ``trainer`` and ``reader`` it created. Yields the URL and every user's password."""
    import sqlalchemy

    directory = tmp_path_factory.mktemp("mlflow-server")
    database = f"mlflow_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(f"{postgres}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
    engine.dispose()
    passwords = {user: secrets.token_urlsafe(12) for user in ("admin", *USERS)}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_AUTH_ADMIN_PASSWORD": passwords["admin"], "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}
    script = str(REPO / "scripts" / "mlflow-server.sh")
    started = subprocess.run(["bash", script, "start", str(directory), str(free_port()), f"{postgres}/{database}"],
                             env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr[-3000:]
    uri = started.stdout.strip().splitlines()[-1]
    try:
        with pytest.MonkeyPatch.context() as mp:
            _credentials(mp, "admin", passwords)
            admin = get_app_client("basic-auth", tracking_uri=uri)
            for user in USERS:
                admin.create_user(user, passwords[user])
        yield uri, passwords
    finally:
        subprocess.run(["bash", script, "stop", str(directory)], capture_output=True)


def _cli(*args: str, user: str | None, passwords: dict[str, str], uri: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if user is not None:
        env.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=passwords[user])
    return subprocess.run([sys.executable, "-m", "synthtrust.cli", *args], env=env, capture_output=True, text=True)


def test_train_register_promote_and_roll_back_over_http_with_authentication(
        team_server: tuple[str, dict[str, str]], trained_workspace: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from synthtrust.stages import train_segmenter

    uri, passwords = team_server
    root = tmp_path / "ws"
    shutil.copytree(trained_workspace, root)
    monkeypatch.chdir(root)
    use_store(monkeypatch, uri)
    _credentials(monkeypatch, "trainer", passwords)
    # training: the bundle's MLFlowHandler and the stage's run, both through the server, artifacts uploaded to it
    segmenter = replace(TINY_SEGMENTER, max_steps=2)
    checkpoint = train_segmenter.run(segmenter, "data/mixes/alpha_0.0.json", "models/segmenter/served")
    validation = json.loads((checkpoint.parent / "validation.json").read_text())
    trainer = mlflow.MlflowClient(uri, registry_uri=uri)
    (run,) = trainer.search_runs([trainer.get_experiment_by_name("synthtrust-segmenter").experiment_id],
                                 "tags.stage = 'train_segmenter'")
    assert run.info.status == "FINISHED"
    assert [a.path for a in trainer.list_artifacts(run.info.run_id, "segmenter")] == [
        "segmenter/model.pt", "segmenter/validation.json"]
    history = trainer.get_metric_history(run.info.run_id, "val_mean_dice")  # from the bundle's MLFlowHandler
    assert len(history) == segmenter.max_steps
    assert run.data.metrics["best_val_dice_WT"] == pytest.approx(validation["dice"]["WT"], abs=1e-6)
    # registration by the register stage: two versions, 2 the challenger (within the gate's margin of 1)
    register_versions(root, [(0.60, 0.90, 0.40), (0.62, 0.91, 0.41)], monkeypatch)
    assert trainer.get_model_version_by_alias(NAME, CHALLENGER).version == "2"

    # nobody without credentials, and no read-only user, moves champion: not through the gate, not behind it
    anonymous = _cli("promote", "--version", "1", "--without-scorecard", user=None, passwords=passwords, uri=uri)
    reader = _cli("promote", "--version", "1", "--without-scorecard", user="reader", passwords=passwords, uri=uri)
    for refused, words in ((anonymous, "not authenticated"), (reader, "lacks the permission")):
        assert refused.returncode == 1, refused.stderr[-2000:]
        assert words in refused.stderr and "Traceback" not in refused.stderr, refused.stderr[-2000:]
        assert passwords["reader"] not in refused.stderr + refused.stdout
    _credentials(monkeypatch, "reader", passwords)
    with pytest.raises(MlflowException, match="403|PERMISSION_DENIED"):
        mlflow.MlflowClient(uri, registry_uri=uri).set_registered_model_alias(NAME, CHAMPION, "1")
    _credentials(monkeypatch, "trainer", passwords)
    assert not [a for a in trainer.get_registered_model(NAME).aliases if a == CHAMPION]

    # the trainer, who registered the model (MANAGE on it), promotes through the gate and rolls back
    for args in (("promote", "--version", "1", "--without-scorecard", "--reason", "first"),
                 ("promote", "--without-scorecard", "--reason", "higher TC"),
                 ("rollback", "--reason", "drift")):
        done = _cli(*args, user="trainer", passwords=passwords, uri=uri)
        assert done.returncode == 0, done.stderr[-3000:]
    assert trainer.get_model_version_by_alias(NAME, CHAMPION).version == "1"
    tags = trainer.get_model_version(NAME, "2").tags
    assert tags["promoted_by"] == tags["rolled_back_by"] == "trainer"
    assert tags["promoted_by_identity"] == "mlflow-server" and tags["promoted_reason"] == "higher TC"
    assert json.dumps(tags).count(passwords["trainer"]) == 0
