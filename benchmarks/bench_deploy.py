"""Benchmark of the deployment path on one full-size BraTS case (4 x 240 x 240 x 155), CPU.

    python benchmarks/bench_deploy.py [--params params.yaml] [--checkpoint models/segmenter/alpha_0.0/model.pt]
                                      [--deploy-python .venv-deploy/bin/python]

1. ``export_bundle`` of the checkpoint (a freshly initialised network of the params' size if the file is
   missing): seconds, and the sizes of model.pt and model.ts.
2. The segmenter bundle's own inference (``monai.bundle`` in this process: load, preprocess, sliding window,
   collapse, inversion, save) on a synthetic full-size case in BraTS orientation: seconds.
3. The MONAI Deploy app on the same case in the deploy environment (a fresh process: interpreter, Holoscan
   and SDK start-up included): seconds and peak resident memory, and whether its label map equals step 2's.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from harness import REPO, figure, parse_args

from synthtrust.bundles import SEGMENTER, parse
from synthtrust.data.brats import MODALITIES
from synthtrust.params import load
from synthtrust.stages.export import run as export_bundle

SHAPE = (240, 240, 155)
CASE = "BraTS2021_99999"


def write_case(folder: Path) -> list[str]:
    """Four random full-size modalities inside an ellipsoid 'brain', 1 mm voxels, BraTS's LPS-style affine."""
    folder.mkdir(parents=True)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij"))
    brain = (grid**2 / np.array([0.8, 0.9, 0.8])[:, None, None, None] ** 2).sum(0) < 1
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    rng = np.random.default_rng(0)
    paths = []
    for modality in MODALITIES:
        image = np.where(brain, rng.normal(1.0, 0.3, SHAPE), 0).astype(np.float32)
        path = folder / f"{CASE}_{modality}.nii.gz"
        nib.save(nib.Nifti1Image(image, affine), path)
        paths.append(str(path))
    return paths


def main() -> None:
    args = parse_args(__doc__, lambda p: (
        p.add_argument("--checkpoint", default=str(REPO / "models" / "segmenter" / "alpha_0.0" / "model.pt")),
        p.add_argument("--deploy-python", default=str(REPO / ".venv-deploy" / "bin" / "python"))))
    seg = load(args.params).segmenter
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        checkpoint = Path(args.checkpoint)
        if not checkpoint.is_file():
            network = parse(SEGMENTER, ["inference"], seg.network_overrides()).get_parsed_content("network")
            checkpoint = work / "model.pt"
            torch.save({"model": network.state_dict()}, checkpoint)
        if checkpoint.name != "model.pt":
            raise SystemExit(f"{checkpoint}: the bundle's CheckpointLoader reads <ckpt_dir>/model.pt")
        started = time.perf_counter()
        export_bundle(str(checkpoint), work / "bundle", seg)
        export_s = time.perf_counter() - started
        sizes = {name: (work / "bundle" / "models" / name).stat().st_size / 2**20 for name in ("model.pt", "model.ts")}
        figure("export_bundle", export_s, "s")
        figure("exported model.pt", sizes["model.pt"], "MiB")
        figure("exported model.ts", sizes["model.ts"], "MiB", "TorchScript")

        paths = write_case(work / "case")
        bundle = parse(SEGMENTER, ["inference"], {
            **seg.network_overrides(), "datalist": [{"image": paths}], "output_dir": str(work / "ref"),
            "ckpt_dir": str(checkpoint.parent)})
        started = time.perf_counter()
        bundle.get_parsed_content("run")
        figure("bundle inference in process", time.perf_counter() - started, "s", "full size, load to label map")
        (expected,) = (work / "ref").glob("*_seg.nii.gz")

        if not Path(args.deploy_python).is_file():
            print(f"{args.deploy_python}: no deploy environment (make deploy-env); app not timed")
            return
        started = time.perf_counter()
        done = subprocess.run([args.deploy_python, str(REPO / "deploy" / "app.py"), "-i", str(work / "case"),
                               "-o", str(work / "out"), "-m", str(work / "bundle")],
                              capture_output=True, text=True, cwd=work)
        app_s = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"app failed ({done.returncode}):\n{done.stderr[-3000:]}")
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        label = np.asarray(nib.load(work / "out" / f"{CASE}_seg.nii.gz").dataobj)
        same = np.array_equal(label, np.asarray(nib.load(expected).dataobj))
        figure("MONAI Deploy app", app_s, "s", "fresh process, full size")
        figure("MONAI Deploy app peak memory", peak_mib, "MiB", "resident")
        figure("app label map equals the bundle's", float(same), "", "1 = identical")


if __name__ == "__main__":
    main()
