"""Locks between processes: a file lock for the processes of one machine, and a PostgreSQL advisory lock for
workers on any machine that share one database.

Both are released by the operating system or the database server when their holder dies, so a killed worker
never leaves a lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@contextlib.contextmanager
def machine_lock(purpose: str, key: str) -> Iterator[None]:
    """Exclusive lock named by ``purpose`` and ``key`` among the processes of this machine (``flock`` on a file
    in the temporary directory)."""
    path = Path(tempfile.gettempdir()) / f"synthtrust-{purpose}-{_digest(key).hex()[:16]}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def advisory_lock(engine: sqlalchemy.engine.Engine, key: str) -> Iterator[None]:
    """Exclusive lock named by ``key`` among every client of ``engine``'s PostgreSQL database: a session-level
    ``pg_advisory_lock`` held on a connection of its own."""
    number = int.from_bytes(_digest(key)[:8], "big", signed=True)
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:n)"), {"n": number})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:n)"), {"n": number})
            connection.commit()
