"""The Optuna study: its storage, its name, its sampler and pruner, and the alpha-grid models entered as
finished trials.

The study name carries a fingerprint of everything a trial's result depends on (segmenter params, mix
seed, searched modes, objective, the prepared manifest, the synthetic data's provenance and the grid
models). Re-running with the same inputs resumes the same study (``load_if_exists``); changing any of
them starts a new one instead of mixing incomparable trials. ``n_trials`` (a budget of trainings), the
sampler and the pruner are not part of it: raising ``n_trials`` extends a finished study.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from synthtrust.data.brats import REGION_NAMES
from synthtrust.errors import DataError
from synthtrust.io import digest_files, sha256_file
from synthtrust.locks import advisory_lock, machine_lock
from synthtrust.params import MixParams, SearchParams, SegmenterParams
from synthtrust.segmenter.training import KEY_METRIC, read_validation
from synthtrust.tracking import repo_root

logger = logging.getLogger(__name__)
DB_NAME = "optuna.db"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TRAINED = ("grid", "search")  # trial sources that trained a model (the others answered from an earlier trial)
SKIPPED = "skipped"  # a trial that gave way (budget spent, or a retried trial first): no result, left out of counts
SHARED_BACKENDS = ("postgresql", "sqlite")  # storages whose workers synthtrust can serialise (study_lock)


def default_storage() -> str:
    """The embedded study storage: ``sqlite:///<repo>/optuna.db`` (beside ``mlruns.db``)."""
    return f"sqlite:///{repo_root() / DB_NAME}"


def open_storage(params: SearchParams) -> RDBStorage:
    """The RDB storage with heartbeats: a trial whose process died is failed after ``grace_period`` and
    re-queued once with the same parameters. Workers starting together create its tables one at a time."""
    url = params.storage_url(default_storage())
    try:
        backend = sqlalchemy.engine.make_url(url).get_backend_name()
    except sqlalchemy.exc.ArgumentError:
        raise DataError(f"search.storage: not a database URL: {shown_storage(url)}") from None
    if backend not in SHARED_BACKENDS:
        raise DataError(f"search.storage: a {backend} storage is not supported: workers share a study in "
                        "PostgreSQL (any machines) or SQLite (one machine)")
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with _lock(engine, "optuna-schema"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats: experimental since Optuna 2.8
            return RDBStorage(url, heartbeat_interval=params.heartbeat_interval, grace_period=params.grace_period,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
    finally:
        engine.dispose()


def shown_storage(url: str) -> str:
    """The storage URL as it may be written down: no credentials, and an SQLite file inside the repository
    relative to it (so metrics/search.json holds no path of the machine it ran on)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        root = repo_root()
        return f"sqlite:///{path.relative_to(root)}" if path.is_relative_to(root) else url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if rest else url


def _lock(engine: sqlalchemy.engine.Engine, key: str) -> contextlib.AbstractContextManager[None]:
    if engine.url.get_backend_name() == "postgresql":
        return advisory_lock(engine, key)
    return machine_lock("optuna", f"{Path(engine.url.database or ':memory:').resolve()}:{key}")


def study_lock(storage: RDBStorage, name: str) -> contextlib.AbstractContextManager[None]:
    """Mutual exclusion between the workers of study ``name``: while one holds it, no other enters grid
    models, creates the parent run or claims a training. PostgreSQL: an advisory lock in the storage's own
    database (workers on any machine); SQLite: a file lock (the processes of one machine, as SQLite itself)."""
    return _lock(storage.engine, f"study:{name}")


@dataclass(frozen=True)
class GridModel:
    """A model of the segmenter stages' alpha grid: its mix and its validation summary."""

    alpha: float
    mode: str
    model_dir: str              # repository-relative
    validation: dict[str, Any]


def grid_models(mix: MixParams, models_dir: str | Path = "models/segmenter") -> list[GridModel]:
    """The trained grid of ``mix.alphas`` (stage train_segmenter)."""
    models = []
    for alpha in mix.alphas:
        model_dir = Path(models_dir) / f"alpha_{alpha}"
        if not (model_dir / "model.pt").is_file():
            raise DataError(f"{model_dir}/model.pt: grid model missing (run: dvc repro train_segmenter)")
        models.append(GridModel(float(alpha), mix.mode, str(model_dir), read_validation(model_dir)))
    return models


def study_name(params: SearchParams, segmenter: SegmenterParams, mix: MixParams, grid: list[GridModel],
               manifest: str | Path, synthetic: str | Path) -> str:
    """``<search.study_name>-<fingerprint>``: equal inputs, equal study."""
    provenance = sorted(Path(synthetic).glob("*/*/*.json"))
    inputs = {
        # what a trial trains with (the first seed): replicate seeds of the grid do not make another study
        "segmenter": segmenter.bundle_overrides(), "mix.seed": mix.seed, "modes": list(params.modes),
        "objective": params.objective, "manifest": sha256_file(manifest),
        "synthetic": digest_files(provenance),
        "grid": {g.model_dir: sha256_file(Path(g.model_dir) / "model.pt") for g in grid},
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    return f"{params.study_name}-{digest[:10]}"


def make_sampler(params: SearchParams) -> optuna.samplers.BaseSampler:
    if params.sampler == "gp":
        return optuna.samplers.GPSampler(seed=params.seed, n_startup_trials=params.n_startup_trials)
    return optuna.samplers.TPESampler(seed=params.seed, n_startup_trials=params.n_startup_trials)


def make_pruner(params: SearchParams) -> optuna.pruners.BasePruner:
    if params.pruner == "none" or params.objective == "multi":  # Optuna prunes single-objective studies only
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=params.pruner_warmup_epochs)


def open_study(params: SearchParams, name: str, storage: RDBStorage | None = None) -> optuna.Study:
    """Create study ``name`` or load it if it exists (a killed search resumes)."""
    directions = ["maximize"] * (3 if params.objective == "multi" else 1)
    return optuna.create_study(study_name=name, storage=storage or open_storage(params), directions=directions,
                               sampler=make_sampler(params), pruner=make_pruner(params), load_if_exists=True)


def objective_values(validation: dict[str, Any], objective: str) -> float | list[float]:
    """What a trial returns: the mean regional validation Dice, or the three regional Dice."""
    if objective == "multi":
        return [float(validation["dice"][r] or 0.0) for r in REGION_NAMES]
    return float(validation["mean_dice"])


def distributions(modes: tuple[str, ...], mode: str, alpha_max: float = 1.0) -> dict[str, BaseDistribution]:
    """The search space of one trial: alpha, and the mode when more than one is searched."""
    space: dict[str, BaseDistribution] = {"alpha": FloatDistribution(0.0, alpha_max)}
    if len(modes) > 1:
        space["mode"] = CategoricalDistribution(list(modes))
    return space


def trial_params(alpha: float, mode: str, modes: tuple[str, ...]) -> dict[str, Any]:
    return {"alpha": alpha, **({"mode": mode} if len(modes) > 1 else {})}


def add_grid_trials(study: optuna.Study, grid: list[GridModel], params: SearchParams, mix_keys: dict[float, str]
                    ) -> int:
    """Enter the grid models as finished trials (once); returns how many were added."""
    present = {t.user_attrs.get("model_dir") for t in study.get_trials(deepcopy=False)
               if t.user_attrs.get("source") == "grid"}
    added = 0
    for model in grid:
        if model.model_dir in present:
            continue
        v = model.validation
        intermediate = {} if params.objective == "multi" else {
            r["epoch"]: r[KEY_METRIC] for r in v["history"] if r.get(KEY_METRIC) is not None}
        study.add_trial(optuna.trial.create_trial(
            params=trial_params(model.alpha, model.mode, params.modes),
            distributions=distributions(params.modes, model.mode),
            **({"values": objective_values(v, "multi")} if params.objective == "multi"
               else {"value": objective_values(v, "mean")}),
            intermediate_values=intermediate,
            user_attrs={"source": "grid", "model_dir": model.model_dir, "mode": model.mode,
                        "mix_key": mix_keys[model.alpha], "dice": v["dice"], "mean_dice": v["mean_dice"],
                        "best_epoch": v["best_epoch"], "train_seconds": v.get("train_seconds")},
        ))
        added += 1
    if added:
        logger.info("study %s: entered %d alpha-grid models as finished trials", study.study_name, added)
    return added


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """The trials with a result: complete or pruned, not skipped."""
    return [t for t in study.get_trials(deepcopy=False, states=FINISHED) if t.user_attrs.get("source") != SKIPPED]


def trainings(study: optuna.Study) -> int:
    """Finished trials that trained a model: the grid's, and the search's completed or pruned ones (not
    those answered from an earlier trial with the same mix)."""
    return sum(t.user_attrs.get("source") in TRAINED for t in finished(study))


def best_trial(study: optuna.Study) -> FrozenTrial:
    """The single-objective best, or the Pareto-front trial with the highest mean regional Dice."""
    if len(study.directions) == 1:
        return study.best_trial
    return max(study.best_trials, key=lambda t: sum(t.values) / len(t.values))
