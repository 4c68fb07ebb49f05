"""Registering for real: the search's best checkpoint becomes brats-swinunetr@challenger, and the pyfunc
loaded from ``models:/brats-swinunetr@challenger`` predicts what the bundle's own inference writes."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from synthtrust.data.brats import MODALITIES
from synthtrust.data.datalist import manifest_datalist
from synthtrust.errors import DataError
from synthtrust.stages.register import run as register_stage
from tests.conftest import DEMO, TINY_SEGMENTER, bundle_label_map

pytestmark = pytest.mark.slow
SEG = TINY_SEGMENTER
PARAMS = DEMO.registry


def register(params, segmenter, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    """The register stage on phantom data."""
    return register_stage(params, segmenter, DEMO.intervals, "phantom", *args, **kwargs)


def test_registration_tags_card_alias_and_idempotence(registered: dict, mlflow_store: str) -> None:
    client = mlflow.MlflowClient(mlflow_store)
    version = client.get_model_version_by_alias(PARAMS.model_name, "challenger")
    assert str(version.version) == str(registered["version"]) == "1"
    tags = version.tags
    for key in ("alpha", "mix_mode", "optuna_study", "optuna_trial", "git_commit", "checkpoint_sha256",
                "val_dice_TC", "val_dice_WT", "val_dice_ET", "test_dice_TC", "test_dice_WT", "test_dice_ET"):
        assert key in tags, key
    assert float(tags["test_dice_WT"]) == pytest.approx(registered["test_dice"]["WT"])
    assert "real-test Dice" in version.description and "Intended use" in version.description
    assert Path("reports/registry/model_card.md").read_text() == version.description
    assert json.loads(Path("metrics/register.json").read_text()) == registered
    again = register(PARAMS, SEG)  # same checkpoint: the same version, no duplicate
    assert again["version"] == 1 and len(client.search_model_versions(f"name = '{PARAMS.model_name}'")) == 1


def test_the_pyfunc_predicts_what_the_bundle_writes(registered: dict, tmp_path: Path) -> None:
    case = manifest_datalist("data/prepared/manifest.json", "test")[0]
    expected = bundle_label_map(case["image"], Path("models/segmenter/alpha_0.0"), tmp_path / "bundle_out")

    model = mlflow.pyfunc.load_model(f"models:/{PARAMS.model_name}@challenger")
    paths = dict(zip(MODALITIES, case["image"], strict=True))
    label = model.predict(paths)
    assert label.dtype == np.uint8 and set(np.unique(label)) <= {0, 1, 2, 4}
    np.testing.assert_array_equal(label, expected)
    np.testing.assert_array_equal(model.predict(pd.DataFrame([paths])), expected)
    assert nib.aff2axcodes(nib.load(case["image"][0]).affine) == ("R", "A", "S")  # so an array is in RAS too
    array = np.stack([np.asarray(nib.load(p).dataobj, dtype=np.float32) for p in case["image"]])
    np.testing.assert_array_equal(model.predict(array), expected)
    with pytest.raises(DataError, match=r"missing modalities \['flair'\]"):
        model.predict({m: p for m, p in paths.items() if m != "flair"})
    with pytest.raises(DataError, match="expected an array of shape"):
        model.predict(array[:3])
