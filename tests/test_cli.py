"""The command line: clear messages, exit codes, and no output left behind on failure."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthtrust.cli import main
from tests.conftest import REPO


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_validate_data_reports_every_case(phantom_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert _exit_code(["validate-data", str(phantom_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count("OK    BraTS2021_") == 8 and "8 of 8 cases valid, 0 failed" in out


def test_validate_data_fails_on_a_broken_case(tmp_path: Path, write_case, capsys, caplog) -> None:
    write_case(tmp_path, "BraTS2021_00001")
    (write_case(tmp_path, "BraTS2021_00002") / "BraTS2021_00002_t1.nii.gz").unlink()
    with caplog.at_level(logging.ERROR):
        assert _exit_code(["validate-data", str(tmp_path), "--quiet"]) == 1
    assert "BraTS2021_00002_t1.nii.gz: missing file" in capsys.readouterr().out
    assert f"{tmp_path}: 1 of 2 cases failed validation" in caplog.text


def test_make_phantoms_bad_params_write_nothing(tmp_path: Path, caplog) -> None:
    out = tmp_path / "phantoms"
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["phantom"]["n"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert _exit_code(["make-phantoms", "--params", str(tmp_path / "params.yaml"), "--out", str(out)]) == 1
    assert "params.yaml: data.phantom.n: Input should be greater than or equal to 1 (got 0)" in caplog.text
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["params.yaml"]


def test_prepare_with_bad_params(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["source"] = "dicom"
    Path("params.yaml").write_text(yaml.safe_dump(params))
    assert _exit_code(["prepare"]) == 1
    assert "params.yaml: data.source: Input should be 'phantom' or 'brats' (got 'dicom')" in caplog.text
    assert not Path("data").exists() and not Path("metrics").exists()


def test_unknown_command_is_a_usage_error(capsys) -> None:
    assert _exit_code(["frobnicate"]) == 2


def test_console_script_exit_code_and_message(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("synthtrust")
    result = subprocess.run(
        [str(script), "validate-data", str(tmp_path / "missing")],
        capture_output=True, text=True, env={**os.environ, "SYNTHTRUST_LOG_LEVEL": "INFO"},
    )
    assert result.returncode == 1
    assert f"{tmp_path / 'missing'}: data directory does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_synthesize_without_a_checkpoint_writes_nothing(prepared_dir: Path, tmp_path: Path, caplog,
                                                        monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "params.yaml", "params.yaml")
    code = _exit_code(["synthesize", "--checkpoint", "models/none.pt",
                       "--manifest", str(prepared_dir / "manifest.json"), "--out", "data/synthetic"])
    assert code == 1
    assert "models/none.pt: generator checkpoint not found (run: dvc repro train_generator)" in caplog.text
    assert not Path("data").exists() and not Path("metrics").exists()


@pytest.mark.parametrize("alpha", ["1.5", "-0.2"])
def test_mix_rejects_alpha_outside_the_unit_interval(alpha: str, tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "params.yaml", "params.yaml")
    assert _exit_code(["mix", "--alpha", alpha, "--out", "mix.json"]) == 1
    assert f"alpha must be a number in [0, 1], got {float(alpha)}" in caplog.text
    assert not Path("mix.json").exists()
