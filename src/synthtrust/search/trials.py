"""One search trial: a mix of the proposed alpha, a segmenter trained on it with the bundle, its regional
validation Dice as the objective, pruned on the per-epoch validation mean Dice.

Mixes are discrete (``replace`` swaps round(alpha * N) cases, ``augment`` adds a whole number of novel
cases), so many alphas make the same training set. A proposal whose mix equals a finished trial's is
answered with that trial's result instead of being trained again: no mix is trained twice.

Workers sharing the study (any number, on any machines) claim a training under the study's lock before they
train: a claim is refused while another worker trains the same mix (the trial waits for its result) or while
the finished and claimed trainings already fill the budget (the trial waits for a slot, or gives way once the
budget is spent). So the study trains exactly ``search.n_trials`` models and never one mix twice, and a trial
whose worker died (its heartbeat stopped) is failed and re-queued for the others.
"""

from __future__ import annotations

import enum
import logging
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
import optuna
from ignite.engine import Engine, Events
from monai.bundle import ConfigParser
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from synthtrust import tracking
from synthtrust.io import atomic_write_json
from synthtrust.mixing import make_mix
from synthtrust.params import MixParams, SearchParams, SegmenterParams
from synthtrust.search import EXPERIMENT
from synthtrust.search.study import SKIPPED, TRAINED, finished, objective_values, study_lock, trainings
from synthtrust.segmenter.training import KEY_METRIC, TRAINING_DATASETS, fit, training_params

logger = logging.getLogger(__name__)


def mix_key(mix: dict[str, Any]) -> str:
    """What identifies a training set: mode and number of synthetic cases (mixes are nested by seed);
    with no synthetic case every mode is the same all-real set."""
    return f"{mix['mode']}:{mix['n_synthetic']}" if mix["n_synthetic"] else "real"


class PruneOnValidation:
    """Reports each validation round's mean Dice to the trial and stops the trainer when Optuna prunes.

    optuna-integration's PyTorchIgnitePruningHandler raises TrialPruned inside the engine instead, which
    MONAI's StatsHandler logs as an error with a traceback; terminating the trainer ends the run cleanly.
    """

    def __init__(self, trial: optuna.Trial, trainer: Engine) -> None:
        self.trial, self.trainer = trial, trainer
        self.pruned_at: int | None = None

    def attach(self, evaluator: Engine) -> None:
        evaluator.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, evaluator: Engine) -> None:
        value = evaluator.state.metrics.get(KEY_METRIC)
        if value is None:
            return
        self.trial.report(float(value), evaluator.state.epoch)
        if self.trial.should_prune():
            self.pruned_at = evaluator.state.epoch
            self.trainer.terminate()


class Claim(enum.Enum):
    """What a trial may do with its mix, decided under the study's lock."""

    TRAIN = "train"      # claimed: train it
    GIVE_WAY = "give_way"  # a re-queued trial of a dead worker waits: let the optimize loop take it first
    STOP = "stop"        # the budget is spent by finished trainings


def worker_id() -> str:
    """This worker as trials and runs name it: ``<host>:<pid>``."""
    tags = tracking.owner_tags()
    return f"{tags['synthtrust.host']}:{tags['synthtrust.pid']}"


class TrialRunner:
    """The objective: ``study.optimize(TrialRunner(...))``."""

    def __init__(self, params: SearchParams, segmenter: SegmenterParams, mix: MixParams, storage: RDBStorage,
                 study_dir: str | Path, manifest: str | Path = "data/prepared/manifest.json",
                 synthetic: str | Path = "data/synthetic") -> None:
        self.params, self.segmenter, self.mix, self.storage = params, segmenter, mix, storage
        self.study_dir, self.manifest, self.synthetic = Path(study_dir), Path(manifest), Path(synthetic)

    def make_mix(self, alpha: float, mode: str) -> dict[str, Any]:
        return make_mix(alpha, MixParams(mode=mode, alphas=[alpha], seed=self.mix.seed), self.manifest,
                        self.synthetic, root=tracking.repo_root())

    def alpha_max(self, mode: str) -> float:
        """1 for replace; for augment the largest alpha the novel cases on disk can make."""
        if mode == "replace":
            return 1.0
        n_real = self.make_mix(0.0, mode)["n_real"]
        novel = self.synthetic / "novel"
        k = sum(1 for p in novel.iterdir() if p.is_dir()) if novel.is_dir() else 0
        return k / (n_real + k)

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        modes = self.params.modes
        mode = trial.suggest_categorical("mode", list(modes)) if len(modes) > 1 else modes[0]
        alpha = trial.suggest_float("alpha", 0.0, self.alpha_max(mode))
        mix = self.make_mix(alpha, mode)
        key = mix_key(mix)
        trial.set_user_attr("mode", mode)
        trial.set_user_attr("mix_key", key)
        for attr in ("claim", "worker", "run_id"):  # a re-queued trial inherits those of the one that died
            trial.set_user_attr(attr, None)
        decision = self.claim(trial, key)
        if isinstance(decision, FrozenTrial):
            return self._answer_from(trial, decision, alpha, key)
        if decision is Claim.TRAIN:
            return self._train(trial, mix, key)
        if decision is Claim.STOP:
            trial.study.stop()
        trial.set_user_attr("source", SKIPPED)
        raise optuna.TrialPruned(f"gave way: {decision.value}")

    def claim(self, trial: optuna.Trial, key: str) -> FrozenTrial | Claim:
        """Under the study's lock: the finished trial that trained mix ``key`` (answer from it), or a claim
        on a training. While another worker trains ``key``, or running claims fill the budget, wait (polling
        every heartbeat interval, failing stale trials as Optuna's optimize loop does)."""
        study, waited_for = trial.study, None
        while True:
            with study_lock(self.storage, study.study_name):
                trials = study.get_trials(deepcopy=False)
                done = [t for t in finished(study) if t.user_attrs.get("mix_key") == key
                        and t.user_attrs.get("source") in TRAINED]
                if done:
                    return done[0]
                claims = [t for t in trials if t.state == TrialState.RUNNING and t.number != trial.number
                          and t.user_attrs.get("claim")]
                same = [t for t in claims if t.user_attrs["claim"] == key]
                spent = trainings(study) + len(claims)
                if not same and spent < self.params.n_trials:
                    if any(t.state == TrialState.WAITING for t in trials):
                        return Claim.GIVE_WAY
                    trial.set_user_attr("claim", key)
                    trial.set_user_attr("worker", worker_id())
                    return Claim.TRAIN
                if not same and not claims:
                    return Claim.STOP
            busy = same[0] if same else min(claims, key=lambda t: t.number)
            if busy.number != waited_for:
                waited_for = busy.number
                logger.info("trial %d waits: trial %d (worker %s) is training %s", trial.number, busy.number,
                            busy.user_attrs.get("worker"), "the same mix" if same else "the last budgeted model")
            time.sleep(self.params.heartbeat_interval)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)

    @staticmethod
    def _answer_from(trial: optuna.Trial, done: optuna.trial.FrozenTrial, alpha: float, key: str
                     ) -> float | list[float]:
        """The result of ``done``, which trained the same mix: its values, or pruned again."""
        logger.info("trial %d: alpha=%.3f makes the same %s mix as trial %d; reusing its result", trial.number,
                    alpha, key, done.number)
        trial.set_user_attr("source", "same_mix")
        trial.set_user_attr("same_mix_as", done.number)
        if done.state == optuna.trial.TrialState.PRUNED:
            raise optuna.TrialPruned(f"the same mix was pruned in trial {done.number}")
        for name in ("model_dir", "dice", "mean_dice", "best_epoch", "run_id"):
            trial.set_user_attr(name, done.user_attrs.get(name))
        return done.values if len(done.values) > 1 else done.value

    def n_mixes(self) -> int:
        """How many distinct training sets the searched modes can make."""
        n_real = self.make_mix(0.0, self.params.modes[0])["n_real"]
        total = 1  # the all-real set
        for mode in self.params.modes:
            if mode == "replace":
                total += n_real
            else:
                alpha_max = self.alpha_max(mode)
                total += round(alpha_max * n_real / (1.0 - alpha_max)) if alpha_max < 1.0 else 0
        return total

    def _train(self, trial: optuna.Trial, mix: dict[str, Any], key: str) -> float | list[float]:
        mix_path = self.study_dir / "mixes" / f"trial_{trial.number}.json"
        atomic_write_json(mix_path, mix)
        model_dir = self.study_dir / f"trial_{trial.number}"
        pruning: list[PruneOnValidation] = []

        def attach(parser: ConfigParser) -> None:
            if self.params.objective == "multi" or self.params.pruner == "none":
                return
            handler = PruneOnValidation(trial, parser.get_parsed_content("train#trainer"))
            handler.attach(parser.get_parsed_content("validate#evaluator"))
            pruning.append(handler)

        with tracking.stage_run("search", EXPERIMENT, f"trial_{trial.number}-alpha_{mix['alpha']:.3f}",
                                params=training_params(mix, self.segmenter), datasets=TRAINING_DATASETS,
                                tags={"optuna.study": trial.study.study_name, "optuna.trial": trial.number,
                                      "mix_key": key}, nested=True) as run:
            trial.set_user_attr("run_id", run.info.run_id)
            validation = fit(self.segmenter, mix_path, model_dir, EXPERIMENT, run.info.run_name, attach=attach)
            pruned_at = pruning[0].pruned_at if pruning else None
            mlflow.set_tag("pruned", str(pruned_at is not None).lower())
            if pruned_at is None:
                mlflow.log_metric("objective_mean_dice", validation["mean_dice"])
        if pruned_at is not None:
            shutil.rmtree(model_dir, ignore_errors=True)  # a pruned trial's model is never a candidate
            trial.set_user_attr("source", "search")
            logger.info("trial %d (alpha=%.3f) pruned at epoch %d", trial.number, mix["alpha"], pruned_at)
            raise optuna.TrialPruned(f"pruned at epoch {pruned_at}")
        rel_dir = model_dir.resolve().relative_to(tracking.repo_root()) \
            if model_dir.resolve().is_relative_to(tracking.repo_root()) else model_dir.resolve()
        for attr, value in (("source", "search"), ("trained", True), ("model_dir", str(rel_dir)),
                            ("dice", validation["dice"]), ("mean_dice", validation["mean_dice"]),
                            ("best_epoch", validation["best_epoch"]),
                            ("train_seconds", validation["train_seconds"])):
            trial.set_user_attr(attr, value)
        logger.info("trial %d: alpha=%.3f (%s) validation Dice %s", trial.number, mix["alpha"], key,
                    validation["dice"])
        return objective_values(validation, self.params.objective)

