"""Stage ``register``: the search's best model becomes a version of ``brats-swinunetr`` with alias
``challenger``, tags for its provenance and figures, and a model card as its description.

Its real-test Dice is measured here, after selection, and recorded for the promotion gate; selection
itself used the validation split only. Registering is idempotent: a checkpoint already registered (same
sha256) gets the alias again instead of a duplicate version, so re-running the stage is harmless.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion

from synthtrust import bundles, tracking
from synthtrust.data.brats import REGION_NAMES
from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError
from synthtrust.io import atomic_write_json, atomic_write_text, sha256_file
from synthtrust.mixing import synthetic_count
from synthtrust.params import IntervalParams, RegistryParams, SegmenterParams
from synthtrust.registry import CHALLENGER, integrity
from synthtrust.registry.model import SegmenterModel, model_artifacts
from synthtrust.search import EXPERIMENT
from synthtrust.segmenter.scoring import lesions_csv, per_case_csv, score, summarise

logger = logging.getLogger(__name__)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("torch", "monai", "nibabel", "numpy", "pyyaml", "einops")]


def model_card(info: dict[str, Any]) -> str:
    """The registered version's description: what it is, what it was trained and judged on, its limits."""
    val, test = info["val_dice"], info["test_dice"]
    rows = "\n".join(f"| {r} | {val[r]:.3f} | {test[r]:.3f} |" for r in REGION_NAMES)
    return f"""# {info['model_name']}: SwinUNETR for BraTS brain-tumour segmentation

**Input** four co-registered MR modalities (t1, t1ce, t2, flair), skull-stripped, any grid; z-scored inside
the brain by the model. **Output** a BraTS label map: 1 necrotic core, 2 oedema, 4 enhancing tumour.

**Training data** `{info['data_source']}` cases (data.source), real:synthetic mix with synthetic fraction
alpha = {info['alpha']:.3f} (mix mode `{info['mode']}`); synthetic cases from the label-conditioned 3D DDPM
bundle `brats_ddpm_generator`. Selected by Optuna study `{info['study']}` (trial {info['trial']}) on the real
validation split; the real test split was used only after selection, for the figures below.

| region | validation Dice | real-test Dice |
| --- | --- | --- |
{rows}

**Provenance** git commit `{info['git_commit']}`; checkpoint sha256 `{info['checkpoint_sha256'][:16]}`;
DVC: {', '.join(f'`{k}` {v[:12]}' for k, v in info['dvc'].items()) or 'not tracked'}.

**Intended use** research on how far synthetic MRI can stand in for real training data; not a medical
device, not for clinical decisions. **Known limits** trained on {info['n_train']} cases; the demo profile
trains on phantoms for minutes on a CPU, so its figures show the pipeline working, not clinical accuracy.
Check the trust scorecard (reports/trust) before promoting.
"""


def _already_registered(client: mlflow.MlflowClient, name: str, digests: dict[str, str]) -> ModelVersion | None:
    """The version holding exactly these artifacts (checkpoint, bundle copy, network params); a version
    logged with another bundle carries another bundle copy, so it is registered anew."""
    for version in client.search_model_versions(f"name = '{name}'"):
        if all(version.tags.get(key) == value for key, value in digests.items()):
            return version
    return None


def _log_version(client: mlflow.MlflowClient, params: RegistryParams, segmenter: SegmenterParams,
                 best: dict[str, Any], info: dict[str, Any], artifacts: dict[str, str], digests: dict[str, str],
                 evaluation: dict[str, Any], staging: Path, bundle: str) -> ModelVersion:
    """Log the pyfunc model with its evaluation and digests (run params: immutable) and register it."""
    test = evaluation
    evaluation_file = staging / integrity.EVALUATION_PATH
    evaluation_file.parent.mkdir(parents=True)
    evaluation_file.write_bytes(integrity.evaluation_bytes(evaluation))
    recorded = {**digests, integrity.EVALUATION_DIGEST: integrity.evaluation_digest(evaluation)}
    with tracking.stage_run("register", EXPERIMENT,
                            params={"alpha": best["alpha"], "mix.mode": best["mode"],
                                    "segmenter": segmenter.model_dump(), **recorded},
                            tags={"optuna.study": info["study"], "optuna.trial": best["trial"]}):
        mlflow.log_metrics({f"test_dice_{r}": v for r, v in test["dice"].items()})
        mlflow.log_artifact(str(evaluation_file), artifact_path=str(Path(integrity.EVALUATION_PATH).parent))
        logged = mlflow.pyfunc.log_model(
            name="brats-swinunetr", python_model=SegmenterModel(digests), artifacts=artifacts,
            code_paths=[str(Path(__file__).resolve().parents[1])],  # the synthtrust package, for serving
            pip_requirements=_requirements(),
            registered_model_name=params.model_name,
        )
    version = client.get_model_version(params.model_name, str(logged.registered_model_version))
    tags = {"alpha": best["alpha"], "mix_mode": best["mode"], "optuna_study": info["study"],
            "optuna_trial": best["trial"], "git_commit": info["git_commit"], **recorded,
            "source_run_id": best.get("run_id") or "", "python": sys.version.split()[0],
            "bundle_version": bundle, "test_cases": test["n_cases"],
            **{f"val_dice_{r}": best["val_dice"][r] for r in REGION_NAMES},
            **{f"test_dice_{r}": test["dice"][r] for r in REGION_NAMES},
            **{f"dvc.{k}": v for k, v in info["dvc"].items()}}
    for key, value in tags.items():
        client.set_model_version_tag(params.model_name, version.version, key, str(value))
    client.update_model_version(params.model_name, version.version, description=model_card(info))
    logger.info("registered %s version %s (alpha=%.3f)", params.model_name, version.version, best["alpha"])
    return version


def run(params: RegistryParams, segmenter: SegmenterParams, intervals: IntervalParams, data_source: str,
        search: str | Path = "metrics/search.json", manifest: str | Path = "data/prepared/manifest.json",
        card: str | Path = "reports/registry/model_card.md", metrics: str | Path = "metrics/register.json",
        per_case: str | Path = "reports/registry/per_case.csv",
        lesions: str | Path = "reports/registry/lesions.csv") -> dict[str, Any]:
    """Register the search's best model as the challenger; returns what ``metrics/register.json`` holds."""
    search = Path(search)
    if not search.is_file():
        raise DataError(f"{search}: no search result (run: dvc repro search)")
    best = json.loads(search.read_text())["best"]
    checkpoint = tracking.repo_root() / best["model_dir"] / "model.pt"
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint}: the best trial's checkpoint is missing (run: dvc repro search)")
    sha = sha256_file(checkpoint)
    scored = score(segmenter, checkpoint, manifest_datalist(manifest, "test"))
    test = summarise(scored, intervals)
    split = json.loads(Path(manifest).read_text())["splits"]
    n_synthetic = synthetic_count(best["alpha"], best["mode"], len(split["train"]))
    info = {
        "model_name": params.model_name, "alpha": best["alpha"], "mode": best["mode"],
        "val_dice": best["val_dice"], "test_dice": test["dice"], "test_hd95": test["hd95"],
        "study": json.loads(search.read_text())["study"], "trial": best["trial"],
        "git_commit": tracking.git_commit(), "checkpoint_sha256": sha,
        "dvc": tracking.dvc_hashes("data/prepared", "data/synthetic"),
        "data_source": data_source,
        "n_train": len(split["train"]),
    }
    client = mlflow.MlflowClient(tracking.tracking_uri())
    bundle = bundles.version(bundles.SEGMENTER)
    evaluation = {"split": "test", "n_cases": len(scored), "checkpoint_sha256": sha, "dice": test["dice"],
                  "hd95": test["hd95"], "confidence": test["confidence"], "dice_interval": test["dice_interval"]}
    with tempfile.TemporaryDirectory() as staging:
        artifacts = model_artifacts(checkpoint, segmenter.network_overrides(), staging)
        digests = integrity.artifact_digests(artifacts)
        version = _already_registered(client, params.model_name, digests)
        if version is None:
            version = _log_version(client, params, segmenter, best, info, artifacts, digests, evaluation,
                                   Path(staging), bundle)
        else:
            logger.info("checkpoint already registered as %s version %s", params.model_name, version.version)
    client.set_registered_model_alias(params.model_name, CHALLENGER, version.version)
    result = {"model_name": params.model_name, "version": int(version.version), "alias": CHALLENGER,
              "checkpoint_sha256": sha, "run_id": version.run_id, "store": tracking.store_id(),
              "alpha": best["alpha"], "mode": best["mode"], "n_synthetic": n_synthetic, "trial": best["trial"],
              "val_dice": best["val_dice"], "test_dice": test["dice"], "test_hd95": test["hd95"],
              "test_cases": test["cases"], "confidence": test["confidence"], "test_lesion_dice": test["lesion_dice"],
              "test_dice_interval": test["dice_interval"], "test_hd95_interval": test["hd95_interval"]}
    atomic_write_text(card, model_card(info))
    # the challenger's (trained with the first seed, as every search trial is), for the trust stage
    atomic_write_text(per_case, per_case_csv({"real": {segmenter.seeds[0]: scored}}))
    atomic_write_text(lesions, lesions_csv({"real": {segmenter.seeds[0]: scored}}))
    atomic_write_json(metrics, result)
    return result
