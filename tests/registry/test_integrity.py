"""Nothing loaded runs code it should not: each attack of issue 14 reproduced on real stored models, and
refused before the attacker's code runs."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch

from synthtrust.registry.integrity import IntegrityError
from synthtrust.registry.promotion import promote
from synthtrust.stages import export
from tests.conftest import REPO
from tests.registry.conftest import NAME, PARAMS, write_scorecard


def _payload(marker: Path) -> str:
    return f"$__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"


def test_a_config_edited_in_the_artifact_store_is_refused_everywhere(three: mlflow.MlflowClient, tmp_path: Path
                                                                     ) -> None:
    marker = tmp_path / "PWNED"
    for path in Path("mlruns").glob("**/artifacts/bundle/configs/inference.yaml"):
        path.write_text(path.read_text() + f"\nattack: \"{_payload(marker)}\"\n")
    write_scorecard(three.get_model_version(NAME, "3"))
    with pytest.raises(IntegrityError, match="bundle artifact .* not the .* recorded at registration"):
        export.run(f"models:/{NAME}@challenger", tmp_path / "deployed")
    with pytest.raises(IntegrityError, match="MLflow model: its bundle artifact"):
        mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")
    with pytest.raises(IntegrityError, match="bundle artifact"):
        promote(PARAMS)
    assert not marker.exists() and not (tmp_path / "deployed").exists()


def test_a_swapped_checkpoint_is_refused(three: mlflow.MlflowClient, tmp_path: Path) -> None:
    for path in Path("mlruns").glob("**/artifacts/model.pt"):
        state = torch.load(path, weights_only=True)
        torch.save(state, path, _use_new_zipfile_serialization=False)  # same weights, other bytes
    with pytest.raises(IntegrityError, match="checkpoint artifact"):
        export.run(f"models:/{NAME}/1", tmp_path / "deployed")


def test_only_registered_versions_are_exported_from_mlflow(three: mlflow.MlflowClient, tmp_path: Path) -> None:
    run_id = three.get_model_version(NAME, "1").run_id
    with pytest.raises(IntegrityError, match="only a registered version can be verified"):
        export.run(f"runs:/{run_id}/brats-swinunetr", tmp_path / "deployed")
    with pytest.raises(IntegrityError, match="not in the registry"):
        export.run(f"models:/{NAME}/99", tmp_path / "deployed")


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_never_runs_on_resume(prepared_dir: Path, tmp_path: Path, mlflow_store: str) -> None:
    from synthtrust.data.datalist import read_manifest
    from synthtrust.stages.train_generator import FINGERPRINT, fingerprint, resumable_checkpoint
    from tests.conftest import demo

    params = demo("generator")
    out = tmp_path / "gen"
    out.mkdir()
    (out / FINGERPRINT).write_text(__import__("json").dumps(fingerprint(params, read_manifest(prepared_dir /
                                                                                               "manifest.json"))))
    marker = tmp_path / "PWNED"
    with open(out / "checkpoint_epoch=99.pt", "wb") as fh:
        pickle.dump({"trainer": _Exploit(marker)}, fh)
    assert resumable_checkpoint(out, fingerprint(params, read_manifest(prepared_dir / "manifest.json"))) is None
    assert not marker.exists()


def test_bundle_configs_never_come_from_the_working_directory(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    crafted = tmp_path / "bundles" / "brats_ddpm_generator" / "configs"
    crafted.mkdir(parents=True)
    (crafted / "common.yaml").write_text(f"network: \"{_payload(marker)}\"\n")
    (crafted.parent / "scripts").mkdir()
    (crafted.parent / "scripts" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    code = ("from synthtrust import bundles; from synthtrust.params import load; "
            f"p = load({str(REPO / 'params.yaml')!r}).generator; "
            "bundles.parse(bundles.GENERATOR, ['common', 'inference'], p.sample_overrides()).get_parsed_content("
            "'network'); print(bundles.bundle_dir(bundles.GENERATOR))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(REPO / "bundles" / "brats_ddpm_generator") and not marker.exists()
