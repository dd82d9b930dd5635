#!/usr/bin/env python3
"""Convert a HairNet checkpoint into a Core ML ML program (.mlpackage), as DESIGN.md §5 specifies.

    python conversion/to_coreml.py checkpoints/hairnet.pt -o HairNet.mlpackage
    python conversion/to_coreml.py checkpoints/hairnet.pt --palettize 6

The model is traced with torch.jit.trace; its custom operator `hairnet::feature_mask` is
translated into plain Core ML operations by feature_mask_op.py. Then verify.py proves that the
package computes what PyTorch computes.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np
import torch

import coremltools as ct
import coremltools.optimize.coreml as cto

import feature_mask_op
from hairnet import contract
from hairnet.checkpoint import load_checkpoint
from hairnet.errors import ConversionError, HairNetError
from hairnet.masking import OP_NAME
from hairnet.model import HairNet

logger = logging.getLogger("to_coreml")

# iOS 16 / macOS 13: the first release whose ML programs take fp16 tensors and palettized
# weights (constexpr_lut_to_dense), which is all this model needs; later targets add nothing here.
DEPLOYMENT_TARGET = ct.target.iOS16
PRECISIONS = {"fp16": ct.precision.FLOAT16, "fp32": ct.precision.FLOAT32}
PALETTE_BITS = (8, 6, 4)
AUTHOR = "HairNet project (a re-implementation of Borza et al., All-in-one HairNet, IJCB 2020)"
LICENSE = "Non-commercial research use only: " + contract.TRAINING_DATA

feature_mask_op.register()


def default_output(checkpoint: Path, precision: str, palettize: int | None) -> Path:
    """checkpoints/hairnet.pt → checkpoints/hairnet.mlpackage (fp16), hairnet_fp32.mlpackage, hairnet_pal6.mlpackage."""
    suffix = ("" if precision == "fp16" else f"_{precision}") + (f"_pal{palettize}" if palettize else "")
    return checkpoint.with_name(f"{checkpoint.stem}{suffix}.mlpackage")


def check_output(output: Path, force: bool) -> None:
    """Fail before the conversion rather than after it."""
    if output.suffix != ".mlpackage":
        raise ConversionError(f"{output}: the output must end in .mlpackage")
    if output.exists() and not force:
        raise ConversionError(f"{output}: already exists; pass --force to replace it")
    if not output.parent.is_dir():
        raise ConversionError(f"{output}: folder {output.parent} does not exist")


@contextmanager
def staging_folder(output: Path):
    """A temporary folder beside the output (same file system, so publishing is a rename), made
    first so that an unwritable destination fails at once; removed whatever happens."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    except OSError as error:
        raise ConversionError(f"{output}: cannot write into {output.parent} ({error.strerror})") from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(built: Path, output: Path, staging: Path) -> None:
    """Move the finished package into place. A package is a folder and os.replace cannot replace a
    non-empty one, so an existing output is first moved aside into the staging folder."""
    if output.exists():
        previous = staging / "previous"
        os.rename(output, previous)
        try:
            os.rename(built, output)
        except BaseException:
            os.rename(previous, output)
            raise
    else:
        os.rename(built, output)


def example_input() -> torch.Tensor:
    """A fixed input in the model's range; tracing records shapes, not values."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, contract.INPUT_SIZE, contract.INPUT_SIZE, generator=generator) * 2 - 1


def trace(model: torch.nn.Module) -> torch.jit.ScriptModule:
    with torch.no_grad():
        return torch.jit.trace(model, example_input(), check_trace=False)


def feature_mask_nodes(traced: torch.jit.ScriptModule) -> int:
    return sum(node.kind() == OP_NAME for node in traced.inlined_graph.nodes())


def palettize(mlmodel: ct.models.MLModel, nbits: int) -> ct.models.MLModel:
    """Per-tensor look-up tables (all iOS 16 offers), spaced evenly over each tensor's range. Against
    1-D k-means tables on two checkpoints (conversion/README.md) they keep the most labels at 8 bits
    and stay within a point at 6 and 4: the rare large weights, which k-means serves coarsely,
    matter most. They also need no scikit-learn, which coremltools' k-means mode imports."""
    config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="uniform", nbits=nbits))
    return cto.palettize_weights(mlmodel, config)


def describe(mlmodel: ct.models.MLModel, payload: dict, variant: str) -> None:
    """Model card fields and the user-defined metadata of the contract."""
    mlmodel.short_description = (
        "HairNet: joint hair/skin segmentation and hair attributes from one 224×224 RGB head crop "
        f"(after Borza et al., IJCB 2020). Variant: {variant}. Outputs follow the hairnet.* metadata."
    )
    mlmodel.author = AUTHOR
    mlmodel.license = LICENSE
    mlmodel.version = package_metadata.version("hairnet")
    mlmodel.input_description[contract.INPUT_NAME] = (
        "RGB head crop, 224×224 (square crop of side k·max(w, h) around the face box, see hairnet.crop); "
        "normalised inside the model as x/127.5 − 1"
    )
    skin, hair = contract.SEGMENTATION_CHANNELS
    mlmodel.output_description["segmentation"] = (
        f"1×2×224×224 independent sigmoid probabilities, channel 0 {skin}, 1 {hair}; label = 1 + argmax "
        "where max > hairnet.threshold (a tie goes to hair), else background"
    )
    mlmodel.output_description["hair_color"] = f"1×4 softmax over {', '.join(contract.HAIR_COLORS)}"
    mlmodel.output_description["attributes"] = (
        f"1×4 sigmoids for {', '.join(contract.ATTRIBUTES)}; present when > {contract.THRESHOLD}"
    )
    mlmodel.user_defined_metadata.update(contract.metadata(payload["crop_rule"], payload.get("evaluation")))


def package_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(checkpoint: Path, model: HairNet, payload: dict, precision: str, palettize_bits: int | None) -> ct.models.MLModel:
    """Trace, check the masking op, convert, palettize when asked, and describe."""
    config = model.config
    logger.info("Tracing with torch.jit.trace")
    traced = trace(model)
    masks = feature_mask_nodes(traced)
    logger.info("Traced graph holds %d %s node(s)", masks, OP_NAME)
    if config.masking and masks == 0:
        raise ConversionError(
            f"{checkpoint}: the config has masking on but the traced graph holds no {OP_NAME} node; "
            "the package would silently lose the feature masking"
        )
    if masks and not feature_mask_op.is_registered():
        raise ConversionError(f"{checkpoint}: no Core ML translation is registered for {OP_NAME}")

    logger.info("Converting to an ML program (%s, minimum deployment target iOS 16 / macOS 13)", precision)
    size = contract.INPUT_SIZE
    try:
        mlmodel = ct.convert(
            traced,
            inputs=[ct.ImageType(
                name=contract.INPUT_NAME, shape=(1, 3, size, size), color_layout=ct.colorlayout.RGB,
                scale=contract.INPUT_SCALE, bias=[contract.INPUT_BIAS] * 3,
            )],
            # float32 outputs: Swift's Float16 does not exist on Intel Macs, and the three final casts cost nothing.
            outputs=[ct.TensorType(name=name, dtype=np.float32) for name in contract.OUTPUT_SHAPES],
            convert_to="mlprogram",
            minimum_deployment_target=DEPLOYMENT_TARGET,
            compute_precision=PRECISIONS[precision],
        )
    except HairNetError:
        raise
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConversionError(f"{checkpoint}: coremltools could not convert the traced model: {first_line}") from error

    if palettize_bits:
        logger.info("Palettizing weights to %d bits (uniform look-up tables)", palettize_bits)
        mlmodel = palettize(mlmodel, palettize_bits)
    variant = precision + (f"+palettize{palettize_bits}" if palettize_bits else "")
    describe(mlmodel, payload, variant)
    return mlmodel


def convert(
    checkpoint: Path,
    output: Path | None = None,
    precision: str = "fp16",
    palettize_bits: int | None = None,
    force: bool = False,
) -> dict:
    """Convert and save atomically; returns a summary (output, size in bytes, seconds)."""
    start = time.perf_counter()
    checkpoint = Path(checkpoint)
    logger.info("Loading checkpoint %s", checkpoint)
    model, payload = load_checkpoint(checkpoint)
    config = model.config
    logger.info(
        "HairNet α=%s, masking %s (threshold %s, head stride %s), %s parameters",
        config.width_multiplier, "on" if config.masking else "off", config.threshold, config.head_stride,
        f"{sum(p.numel() for p in model.parameters()):,}",
    )
    output = Path(output) if output else default_output(checkpoint, precision, palettize_bits)
    check_output(output, force)
    with staging_folder(output) as staging:
        mlmodel = build(checkpoint, model, payload, precision, palettize_bits)
        logger.info("Saving %s", output)
        built = staging / output.name
        try:
            mlmodel.save(str(built))
            publish(built, output, staging)
        except OSError as error:
            raise ConversionError(f"{output}: cannot write the package ({error.strerror or error})") from None
    seconds = time.perf_counter() - start
    summary = {"output": str(output), "bytes": package_size(output), "seconds": round(seconds, 2)}
    logger.info("Saved %s (%.2f MB) in %.1f s", output, summary["bytes"] / 1e6, seconds)
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Convert a HairNet checkpoint into a Core ML ML program (.mlpackage, iOS 16 / macOS 13 or later).",
    )
    parser.add_argument("checkpoint", type=Path, help="HairNet checkpoint (.pt), e.g. checkpoints/hairnet.pt")
    parser.add_argument(
        "-o", "--output", type=Path,
        help="output .mlpackage (default: beside the checkpoint, named after it and the variant)",
    )
    parser.add_argument("--precision", choices=sorted(PRECISIONS), default="fp16", help="compute precision (default fp16)")
    parser.add_argument("--palettize", type=int, choices=PALETTE_BITS, help="palettize the weights to this many bits")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Progress from this script only; coremltools' own INFO chatter stays at the default WARNING level.
    logging.basicConfig(format="%(levelname)s: %(message)s")
    logger.setLevel(logging.INFO)
    try:
        convert(args.checkpoint, args.output, args.precision, args.palettize, args.force)
    except HairNetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
