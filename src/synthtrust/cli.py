"""The ``synthtrust`` command line (python-fire): one command per pipeline verb.

Expected failures (bad data, bad params, unreadable or unwritable files) print one clear line and exit 1;
usage errors (unknown flags, surplus arguments, values of the wrong type) are refused before the command runs
and exit 2, as are fire's own. SIGTERM stops a command like Ctrl-C (exit 130, partial outputs removed, its
MLflow run ended as KILLED); ``SYNTHTRUST_DEBUG=1`` shows the traceback of an unexpected error.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import fire

from synthtrust import lifecycle, secrets
from synthtrust.arguments import HELP, UsageError, check_argv, typed
from synthtrust.errors import DataError, ParamsError, SynthtrustError
from synthtrust.params import DEFAULT_PARAMS, check_alpha, load

logger = logging.getLogger("synthtrust")


def _alpha(alpha: float, mode: str) -> float:
    """``--alpha``, checked like the alphas of params.yaml."""
    try:
        return check_alpha(alpha, mode)
    except ValueError as exc:
        raise ParamsError(f"--alpha: {exc}") from None


def validate_data(data_dir: str, quiet: bool = False) -> None:
    """Check every BraTS case under DATA_DIR and print a per-case report; exit 1 if any case fails."""
    from synthtrust.data.brats import discover_cases
    from synthtrust.data.validation import format_report, validate_cases

    reports = validate_cases(discover_cases(data_dir), progress=not quiet)
    print(format_report(reports))
    failed = [r.case_id for r in reports if not r.ok]
    if failed:
        raise DataError(f"{data_dir}: {len(failed)} of {len(reports)} cases failed validation")


def make_phantoms(params: str = str(DEFAULT_PARAMS), out: str = "data/raw/phantom") -> None:
    """Write the ``data.phantom`` BraTS-format phantom cases to OUT (seeded; same seed, same bytes)."""
    from synthtrust.stages import make_phantoms as stage

    stage.run(load(params).data.phantom, out)


def prepare(params: str = str(DEFAULT_PARAMS), out: str = "data/prepared",
            metrics: str = "metrics/data.json") -> None:
    """Validate the source selected by ``data.source`` and write the prepared, split dataset to OUT."""
    from synthtrust.stages import prepare as stage

    stage.run(load(params).data, out, metrics)


def train_generator(params: str = str(DEFAULT_PARAMS), manifest: str = "data/prepared/manifest.json",
                    out: str = "models/generator") -> None:
    """Train (or resume) the label-conditioned diffusion generator on the training split."""
    from synthtrust.stages import train_generator as stage

    stage.run(load(params).generator, manifest, out)


def synthesize(params: str = str(DEFAULT_PARAMS), checkpoint: str = "models/generator/model.pt",
               manifest: str = "data/prepared/manifest.json", out: str = "data/synthetic",
               metrics: str = "metrics/generator.json",
               figure: str = "reports/generator/real_vs_synthetic.png") -> None:
    """Write synthetic copies of the training and test cases (and novel cases) in BraTS layout."""
    from synthtrust.stages import synthesize as stage

    stage.run(load(params).generator, checkpoint, manifest, out, metrics, figure)


def mix(alpha: float, params: str = str(DEFAULT_PARAMS), out: str | None = None,
        manifest: str = "data/prepared/manifest.json", synthetic: str = "data/synthetic") -> None:
    """Write the training datalist of synthetic fraction ALPHA (``mix.mode``) to OUT."""
    from synthtrust.stages import mix as stage

    section = load(params).mix
    stage.run(_alpha(alpha, section.mode), section, out or f"data/mixes/alpha_{alpha}.json", manifest, synthetic)


def train_segmenter(alpha: float, params: str = str(DEFAULT_PARAMS), mix: str | None = None,
                    out: str | None = None) -> None:
    """Train SwinUNETR on the mix of synthetic fraction ALPHA."""
    from synthtrust.stages import train_segmenter as stage

    stage.run(load(params).segmenter, mix or f"data/mixes/alpha_{alpha}.json", out or f"models/segmenter/alpha_{alpha}")


def evaluate(alpha: float, params: str = str(DEFAULT_PARAMS), model: str | None = None,
             metrics: str | None = None, per_case: str | None = None,
             manifest: str = "data/prepared/manifest.json", synthetic: str = "data/synthetic") -> None:
    """Regional Dice and HD95 of ALPHA's model on the real and the synthetic test sets."""
    from synthtrust.stages import evaluate as stage

    p = load(params)
    stage.run(p.segmenter, p.intervals, alpha, model or f"models/segmenter/alpha_{alpha}/model.pt",
              metrics or f"metrics/segmenter/alpha_{alpha}.json",
              per_case or f"reports/segmenter/alpha_{alpha}/per_case.csv", manifest, synthetic)


def plot_segmenter(params: str = str(DEFAULT_PARAMS), csv: str = "reports/segmenter/dice_vs_alpha.csv",
                   png: str = "reports/segmenter/dice_vs_alpha.png") -> None:
    """Dice against alpha per region, real vs synthetic test (CSV for dvc plots, PNG)."""
    from synthtrust.stages import plot_segmenter as stage

    stage.run(load(params).mix.alphas, csv, png)


def search(params: str = str(DEFAULT_PARAMS), grid: str = "models/segmenter", out: str = "models/search",
           metrics: str = "metrics/search.json") -> None:
    """Optuna search over alpha (``search:``) on the real validation split; resumes a killed study."""
    from synthtrust.stages import search as stage

    p = load(params)
    stage.run(p.search, p.segmenter, p.mix, grid, out, metrics)


def register(params: str = str(DEFAULT_PARAMS), search: str = "metrics/search.json",
             metrics: str = "metrics/register.json") -> None:
    """Register the search's best model as ``challenger`` of the registered model (``registry.model_name``)."""
    from synthtrust.stages import register as stage

    p = load(params)
    result = stage.run(p.registry, p.segmenter, p.intervals, p.data.source, search, metrics=metrics)
    print(f"{result['model_name']} version {result['version']} is the {result['alias']} "
          f"(alpha={result['alpha']}, real-test Dice {result['test_dice']})")


def promote(reason: str = "", version: int | None = None, params: str = str(DEFAULT_PARAMS),
            without_scorecard: bool = False) -> None:
    """Move ``champion`` to the challenger (or VERSION) if the gate passes; exit 1 and change nothing if not.
    A missing trust scorecard refuses, unless --without-scorecard (recorded in the promotion trail). The trail
    names the user the MLflow server authenticated (or, on a local store, this machine's account)."""
    from synthtrust.registry.promotion import promote as run

    result = run(load(params).registry, version, reason, without_scorecard)
    print(f"version {result['version']} promoted to champion (previous: {result['previous']})")


def rollback(reason: str = "", params: str = str(DEFAULT_PARAMS)) -> None:
    """Move ``champion`` back to the version it replaced (the trail names the user, as ``promote``'s does)."""
    from synthtrust.registry.promotion import rollback as run

    result = run(load(params).registry, reason)
    print(f"champion rolled back from version {result['rolled_back']} to {result['version']}")


def registry(params: str = str(DEFAULT_PARAMS)) -> None:
    """Print the registered model's versions, aliases and regional Dice."""
    from synthtrust.registry.table import format_table, versions_table

    print(format_table(versions_table(load(params).registry)))


def trust(params: str = str(DEFAULT_PARAMS), out: str = "reports/trust", metrics: str = "metrics/trust.json") -> None:
    """The six trust factors, the scorecard the promotion gate reads, and the HTML report."""
    from synthtrust.stages import trust as stage

    p = load(params)
    card = stage.run(p.trust, p.intervals, p.mix, p.segmenter, p.data.model_dump(), out, metrics)
    print(f"trust scorecard: {'PASS' if card['passed'] else 'FAIL'} ({out}/index.html)")


def export_bundle(model: str = "models:/brats-swinunetr@champion", out: str = "models/deploy/champion",
                  params: str = str(DEFAULT_PARAMS)) -> None:
    """Write a deployable MONAI bundle (TorchScript model.ts, configs, docs) of MODEL: a models:/ URI or a
    checkpoint path (then the network params come from PARAMS)."""
    from synthtrust.stages import export as stage

    segmenter = None if model.startswith(stage.MLFLOW_SCHEMES) else load(params).segmenter
    result = stage.run(model, out, segmenter)
    print(f"deployable bundle of {model} written to {result['out']} "
          f"(traced vs checkpoint max |diff| {result['max_abs_diff']:.1e})")


def reader_study_make(params: str = str(DEFAULT_PARAMS), out: str = "reports/reader_study",
                      key: str = "data/reader_study/key.json", manifest: str = "data/prepared/manifest.json",
                      synthetic: str = "data/synthetic") -> None:
    """Write a blinded real-vs-synthetic reader study (``reader_study:``): the folder readers open (OUT/index.html,
    self-contained) and, apart from it, the KEY that unblinds it."""
    from synthtrust.stages import reader_study as stage

    study = stage.make(load(params).reader_study, out, key, manifest, synthetic)
    print(f"reader study {study['study']}: {len(study['cases'])} cases; give readers {out} (open index.html), "
          f"keep {key} from them")


def reader_study_score(*answers: str, key: str = "data/reader_study/key.json", params: str = str(DEFAULT_PARAMS),
                       out: str = "metrics/reader_study.json") -> None:
    """Score readers' answer files (ANSWERS: files or folders of *.json) against KEY: accuracy, AUC, sensitivity,
    specificity with intervals, Fleiss' kappa, plausibility, comments; written to OUT, logged to MLflow."""
    from synthtrust.stages import reader_study as stage

    p = load(params)
    scores = stage.score(p.reader_study, p.intervals, answers, key, out)
    if scores["status"] == "no answers":
        print(f"reader study {scores['study']}: no answer files; T6 is not applicable ({out})")
        return
    accuracy = scores["pooled"]["accuracy"]
    print(f"reader study {scores['study']}: {len(scores['readers'])} readers, pooled accuracy {accuracy['mean']:.3f} "
          f"[{accuracy['low']}, {accuracy['high']}] over {scores['cases']} cases ({out})")


COMMANDS: dict[str, Any] = {
    "validate-data": validate_data,
    "make-phantoms": make_phantoms,
    "prepare": prepare,
    "train-generator": train_generator,
    "synthesize": synthesize,
    "mix": mix,
    "train-segmenter": train_segmenter,
    "evaluate": evaluate,
    "plot-segmenter": plot_segmenter,
    "search": search,
    "register": register,
    "promote": promote,
    "rollback": rollback,
    "registry": registry,
    "trust": trust,
    "export-bundle": export_bundle,
    "reader-study": {"make": reader_study_make, "score": reader_study_score},
}


def command_of(argv: list[str]) -> tuple[str, Callable[..., Any], list[str]] | None:
    """``(name, function, its arguments)`` of a command line, a group's sub-command included
    (``reader-study make``); None when it names no command."""
    command = COMMANDS.get(argv[0]) if argv else None
    if isinstance(command, dict):
        if len(argv) > 1 and argv[1] in HELP:  # fire prints the group's help
            return None
        if len(argv) < 2 or argv[1] not in command:
            given = f"unknown command {argv[1]!r}" if len(argv) > 1 else "a command is needed"
            raise UsageError(f"synthtrust {argv[0]}: {given}; its commands: {', '.join(command)}")
        return f"{argv[0]} {argv[1]}", command[argv[1]], argv[2:]
    return None if command is None else (argv[0], command, argv[1:])


def _check(argv: list[str]) -> None:
    """Refuse an unknown flag, a surplus argument or (on call) a mistyped value before anything runs."""
    found = command_of(argv)
    if found is not None:
        check_argv(*found)


def _typed(commands: dict[str, Any]) -> dict[str, Any]:
    return {name: _typed(c) if isinstance(c, dict) else typed(c) for name, c in commands.items()}


def _refused_by_mlflow(exc: BaseException) -> str | None:
    if "mlflow" not in sys.modules:  # nothing talked to a server
        return None
    from synthtrust.tracking import access_refused

    return access_refused(exc)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``synthtrust`` script."""
    logging.basicConfig(
        level=os.environ.get("SYNTHTRUST_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    secrets.install()
    lifecycle.handle_sigterm()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _check(argv)
        lifecycle.stop_with_dvc()
        fire.Fire(_typed(COMMANDS), command=argv, name="synthtrust")
    except UsageError as exc:
        logger.error("%s", exc)
        sys.exit(2)
    except SynthtrustError as exc:
        logger.error("%s", exc)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        logger.error("interrupted (%s): partial outputs removed, nothing half-written", exc or "Ctrl-C")
        sys.exit(130)
    except Exception as exc:  # an MLflow server's 401/403 is the user's to fix; anything else is a bug
        refused = _refused_by_mlflow(exc)
        if refused is None:
            raise
        logger.error("%s", refused)
        sys.exit(1)
    except OSError as exc:  # a file the command was pointed at: unreadable, unwritable, a directory, disk full
        if os.environ.get("SYNTHTRUST_DEBUG"):
            raise
        where = ": ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        logger.error("%s%s", f"{where}: " if where else "", exc.strerror or exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
