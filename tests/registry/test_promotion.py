"""Gated promotion, rollback, racing promotions and the version table, on real registered versions in a real
SQLite model registry; the gate trusts only what it can verify."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from synthtrust import tracking
from synthtrust.errors import SynthtrustError
from synthtrust.params import replace
from synthtrust.registry import CHALLENGER, CHAMPION
from synthtrust.registry.integrity import IntegrityError
from synthtrust.registry.promotion import PromotionRefused, alias_version, promote, rollback
from synthtrust.registry.table import format_table, versions_table
from tests.conftest import DEMO
from tests.registry.conftest import NAME, PARAMS, write_scorecard


def _champion(client: mlflow.MlflowClient) -> str:
    return str(client.get_model_version_by_alias(NAME, CHAMPION).version)


def _version(client: mlflow.MlflowClient, n: int):  # noqa: ANN202
    return client.get_model_version(NAME, str(n))


def test_first_promotion_then_a_better_one_records_the_audit_trail(three: mlflow.MlflowClient) -> None:
    write_scorecard(_version(three, 3))  # version 3 is the challenger the register stage left
    three.set_registered_model_alias(NAME, CHALLENGER, "1")
    write_scorecard(_version(three, 1))
    assert promote(PARAMS, reason="first model")["previous"] is None
    write_scorecard(_version(three, 2))
    result = promote(PARAMS, version=2, reason="higher TC")  # ET -0.01: within the margin
    assert result["version"] == "2" and result["previous"] == "1" and _champion(three) == "2"
    tags = _version(three, 2).tags
    assert tags["promoted_by"] == getpass.getuser() and tags["promoted_by_identity"] == "local-account"
    assert tags["promoted_reason"] == "higher TC" and tags["previous_champion"] == "1"
    assert tags["promoted_at"].startswith("20") and tags["gate.delta_ET"] == "-0.0100"
    assert tags["gate.trust"] == "pass" and tags["gate.test_cases"] == "2"


def test_a_worse_model_is_refused_naming_the_region_and_nothing_changes(three: mlflow.MlflowClient) -> None:
    promote(PARAMS, version=1, without_scorecard=True)
    before = _version(three, 3).tags
    write_scorecard(_version(three, 3))
    with pytest.raises(PromotionRefused, match=r"WT: real-test Dice 0.8500 is 0.0500 below champion version 1"):
        promote(PARAMS, version=3)
    assert _champion(three) == "1"
    assert _version(three, 3).tags == before


def test_a_missing_scorecard_refuses_unless_said_explicitly(three: mlflow.MlflowClient) -> None:
    with pytest.raises(PromotionRefused, match="no trust scorecard at scorecard.json"):
        promote(PARAMS, version=1)
    assert alias_version(three, NAME, CHAMPION) is None
    promote(PARAMS, version=1, without_scorecard=True)
    assert _version(three, 1).tags["gate.trust"] == "skipped (--without-scorecard)"


def test_the_scorecard_must_pass_and_judge_this_very_version(three: mlflow.MlflowClient, tmp_path: Path) -> None:
    one = _version(three, 1)
    write_scorecard(one, passed=False)
    with pytest.raises(PromotionRefused, match="trust scorecard scorecard.json fails: T5_privacy"):
        promote(PARAMS, version=1)
    for wrong, says in (({"version": 2}, "judges version 2, not 1"),
                        ({"run_id": "0" * 32}, f"judges run_id {'0' * 32}, not {one.run_id}"),
                        ({"checkpoint_sha256": "ab" * 32}, "judges checkpoint_sha256 abab"),
                        ({"store": "sqlite:///elsewhere/mlruns.db"}, "judges store sqlite:///elsewhere/mlruns.db")):
        write_scorecard(one, **wrong)  # e.g. another store's version 1
        with pytest.raises(PromotionRefused, match=says):
            promote(PARAMS, version=1)
    assert alias_version(three, NAME, CHAMPION) is None
    write_scorecard(one, not_applicable=True)  # T2 of a real-only model: the gate's rule is a param
    with pytest.raises(PromotionRefused, match="T2_utility_parity had nothing to judge and registry.not_applicable"):
        promote(replace(PARAMS, not_applicable="refuse"), version=1)
    assert alias_version(three, NAME, CHAMPION) is None
    promote(PARAMS, version=1)
    assert _version(three, 1).tags["gate.trust"] == "pass (T2_utility_parity not applicable)"


def test_hand_written_figures_are_not_trusted(three: mlflow.MlflowClient, tmp_path: Path) -> None:
    # a version pointing at an empty folder, with hand-written Dice tags, as anyone with registry access can make
    empty = tmp_path / "empty"
    empty.mkdir()
    tags = {"test_dice_TC": "0.99", "test_dice_WT": "0.99", "test_dice_ET": "0.99"}
    forged = three.create_model_version(NAME, str(empty), tags=tags)
    with pytest.raises(IntegrityError, match=f"version {forged.version}: no registering run"):
        promote(PARAMS, version=forged.version, without_scorecard=True)
    # a real version whose Dice tag was edited afterwards
    three.set_model_version_tag(NAME, "3", "test_dice_WT", "0.99")
    with pytest.raises(IntegrityError, match="tag test_dice_WT = 0.99 differs from its recorded evaluation"):
        promote(PARAMS, version=3, without_scorecard=True)
    # a real version whose digest tag was edited to match a swapped checkpoint
    three.set_model_version_tag(NAME, "2", "checkpoint_sha256", "ab" * 32)
    with pytest.raises(IntegrityError, match="tag checkpoint_sha256 differs from what its registering run recorded"):
        promote(PARAMS, version=2, without_scorecard=True)
    assert alias_version(three, NAME, CHAMPION) is None


def test_unknown_versions_are_one_line(three: mlflow.MlflowClient, tmp_path: Path) -> None:
    _params_file(Path.cwd())
    for version, says in (("999", "brats-swinunetr: no version 999 in sqlite:///"),
                          ("abc", "--version: Input should be a valid integer")):
        result = _cli("promote", "--version", version, cwd=Path.cwd())
        _, err = result.communicate(timeout=120)
        assert result.returncode in (1, 2) and says in err and "Traceback" not in err, err


def test_rollback_restores_the_previous_champion(three: mlflow.MlflowClient) -> None:
    with pytest.raises(SynthtrustError, match="no champion"):
        rollback(PARAMS)
    promote(PARAMS, version=1, without_scorecard=True)
    promote(PARAMS, version=2, without_scorecard=True)
    assert rollback(PARAMS, reason="drift on site B") == {"version": "1", "rolled_back": "2"}
    assert _champion(three) == "1"
    assert _version(three, 2).tags["rolled_back_reason"] == "drift on site B"
    with pytest.raises(SynthtrustError, match="replaced no earlier champion"):
        rollback(PARAMS)


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synthtrust.cli", *args], cwd=cwd, env=env or dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _params_file(where: Path, **registry: object) -> None:
    """The demo params.yaml with this test's registry section (``registry`` changes on top)."""
    section = {"model_name": NAME, "margin": 0.1, "scorecard": "scorecard.json", "not_applicable": "pass", **registry}
    (where / "params.yaml").write_text(yaml.safe_dump({**DEMO.model_dump(), "registry": section}))


def test_two_racing_promotions_through_two_spellings_of_one_store(three: mlflow.MlflowClient, tmp_path: Path
                                                                  ) -> None:
    _params_file(Path.cwd())
    promote(PARAMS, version=1, without_scorecard=True)
    db = Path(tracking.tracking_uri().removeprefix("sqlite:///"))
    link = tmp_path / "link"
    link.symlink_to(db.parent)
    spellings = [f"sqlite:///{db}", f"sqlite:///{link}/./{db.name}"]  # one store, two URIs (the lock's old key)
    assert len({tracking.canonical_store(s) for s in spellings}) == 1
    racers = [_cli("promote", "--version", v, "--reason", f"race {v}", "--without-scorecard", cwd=Path.cwd(),
                   env={**os.environ, "MLFLOW_TRACKING_URI": uri})
              for v, uri in zip(("2", "3"), spellings, strict=True)]
    codes = [r.wait(timeout=300) for r in racers]
    assert codes == [0, 0], [r.stderr.read()[-2000:] for r in racers]
    champion = three.get_model_version_by_alias(NAME, CHAMPION)
    chain, version = [], champion
    while version.tags.get("previous_champion"):  # serialised: each promotion saw the other's result
        chain.append(str(version.version))
        version = three.get_model_version(NAME, version.tags["previous_champion"])
    assert chain + [str(version.version)] in (["3", "2", "1"], ["2", "3", "1"])


def test_cli_refusal_exits_non_zero_and_the_table_shows_aliases(three: mlflow.MlflowClient) -> None:
    _params_file(Path.cwd(), margin=0.01)
    promote(PARAMS, version=1, without_scorecard=True)
    write_scorecard(_version(three, 3))
    refused = _cli("promote", cwd=Path.cwd())
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1 and "WT: real-test Dice 0.8500 is 0.0500 below" in err
    assert _champion(three) == "1"
    rows = versions_table(PARAMS)
    assert [(r["version"], r["aliases"]) for r in rows] == [(1, "champion"), (2, ""), (3, "challenger")]
    table = _cli("registry", cwd=Path.cwd())
    out, _ = table.communicate(timeout=120)
    assert table.returncode == 0 and out.splitlines()[0].split()[:3] == ["version", "aliases", "alpha"]
    assert format_table(rows) in out
