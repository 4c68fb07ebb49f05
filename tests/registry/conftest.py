"""Real registered versions for the gate: each from its own checkpoint, registered by the register stage
into a real SQLite store, with the real-test Dice the test asks for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest
import torch

from synthtrust import tracking
from synthtrust.data.brats import REGION_NAMES
from synthtrust.params import RegistryParams
from synthtrust.segmenter.scoring import summarise
from tests.conftest import DEMO, TINY_SEGMENTER, use_store, write_tiny_params

NAME = "brats-swinunetr"
PARAMS = RegistryParams(model_name=NAME, margin=0.02, scorecard="scorecard.json", not_applicable="pass")


def register_versions(root: Path, dices: list[tuple[float, float, float]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Register one version per ``(TC, WT, ET)`` of ``dices`` in the workspace ``root`` (the working directory):
    each a new checkpoint (the alpha = 0 grid model, one weight nudged so its sha256 differs) registered by
    ``synthtrust.stages.register`` with that real-test Dice (the scoring runs for real; only its summary is
    replaced)."""
    from synthtrust.stages import register

    write_tiny_params(root / "params.yaml")
    (root / "metrics").mkdir(exist_ok=True)
    source = root / "models/segmenter/alpha_0.0"
    validation = json.loads((source / "validation.json").read_text())
    for n, dice in enumerate(dices, start=1):
        model_dir = root / f"models/segmenter/version_{n}"
        model_dir.mkdir(parents=True)
        shutil.copy(source / "validation.json", model_dir)
        state = torch.load(source / "model.pt", weights_only=True)
        weights = state["model"] if "model" in state else state
        first = next(k for k, v in weights.items() if v.is_floating_point())
        weights[first] = weights[first] + n * 1e-6
        torch.save(state, model_dir / "model.pt")
        (root / "metrics/search.json").write_text(json.dumps({"study": "brats-alpha-test", "best": {
            "trial": n, "alpha": 0.0, "mode": "replace", "val_dice": validation["dice"],
            "val_mean_dice": validation["mean_dice"], "model_dir": str(model_dir.relative_to(root)), "run_id": None}}))
        def summary(scored: dict, intervals: object, dice: tuple = dice) -> dict:
            figures = summarise(scored, DEMO.intervals)
            return {**figures, "dice": dict(zip(REGION_NAMES, dice, strict=True))}

        monkeypatch.setattr(register, "summarise", summary)
        register.run(DEMO.registry, TINY_SEGMENTER, DEMO.intervals, "phantom")


#: the three versions' real-test Dice (TC, WT, ET)
THREE = [(0.60, 0.90, 0.40), (0.62, 0.91, 0.39), (0.61, 0.85, 0.45)]


@pytest.fixture(scope="module")
def three_pristine(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A workspace with versions 1-3 (:data:`THREE`) in its own SQLite store, made once per module, and a
    pristine copy of it (artifact paths in the store are absolute, so tests restore it in place)."""
    root = tmp_path_factory.mktemp("registry") / "ws"
    shutil.copytree(trained_workspace, root)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        use_store(mp, f"sqlite:///{root / 'mlruns.db'}")
        register_versions(root, THREE, mp)
    pristine = root.with_name("pristine")
    shutil.copytree(root, pristine)
    return root, pristine


@pytest.fixture
def three(three_pristine: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    """Versions 1-3 of :data:`THREE` as registered (version 3 the challenger); the test runs in the workspace."""
    root, pristine = three_pristine
    for entry in root.iterdir():  # the store's file is rewritten in place: this process's MLflow keeps it open
        if entry.name != "mlruns.db":
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for entry in pristine.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, root / entry.name, symlinks=True)
        else:
            shutil.copyfile(entry, root / entry.name)
    monkeypatch.chdir(root)
    use_store(monkeypatch, f"sqlite:///{root / 'mlruns.db'}")
    return mlflow.MlflowClient(tracking.tracking_uri())


def write_scorecard(mv: mlflow.entities.model_registry.ModelVersion, passed: bool = True,
                    path: str | Path = "scorecard.json", not_applicable: bool = False, **model: object) -> Path:
    """A trust scorecard bound to version ``mv`` as the trust stage writes it (``model`` entries changed); with
    ``not_applicable``, T2 had nothing to judge."""
    bound = {"name": mv.name, "version": int(mv.version), "run_id": mv.run_id,
             "checkpoint_sha256": mv.tags["checkpoint_sha256"], "store": tracking.store_id(), **model}
    factors = {"T1_fidelity": {"passed": True, "status": "pass"},
               "T5_privacy": {"passed": passed, "status": "pass" if passed else "fail"}}
    if not_applicable:
        factors["T2_utility_parity"] = {"passed": None, "status": "not applicable", "reason": "real-only"}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"passed": passed, "model": bound, "factors": factors}))
    return Path(path)
