"""Stage ``export``: a segmenter checkpoint, or a registered model, as a deployable MONAI bundle.

The bundle it writes is the segmenter bundle itself (it runs with MONAI alone, which is what a MONAI Deploy
package needs), with the trained model in it::

    OUT/configs/*.yaml, OUT/scripts/, OUT/docs/README.md, OUT/LICENSE    the bundle as it is
    OUT/configs/metadata.json    the bundle's metadata, plus the model's provenance ("synthtrust")
    OUT/configs/inference.json   inference.yaml with the network params of the checkpoint set (in its place:
                                 train.yaml and evaluate.yaml layer over it)
    OUT/models/model.pt          the checkpoint
    OUT/models/model.ts          TorchScript from ``monai.bundle ckpt_export`` (traced: SwinUNETR cannot be
                                 scripted), with metadata.json and inference.json embedded
    OUT/docs/model_card.md       a registered model's description

The traced network is checked against the checkpoint's eager network before the bundle is moved into place.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser, ckpt_export

from synthtrust import tracking
from synthtrust.bundles import SEGMENTER, bundle_dir
from synthtrust.errors import DataError, ParamsError
from synthtrust.io import atomic_dir, atomic_write_json, claim_output, sha256_file
from synthtrust.params import SegmenterParams
from synthtrust.registry import integrity
from synthtrust.segmenter.checkpoint import load_network_state

logger = logging.getLogger(__name__)

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")  # given one, only a registered version is accepted
TRACE_TOLERANCE = 1e-4


def _from_mlflow(uri: str, staging: Path) -> dict[str, Any]:
    """Checkpoint, bundle copy, network params and provenance of the registered version at ``uri``, verified
    against the digests recorded at registration before anything in it is parsed."""
    import mlflow

    client = mlflow.MlflowClient(tracking.tracking_uri())
    version = integrity.resolve(client, uri)
    model = integrity.fetch(client, version, staging)
    source = {"uri": uri, "registered_model": version.name, "version": int(version.version),
              "aliases": list(version.aliases), "run_id": version.run_id,
              "tags": dict(version.tags)}
    return {"checkpoint": model.checkpoint, "bundle": model.bundle, "network": model.network, "source": source,
            "model_card": version.description}


def _from_checkpoint(path: str, params: SegmenterParams) -> dict[str, Any]:
    """A checkpoint file with the network params of ``params`` (the ones it was trained with)."""
    checkpoint = Path(path)
    if not checkpoint.is_file():
        raise DataError(f"{checkpoint}: no such checkpoint (or give a models:/ URI)")
    if params is None:
        raise ParamsError(f"{checkpoint}: a checkpoint needs the segmenter params it was trained with")
    network = params.network_overrides()
    return {"checkpoint": checkpoint, "bundle": bundle_dir(SEGMENTER), "network": network,
            "source": {"checkpoint": str(checkpoint), "network": network}, "model_card": None}


def deploy_config(bundle: Path, network: dict[str, Any]) -> dict[str, Any]:
    """The bundle's inference config with the checkpoint's ``network`` values set and no default datalist
    (the bundle's points at a prepared dataset; deployed, it is a command-line override:
    ``--datalist "[{'image': [t1, t1ce, t2, flair]}]"``)."""
    config = ConfigParser.load_config_file(str(bundle / "configs" / "inference.yaml"))
    unknown = set(network) - set(config)
    if unknown:
        raise ParamsError(f"network params {sorted(unknown)} are not ids of {bundle}/configs/inference.yaml")
    config.update(network)
    config["datalist"] = []
    leftover = sorted(set(re.findall(r"synthtrust[\w.]*", json.dumps(config))))
    if leftover:
        raise ParamsError(f"{bundle}/configs/inference.yaml: the deployable bundle would need {leftover}")
    return config


def check_state(config: dict[str, Any], state: dict[str, Any], checkpoint: Path) -> None:
    """Refuse a checkpoint that is not of the segmenter network ``config`` describes (e.g. the generator's)."""
    parser = ConfigParser(config)
    network = parser.get_parsed_content("network_def")
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = " ".join(str(exc).split())[:200]
        raise DataError(f"{checkpoint}: not a checkpoint of this segmenter network (SwinUNETR with the params "
                        f"given): {first}") from None


def check_trace(root: Path, state: dict[str, Any]) -> float:
    """Max |traced - eager| (the eager network holding ``state``) on a seeded input of the sliding-window
    size; raises above TRACE_TOLERANCE."""
    parser = ConfigParser()
    parser.read_config(str(root / "configs" / "inference.json"))
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(state)
    network.eval()
    traced = torch.jit.load(str(root / "models" / "model.ts"), map_location="cpu")
    x = torch.randn(1, 4, *parser["roi_size"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = float((traced(x) - network(x)).abs().max())
    if not diff <= TRACE_TOLERANCE:
        raise DataError(f"{root}/models/model.ts: traced output differs from the checkpoint by {diff:.2e}")
    return diff


def run(model: str, out: str | Path, params: SegmenterParams | None = None) -> dict[str, Any]:
    """Write the deployable bundle of ``model`` (``models:/...`` URI, or a checkpoint path whose network is
    the one ``params`` describe) to ``out``."""
    claim_output(out, "configs/inference.json", "export-bundle")
    with tempfile.TemporaryDirectory() as staging:
        found = _from_mlflow(model, Path(staging)) if model.startswith(MLFLOW_SCHEMES) \
            else _from_checkpoint(model, params)  # type: ignore[arg-type]
        bundle, checkpoint = Path(found["bundle"]), Path(found["checkpoint"])
        config = deploy_config(bundle, found["network"])
        try:
            state, key = load_network_state(checkpoint)
        except Exception as exc:
            raise DataError(f"{checkpoint}: not a readable PyTorch checkpoint ({exc})") from exc
        check_state(config, state, checkpoint)
        with atomic_dir(out) as root:
            shutil.copytree(bundle, root, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("models", "eval", "__pycache__", "inference.yaml"))
            (root / "models").mkdir()
            shutil.copy2(checkpoint, root / "models" / "model.pt")
            if found["model_card"]:
                (root / "docs" / "model_card.md").write_text(found["model_card"])
            metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
            metadata["synthtrust"] = {**found["source"], "checkpoint_sha256": sha256_file(checkpoint)}
            atomic_write_json(root / "configs" / "metadata.json", metadata)
            atomic_write_json(root / "configs" / "inference.json", config)
            logger.info("export: tracing the network of %s with monai.bundle ckpt_export", model)
            # The tracer warns that SwinUNETR's shape checks (pad or not) become constants. They are constant
            # here: the sliding-window inferer only ever feeds windows of roi_size, the traced input's shape.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                ckpt_export(net_id="network_def", filepath=str(root / "models" / "model.ts"),
                            ckpt_file=str(root / "models" / "model.pt"), key_in_ckpt=key,
                            meta_file=str(root / "configs" / "metadata.json"),
                            config_file=str(root / "configs" / "inference.json"), use_trace=True,
                            input_shape=[1, 4, *config["roi_size"]], bundle_root=str(root))
            diff = check_trace(root, state)
    logger.info("export: %s written; traced vs checkpoint max |diff| %.2e", out, diff)
    return {"out": str(out), "model": model, "max_abs_diff": diff, **found["source"]}
