"""The ``search:`` section of params.yaml."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from synthtrust.errors import ParamsError
from synthtrust.mixing import MODES

OBJECTIVES = ("mean", "multi")
SAMPLERS = ("tpe", "gp")
PRUNERS = ("median", "none")
STORAGE_ENV = "OPTUNA_STORAGE"


@dataclass(frozen=True)
class SearchParams:
    """An Optuna study over alpha (and ``mix.mode`` when ``modes`` has two entries)."""

    n_trials: int = 5                     # trainings in all, the alpha grid's included; same-mix answers are free
    objective: str = "mean"               # mean: mean of TC/WT/ET validation Dice; multi: the three, a Pareto front
    sampler: str = "tpe"
    n_startup_trials: int = 3             # random proposals before the sampler's model takes over
    pruner: str = "median"                # fed by the per-epoch validation mean Dice; not used with multi
    pruner_warmup_epochs: int = 4         # no pruning before this epoch (Optuna n_warmup_steps)
    modes: tuple[str, ...] = ("replace",)
    storage: str | None = None            # None: sqlite:///<repo>/optuna.db; $OPTUNA_STORAGE overrides both
    study_name: str = "brats-alpha"
    heartbeat_interval: int = 30          # seconds; a trial silent for grace_period is failed and retried
    grace_period: int = 120
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_trials < 1:
            raise ParamsError(f"search.n_trials: must be >= 1, got {self.n_trials}")
        for name, value, allowed in (("objective", self.objective, OBJECTIVES), ("sampler", self.sampler, SAMPLERS),
                                     ("pruner", self.pruner, PRUNERS)):
            if value not in allowed:
                raise ParamsError(f"search.{name}: one of {allowed}, got {value!r}")
        if not self.modes or len(set(self.modes)) != len(self.modes) or set(self.modes) - set(MODES):
            raise ParamsError(f"search.modes: distinct entries of {MODES}, got {list(self.modes)}")
        if self.n_startup_trials < 0 or self.pruner_warmup_epochs < 0:
            raise ParamsError("search.n_startup_trials / pruner_warmup_epochs: must be >= 0")
        if self.heartbeat_interval < 1 or self.grace_period <= self.heartbeat_interval:
            raise ParamsError("search.grace_period must exceed search.heartbeat_interval (both seconds, >= 1)")
        if not self.study_name:
            raise ParamsError("search.study_name: must not be empty")

    def storage_url(self, default: str) -> str:
        """Where the study lives: ``$OPTUNA_STORAGE``, else ``storage``, else ``default``."""
        return os.environ.get(STORAGE_ENV) or self.storage or default

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
