#!/usr/bin/env python3
"""Prove that a HairNet .mlpackage computes what its PyTorch checkpoint computes (DESIGN.md §5).

    python conversion/verify.py HairNet.mlpackage --checkpoint checkpoints/hairnet.pt [--images DIR] [--json OUT]

1. Structure: the op types used, static shapes, no upsampling factor above 2, the input and
   outputs of the contract, its metadata keys, and one decomposition of `hairnet::feature_mask`
   (slice at the receptive-field centres → greater → cast → mul) per node of the traced model.
2. Numerics without a Mac: the saved program is executed with a NumPy MIL interpreter
   (mil_interpreter.py) on real head crops and compared with PyTorch: max |Δ| of the
   probabilities, the fraction of pixels with the same eq. 2 label, the same color and
   attribute decisions.
3. On macOS, the same comparison through Core ML itself (MLModel.predict).

Images given with --images are head crops (as HairNetKit cuts them; the aligned CelebA-HQ
images of ../shared/data are used by default). Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import coremltools as ct
from coremltools.converters.mil.mil import types

import mil_interpreter
from feature_mask_op import receptive_field_centre
from hairnet import contract
from hairnet.checkpoint import load_checkpoint
from hairnet.errors import ConversionError, HairNetError
from hairnet.inference import run_crops
from hairnet.masking import OP_NAME, binary_mask
from hairnet.postprocess import crop_image, decode_attributes, label_map, whole_image_box
from to_coreml import feature_mask_nodes, trace

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "CelebAMask-HQ" / "CelebA-HQ-img"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
UPSAMPLING_OPS = {
    "upsample_nearest_neighbor", "upsample_bilinear", "resize_nearest_neighbor", "resize_bilinear", "resize",
    "conv_transpose", "crop_resize",
}
MAX_UPSAMPLING = 2


def thresholds_for(precision: str, palettized: bool) -> dict:
    """Pass marks. Label agreement: the issue's requirement. Max |Δ| bounds rounding error only, set
    well above what each precision measured on decisive checkpoints (fp32 ~1e-5, fp16 ~0.02, one
    pixel at a steep sigmoid) and far below what a wrong weight or op does (~0.5). Palettized
    weights approximate the checkpoint by design: there max |Δ| is reported, not judged."""
    return {
        "min_label_agreement": 0.999 if precision == "fp32" else 0.995,
        "max_abs_diff": None if palettized else (1e-3 if precision == "fp32" else 0.1),
    }


# --- images -----------------------------------------------------------------------------------

def load_crops(directory: Path, limit: int) -> list[tuple[str, np.ndarray]]:
    """The first `limit` images of `directory` (sorted by name), taken as head crops: padded to a
    square when they are not one and resized to 224×224 (postprocess.crop_image)."""
    if not directory.is_dir():
        raise ConversionError(f"{directory}: no such image folder")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise ConversionError(f"{directory}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    crops = []
    for path in files:
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except OSError as error:
            raise ConversionError(f"{path}: unreadable image ({error})") from None
        crops.append((path.name, crop_image(image, whole_image_box(image.width, image.height))[0]))
    return crops


# --- structure --------------------------------------------------------------------------------

def check_package_files(package: Path) -> None:
    """The files an .mlpackage is made of, each named when missing, unreadable or cut short —
    before coremltools reads them and says 'index out of bounds' or names an item by its UUID."""
    manifest = package / "Manifest.json"
    try:
        items = [package / "Data" / entry["path"] for entry in json.loads(manifest.read_text())["itemInfoEntries"].values()]
    except FileNotFoundError:
        raise ConversionError(f"{manifest}: missing (an .mlpackage lists its files there)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise ConversionError(f"{manifest}: not an .mlpackage manifest ({type(error).__name__}: {error})") from None
    for item in items:
        if not item.exists():
            raise ConversionError(f"{item}: listed in {manifest} but missing")
    for weights in sorted((package / "Data" / "com.apple.CoreML" / "weights").glob("*.bin")):
        check_weight_file(weights)


def check_weight_file(path: Path) -> None:
    """MIL's blob storage: a 64-byte header (blob count, version), then per blob 64 bytes of
    metadata (sentinel 0xDEADBEEF, data type, size, offset) followed by its data, 64-byte aligned."""
    data = path.read_bytes()

    def refuse(where: str) -> ConversionError:
        return ConversionError(f"{path}: truncated or corrupt at {where} (the file has {len(data):,} bytes)")

    if len(data) < 64:
        raise refuse("its 64-byte header")
    count, position = struct.unpack_from("<I", data)[0], 64
    for index in range(count):
        if position + 64 > len(data):
            raise refuse(f"weight blob {index + 1} of {count}")
        sentinel, _, size, offset = struct.unpack_from("<IIQQ", data, position)
        # Data after its own metadata: the walk only moves forward, whatever the file claims.
        if sentinel != 0xDEADBEEF or offset < position + 64 or offset + size > len(data):
            raise refuse(f"weight blob {index + 1} of {count}")
        position = (offset + size + 63) // 64 * 64


def non_const_ops(function) -> list:
    return [op for op in function.operations if op.op_type != "const"]


def program_precision(function) -> str:
    fp16 = any(var.dtype == types.fp16 for op in non_const_ops(function) for var in op.outputs)
    return "fp16" if fp16 else "fp32"


def palette_bits(function) -> list[int]:
    return sorted({int(np.log2(op.lut.shape[0])) for op in function.operations if op.op_type == "constexpr_lut_to_dense"})


def check_interface(spec) -> list[str]:
    """The input and outputs of the contract (§5)."""
    problems = []
    inputs = list(spec.description.input)
    if [i.name for i in inputs] != [contract.INPUT_NAME]:
        problems.append(f"inputs are {[i.name for i in inputs]}, expected [{contract.INPUT_NAME!r}]")
    else:
        feature = inputs[0].type
        image = feature.imageType
        rgb = ct.proto.FeatureTypes_pb2.ImageFeatureType.RGB
        if feature.WhichOneof("Type") != "imageType" or image.colorSpace != rgb:
            problems.append(f"input {contract.INPUT_NAME!r} is not an RGB image")
        elif (image.width, image.height) != (contract.INPUT_SIZE, contract.INPUT_SIZE):
            problems.append(f"input {contract.INPUT_NAME!r} is {image.width}×{image.height}, expected {contract.INPUT_SIZE}×{contract.INPUT_SIZE}")
    outputs = {o.name: o for o in spec.description.output}
    if list(outputs) != list(contract.OUTPUT_SHAPES):
        problems.append(f"outputs are {list(outputs)}, expected {list(contract.OUTPUT_SHAPES)}")
    for name, shape in contract.OUTPUT_SHAPES.items():
        if name in outputs and tuple(outputs[name].type.multiArrayType.shape) != shape:
            problems.append(f"output {name!r} has shape {tuple(outputs[name].type.multiArrayType.shape)}, expected {shape}")
    return problems


def check_metadata(spec, expected: dict[str, str]) -> list[str]:
    """Every contract key with its exact value, and a filled-in model card."""
    meta = spec.description.metadata
    problems = []
    for key, value in expected.items():
        if key not in meta.userDefined:
            problems.append(f"metadata key {key!r} is missing")
        elif meta.userDefined[key] != value:
            problems.append(f"metadata key {key!r} is {meta.userDefined[key]!r}, expected {value!r}")
    for field in ("shortDescription", "author", "license", "versionString"):
        if not getattr(meta, field):
            problems.append(f"model card field {field!r} is empty")
    return problems


def check_program(function) -> list[str]:
    """Static shapes and upsampling factors."""
    problems = []
    produced = [(f"input {name!r}", var) for name, var in function.inputs.items()]
    produced += [(f"{op.op_type} {op.name!r}", var) for op in non_const_ops(function) for var in op.outputs]
    for where, var in produced:
        if var.shape is not None and any(not isinstance(d, (int, np.integer)) for d in var.shape):
            problems.append(f"{where} has a non-static shape {var.shape}")
    for op in non_const_ops(function):
        if op.op_type in UPSAMPLING_OPS:
            source, result = op.inputs["x"].shape, op.outputs[0].shape
            factor = max(result[-1] / source[-1], result[-2] / source[-2])
            if factor > MAX_UPSAMPLING:
                problems.append(f"{op.op_type} {op.name!r} upsamples by {factor:g} (at most {MAX_UPSAMPLING} allowed)")
    return problems


def mask_decompositions(function) -> list:
    """The `greater` ops whose input is a strided slice: where a feature_mask was decomposed."""
    return [
        op for op in function.operations
        if op.op_type == "greater" and op.x.op is not None and op.x.op.op_type == "slice_by_index"
    ]


def _sampling(sliced) -> tuple[list[int], list[int]]:
    """The effective begin and stride of a slice_by_index (a set begin_mask bit means 0)."""
    rank = sliced.x.rank
    masked = [False] * rank if sliced.begin_mask is None else [bool(m) for m in sliced.begin_mask.val]
    begin = [0 if m else int(b) for b, m in zip(sliced.begin.val, masked)]
    stride = [1] * rank if sliced.stride is None else [int(v) for v in sliced.stride.val]
    return begin, stride


def check_masking(function, expected_count: int, threshold: float) -> list[str]:
    """Each decomposition samples the receptive-field centres and feeds cast → mul."""
    found = mask_decompositions(function)
    problems = []
    if len(found) != expected_count:
        problems.append(
            f"expected {expected_count} decomposition(s) of {OP_NAME} (one per node of the traced model), found {len(found)}"
        )
    for greater in found:
        sliced = greater.x.op
        (h, w), (ph, pw) = sliced.outputs[0].shape[-2:], sliced.x.shape[-2:]
        s = ph // h
        begin, stride = _sampling(sliced)
        centre = receptive_field_centre(s)
        if ph % h or ph // h != pw // w or begin[-2:] != [centre, centre] or stride[-2:] != [s, s]:
            problems.append(
                f"mask sampling {sliced.name!r} reads {ph}×{pw} → {h}×{w} from {begin[-2:]} in steps of {stride[-2:]}; "
                f"the receptive-field centres of stride {s} start at [{centre}, {centre}] in steps of [{s}, {s}]"
            )
        if not np.isclose(float(greater.y.val), threshold, atol=1e-3):
            problems.append(f"mask {greater.name!r} compares with {float(greater.y.val)}, expected the threshold {threshold}")
        consumers = [c for out in greater.outputs for c in out.child_ops]
        chains = [c for c in consumers if c.op_type == "cast" and any(g.op_type == "mul" for g in c.outputs[0].child_ops)]
        if not chains:
            problems.append(f"mask {greater.name!r} does not feed cast → mul")
    return problems


# --- numerics ---------------------------------------------------------------------------------

def compare(reference: list[tuple], candidate: list[tuple], names: list[str]) -> dict:
    """Label agreement (eq. 2), max |Δ| of the probabilities and the decisions, image by image."""
    per_image, same_pixels, all_pixels, diffs = [], 0, 0, Counter()
    for name, ref, out in zip(names, reference, candidate):
        labels_ref, labels_out = label_map(ref[0]), label_map(out[0])
        same = int((labels_ref == labels_out).sum())
        same_pixels, all_pixels = same_pixels + same, all_pixels + labels_ref.size
        image_diffs = {key: float(np.max(np.abs(np.asarray(r, np.float64) - np.asarray(o, np.float64))))
                       for key, r, o in zip(contract.OUTPUT_SHAPES, ref, out)}
        for key, value in image_diffs.items():
            diffs[key] = max(diffs[key], value)
        decoded_ref, decoded_out = decode_attributes(ref[1], ref[2]), decode_attributes(out[1], out[2])
        decisions = {
            "hair_color": [decoded_ref["hair_color"]["label"], decoded_out["hair_color"]["label"]],
            **{k: [decoded_ref["attributes"][k]["present"], decoded_out["attributes"][k]["present"]] for k in contract.ATTRIBUTES},
        }
        per_image.append({
            "image": name,
            "label_agreement": same / labels_ref.size,
            "max_abs_diff": image_diffs,
            "decisions_agree": all(a == b for a, b in decisions.values()),
            "decisions": decisions,
        })
    return {
        "label_agreement": same_pixels / all_pixels,
        "worst_label_agreement": min(image["label_agreement"] for image in per_image),
        "max_abs_diff": max(diffs.values()),
        "max_abs_diff_by_output": dict(diffs),
        "decisions_agree": all(image["decisions_agree"] for image in per_image),
        "per_image": per_image,
    }


def judge(result: dict, thresholds: dict) -> dict:
    failures = []
    if result["label_agreement"] < thresholds["min_label_agreement"]:
        failures.append(f"label agreement {result['label_agreement']:.4%} < {thresholds['min_label_agreement']:.2%}")
    if thresholds["max_abs_diff"] is not None and result["max_abs_diff"] > thresholds["max_abs_diff"]:
        failures.append(f"max |Δ| {result['max_abs_diff']:.3g} > {thresholds['max_abs_diff']:g}")
    if not result["decisions_agree"]:
        failures.append("color or attribute decisions differ")
    if result.get("mask_agreement", 1.0) < 1.0:
        failures.append(f"the decomposed {OP_NAME} disagrees with hairnet.masking.binary_mask on "
                        f"{1 - result['mask_agreement']:.2%} of the mask cells")
    return {**result, "thresholds": thresholds, "passed": not failures, "failures": failures}


def interpreter_outputs(function, crops: list[np.ndarray], threshold: float) -> tuple[list[tuple], float]:
    """The program's outputs for each crop, and the fraction of feature-mask cells on which each
    decomposition agrees with hairnet.masking.binary_mask applied to the program's own
    probabilities: exact by construction when the decomposition is right, whatever the precision."""
    masks = mask_decompositions(function)
    wanted = tuple(name for greater in masks for name in (greater.x.op.x.name, greater.outputs[0].name))
    results, same, cells = [], 0, 0
    for crop in crops:
        # The ImageType hands the program RGB pixel values 0…255 as a 1×3×H×W tensor.
        out = mil_interpreter.run(
            function, {contract.INPUT_NAME: crop.transpose(2, 0, 1)[None].astype(np.float32)}, wanted
        )
        results.append(tuple(out[name][0] for name in contract.OUTPUT_SHAPES))
        for greater in masks:
            mask = out[greater.outputs[0].name]
            probs = torch.from_numpy(out[greater.x.op.x.name].astype(np.float32))
            expected = binary_mask(torch.empty(mask.shape), probs, threshold).numpy().astype(bool)
            same, cells = same + int((mask == expected).sum()), cells + mask.size
    return results, (same / cells if cells else 1.0)


def coreml_outputs(package: Path, crops: list[np.ndarray]) -> list[tuple]:
    mlmodel = ct.models.MLModel(str(package))
    results = []
    for crop in crops:
        out = mlmodel.predict({contract.INPUT_NAME: Image.fromarray(crop)})
        results.append(tuple(np.asarray(out[name])[0] for name in contract.OUTPUT_SHAPES))
    return results


# --- the whole verification -------------------------------------------------------------------

def verify(package: Path, checkpoint: Path, images: Path | None = None, limit: int = 8) -> dict:
    package, checkpoint, images = Path(package), Path(checkpoint), Path(images) if images else DEFAULT_IMAGES
    if not package.is_dir():
        raise ConversionError(f"{package}: no such .mlpackage")
    check_package_files(package)
    model, payload = load_checkpoint(checkpoint)
    try:
        spec, function = mil_interpreter.load_program(package)
    except HairNetError:
        raise
    except Exception as error:
        raise ConversionError(f"{package}: unreadable package ({str(error).strip().splitlines()[0]})") from None

    ops = non_const_ops(function)
    precision = program_precision(function)
    expected_masks = feature_mask_nodes(trace(model))
    structure = (
        check_interface(spec)
        + check_metadata(spec, contract.metadata(payload["crop_rule"], payload.get("evaluation")))
        + check_program(function)
        + check_masking(function, expected_masks, model.config.threshold)
    )
    report = {
        "package": str(package),
        "checkpoint": str(checkpoint),
        "precision": precision,
        "palette_bits": palette_bits(function),
        "op_types": sorted({op.op_type for op in function.operations}),
        "op_counts": dict(sorted(Counter(op.op_type for op in ops).items())),
        "structure": {"passed": not structure, "problems": structure},
    }

    crops = load_crops(images, limit)
    names, pixels = [name for name, _ in crops], [crop for _, crop in crops]
    reference = list(zip(*run_crops(model, np.stack(pixels))))
    thresholds = thresholds_for(precision, bool(report["palette_bits"]))
    try:
        outputs, mask_agreement = interpreter_outputs(function, pixels, model.config.threshold)
        numerics = judge({**compare(reference, outputs, names), "mask_agreement": mask_agreement}, thresholds)
    except mil_interpreter.UnsupportedOpsError as error:
        numerics = {"passed": False, "failures": [str(error)], "unsupported_op_types": mil_interpreter.unsupported_op_types(function)}
    report["numerics"] = {"engine": "NumPy MIL interpreter", "images": len(crops), **numerics}
    for key in ("label_agreement", "max_abs_diff", "decisions_agree", "mask_agreement"):
        report[key] = numerics.get(key)

    if sys.platform == "darwin":
        report["coreml"] = {"engine": "MLModel.predict", **judge(compare(reference, coreml_outputs(package, pixels), names), thresholds)}
    else:
        report["coreml"] = {"skipped": "Core ML runs only on macOS"}
    report["passed"] = all(report[k].get("passed", True) for k in ("structure", "numerics", "coreml"))
    return report


def summary(report: dict) -> str:
    numerics = report["numerics"]
    lines = [
        f"Package {report['package']} ({report['precision']}"
        + (f", palettized {'/'.join(map(str, report['palette_bits']))}-bit" if report["palette_bits"] else "") + ")",
        f"Op types: {', '.join(report['op_types'])}",
        "Structure: " + ("ok" if report["structure"]["passed"] else "FAILED\n  " + "\n  ".join(report["structure"]["problems"])),
    ]
    for key in ("numerics", "coreml"):
        check = report[key]
        if "skipped" in check:
            lines.append(f"Core ML check: skipped ({check['skipped']})")
            continue
        line = f"{check['engine']} on {numerics['images']} image(s): "
        if "label_agreement" in check:
            line += (f"label agreement {check['label_agreement']:.4%} (worst image {check['worst_label_agreement']:.4%}), "
                     f"max |Δ| {check['max_abs_diff']:.3g}, decisions agree: {'yes' if check['decisions_agree'] else 'NO'}")
        lines.append(line + (" — ok" if check["passed"] else " — FAILED: " + "; ".join(check["failures"])))
    lines.append("VERIFIED" if report["passed"] else "VERIFICATION FAILED")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Verify a HairNet .mlpackage against its PyTorch checkpoint.")
    parser.add_argument("package", type=Path, help="the .mlpackage to check")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the checkpoint it was converted from")
    parser.add_argument("--images", type=Path, help=f"folder of head crops (default: {DEFAULT_IMAGES})")
    parser.add_argument("--max-images", type=int, default=8, help="use at most this many images (default 8)")
    parser.add_argument("--json", type=Path, help="write the full report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = verify(args.package, args.checkpoint, args.images, args.max_images)
    except HairNetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
