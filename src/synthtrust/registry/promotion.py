"""Gated promotion and rollback of the ``champion`` alias, with an audit trail in version tags.

The gate trusts only what it can verify. Both versions' model files are downloaded and checked against the
digests recorded at registration (:mod:`integrity`), and the real-test Dice it compares is read from the
evaluation artifact whose sha256 the registering run recorded (a version's ``test_dice_*`` tags must agree
with it; hand-written tags on a version pointing at an empty folder are refused). Then: no region's Dice of
the challenger may be worse than the current champion's by more than ``registry.margin``, and the trust
scorecard must pass and be bound to this very version: its name and number, its registering run, its
checkpoint's sha256 and the store. A missing scorecard refuses, unless the caller says
``without_scorecard=True`` (``--without-scorecard``), which the trail records. A refused promotion raises
:class:`PromotionRefused` and changes nothing.

MLflow's registry has no compare-and-set on aliases, so promotions and rollbacks are serialised with a
file lock keyed by the canonical store (``tracking.canonical_store``: every spelling of one store is one
key): enough for every process on one machine (the embedded SQLite store, or a team's CI runner).
Promotions from several machines against one tracking server should run in one CI job with a concurrency
group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from synthtrust import tracking
from synthtrust.data.brats import REGION_NAMES
from synthtrust.errors import SynthtrustError
from synthtrust.locks import machine_lock
from synthtrust.params import RegistryParams
from synthtrust.registry import CHALLENGER, CHAMPION, integrity

logger = logging.getLogger(__name__)


class PromotionRefused(SynthtrustError):
    """The gate failed; nothing was changed."""


@dataclass
class GateResult:
    """What the gate measured, and why it refused (empty when it passed)."""

    failures: list[str] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


@contextlib.contextmanager
def registry_lock() -> Iterator[None]:
    """Exclusive lock for alias changes in the current tracking store (all processes on this machine)."""
    with machine_lock("registry", tracking.canonical_store()):
        yield


def alias_version(client: mlflow.MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version ``alias`` points at, or None."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        tracking.raise_if_refused(exc)
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise SynthtrustError(f"{tracking.shown_uri()}: the registry cannot be read ({exc.message})") from None


def verified_dice(client: mlflow.MlflowClient, version: ModelVersion) -> tuple[dict[str, float], int]:
    """``version``'s real-test Dice per region and its number of test cases, from its verified evaluation
    artifact, after its model files were verified."""
    with tempfile.TemporaryDirectory() as staging:
        integrity.fetch(client, version, Path(staging) / "model")
        evaluation = integrity.evaluation(client, version, Path(staging) / "evaluation")
    dice = {r: float(evaluation["dice"][r]) for r in REGION_NAMES}
    for region, value in dice.items():
        tag = version.tags.get(f"test_dice_{region}")
        if tag is not None and abs(float(tag) - value) > 1e-9:
            raise integrity.IntegrityError(f"{version.name} version {version.version}: tag test_dice_{region} = "
                                           f"{tag} differs from its recorded evaluation ({value}); refused")
    return dice, int(evaluation["n_cases"])


def _scorecard_problem(card: dict[str, Any], candidate: ModelVersion, checkpoint: str) -> str | None:
    """Why the scorecard does not judge ``candidate`` (None when it does)."""
    model = card.get("model", {})
    expected = {"name": candidate.name, "version": str(candidate.version), "run_id": candidate.run_id,
                "checkpoint_sha256": checkpoint, "store": tracking.store_id()}
    for key, value in expected.items():
        if str(model.get(key, "")) != str(value):
            return f"it judges {key} {model.get(key) or '?'}, not {value}"
    return None


def gate(client: mlflow.MlflowClient, candidate: ModelVersion, champion: ModelVersion | None,
         params: RegistryParams, without_scorecard: bool = False) -> GateResult:
    """Non-inferiority per region against the champion on verified figures, and the bound trust scorecard."""
    result = GateResult()
    ours, n_cases = verified_dice(client, candidate)
    theirs = verified_dice(client, champion)[0] if champion is not None else {}
    result.figures["gate.test_cases"] = str(n_cases)
    for region in REGION_NAMES:
        result.figures[f"gate.test_dice_{region}"] = f"{ours[region]:.4f}"
        if region in theirs:
            delta = ours[region] - theirs[region]
            result.figures[f"gate.delta_{region}"] = f"{delta:+.4f}"
            if delta < -params.margin:
                result.failures.append(
                    f"{region}: real-test Dice {ours[region]:.4f} is {-delta:.4f} below champion version "
                    f"{champion.version}'s {theirs[region]:.4f} (margin {params.margin}, {n_cases} test cases)")
    scorecard = Path(params.scorecard)
    if not scorecard.is_absolute():
        scorecard = tracking.repo_root() / scorecard
    if not scorecard.is_file():
        if without_scorecard:
            result.figures["gate.trust"] = "skipped (--without-scorecard)"
        else:
            result.figures["gate.trust"] = "no scorecard"
            result.failures.append(f"no trust scorecard at {params.scorecard} (run: dvc repro trust, or promote "
                                   "--without-scorecard to promote on the Dice gate alone)")
        return result
    try:
        card = json.loads(scorecard.read_text())
    except json.JSONDecodeError as exc:
        result.failures.append(f"trust scorecard {params.scorecard} is not valid JSON ({exc.msg})")
        return result
    problem = _scorecard_problem(card, candidate, integrity.recorded(client, candidate)["checkpoint_sha256"])
    if problem is not None:
        result.figures["gate.trust"] = "scorecard of another model"
        result.failures.append(f"trust scorecard {params.scorecard} is not this version's: {problem} "
                               "(run: dvc repro trust)")
        return result
    factors = card.get("factors", {})
    status = {name: f.get("status") or ("pass" if f.get("passed") else "fail") for name, f in factors.items()}
    failed = [name for name, s in status.items() if s == "fail"]
    inapplicable = [name for name, s in status.items() if s == "not applicable"]
    if failed or card.get("passed") is not True:
        result.figures["gate.trust"] = "fail"
        result.failures.append(f"trust scorecard {params.scorecard} fails: {', '.join(failed) or 'verdict'}")
    elif inapplicable and params.not_applicable == "refuse":
        result.figures["gate.trust"] = "not applicable refused"
        result.failures.append(f"trust scorecard {params.scorecard}: {', '.join(inapplicable)} had nothing to judge "
                               "and registry.not_applicable is 'refuse'")
    else:
        result.figures["gate.trust"] = "pass" + (f" ({', '.join(inapplicable)} not applicable)" if inapplicable else "")
    return result


def _version(client: mlflow.MlflowClient, name: str, version: str | int) -> ModelVersion:
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        tracking.raise_if_refused(exc)
        raise SynthtrustError(f"{name}: no version {version} in {tracking.shown_uri()}") from None


def _audit(action: str, reason: str) -> dict[str, str]:
    """The trail of one alias move: who (as the server authenticated them, or the local account), when, why."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    user, known_by = tracking.actor()
    return {f"{action}_by": user, f"{action}_by_identity": known_by, f"{action}_at": now,
            f"{action}_reason": reason}


def _set_tags(client: mlflow.MlflowClient, name: str, version: str, tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def promote(params: RegistryParams, version: str | int | None = None, reason: str = "",
            without_scorecard: bool = False) -> dict[str, Any]:
    """Move ``champion`` to ``version`` (default: the challenger) if the gate passes."""
    client = mlflow.MlflowClient(tracking.tracking_uri())
    name = params.model_name
    with registry_lock():
        candidate = _version(client, name, version) if version is not None else alias_version(client, name, CHALLENGER)
        if candidate is None:
            raise SynthtrustError(f"{name}: no '{CHALLENGER}' alias (run: dvc repro register)")
        champion = alias_version(client, name, CHAMPION)
        if champion is not None and str(champion.version) == str(candidate.version):
            raise SynthtrustError(f"{name}: version {candidate.version} is already the champion")
        result = gate(client, candidate, champion, params, without_scorecard)
        if not result.passed:
            raise PromotionRefused(f"{name}: promotion of version {candidate.version} refused: "
                                   + "; ".join(result.failures))
        version, previous = str(candidate.version), str(champion.version) if champion is not None else None
        _set_tags(client, name, version, {**_audit("promoted", reason or "gate passed"), **result.figures,
                                          "previous_champion": previous or ""})
        client.set_registered_model_alias(name, CHAMPION, version)
    logger.info("%s: version %s is the champion (was %s); %s", name, version, previous, result.figures)
    return {"version": version, "previous": previous, **result.figures}


def rollback(params: RegistryParams, reason: str = "") -> dict[str, Any]:
    """Move ``champion`` back to the version it replaced."""
    client = mlflow.MlflowClient(tracking.tracking_uri())
    name = params.model_name
    with registry_lock():
        champion = alias_version(client, name, CHAMPION)
        if champion is None:
            raise SynthtrustError(f"{name}: no champion to roll back")
        previous = champion.tags.get("previous_champion")
        if not previous:
            raise SynthtrustError(f"{name}: champion version {champion.version} replaced no earlier champion")
        current = str(champion.version)
        _set_tags(client, name, current, _audit("rolled_back", reason or "rollback"))
        _set_tags(client, name, previous, _audit("restored", reason or "rollback"))
        client.set_registered_model_alias(name, CHAMPION, previous)
    logger.info("%s: champion rolled back from version %s to %s", name, current, previous)
    return {"version": previous, "rolled_back": current}
