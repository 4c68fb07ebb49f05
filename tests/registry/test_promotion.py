"""Gated promotion, rollback, racing promotions and the version table, on a real SQLite model registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from synthtrust.errors import SynthtrustError
from synthtrust.params import RegistryParams
from synthtrust.registry import CHALLENGER, CHAMPION
from synthtrust.registry.promotion import PromotionRefused, alias_version, promote, rollback
from synthtrust.registry.table import format_table, versions_table
from tests.conftest import DEMO

NAME = "brats-swinunetr"
PARAMS = RegistryParams(model_name=NAME, margin=0.02, scorecard="scorecard.json")


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_store: str) -> mlflow.MlflowClient:
    """A registered model with versions 1-3 whose real-test Dice tags are (TC, WT, ET) as listed."""
    monkeypatch.chdir(tmp_path)
    client = mlflow.MlflowClient(mlflow_store)
    client.create_registered_model(NAME)
    for dice in ((0.60, 0.90, 0.40), (0.62, 0.91, 0.39), (0.61, 0.85, 0.45)):
        source = tmp_path / f"model_{len(client.search_model_versions())}"
        source.mkdir()
        tags = {f"test_dice_{r}": str(v) for r, v in zip(("TC", "WT", "ET"), dice, strict=True)}
        client.create_model_version(NAME, str(source), tags={**tags, "alpha": "0.5", "mix_mode": "replace"})
    return client


def _champion(client: mlflow.MlflowClient) -> str:
    return str(client.get_model_version_by_alias(NAME, CHAMPION).version)


def test_first_promotion_then_a_better_one_records_the_audit_trail(registry: mlflow.MlflowClient) -> None:
    registry.set_registered_model_alias(NAME, CHALLENGER, "1")
    assert promote(PARAMS, reason="first model", by="alice")["previous"] is None
    result = promote(PARAMS, version=2, reason="higher TC", by="bob")  # ET -0.01: within the margin
    assert result["version"] == "2" and result["previous"] == "1" and _champion(registry) == "2"
    tags = registry.get_model_version(NAME, "2").tags
    assert tags["promoted_by"] == "bob" and tags["promoted_reason"] == "higher TC" and tags["previous_champion"] == "1"
    assert tags["promoted_at"].startswith("20") and tags["gate.delta_ET"] == "-0.0100"
    assert tags["gate.trust"] == "no scorecard yet"


def test_a_worse_model_is_refused_naming_the_region_and_nothing_changes(registry: mlflow.MlflowClient) -> None:
    promote(PARAMS, version=1)
    before = registry.get_model_version(NAME, "3").tags
    with pytest.raises(PromotionRefused, match=r"WT: real-test Dice 0.8500 is 0.0500 below champion version 1"):
        promote(PARAMS, version=3)
    assert _champion(registry) == "1"
    assert registry.get_model_version(NAME, "3").tags == before


def test_a_failing_trust_scorecard_blocks_promotion(registry: mlflow.MlflowClient, tmp_path: Path) -> None:
    (tmp_path / "scorecard.json").write_text(json.dumps({"passed": False, "model": {"version": 1},
                                                         "factors": {"T1": {"passed": True}, "T5": {"passed": False}}}))
    with pytest.raises(PromotionRefused, match="trust scorecard scorecard.json fails: T5"):
        promote(PARAMS, version=1)
    assert alias_version(registry, NAME, CHAMPION) is None
    (tmp_path / "scorecard.json").write_text(json.dumps({"passed": True, "model": {"version": 2}, "factors": {}}))
    with pytest.raises(PromotionRefused, match="judges version 2, not 1"):  # a scorecard of another model
        promote(PARAMS, version=1)
    (tmp_path / "scorecard.json").write_text(json.dumps({"passed": True, "model": {"version": 1}, "factors": {}}))
    promote(PARAMS, version=1)
    assert registry.get_model_version(NAME, "1").tags["gate.trust"] == "pass"


def test_rollback_restores_the_previous_champion(registry: mlflow.MlflowClient) -> None:
    with pytest.raises(SynthtrustError, match="no champion"):
        rollback(PARAMS)
    promote(PARAMS, version=1)
    promote(PARAMS, version=2)
    assert rollback(PARAMS, reason="drift on site B", by="carol") == {"version": "1", "rolled_back": "2"}
    assert _champion(registry) == "1"
    assert registry.get_model_version(NAME, "2").tags["rolled_back_reason"] == "drift on site B"
    with pytest.raises(SynthtrustError, match="replaced no earlier champion"):
        rollback(PARAMS)


def _cli(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synthtrust.cli", *args], cwd=cwd, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _params_file(tmp_path: Path, **registry: object) -> None:
    """The demo params.yaml with this test's registry section (``registry`` changes on top)."""
    section = {"model_name": NAME, "margin": 0.1, "scorecard": "scorecard.json", **registry}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**DEMO.model_dump(), "registry": section}))


def test_two_racing_promotions_leave_a_consistent_chain(registry: mlflow.MlflowClient, tmp_path: Path) -> None:
    _params_file(tmp_path)
    promote(PARAMS, version=1)
    racers = [_cli("promote", "--version", v, "--reason", f"race {v}", cwd=tmp_path) for v in ("2", "3")]
    codes = [r.wait(timeout=120) for r in racers]
    assert codes == [0, 0], [r.stderr.read()[-2000:] for r in racers]
    champion = registry.get_model_version_by_alias(NAME, CHAMPION)
    chain, version = [], champion
    while version.tags.get("previous_champion"):  # serialised: each promotion saw the other's result
        chain.append(str(version.version))
        version = registry.get_model_version(NAME, version.tags["previous_champion"])
    assert chain + [str(version.version)] in (["3", "2", "1"], ["2", "3", "1"])


def test_cli_refusal_exits_non_zero_and_the_table_shows_aliases(registry: mlflow.MlflowClient, tmp_path: Path
                                                                ) -> None:
    _params_file(tmp_path, margin=0.01, scorecard="reports/trust/scorecard.json")
    promote(PARAMS, version=1)
    registry.set_registered_model_alias(NAME, CHALLENGER, "3")
    refused = _cli("promote", cwd=tmp_path)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and "WT: real-test Dice 0.8500 is 0.0500 below" in err
    assert _champion(registry) == "1"
    rows = versions_table(PARAMS)
    assert [(r["version"], r["aliases"]) for r in rows] == [(1, "champion"), (2, ""), (3, "challenger")]
    table = _cli("registry", cwd=tmp_path)
    out, _ = table.communicate(timeout=120)
    assert table.returncode == 0 and out.splitlines()[0].split()[:3] == ["version", "aliases", "alpha"]
    assert format_table(rows) in out
