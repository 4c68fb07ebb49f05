"""Stage ``search``: an Optuna study over alpha on the real validation split, one MLflow parent run per
study and a child run per trial; writes ``metrics/search.json`` and the objective-vs-alpha plot.

The test split is never read here: trials are judged by their regional Dice on the validation split.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import mlflow
import optuna
from optuna.trial import TrialState

from synthtrust import tracking
from synthtrust.data.brats import REGION_NAMES
from synthtrust.data.datalist import read_manifest
from synthtrust.io import atomic_write_json, atomic_write_text
from synthtrust.params import MixParams, SearchParams, SegmenterParams
from synthtrust.plots import objective_vs_alpha
from synthtrust.search import EXPERIMENT
from synthtrust.search.study import (
    SKIPPED,
    TRAINED,
    add_grid_trials,
    best_trial,
    default_storage,
    finished,
    grid_models,
    open_storage,
    open_study,
    shown_storage,
    study_lock,
    study_name,
    trainings,
)
from synthtrust.search.trials import TrialRunner, mix_key

logger = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are logged by synthtrust, once each


def _parent_run(name: str) -> str | None:
    """The id of this study's parent run, if an earlier (perhaps killed) search made one."""
    runs = mlflow.search_runs(filter_string=f"tags.`optuna.study` = '{name}' and tags.role = 'parent'",
                              output_format="list", order_by=["start_time ASC"])
    return runs[0].info.run_id if runs else None


def _new_parent_run(name: str, params: SearchParams) -> str:
    """The study's parent run, made with the search params it starts with; every worker resumes it (a resumed
    run keeps the params it was created with: MLflow refuses to change a logged value)."""
    with tracking.stage_run("search", EXPERIMENT, tags={"role": "parent", "optuna.study": name},
                            params={"search": params.model_dump(exclude={"storage"})}) as run:
        return run.info.run_id


class StopAtBudget:
    """Stops the study once ``n`` trainings have finished (counted in the storage, so parallel workers
    stop together) or every distinct mix has a result."""

    def __init__(self, n: int, n_mixes: int) -> None:
        self.n, self.n_mixes = n, n_mixes

    def done(self, study: optuna.Study) -> bool:
        keys = {t.user_attrs.get("mix_key") for t in finished(study) if t.user_attrs.get("source") in TRAINED}
        return trainings(study) >= self.n or len(keys) >= self.n_mixes

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.done(study):
            study.stop()


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per finished trial, for the CSV (a DVC plot) and the figure."""
    rows = []
    for t in finished(study):
        dice = t.user_attrs.get("dice") or {}
        pruned = t.state == TrialState.PRUNED
        last = t.intermediate_values[max(t.intermediate_values)] if pruned and t.intermediate_values else None
        rows.append({"trial": t.number, "alpha": round(t.params["alpha"], 4),
                     "mode": t.params.get("mode", t.user_attrs.get("mode")), "source": t.user_attrs.get("source"),
                     "state": t.state.name.lower(),
                     "mean_dice": last if pruned else t.user_attrs.get("mean_dice"),
                     **{f"dice_{r}": dice.get(r) for r in REGION_NAMES}})
    return sorted(rows, key=lambda r: r["trial"])


def _write_csv(rows: list[dict[str, Any]], path: str | Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def summarise(study: optuna.Study, storage: str) -> dict[str, Any]:
    """``metrics/search.json``: the best trial and what the study spent."""
    best = best_trial(study)
    trials = study.get_trials(deepcopy=False)
    skipped = sum(t.user_attrs.get("source") == SKIPPED for t in trials)
    count = {s: sum(t.state == s and t.user_attrs.get("source") != SKIPPED for t in trials) for s in TrialState}
    done = finished(study)
    summary: dict[str, Any] = {
        "study": study.study_name,
        "storage": shown_storage(storage),
        "objective": "multi" if len(study.directions) > 1 else "mean",
        "best": {"trial": best.number, "alpha": round(best.params["alpha"], 4),
                 "mode": best.params.get("mode", best.user_attrs.get("mode")),
                 "val_dice": best.user_attrs["dice"], "val_mean_dice": round(best.user_attrs["mean_dice"], 4),
                 "model_dir": best.user_attrs["model_dir"], "source": best.user_attrs.get("source"),
                 "run_id": best.user_attrs.get("run_id")},
        "trials": {"finished": len(done), "trainings": trainings(study), "complete": count[TrialState.COMPLETE],
                   "pruned": count[TrialState.PRUNED], "failed": count[TrialState.FAIL],
                   "from_grid": sum(t.user_attrs.get("source") == "grid" for t in done),
                   "trained": sum(bool(t.user_attrs.get("trained")) for t in done),
                   "same_mix": sum(t.user_attrs.get("source") == "same_mix" for t in done), "skipped": skipped},
    }
    if len(study.directions) > 1:
        summary["pareto_front"] = [{"trial": t.number, "alpha": round(t.params["alpha"], 4),
                                    **dict(zip(REGION_NAMES, (round(v, 4) for v in t.values), strict=True))}
                                   for t in sorted(study.best_trials, key=lambda t: t.params["alpha"])]
    return summary


def run(params: SearchParams, segmenter: SegmenterParams, mix: MixParams,
               grid_dir: str | Path = "models/segmenter", out: str | Path = "models/search",
               metrics: str | Path = "metrics/search.json", csv_path: str | Path = "reports/search/trials.csv",
               figure: str | Path = "reports/search/objective_vs_alpha.png",
               manifest: str | Path = "data/prepared/manifest.json",
               synthetic: str | Path = "data/synthetic") -> dict[str, Any]:
    """Run (or resume) the study until ``params.n_trials`` trainings have finished; returns the summary."""
    grid = grid_models(mix, grid_dir)
    name = study_name(params, segmenter, mix, grid, manifest, synthetic)
    rdb = open_storage(params)
    study = open_study(params, name, rdb)
    runner = TrialRunner(params, segmenter, mix, rdb, Path(out) / name, manifest, synthetic)
    storage = params.storage_url(default_storage())
    tracking.experiment(EXPERIMENT)
    with study_lock(rdb, name):  # workers starting together: the grid is entered once, one parent run is made
        add_grid_trials(study, grid, params, {g.alpha: mix_key(runner.make_mix(g.alpha, g.mode)) for g in grid})
        parent = _parent_run(name) or _new_parent_run(name, params)
    with tracking.stage_run("search", EXPERIMENT, run_id=parent):
        budget = StopAtBudget(params.n_trials, runner.n_mixes())
        logger.info("study %s: %d finished trials, %d of %d trainings done (storage %s)", name, len(finished(study)),
                    trainings(study), params.n_trials, shown_storage(storage))
        if not budget.done(study):
            # same-mix answers cost no training; the cap only guards against a sampler stuck on known mixes
            study.optimize(runner, n_trials=20 * params.n_trials, callbacks=[budget])
        # the objective is a mean over the real validation split: say how many cases stand behind it
        summary = {**summarise(study, storage), "validation_cases": len(read_manifest(manifest)["splits"]["val"])}
        rows = trial_rows(study)
        _write_csv(rows, csv_path)
        objective_vs_alpha(rows, figure, best=summary["best"]["trial"],
                           pareto=[p["trial"] for p in summary.get("pareto_front", [])])
        best = summary["best"]
        mlflow.log_metrics({"best_alpha": best["alpha"], "best_val_mean_dice": best["val_mean_dice"],
                            **{f"best_val_dice_{r}": v for r, v in best["val_dice"].items() if v is not None},
                            **{f"trials_{k}": v for k, v in summary["trials"].items()}})
        mlflow.log_artifact(str(figure))
        mlflow.log_artifact(str(csv_path))
        atomic_write_json(metrics, summary)
    logger.info("best: trial %d, alpha=%.3f, validation Dice %s (%d validation cases)", summary["best"]["trial"],
                summary["best"]["alpha"], summary["best"]["val_dice"], summary["validation_cases"])
    return summary
