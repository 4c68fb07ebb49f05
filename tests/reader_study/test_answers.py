"""`synthtrust reader-study score`: answer files that would make the scores lie are refused in one line each,
nothing written; good ones are scored, written and logged to MLflow."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from synthtrust.cli import main
from tests.conftest import REPO
from tests.reader_study.conftest import write_answers


def score(answers: list[Path], key: Path, out: Path) -> int:
    try:
        main(["reader-study", "score", *map(str, answers), "--key", str(key), "--out", str(out),
              "--params", str(REPO / "params.yaml")])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_answers_are_scored_written_and_logged(study: tuple[Path, Path, dict], tmp_path: Path,
                                               mlflow_store: str, capsys: pytest.CaptureFixture) -> None:
    _, key_path, key = study
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "README.md").write_text("not an answer file")  # a folder's other files are not answers
    write_answers(answers / "a.json", key, "Dr A")
    write_answers(answers / "b.json", key, "Dr B", call=lambda case, truth: "real")
    out = tmp_path / "scores.json"
    assert score([answers], key_path, out) == 0
    scores = json.loads(out.read_text())
    assert scores["readers"]["Dr A"]["accuracy"]["mean"] == 1.0 and scores["readers"]["Dr B"]["accuracy"]["mean"] == 0.5
    assert scores["pooled"]["accuracy"]["mean"] == 0.75 and scores["pooled"]["readers"] == 2
    assert "2 readers, pooled accuracy 0.750" in capsys.readouterr().out
    client = mlflow.MlflowClient(mlflow_store)
    (run,) = client.search_runs([client.get_experiment_by_name("synthtrust-reader-study").experiment_id])
    assert run.data.metrics["pooled_accuracy"] == 0.75 and run.data.metrics["reader.Dr_A.accuracy"] == 1.0
    assert run.data.tags["study"] == key["study"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "reader_study")] == ["reader_study/scores.json"]


def test_no_answers_yet_is_not_an_error(study: tuple[Path, Path, dict], tmp_path: Path) -> None:
    _, key_path, key = study
    (tmp_path / "answers").mkdir()
    assert score([tmp_path / "answers"], key_path, tmp_path / "scores.json") == 0
    assert json.loads((tmp_path / "scores.json").read_text())["status"] == "no answers"


def _tamper_key(key_path: Path) -> None:
    key = json.loads(key_path.read_text())
    case = next(iter(key["cases"]))
    key["cases"][case]["truth"] = "real" if key["cases"][case]["truth"] == "synthetic" else "synthetic"
    key_path.write_text(json.dumps(key))


@pytest.mark.parametrize("problem, says", [
    ("wrong study", "answers for study 'feedfacefeedface', the key is for study"),
    ("missing cases", "reader 'Dr A' left 2 of 6 cases unanswered (case_5, case_6): missing cases"),
    ("unknown case", "answers cases not in the study: case_9"),
    ("duplicate reader", "reader 'dr a' already answered in"),
    ("duplicate file", "the same answers as"),
    ("duplicate key", "case_1 given twice (duplicate)"),
    ("out of range", "case_2 confidence 7, expected 1 to 5"),
    ("unanswered", "case_3 call None, expected one of ['real', 'synthetic'] (unanswered?)"),
    ("not json", "not a reader-study answer file (not JSON"),
    ("not answers", "not a reader-study answer file (format synthtrust-reader-study-answers/1 expected)"),
    ("tampered key", "the key was changed after the study was made"),
    ("no such file", "answer file not found"),
])
def test_bad_answer_files_are_refused_in_one_line(problem: str, says: str, study: tuple[Path, Path, dict],
                                                  tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, key_path, key = study
    first = write_answers(tmp_path / "a.json", key, "Dr A")
    files = [first]
    if problem == "wrong study":
        write_answers(first, key, "Dr A", study="feedfacefeedface")
    elif problem == "missing cases":
        data = json.loads(first.read_text())
        del data["answers"]["case_5"], data["answers"]["case_6"]
        first.write_text(json.dumps(data))
    elif problem == "unknown case":
        data = json.loads(first.read_text())
        data["answers"]["case_9"] = data["answers"]["case_1"]
        first.write_text(json.dumps(data))
    elif problem == "duplicate reader":
        files.append(write_answers(tmp_path / "b.json", key, "dr a", call=lambda case, truth: "real"))
    elif problem == "duplicate file":
        files.append(tmp_path / "copy.json")
        files[1].write_bytes(first.read_bytes())
    elif problem == "duplicate key":
        text = first.read_text()
        entry = text[text.index('"case_1": {'):text.index('"case_2"')]
        first.write_text(text.replace('"case_2"', entry + '"case_2"', 1))
    elif problem in ("out of range", "unanswered"):
        data = json.loads(first.read_text())
        if problem == "out of range":
            data["answers"]["case_2"]["confidence"] = 7
        else:
            data["answers"]["case_3"]["call"] = None
        first.write_text(json.dumps(data))
    elif problem == "not json":
        first.write_text("{ not json")
    elif problem == "not answers":
        first.write_text(json.dumps({"hello": 1}))
    elif problem == "tampered key":
        _tamper_key(key_path)
    else:
        files = [tmp_path / "absent.json"]
    out = tmp_path / "scores.json"
    with caplog.at_level(logging.ERROR):
        assert score(files, key_path, out) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and says in errors[0] and "\n" not in errors[0], errors
    assert not out.exists()


def test_the_console_script_refuses_a_tampered_key_without_a_traceback(study: tuple[Path, Path, dict],
                                                                       tmp_path: Path) -> None:
    _, key_path, key = study
    answers = write_answers(tmp_path / "a.json", key, "Dr A")
    _tamper_key(key_path)
    result = subprocess.run([str(Path(sys.executable).parent / "synthtrust"), "reader-study", "score", str(answers),
                             "--key", str(key_path), "--out", str(tmp_path / "s.json"),
                             "--params", str(REPO / "params.yaml")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{key_path}: the key was changed after the study was made" in result.stderr
    assert not (tmp_path / "s.json").exists()
