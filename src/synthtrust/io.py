"""Atomic writes, hashing and NIfTI output shared by every stage.

Outputs are written beside their target and renamed into place, so a failed or killed command never leaves a
half-written output: a directory is built in ``.<name>.<pid>-<random>.partial`` and a file in
``.<name>.<random>.tmp``. A process killed with SIGKILL cannot clean up after itself, so the next
:func:`atomic_dir` in the same folder removes the partial directories of processes that are no longer alive
(``.dvcignore`` hides both patterns from DVC meanwhile). Nothing a command did not write is deleted:
:func:`claim_output` refuses a non-empty target that is not the command's own earlier output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from synthtrust.errors import DataError

logger = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def digest_files(paths: list[Path], name=lambda p: str(p)) -> str:
    """One sha256 over ``name(path)`` and the sha256 of each file, in the order given."""
    return hashlib.sha256("".join(f"{name(p)}:{sha256_file(p)}\n" for p in paths).encode()).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


_LEFTOVER = re.compile(r"^\..+\.(?:(\d+)-\w+\.partial|old-(\d+))$")


def remove_stale_partials(directory: str | Path) -> list[Path]:
    """Remove the ``.partial`` and ``.old-`` directories in ``directory`` that killed processes left (their pid
    is no longer running); returns them."""
    directory = Path(directory)
    removed = []
    for entry in directory.iterdir() if directory.is_dir() else []:
        match = _LEFTOVER.match(entry.name)
        if match and entry.is_dir() and not _pid_alive(int(match.group(1) or match.group(2))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def claim_output(target: str | Path, marker: str, command: str) -> Path:
    """``target`` as ``command``'s output directory: missing, empty, or holding ``marker`` (the file only this
    command writes there). Anything else is refused, so a mistyped ``--out`` never deletes a user's files."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise DataError(f"{target}: --out must be a directory, this is a file")
    if target.is_dir() and any(target.iterdir()) and not (target / marker).exists():
        raise DataError(f"{target}: not empty and not an output of {command} (no {marker}); nothing was changed "
                        f"(give a new or empty --out)")
    return target


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``target`` that replaces it only if the block succeeds.

    On any exception (KeyboardInterrupt and SIGTERM included) the temporary directory is removed and an
    existing ``target`` is left untouched, so a failed stage never leaves a half-written output.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_partials(target.parent):
        logger.info("removed %s, left by a killed process", stale)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".partial", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)


def usual_mode(mode: int) -> int:
    """``mode`` as the process's umask lets a newly created file or directory have it."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, usual_mode(0o666))  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_nifti(path: str | Path, array: np.ndarray, affine: np.ndarray, dtype: Any) -> None:
    """Write a 3D array as NIfTI with ``affine`` (qform and sform), cast to ``dtype``.

    nibabel's gzip output carries no timestamp, so equal inputs give equal bytes.
    """
    img = nib.Nifti1Image(np.asarray(array).astype(dtype), np.asarray(affine, dtype=np.float64))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))
