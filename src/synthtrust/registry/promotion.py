"""Gated promotion and rollback of the ``champion`` alias, with an audit trail in version tags.

The gate: no region's real-test Dice (TC, WT, ET) of the challenger may be worse than the current
champion's by more than ``registry.margin``, and the trust scorecard, once the trust stage writes it,
must pass. A refused promotion raises :class:`PromotionRefused` and changes nothing.

MLflow's registry has no compare-and-set on aliases, so promotions and rollbacks are serialised with a
file lock keyed by the tracking URI: enough for every process on one machine (the embedded SQLite store,
or a team's CI runner). Promotions from several machines against one tracking server should run in one
CI job with a concurrency group.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
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
from synthtrust.params import RegistryParams
from synthtrust.registry import CHALLENGER, CHAMPION

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
    key = hashlib.sha256(tracking.tracking_uri().encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"synthtrust-registry-{key}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def alias_version(client: mlflow.MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version ``alias`` points at, or None."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _test_dice(version: ModelVersion) -> dict[str, float]:
    try:
        return {r: float(version.tags[f"test_dice_{r}"]) for r in REGION_NAMES}
    except KeyError as exc:
        raise SynthtrustError(f"version {version.version} has no real-test Dice tag {exc} (not registered by "
                              "synthtrust register?)") from exc


def gate(candidate: ModelVersion, champion: ModelVersion | None, params: RegistryParams) -> GateResult:
    """Non-inferiority per region against the champion, and the trust scorecard."""
    result = GateResult()
    ours = _test_dice(candidate)
    theirs = _test_dice(champion) if champion is not None else {}
    for region in REGION_NAMES:
        result.figures[f"gate.test_dice_{region}"] = f"{ours[region]:.4f}"
        if region in theirs:
            delta = ours[region] - theirs[region]
            result.figures[f"gate.delta_{region}"] = f"{delta:+.4f}"
            if delta < -params.margin:
                result.failures.append(
                    f"{region}: real-test Dice {ours[region]:.4f} is {-delta:.4f} below champion version "
                    f"{champion.version}'s {theirs[region]:.4f} (margin {params.margin})")
    scorecard = Path(params.scorecard)
    if not scorecard.is_absolute():
        scorecard = tracking.repo_root() / scorecard
    if scorecard.is_file():
        card = json.loads(scorecard.read_text())
        result.figures["gate.trust"] = "pass" if card.get("passed") else "fail"
        judged = str(card.get("model", {}).get("version", ""))
        if judged != str(candidate.version):
            result.figures["gate.trust"] = f"scorecard is for version {judged or '?'}"
            result.failures.append(f"trust scorecard {params.scorecard} judges version {judged or '?'}, not "
                                   f"{candidate.version} (run: dvc repro trust)")
        elif not card.get("passed"):
            failed = [name for name, f in card.get("factors", {}).items() if not f.get("passed")]
            result.failures.append(f"trust scorecard {params.scorecard} fails: {', '.join(failed) or 'verdict'}")
    else:
        result.figures["gate.trust"] = "no scorecard yet"
    return result


def _audit(action: str, by: str | None, reason: str) -> dict[str, str]:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {f"{action}_by": by or getpass.getuser(), f"{action}_at": now, f"{action}_reason": reason}


def _set_tags(client: mlflow.MlflowClient, name: str, version: str, tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def promote(params: RegistryParams, version: str | int | None = None, reason: str = "", by: str | None = None
            ) -> dict[str, Any]:
    """Move ``champion`` to ``version`` (default: the challenger) if the gate passes."""
    client = mlflow.MlflowClient(tracking.tracking_uri())
    name = params.model_name
    with registry_lock():
        candidate = (client.get_model_version(name, str(version)) if version is not None
                     else alias_version(client, name, CHALLENGER))
        if candidate is None:
            raise SynthtrustError(f"{name}: no '{CHALLENGER}' alias (run: dvc repro register)")
        champion = alias_version(client, name, CHAMPION)
        if champion is not None and str(champion.version) == str(candidate.version):
            raise SynthtrustError(f"{name}: version {candidate.version} is already the champion")
        result = gate(candidate, champion, params)
        if not result.passed:
            raise PromotionRefused(f"{name}: promotion of version {candidate.version} refused: "
                                   + "; ".join(result.failures))
        version, previous = str(candidate.version), str(champion.version) if champion is not None else None
        _set_tags(client, name, version, {**_audit("promoted", by, reason or "gate passed"), **result.figures,
                                          "previous_champion": previous or ""})
        client.set_registered_model_alias(name, CHAMPION, version)
    logger.info("%s: version %s is the champion (was %s); %s", name, version, previous, result.figures)
    return {"version": version, "previous": previous, **result.figures}


def rollback(params: RegistryParams, reason: str = "", by: str | None = None) -> dict[str, Any]:
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
        _set_tags(client, name, current, _audit("rolled_back", by, reason or "rollback"))
        _set_tags(client, name, previous, _audit("restored", by, reason or "rollback"))
        client.set_registered_model_alias(name, CHAMPION, previous)
    logger.info("%s: champion rolled back from version %s to %s", name, current, previous)
    return {"version": previous, "rolled_back": current}
