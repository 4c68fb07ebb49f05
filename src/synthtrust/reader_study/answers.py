"""Reading a study's key and its readers' answer files, refusing anything that would make the scores lie.

Each problem is one line naming the file: not JSON or not an answer file, answers for another study, a case
unanswered or not in the study, a value out of range, a reader (or the same answers) twice, and a key edited
after it was made (its content no longer hashes to its digest, or the digest to its study id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthtrust.errors import DataError
from synthtrust.reader_study.study import ANSWERS_FORMAT, CALLS, KEY_FORMAT, digest

SCALE = range(1, 6)
RATINGS = ("confidence", "plausibility")


def _json(path: Path, what: str) -> Any:
    """JSON of ``path``; a repeated key inside one object is refused (the second would silently win)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise DataError(f"{path}: {', '.join(repeated)} given twice (duplicate)")
        return dict(items)

    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text(), object_pairs_hook=pairs)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a {what} (not JSON: {exc})") from None


def read_key(path: str | Path) -> dict[str, Any]:
    """The study's key, checked against its own digest."""
    path = Path(path)
    key = _json(path, "reader-study key")
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT or not isinstance(key.get("cases"), dict):
        raise DataError(f"{path}: not a reader-study key (format {KEY_FORMAT} expected)")
    if digest(key) != key.get("digest") or key.get("study") != str(key.get("digest"))[:16]:
        raise DataError(f"{path}: the key was changed after the study was made (its content does not match its "
                        "digest): tampered key, refusing to score against it")
    for case, entry in key["cases"].items():
        if entry.get("truth") not in CALLS:
            raise DataError(f"{path}: {case} has truth {entry.get('truth')!r}, expected one of {list(CALLS)}")
    return key


def _check_answer(path: Path, case: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise DataError(f"{path}: {case} is not an answer object")
    if entry.get("call") not in CALLS:
        raise DataError(f"{path}: {case} call {entry.get('call')!r}, expected one of {list(CALLS)} (unanswered?)")
    for field in RATINGS:
        value = entry.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value not in SCALE:
            raise DataError(f"{path}: {case} {field} {value!r}, expected 1 to 5 (unanswered?)")
    seconds = entry.get("seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise DataError(f"{path}: {case} seconds {seconds!r}, expected a number >= 0")
    return {"call": entry["call"], "confidence": entry["confidence"], "plausibility": entry["plausibility"],
            "comment": str(entry.get("comment") or "").strip(), "seconds": float(seconds),
            "comment_modality": str(entry.get("comment_modality") or "all"),
            "comment_region": str(entry.get("comment_region") or "whole image")}


def read_answers(path: str | Path, key: dict[str, Any]) -> dict[str, Any]:
    """One reader's answers to the study ``key`` names: every case answered, every value in range."""
    path = Path(path)
    data = _json(path, "reader-study answer file")
    if not isinstance(data, dict) or data.get("format") != ANSWERS_FORMAT or not isinstance(data.get("answers"), dict):
        raise DataError(f"{path}: not a reader-study answer file (format {ANSWERS_FORMAT} expected)")
    if data.get("study") != key["study"]:
        raise DataError(f"{path}: answers for study {data.get('study')!r}, the key is for study {key['study']!r} "
                        "(wrong study)")
    reader = str(data.get("reader") or "").strip()
    if not reader:
        raise DataError(f"{path}: no reader name")
    unknown = sorted(set(data["answers"]) - set(key["cases"]))
    if unknown:
        raise DataError(f"{path}: answers cases not in the study: {', '.join(unknown[:5])}")
    missing = [c for c in key["cases"] if c not in data["answers"]]
    if missing:
        raise DataError(f"{path}: reader {reader!r} left {len(missing)} of {len(key['cases'])} cases unanswered "
                        f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): missing cases")
    answers = {case: _check_answer(path, case, data["answers"][case]) for case in key["cases"]}
    return {"reader": reader, "file": str(path), "answers": answers, "saved": data.get("saved"),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def answer_files(paths: Sequence[str | Path]) -> list[Path]:
    """``paths`` with each directory replaced by the ``*.json`` files in it (sorted)."""
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            files.extend(sorted(p for p in entry.glob("*.json") if p.is_file()))
        elif not entry.exists():
            raise DataError(f"{entry}: answer file not found")
        else:
            files.append(entry)
    return files


def read_all(paths: Sequence[str | Path], key: dict[str, Any]) -> list[dict[str, Any]]:
    """Every reader's answers; a reader named twice, or one file given twice, is refused."""
    readers: list[dict[str, Any]] = []
    for path in answer_files(paths):
        current = read_answers(path, key)
        for earlier in readers:
            if current["sha256"] == earlier["sha256"]:
                raise DataError(f"{path}: the same answers as {earlier['file']} (duplicate file)")
            if current["reader"].casefold() == earlier["reader"].casefold():
                raise DataError(f"{path}: reader {current['reader']!r} already answered in {earlier['file']} "
                                "(duplicate reader; keep one file per reader)")
        readers.append(current)
    return readers
