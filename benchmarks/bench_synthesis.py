"""Sampling settings side by side on the pipeline's generator checkpoint: seconds per case, and quality.

    python benchmarks/bench_synthesis.py [--params params.yaml] [--checkpoint models/generator/model.pt]
                                         [--settings ddim:10,ddim:50] [--cases 3]

Needs what ``dvc repro train_generator`` made (data/prepared and the checkpoint). For each setting
(``sampler:steps``; default: the params' setting and the reference DDIM-50) it writes the synthetic copies of
the first ``--cases`` test cases with the synthesize job's own writer into a temporary directory, then prints

* seconds per case (sampling and writing, as the stage pays them; the first case also pays the warm-up),
* the tumour contrast sign agreement with the real cases (``generator.checks.contrast_agreement``, what the
  synthesize stage reports), and
* the T1 fidelity score (``trust.factors.fidelity``: mean paired SSIM inside the brain, what trust gates on).

A faster setting keeps the quality of DDIM-50 when neither figure is lower than DDIM-50's. Every setting
uses the same checkpoint, cases and per-case seeds. Asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness import REPO, describe_device, figure, parse_args

from synthtrust.data.datalist import manifest_datalist
from synthtrust.data.validation import read_case_dir
from synthtrust.generator.checks import contrast_agreement
from synthtrust.generator.synthesis import Synthesizer
from synthtrust.params import GeneratorParams, load, replace
from synthtrust.trust.factors import fidelity


def setting(gen: GeneratorParams, text: str) -> GeneratorParams:
    """``gen`` sampling with ``sampler:steps``."""
    sampler, _, steps = text.partition(":")
    return replace(gen, sample=replace(gen.sample, sampler=sampler, num_inference_steps=int(steps)).model_dump())


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--checkpoint", default=str(REPO / "models" / "generator" / "model.pt"))
        parser.add_argument("--manifest", default=str(REPO / "data" / "prepared" / "manifest.json"))
        parser.add_argument("--settings", default=None, help="comma-separated sampler:steps (default: the "
                            "params' setting and ddim:50)")
        parser.add_argument("--cases", type=int, default=3, help="test cases sampled per setting")

    args = parse_args(__doc__, extra)
    params = load(args.params)
    gen = params.generator
    own = f"{gen.sample.sampler}:{gen.sample.num_inference_steps}"
    settings = args.settings.split(",") if args.settings else [own, "ddim:50"]
    if not Path(args.checkpoint).is_file():
        raise SystemExit(f"{args.checkpoint}: no generator checkpoint (run: dvc repro train_generator)")
    datalist = manifest_datalist(args.manifest, "test")[: args.cases]
    real = {item["case_id"]: read_case_dir(Path(item["label"]).parent) for item in datalist}
    print(f"device                            : {describe_device()}")
    print(f"checkpoint                        : {args.checkpoint}, {len(datalist)} test cases, "
          f"{list(params.data.spatial_size)}")
    with tempfile.TemporaryDirectory() as tmp:
        for text in settings:
            synth = Synthesizer(setting(gen, text), args.checkpoint)
            out = Path(tmp) / text.replace(":", "_")
            started = time.perf_counter()
            synth.write_all(datalist, out, seed=gen.sample.sample_seed)
            per_case = (time.perf_counter() - started) / len(datalist)
            pairs = [(Path(item["label"]).parent, out / item["case_id"]) for item in datalist]
            agreement = contrast_agreement(pairs)["agreement"]
            t1 = fidelity([(real[cid][0], read_case_dir(out / cid)[0], real[cid][1]) for cid in real],
                          params.trust)["score"]
            figure(f"sampling {text} per case", per_case, "s")
            figure(f"sampling {text} contrast agreement", agreement, "", "tumour-vs-brain contrast signs")
            figure(f"sampling {text} T1 fidelity", t1, "", "mean paired SSIM inside the brain")


if __name__ == "__main__":
    main()
