"""Where runs and studies go: the embedded stores of the repository, also from DVC experiment workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthtrust import tracking
from synthtrust.search.study import default_storage


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".dvc" / "tmp" / "exps" / "run-abc123" / "src").mkdir(parents=True)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    return tmp_path.resolve()


def test_a_dvc_experiment_workspace_reaches_the_repositorys_stores(repo: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    monkeypatch.chdir(repo / ".dvc" / "tmp" / "exps" / "run-abc123" / "src")
    assert tracking.repo_root() == repo
    assert tracking.tracking_uri() == f"sqlite:///{repo / 'mlruns.db'}"
    assert tracking.artifact_location() == (repo / "mlruns").as_uri()
    assert default_storage() == f"sqlite:///{repo / 'optuna.db'}"


def test_the_environment_overrides_the_embedded_store(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri() == "http://mlflow.example:5000" and tracking.artifact_location() is None
