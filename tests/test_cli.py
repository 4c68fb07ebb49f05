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


def _script(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 120
            ) -> subprocess.CompletedProcess:
    """``synthtrust ARGS`` in ``cwd``, in this environment less any MLflow store other tests selected."""
    script = Path(sys.executable).with_name("synthtrust")
    base = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**base, **(env or {})})


@pytest.mark.parametrize(("args", "says"), [
    (["train-generator", "--parms", "tiny.yaml"], "unknown flag --parms (did you mean --params?)"),
    (["train-generator", "--params=params.yaml", "--params", "x"], "--params given twice"),
    (["make-phantoms", "params.yaml", "data/raw/x", "surplus"], "unexpected argument surplus"),
    (["promote", "--version", "abc"], "--version: Input should be a valid integer"),
    (["mix", "half"], "--alpha: Input should be a valid number"),
    (["train-segmenter", "0.0", "--max-steps", "3"], "unknown flag --max-steps"),
])
def test_a_mistyped_command_line_stops_before_any_work(tmp_path: Path, args: list[str], says: str) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "models" / "generator").mkdir(parents=True)
    (tmp_path / "models" / "generator" / "model.pt").write_text("the user's model")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = _script(*args, cwd=tmp_path)
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_folder_that_is_not_the_commands_output_is_never_replaced(prepared_dir: Path, tmp_path: Path) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    from concurrent.futures import ThreadPoolExecutor

    cases = ((["train-generator", "--manifest", str(prepared_dir / "manifest.json")], "fingerprint.json"),
             (["make-phantoms"], "phantoms.json"), (["prepare"], "manifest.json"),
             (["export-bundle", "--model", str(tmp_path / "x.pt")], "configs/inference.json"))
    with ThreadPoolExecutor(2) as pool:  # each command is seconds of imports: two at a time
        results = list(pool.map(lambda case: _script(*case[0], "--out", str(mine), cwd=tmp_path), cases))
        mixed = pool.submit(_script, "mix", "0.5", "--out", str(mine), cwd=tmp_path).result()
    for (args, marker), result in zip(cases, results, strict=True):
        assert result.returncode == 1, result.stderr
        assert f"{mine}: not empty and not an output of {args[0]} (no {marker})" in result.stderr
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    assert mixed.returncode == 1 and "Traceback" not in mixed.stderr


def test_credentials_in_the_tracking_uri_are_never_printed(tmp_path: Path) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    uri = "http://alice:s3cret-pw@127.0.0.1:9/"  # nothing listens on port 9: every call fails
    result = _script("promote", cwd=tmp_path, timeout=300,
                     env={"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                          "MLFLOW_HTTP_REQUEST_TIMEOUT": "2", "MLFLOW_TRACKING_PASSWORD": "other-secret"})
    assert result.returncode == 1 and "http://***@127.0.0.1:9/: the registry cannot be read" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout and "other-secret" not in result.stderr + result.stdout


def test_sigterm_stops_a_command_like_ctrl_c(tmp_path: Path) -> None:
    import signal
    import time

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    script = Path(sys.executable).with_name("synthtrust")
    proc = subprocess.Popen([str(script), "make-phantoms", "--out", "data/raw/phantom"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "data" / "raw").glob(".phantom.*.partial")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted (signal SIGTERM)" in err and "Traceback" not in err, err
    assert list((tmp_path / "data" / "raw").iterdir()) == []  # the partial output went with it
