"""What is bit-reproducible: the segmenter trained twice with one seed, once with another, on this device.

    python benchmarks/bench_reproducibility.py [--params params.yaml] [--steps 6]

On phantoms made on the params' grid in a temporary directory, ``train_segmenter`` (the bundle's trainer,
MONAI's ``set_determinism`` with the seed) runs three times for ``--steps`` steps: seed A, seed A again, and
seed B. Prints the largest absolute weight difference and the validation mean Dice difference of each pair.
Where the same seed gives difference 0, training is bit-reproducible on this device; where it does not, the
remaining nondeterminism is what ``torch.use_deterministic_algorithms(True)`` would have to remove, so that
run follows: either it trains (and its difference is printed) or the op that has no deterministic
implementation is named. Asserts nothing.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic workspace (CUDA only)

import torch
from harness import demo_workspace, describe_device, figure, parse_args

from synthtrust.io import atomic_write_json
from synthtrust.mixing import make_mix
from synthtrust.params import load, replace
from synthtrust.segmenter.training import read_validation
from synthtrust.stages.train_segmenter import run as train_segmenter


def _weights(checkpoint: str) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, weights_only=True)
    return state.get("model", state)


def _difference(a: str, b: str) -> float:
    first, second = _weights(a), _weights(b)
    return max(float((first[k].double() - second[k].double()).abs().max()) for k in first)


def main() -> None:
    def extra(parser) -> None:  # noqa: ANN001
        parser.add_argument("--steps", type=int, default=6)

    args = parse_args(__doc__, extra)
    params = load(args.params)
    first = params.segmenter.seeds[0]
    seg = replace(params.segmenter, max_steps=args.steps, steps_per_epoch=args.steps, val_interval=1,
                  seeds=[first])
    print(f"device                            : {describe_device()}")
    with demo_workspace(params.data, n=6) as work:
        atomic_write_json("mix.json", make_mix(0.0, params.mix, "data/prepared/manifest.json", "data/synthetic",
                                               root=work))
        runs = {}
        for name, seed in (("a", first), ("again", first), ("b", first + 1)):
            train_segmenter(replace(seg, seeds=[seed]), "mix.json", work / name)
            runs[name] = str(work / name / "model.pt")
        dice = {name: read_validation(work / name)["mean_dice"] for name in runs}
        figure("same seed: largest weight difference", _difference(runs["a"], runs["again"]), "",
               f"seed {first} twice, {args.steps} steps")
        figure("same seed: val mean Dice difference", abs(dice["a"] - dice["again"]), "")
        figure("other seed: largest weight difference", _difference(runs["a"], runs["b"]), "",
               f"seeds {first} and {first + 1}")
        figure("other seed: val mean Dice difference", abs(dice["a"] - dice["b"]), "")
        torch.use_deterministic_algorithms(True)
        try:
            train_segmenter(replace(seg, seeds=[first]), "mix.json", work / "strict")
        except RuntimeError as exc:  # an op without a deterministic implementation on this device
            print(f"deterministic algorithms          : refused ({str(exc).splitlines()[0][:160]})")
        else:
            figure("deterministic algorithms, weight difference", _difference(runs["a"],
                   str(work / "strict" / "model.pt")), "", "torch.use_deterministic_algorithms(True) vs seed run")
        print(json.dumps({"validation_mean_dice": dice}))


if __name__ == "__main__":
    main()
