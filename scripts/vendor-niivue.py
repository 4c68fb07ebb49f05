#!/usr/bin/env python3
"""Vendor NiiVue's browser build into the package, from the npm registry, at set-up time (``make setup``).

The reader-study pages and the trust report's viewer embed ``niivue.umd.js`` (a classic script, so the pages
work opened from disk, where browsers refuse ES modules); nothing is fetched when a page is read. The release
is pinned by version *and* by the registry's sha512 integrity, so a changed tarball is refused, not vendored.

    python3 scripts/vendor-niivue.py [--dest DIR] [--registry URL]

``NPM_CONFIG_REGISTRY`` (npm's own setting) or ``--registry`` points at a mirror. Standard library only: it
runs before anything else is installed. An up-to-date copy is left alone (no network).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

PACKAGE = "@niivue/niivue"
VERSION = "0.69.0"
# `npm view @niivue/niivue@0.69.0 dist.integrity`
INTEGRITY = "sha512-YMjQvJgD1W2b7DuoxkwlC4VxbrgIePRJ5qyQzXKxi2v2MBVg285P/CIQyg46oDDGDIcaNlbd+MhtO/edMbXJkA=="
LICENSE = "BSD-2-Clause"
MEMBER = "package/dist/niivue.umd.js"
DEST = Path(__file__).resolve().parents[1] / "src" / "synthtrust" / "viewer" / "vendor"


def tarball_url(registry: str) -> str:
    """The registry's address of the pinned release's tarball."""
    return f"{registry.rstrip('/')}/{PACKAGE}/-/{PACKAGE.split('/')[1]}-{VERSION}.tgz"


def verify(data: bytes) -> None:
    """Refuse a tarball whose sha512 is not the pinned integrity."""
    algorithm, expected = INTEGRITY.split("-", 1)
    got = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if got != expected:
        raise SystemExit(f"vendor-niivue: {PACKAGE}@{VERSION}: integrity mismatch (got {algorithm}-{got}); "
                         "refusing to vendor it")


def vendor(dest: Path, registry: str) -> Path:
    """Download, verify and unpack the UMD build to ``dest``; returns the script's path."""
    script, stamp = dest / "niivue.umd.js", dest / "niivue.json"
    if script.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("integrity") == INTEGRITY:
        return script
    url = tarball_url(registry)
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    verify(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"vendor-niivue: {url}: no {MEMBER} in the tarball")
        body = member.read()
    dest.mkdir(parents=True, exist_ok=True)
    tmp = script.with_suffix(".js.tmp")
    tmp.write_bytes(body)
    tmp.replace(script)
    stamp.write_text(json.dumps({"package": PACKAGE, "version": VERSION, "license": LICENSE, "integrity": INTEGRITY,
                                 "source": url, "file": MEMBER.removeprefix("package/"),
                                 "sha256": hashlib.sha256(body).hexdigest()}, indent=2) + "\n")
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEST)
    parser.add_argument("--registry", default=os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org"))
    args = parser.parse_args()
    try:
        script = vendor(args.dest, args.registry)
    except OSError as exc:
        sys.exit(f"vendor-niivue: {tarball_url(args.registry)}: {exc}")
    print(f"vendor-niivue: {PACKAGE}@{VERSION} ({LICENSE}) at {script}")


if __name__ == "__main__":
    main()
