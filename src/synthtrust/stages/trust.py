"""Stage ``trust``: T1 to T6 for the synthetic dataset, for every alpha model and for the registered
challenger; the parity section; writes the scorecard the promotion gate reads, and the report.

- T1 fidelity: every synthetic copy (training and test) against its real case.
- T2 utility parity and T3 regional robustness: each alpha model of the grid, and the challenger, whose
  figures decide the verdict (T2 is "not applicable" to a model trained on no synthetic case).
- T4 diversity: the synthetic training set against the real training set.
- T5 privacy: copies of training cases against copies of held-out (test) cases, by distance to their source.
- T6 reader discrimination: the blinded reading's pooled accuracy (``metrics/reader_study.json``, stage
  ``score_readers``); not applicable until readers have answered.
- Parity: real vs synthetic test Dice of every alpha model, per region and size stratum (``trust.parity``).
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from synthtrust import tracking
from synthtrust.data.brats import REGION_NAMES
from synthtrust.data.datalist import read_manifest
from synthtrust.data.validation import read_case_dir
from synthtrust.errors import DataError
from synthtrust.io import atomic_write_json
from synthtrust.mixing import synthetic_count
from synthtrust.params import IntervalParams, MixParams, SegmenterParams, TrustParams
from synthtrust.plots import FIGURE_PAIRS
from synthtrust.trust.factors import (
    diversity,
    fidelity,
    privacy,
    reader_discrimination,
    regional_robustness,
    utility_parity,
)
from synthtrust.trust.features import EncoderFeatures, feature_distances
from synthtrust.trust.parity import parity

logger = logging.getLogger(__name__)
EXPERIMENT = "synthtrust-trust"
FACTORS = ("T1_fidelity", "T2_utility_parity", "T3_regional_robustness", "T4_diversity", "T5_privacy",
           "T6_reader_discrimination")


def _read_json(path: Path, hint: str) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: missing (run: {hint})")
    return json.loads(path.read_text())


def read_per_case(path: Path, test_set: str = "real") -> list[dict[str, Any]]:
    """Rows (``case_id``, ``region``, ``dice``, ``hd95``, ``volume_ml``) of an evaluation's per-case CSV for one
    test set, each case's figures averaged over the seeds (replicates) that scored it."""
    if not path.is_file():
        raise DataError(f"{path}: per-case evaluation missing (run: dvc repro evaluate register)")
    with path.open() as fh:
        rows = [row for row in csv.DictReader(fh) if row["test_set"] == test_set]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["case_id"], row["region"]), []).append(row)
    return [{"case_id": case_id, "region": region, "volume_ml": float(group[0]["volume_ml"]),
             "dice": float(np.mean([float(r["dice"]) for r in group])),
             "hd95": float(np.mean([float(r["hd95"]) for r in group])), "seeds": len(group)}
            for (case_id, region), group in grouped.items()]


def read_lesions(path: Path, seed: int, test_set: str = "real") -> list[dict[str, Any]]:
    """Rows of an evaluation's ``lesions.csv`` (one per reference lesion) of one test set and one seed's model."""
    if not path.is_file():
        raise DataError(f"{path}: per-lesion evaluation missing (run: dvc repro evaluate register)")
    with path.open() as fh:
        return [row for row in csv.DictReader(fh) if row["test_set"] == test_set and int(row["seed"]) == seed]


def read_reader_scores(path: Path) -> dict[str, Any] | None:
    """The reader study's scores (stage ``score_readers``), or None where no study was scored."""
    return json.loads(path.read_text()) if path.is_file() else None


def _cases(root: Path, ids: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    missing = [cid for cid in ids if not (root / cid).is_dir()]
    if missing:
        raise DataError(f"{root}: cases {missing} missing (run: dvc repro synthesize)")
    return {cid: read_case_dir(root / cid) for cid in ids}


def assess(params: TrustParams, intervals: IntervalParams, mix: MixParams, segmenter: SegmenterParams,
           manifest: str | Path = "data/prepared/manifest.json",
           synthetic: str | Path = "data/synthetic", evaluations: str | Path = "reports/segmenter",
           register: str | Path = "metrics/register.json",
           challenger_cases: str | Path = "reports/registry/per_case.csv",
           scorecard: str | Path = "reports/trust/scorecard.json",
           feature_model: str | Path = "models/segmenter/alpha_0.0/model.pt",
           reader_scores: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compute the factors and the parity section and write the scorecard; returns it. ``reader_scores`` are
    the reader study's (stage ``score_readers``; None: T6 not applicable)."""
    alphas = list(mix.alphas)
    if 0.0 not in alphas:
        raise DataError("mix.alphas: the trust factors compare against the real-only model, add alpha 0.0")
    manifest = Path(manifest)
    info = read_manifest(manifest)
    prepared, synthetic = manifest.parent, Path(synthetic)
    split = info["splits"]
    real_train = _cases(prepared / "train", split["train"])
    real_test = _cases(prepared / "test", split["test"])
    synth = {**{f"train/{c}": v for c, v in _cases(synthetic / "train", split["train"]).items()},
             **{f"test/{c}": v for c, v in _cases(synthetic / "test", split["test"]).items()}}
    real_of = {**{f"train/{c}": v for c, v in real_train.items()}, **{f"test/{c}": v for c, v in real_test.items()}}
    logger.info("trust: %d real training, %d real test, %d synthetic cases", len(real_train), len(real_test),
                len(synth))

    rows = {a: (read_per_case(Path(evaluations) / f"alpha_{a}" / "per_case.csv", "real"),
                read_per_case(Path(evaluations) / f"alpha_{a}" / "per_case.csv", "synthetic")) for a in alphas}
    baseline = rows[0.0][0]
    volumes = {r: [c["volumes_ml"][r] for c in info["cases"].values()] for r in REGION_NAMES}
    n_train = len(split["train"])
    per_alpha = {str(a): {"T2_utility_parity": utility_parity(
                              baseline, real, params, intervals, alpha=a,
                              n_synthetic=synthetic_count(a, mix.mode, n_train), synthetic=synth_rows),
                          "T3_regional_robustness": regional_robustness(
                              read_lesions(Path(evaluations) / f"alpha_{a}" / "lesions.csv", segmenter.seeds[0]),
                              params, intervals)}
                 for a, (real, synth_rows) in rows.items()}
    challenger = _read_json(Path(register), "dvc repro register")
    candidate = read_per_case(Path(challenger_cases))
    features = feature_distances([real_of[k][0] for k in synth], [image for image, _ in synth.values()],
                                 EncoderFeatures(segmenter, feature_model))
    factors = {
        "T1_fidelity": fidelity([(real_of[k][0], image, real_of[k][1]) for k, (image, _) in synth.items()], params,
                                intervals, features),
        "T2_utility_parity": utility_parity(
            baseline, candidate, params, intervals, alpha=challenger["alpha"],
            n_synthetic=synthetic_count(challenger["alpha"], challenger["mode"], n_train)),
        "T3_regional_robustness": regional_robustness(
            read_lesions(Path(challenger_cases).with_name("lesions.csv"), segmenter.seeds[0]), params, intervals),
        "T4_diversity": diversity([synth[f"train/{c}"][0] for c in split["train"]],
                                  [image for image, _ in real_train.values()], params),
        "T5_privacy": privacy({k: image for k, (image, _) in synth.items()},
                              {k: image for k, (image, _) in real_of.items()},
                              [f"train/{c}" for c in split["train"]], params, intervals),
        "T6_reader_discrimination": reader_discrimination(reader_scores, params),
    }
    card = {
        # no factor failed; "not applicable" ones are listed for the gate, whose rule for them is a param
        "passed": all(f["status"] != "fail" for f in factors.values()),
        "not_applicable": [k for k, f in factors.items() if f["status"] == "not applicable"],
        "model": {"name": challenger["model_name"], "version": challenger["version"],
                  "alpha": challenger["alpha"], "mode": challenger["mode"],
                  # what binds this scorecard to one version in one store (the promotion gate checks all)
                  "run_id": challenger.get("run_id"), "checkpoint_sha256": challenger.get("checkpoint_sha256"),
                  "store": challenger.get("store")},
        "cases": {"train": n_train, "test": len(split["test"]), "synthetic": len(synth)},
        "factors": factors,
        "per_alpha": per_alpha,
        "parity": parity(rows, volumes, params, intervals),
        "params": params.model_dump(),
        "intervals": intervals.model_dump(),
    }
    atomic_write_json(scorecard, card)
    logger.info("trust scorecard for %s v%s: %s (%s); parity claim: %s", card["model"]["name"],
                card["model"]["version"], "PASS" if card["passed"] else "FAIL",
                ", ".join(f"{k} {f['status']} {f['score']}" for k, f in factors.items()),
                card["parity"]["claim"]["verdict"])
    return card


def log_to_mlflow(card: dict[str, Any], artifacts: list[Path]) -> None:
    """One MLflow run of the trust stage: each factor's score and pass, the scorecard and the report."""
    with tracking.stage_run("trust", EXPERIMENT, params={"trust": card["params"]},
                            tags={"passed": str(card["passed"]),
                                  "model": f"{card['model']['name']}/{card['model']['version']}"}):
        judged = {k: f for k, f in card["factors"].items() if f["status"] != "not applicable"}
        mlflow.log_metrics({f"{k}_score": f["score"] for k, f in judged.items()})
        mlflow.log_metrics({f"{k}_passed": float(f["passed"]) for k, f in judged.items()})
        mlflow.set_tags({f"{k}.status": f["status"] for k, f in card["factors"].items()})
        mlflow.set_tag("parity_claim", card["parity"]["claim"]["verdict"])
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="trust")


def run(params: TrustParams, intervals: IntervalParams, mix: MixParams, segmenter: SegmenterParams,
        data: dict[str, Any],
              out: str | Path = "reports/trust",
              metrics: str | Path = "metrics/trust.json", manifest: str | Path = "data/prepared/manifest.json",
              synthetic: str | Path = "data/synthetic", readers: str | Path = "metrics/reader_study.json"
        ) -> dict[str, Any]:
    """The stage: scorecard, figures, the HTML report, a small metrics file and the MLflow run."""
    from synthtrust.trust.figures import diversity_bars, privacy_distances, stratified_dice
    from synthtrust.trust.report import write_report

    out = Path(out)
    reader_scores = read_reader_scores(Path(readers))
    card = assess(params, intervals, mix, segmenter, manifest, synthetic, scorecard=out / "scorecard.json",
                  reader_scores=reader_scores)
    figures = {
        "dice_vs_alpha": Path("reports/segmenter/dice_vs_alpha.png"),
        "real_vs_synthetic": Path("reports/generator/real_vs_synthetic.png"),
        "stratified": stratified_dice(card, out / "stratified_dice.png"),
        "privacy": privacy_distances(card["factors"]["T5_privacy"], out / "privacy.png"),
        "diversity": diversity_bars(card["factors"]["T4_diversity"], out / "diversity.png"),
    }
    for name, path in figures.items():
        if not path.is_file():
            raise DataError(f"{path}: figure missing for the report ({name}; run: dvc repro)")
    info = read_manifest(manifest)
    first = next(iter(sorted((Path(synthetic) / "train").glob("*/*_provenance.json"))), None)
    provenance = json.loads(first.read_text()) if first else {}
    card_text = Path("reports/registry/model_card.md")
    prepared = Path(manifest).parent
    pairs = [(prepared / "test" / c, Path(synthetic) / "test" / c) for c in info["splits"]["test"][:FIGURE_PAIRS]]
    report = write_report(card, figures, provenance, data, {s: len(info["splits"][s]) for s in ("train", "test")},
                          card_text.read_text() if card_text.is_file() else "(no registered model card)",
                          out / "index.html", pairs, reader_scores)
    factors = {k: {"score": f["score"], "passed": f["passed"], "status": f["status"]}
               for k, f in card["factors"].items()}
    atomic_write_json(metrics, {"passed": card["passed"], "model_version": card["model"]["version"], **factors,
                                "parity_claim": card["parity"]["claim"]["verdict"]})
    log_to_mlflow(card, [out / "scorecard.json", report, *(figures[k] for k in ("stratified", "privacy", "diversity"))])
    return card
