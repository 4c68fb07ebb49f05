"""Shared fixtures: real NIfTI cases on disk, in either BraTS naming scheme, and small phantom sets."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from synthtrust.data.brats import BRATS2021, LABEL_KEY, MODALITIES, NamingScheme
from synthtrust.data.phantoms import make_phantoms
from synthtrust.io import write_nifti
from synthtrust.params import GeneratorParams, Params, PhantomParams, Section, load, replace

REPO = Path(__file__).resolve().parents[1]
SHAPE = (24, 24, 20)
DEMO: Params = load(REPO / "params.yaml")  # the repository's params.yaml: the demo profile


def bundle_module(bundle: str, module: str) -> object:
    """``scripts.<module>`` of the repository's bundle ``bundle`` (its own code, as its configs import it)."""
    import importlib

    from synthtrust.bundles import activate_scripts, bundle_dir

    activate_scripts(bundle_dir(bundle))
    return importlib.import_module(f"scripts.{module}")


def demo(section: str, **changes: object) -> Section:
    """Section ``section`` (dotted: ``generator.train``) of the demo params with ``changes``, validated."""
    current: object = DEMO
    for name in section.split("."):
        current = getattr(current, name)
    return replace(current, **changes)  # type: ignore[type-var]


def synthetic_arrays(shape: tuple[int, ...] = SHAPE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (4, ...) int16 'brain' block and a BraTS label map with oedema, core and enhancing voxels."""
    rng = np.random.default_rng(seed)
    image = np.zeros((4, *shape), np.int16)
    image[:, 3:-3, 3:-3, 3:-3] = rng.integers(100, 1000, (4, shape[0] - 6, shape[1] - 6, shape[2] - 6))
    label = np.zeros(shape, np.uint8)
    c = [s // 2 for s in shape]
    label[c[0] - 4 : c[0] + 4, c[1] - 4 : c[1] + 4, c[2] - 4 : c[2] + 4] = 2
    label[c[0] - 2 : c[0] + 2, c[1] - 2 : c[1] + 2, c[2] - 2 : c[2] + 2] = 4
    label[c[0] - 1 : c[0] + 1, c[1] - 1 : c[1] + 1, c[2] - 1 : c[2] + 1] = 1
    return image, label


CaseWriter = Callable[..., Path]


@pytest.fixture
def write_case() -> CaseWriter:
    """Write one case: ``write_case(root, case_id, scheme=..., image=..., label=..., affine=...)``."""

    def _write(
        root: Path,
        case_id: str,
        scheme: NamingScheme = BRATS2021,
        image: np.ndarray | None = None,
        label: np.ndarray | None = None,
        affine: np.ndarray | None = None,
        seed: int = 0,
    ) -> Path:
        default_image, default_label = synthetic_arrays(seed=seed)
        image = default_image if image is None else image
        label = default_label if label is None else label
        if scheme.label_map:  # store in the scheme's own convention (GLI: ET is 3)
            label = label.copy()
            for src, dst in scheme.label_map.items():
                label[label == dst] = src
        affine = np.diag([-1.0, -1.0, 1.0, 1.0]) if affine is None else affine
        case_dir = root / case_id
        case_dir.mkdir(parents=True)
        for channel, modality in enumerate(MODALITIES):
            write_nifti(case_dir / scheme.filename(case_id, modality), image[channel], affine, image.dtype)
        write_nifti(case_dir / scheme.filename(case_id, LABEL_KEY), label, affine, np.uint8)
        return case_dir

    return _write


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 32^3 phantoms (seed 3), made once per test session."""
    out = tmp_path_factory.mktemp("phantoms") / "raw"
    make_phantoms(out, PhantomParams(n=8, size=32, seed=3), progress=False)
    return out


def _prepared(tmp_path_factory: pytest.TempPathFactory, phantom_dir: Path, grid: tuple[int, ...]) -> Path:
    import os
    import shutil

    from synthtrust.data.prepare import prepare

    root = tmp_path_factory.mktemp("prepared")
    shutil.copytree(phantom_dir, root / "data" / "raw" / "phantom")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        prepare(demo("data", spatial_size=list(grid), split={"val": 0.25, "test": 0.25, "seed": 1}),
                "data/prepared", progress=False)
    finally:
        os.chdir(cwd)
    return root / "data" / "prepared"


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory, phantom_dir: Path) -> Path:
    """The session's phantoms prepared on a 32^3 grid (4 train, 2 val, 2 test); returns data/prepared."""
    return _prepared(tmp_path_factory, phantom_dir, (32, 32, 32))


@pytest.fixture(scope="session")
def prepared_64(tmp_path_factory: pytest.TempPathFactory, phantom_dir: Path) -> Path:
    """The same phantoms padded to 64 x 64 x 32, the smallest grid SwinUNETR runs on."""
    return _prepared(tmp_path_factory, phantom_dir, (64, 64, 32))


def use_store(monkeypatch: pytest.MonkeyPatch, uri: str) -> str:
    """Point this process and its subprocesses at the MLflow store ``uri``: the environment, and MLflow's
    process-wide tracking and registry URIs, which win over the environment once any code has set them."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@pytest.fixture(autouse=True)
def _forget_mlflow_uris() -> Iterator[None]:
    """After every test, forget MLflow's process-wide tracking and registry URIs: monkeypatch restores the
    environment, but ``mlflow.set_*_uri`` also keeps the URI in a module global that would otherwise send a
    later test's clients (and its ``dvc repro`` subprocess, through the environment) to a dead test's store."""
    yield
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return
    environment = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(None)  # also unsets MLFLOW_TRACKING_URI, restored below
    mlflow.set_registry_uri(None)
    for name, value in environment.items():
        if value is not None:
            os.environ[name] = value


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real SQLite MLflow store in the test's temporary directory, selected through the environment."""
    return use_store(monkeypatch, f"sqlite:///{tmp_path / 'mlruns.db'}")


# A segmenter small enough to train in seconds: 64 x 64 x 32 crops, 4 steps, validation every epoch.
TINY_SEGMENTER_KW = dict(patch_size=[64, 64, 32], roi_size=[64, 64, 32], num_samples=1, max_steps=4,
                         steps_per_epoch=1, val_interval=1, seeds=[0])
TINY_SEGMENTER = demo("segmenter", **TINY_SEGMENTER_KW)


def write_tiny_params(path: Path) -> Path:
    """The demo params.yaml with the segmenter section TINY_SEGMENTER (what the workspace models trained with)."""
    import yaml

    path.write_text(yaml.safe_dump({**DEMO.model_dump(), "segmenter": TINY_SEGMENTER.model_dump()}))
    return path


def bundle_label_map(image: list[str], ckpt_dir: Path, out: Path) -> np.ndarray:
    """The label map the segmenter bundle's own inference (``run``, SaveImaged into ``out``) writes for the
    case of four ``image`` paths, with the TINY_SEGMENTER_KW network loaded from ``ckpt_dir/model.pt``."""
    from synthtrust.bundles import SEGMENTER, parse

    overrides = {**TINY_SEGMENTER.network_overrides(), "datalist": [{"image": image}],
                 "ckpt_dir": str(Path(ckpt_dir).resolve()), "output_dir": str(out)}
    parse(SEGMENTER, ["inference"], overrides).get_parsed_content("run")
    (written,) = Path(out).glob("*_seg.nii.gz")
    return np.asarray(nib.load(written).dataobj)


def write_synthetic_copies(root: Path, scale: float = 0.9) -> None:
    """``root/data/synthetic``: a copy of each training and test case of ``root/data/prepared``, images scaled by
    ``scale`` (a generator that returns its training images), label maps and affines kept, with provenance."""
    import json

    manifest = json.loads((root / "data" / "prepared" / "manifest.json").read_text())
    for split in ("train", "test"):
        for case_id in manifest["splits"][split]:
            src, dst = root / "data" / "prepared" / split / case_id, root / "data" / "synthetic" / split / case_id
            dst.mkdir(parents=True)
            for path in src.glob("*.nii.gz"):
                img = nib.load(path)
                data = np.asarray(img.dataobj)
                data = data if path.name.endswith("_seg.nii.gz") else (data * scale).astype(np.float32)
                write_nifti(dst / path.name, data, img.affine, data.dtype)
            (dst / f"{case_id}_provenance.json").write_text(json.dumps({"source": case_id}))


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory, prepared_64: Path) -> Path:
    """A DVC-style workspace as the segmenter stages leave it: ``data/prepared`` (64 x 64 x 32 phantoms,
    4 train / 2 val / 2 test), ``data/synthetic`` copies (real images, intensities scaled by 0.9) and the
    alpha grid 0.0 and 1.0 trained for real (tiny) under ``models/segmenter``. Tests chdir into it and
    write their own outputs under their tmp_path."""
    import json
    import os
    import shutil

    from synthtrust.mixing import make_mix
    from synthtrust.stages import train_segmenter

    root = tmp_path_factory.mktemp("workspace")
    (root / ".dvc").mkdir()
    shutil.copytree(prepared_64, root / "data" / "prepared")
    write_synthetic_copies(root)
    cwd = os.getcwd()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'grid-mlruns.db'}")
        os.chdir(root)
        try:
            for alpha in (0.0, 1.0):
                mix = make_mix(alpha, demo("mix", alphas=[alpha]), root=root)
                mix_path = root / "data" / "mixes" / f"alpha_{alpha}.json"
                mix_path.parent.mkdir(parents=True, exist_ok=True)
                mix_path.write_text(json.dumps(mix))
                train_segmenter.run(TINY_SEGMENTER, mix_path, f"models/segmenter/alpha_{alpha}")
        finally:
            os.chdir(cwd)
    return root


@pytest.fixture
def registered(trained_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_store: str) -> dict:
    """A copy of the trained workspace (the test runs inside it) whose alpha = 0 grid model a search result
    names as best, registered as ``brats-swinunetr@challenger`` into a fresh store."""
    import json
    import shutil

    from synthtrust.segmenter.training import read_validation
    from synthtrust.stages import register

    root = tmp_path / "ws"
    shutil.copytree(trained_workspace, root)
    monkeypatch.chdir(root)
    validation = read_validation("models/segmenter/alpha_0.0")
    Path("metrics").mkdir()
    Path("metrics/search.json").write_text(json.dumps({"study": "brats-alpha-test", "best": {
        "trial": 0, "alpha": 0.0, "mode": "replace", "val_dice": validation["dice"],
        "val_mean_dice": validation["mean_dice"], "model_dir": "models/segmenter/alpha_0.0", "run_id": None}}))
    write_tiny_params(Path("params.yaml"))
    return register.run(DEMO.registry, TINY_SEGMENTER, DEMO.intervals, "phantom")


def tiny_generator(train: dict | None = None, **sample: object) -> GeneratorParams:
    """A tiny generator: three levels of 8-16 channels, 100 timesteps, 2 sampling steps (or ``sample``)."""
    return GeneratorParams.model_validate({
        "train": {**DEMO.generator.train.model_dump(), "channels": [8, 16, 16], "attention_levels": [False] * 3,
                  "num_train_timesteps": 100, **(train or {})},
        "sample": {**DEMO.generator.sample.model_dump(), "num_inference_steps": 2, **sample}})


@pytest.fixture
def generator_checkpoint(tmp_path: Path) -> Path:
    """Random weights of :func:`tiny_generator`'s network, saved as the training job saves them."""
    import torch

    from synthtrust.bundles import GENERATOR, parse

    torch.manual_seed(0)
    parser = parse(GENERATOR, ["common", "inference"], tiny_generator().sample_overrides())
    network = parser.get_parsed_content("network_def")
    for param in network.parameters():  # MONAI zero-initialises the output conv: give it weights
        if not param.any():
            torch.nn.init.normal_(param, std=0.1)
    path = tmp_path / "model.pt"
    torch.save(network.state_dict(), path)
    return path


def require_service(reason: str) -> None:
    """Skip, saying why, where a service the test needs is not installed; under CI (``SYNTHTRUST_CI``, set by
    ``.ci/run``, which installs every service) fail instead, so a green run never hides a missing one."""
    if os.environ.get("SYNTHTRUST_CI"):
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port free on loopback now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL on loopback, started by ``scripts/postgres.sh`` in a temporary directory (as a user
    would start one): ``postgresql://synthtrust@127.0.0.1:<port>``; the password is in ``$PGPASSWORD``."""
    import secrets
    import shutil
    import subprocess
    import tempfile

    script = REPO / "scripts" / "postgres.sh"
    directory = Path(tempfile.mkdtemp(prefix="synthtrust-pg-"))  # under /tmp: the server's user can reach it
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSWORD", secrets.token_urlsafe(16))
        started = subprocess.run(["bash", str(script), "start", str(directory), str(port)], capture_output=True,
                                 text=True)
        if started.returncode != 0:
            shutil.rmtree(directory, ignore_errors=True)
            if "no PostgreSQL server binaries" in started.stderr:
                require_service(started.stderr.strip())
            pytest.fail(f"scripts/postgres.sh start failed: {started.stderr[-2000:]}")
        try:
            yield f"postgresql://synthtrust@127.0.0.1:{port}"
        finally:
            subprocess.run(["bash", str(script), "stop", str(directory)], capture_output=True)
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres: str) -> Iterator[str]:
    """A fresh, empty database of the session's PostgreSQL, for this test alone (``test_<id>``; a test may make
    more named ``<anything>test_<id>``). Afterwards the connections still open to them (pools of engines the
    test left behind) are closed and the databases dropped, so tests do not add up to the server's
    ``max_connections``."""
    import uuid

    import sqlalchemy

    name = f"test_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(f"{postgres}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres}/{name}"
    finally:
        with engine.connect() as connection:
            pattern = {"pattern": f"%{name}"}
            connection.execute(sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                               "datname LIKE :pattern AND pid <> pg_backend_pid()"), pattern)
            for (database,) in connection.execute(sqlalchemy.text(
                    "SELECT datname FROM pg_database WHERE datname LIKE :pattern"), pattern).all():
                connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{database}"'))
        engine.dispose()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-speaking server on loopback (moto's, started by ``scripts/s3-server.sh`` as a user would) with
    the bucket ``synthtrust``; its endpoint URL. Credentials: the ``AWS_*`` variables set here (moto takes any)."""
    import subprocess
    import sys

    directory = tmp_path_factory.mktemp("s3")
    script = REPO / "scripts" / "s3-server.sh"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    started = subprocess.run(["bash", str(script), "start", str(directory), str(free_port()), "synthtrust"],
                             env=env, capture_output=True, text=True)
    assert started.returncode == 0, f"scripts/s3-server.sh start failed: {started.stderr[-2000:]}"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("AWS_ACCESS_KEY_ID", "synthtrust-test"), ("AWS_SECRET_ACCESS_KEY", "synthtrust-test"),
                            ("AWS_DEFAULT_REGION", "us-east-1")):
            mp.setenv(name, value)
        try:
            yield started.stdout.strip().splitlines()[-1]
        finally:
            subprocess.run(["bash", str(script), "stop", str(directory)], capture_output=True)
