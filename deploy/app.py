"""MONAI Deploy application: BraTS tumour segmentation with the exported synthtrust segmenter bundle.

    python deploy/app.py -i CASE_DIR -o OUT_DIR -m BUNDLE   (the exported bundle, or its models/model.ts)

CASE_DIR holds one case's four NIfTI files (``<case>_t1``, ``_t1ce``, ``_t2``, ``_flair``; BraTS 2023 names
too). OUT_DIR receives ``<case>_seg.nii.gz`` (labels 1 necrotic core, 2 oedema, 4 enhancing, on the
input's grid and affine) and ``<case>_volumes.json`` (TC, WT, ET in ml). The model is the TorchScript
written by ``synthtrust export-bundle``; its embedded ``inference.json`` drives the SDK's
``MonaiBundleInferenceOperator`` (preprocessing, sliding-window inferer, label collapse, inversion).

Graph: BratsCaseLoaderOperator -> MonaiBundleInferenceOperator -> LabelMapWriterOperator.
Bad input (missing or doubled modality, unreadable, complex or RGB, oversized, implausibly spaced or blank
scan, mismatched shape) exits with status 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from runtime import ensure_runtime

if __name__ == "__main__":
    ensure_runtime()  # before holoscan is imported

from brats_io import BratsCaseLoaderOperator, CaseError, LabelMapWriterOperator  # noqa: E402
from monai.deploy.conditions import CountCondition  # noqa: E402
from monai.deploy.core import AppContext, Application, Image, IOType  # noqa: E402
from monai.deploy.operators.monai_bundle_inference_operator import (  # noqa: E402
    BundleConfigNames,
    IOMapping,
    MonaiBundleInferenceOperator,
)

logger = logging.getLogger(__name__)


def resolve_model(path: str | Path) -> Path:
    """``-m``: a TorchScript file, or a folder holding exactly one (an exported bundle, the MAP's models folder)."""
    path = Path(path)
    if path.is_file():
        return path
    found = sorted(path.rglob("*.ts")) if path.is_dir() else []
    if len(found) != 1:
        raise CaseError(f"{path}: expected the exported model.ts or a folder holding exactly one "
                        f"TorchScript file, found {len(found)}")
    return found[0]


class BratsSegmentationApp(Application):
    """One BraTS case (four NIfTI files) in; its label map and regional volumes out."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.app_context: AppContext | None = None

    def compose(self) -> None:
        context = self.app_context or Application.init_app_context(self.argv)
        loader = BratsCaseLoaderOperator(self, CountCondition(self, 1), input_folder=Path(context.input_path),
                                         name="case_loader")
        bundle = MonaiBundleInferenceOperator(
            self,
            input_mapping=[IOMapping("image", Image, IOType.IN_MEMORY)],
            output_mapping=[IOMapping("pred", Image, IOType.IN_MEMORY)],
            app_context=context,
            bundle_config_names=BundleConfigNames(config_names=["inference"]),
            name="bundle_inference",
        )
        writer = LabelMapWriterOperator(self, output_folder=Path(context.output_path), name="label_writer")
        self.add_flow(loader, bundle, {("image", "image")})
        self.add_flow(bundle, writer, {("pred", "seg_image")})
        self.add_flow(loader, writer, {("case", "case")})


def _output_folder(argv: list[str]) -> Path | None:
    """``-o``/``--output`` of ``argv`` (the SDK's argument parser creates the folder as it parses)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-o", "--output", type=Path)
    return parser.parse_known_args(argv)[0].output


def main(argv: list[str] | None = None) -> int:
    """Run the app on ``-i``/``-o``/``-m``: 0 when written, 2 on bad input, 1 on failure; on failure an
    output folder this run created is removed again, so nothing is left behind."""
    app = BratsSegmentationApp(argv)
    output = _output_folder(app.argv[1:])
    created = output is not None and not output.exists()
    try:
        status = _run(app)
    except SystemExit as exc:  # the SDK's argument parser: a missing model or input path
        status = exc.code if isinstance(exc.code, int) else 2
    if status and created and output.is_dir() and not any(output.iterdir()):
        output.rmdir()
    return status


def _run(app: BratsSegmentationApp) -> int:
    try:
        context = Application.init_app_context(app.argv)
        model = resolve_model(context.model_path)
        if str(model) != context.model_path:
            context.update({"model": str(model)})  # reloads the SDK's model from the TorchScript file
        app.app_context = context
        app.run()
    except CaseError as exc:
        logger.error("%s", exc)
        return 2
    except Exception as exc:
        logger.exception("segmentation failed: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
