"""Golden vectors: small JSON cases that Python writes and both Python and Swift check.

    python -m hairnet.golden            # rewrite tests/golden/*.json
    python -m hairnet.golden --check    # exit 1 if the committed files are stale

Values are float32-representable so that Swift's Float reads exactly the number Python used.
Non-finite floats are written as the strings "nan", "inf", "-inf" (JSON has no NaN); Swift
decodes them with `nonConformingFloatDecodingStrategy`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .contract import ATTRIBUTES, HAIR_COLORS, INPUT_SIZE, THRESHOLD, CropRule
from .files import write_file
from .postprocess import decode_attributes, head_crop_box, label_map, paste_back, vision_box_to_pixels, whole_image_box

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "tests" / "golden"
SEED = 20201


def _json_float(value: float):
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _floats(values) -> list:
    return [_json_float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1).tolist()]


def _label_case(name: str, probs: np.ndarray, threshold: float = THRESHOLD, row_padding: int = 0) -> dict:
    """One eq. 2 case; `row_padding` lays the buffer out with a row stride wider than the width."""
    probs = probs.astype(np.float32)
    _, height, width = probs.shape
    row_stride = width + row_padding
    buffer = np.full((2, height, row_stride), -7.0, dtype=np.float32)  # padding never read
    buffer[:, :, :width] = probs
    return {
        "name": name,
        "threshold": threshold,
        "shape": [1, 2, height, width],
        "strides": [2 * height * row_stride, height * row_stride, row_stride, 1],
        "values": _floats(buffer),
        "labels": label_map(probs, threshold).reshape(-1).tolist(),
    }


def label_map_cases(rng: np.random.Generator) -> list[dict]:
    f32 = np.float32
    half = float(f32(0.5))
    above = float(np.nextafter(f32(0.5), f32(1)))
    below = float(np.nextafter(f32(0.5), f32(0)))
    nan = float("nan")
    edge = np.array(
        [
            [[half, above, below, 0.9, 0.6, nan, 0.7, nan, 0.0]],
            [[half, above, above, 0.9, 0.6, 0.7, nan, nan, 1.0]],
        ],
        dtype=np.float32,
    )
    cases = [
        _label_case("edges: exact threshold, ties to hair, NaN", edge),
        _label_case("random 7x5", rng.random((2, 7, 5))),
        _label_case("random 6x9, padded rows", rng.random((2, 6, 9)), row_padding=3),
        _label_case("random 4x4, threshold 0.3", rng.random((2, 4, 4)), threshold=0.3),
        _label_case("all background", rng.random((2, 3, 3)) * 0.5),
        _label_case("ties everywhere", np.repeat(rng.random((1, 3, 4)), 2, axis=0)),
    ]
    return cases


def attribute_cases(rng: np.random.Generator) -> list[dict]:
    def case(name, color, attrs):
        color = np.asarray(color, dtype=np.float32)
        attrs = np.asarray(attrs, dtype=np.float32)
        try:
            decoded = decode_attributes(color, attrs)
            expected = {
                "color": decoded["hair_color"]["label"],
                "color_index": HAIR_COLORS.index(decoded["hair_color"]["label"]),
                "color_probability": decoded["hair_color"]["probability"],
                "present": [decoded["attributes"][a]["present"] for a in ATTRIBUTES],
            }
            error = None
        except ValueError:
            expected, error = None, "non-finite"
        return {"name": name, "hair_color": _floats(color), "attributes": _floats(attrs),
                "expected": expected, "error": error}

    def softmax(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    cases = [case(f"random {i}", softmax(rng.normal(size=4) * 2), rng.random(4)) for i in range(6)]
    cases += [
        case("tie between black and brown goes to the first", [0.4, 0.1, 0.4, 0.1], [0.5, 0.51, 0.49, 0.0]),
        case("exact threshold is absent", [0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5]),
        case("NaN color", [float("nan"), 0.2, 0.3, 0.4], [0.1, 0.9, 0.1, 0.9]),
        case("NaN attribute", [0.1, 0.2, 0.3, 0.4], [0.1, float("nan"), 0.1, 0.9]),
    ]
    return cases


def _pattern() -> np.ndarray:
    """A 224×224 label pattern whose every cell differs from its neighbours, to catch offsets."""
    r, c = np.mgrid[0:INPUT_SIZE, 0:INPUT_SIZE]
    return ((r * 7 + c * 3) % 3).astype(np.uint8)


def _paste_samples(box, width: int, height: int, rng: np.random.Generator, count: int = 64) -> list:
    pasted = paste_back(_pattern(), box, width, height)
    xs = rng.integers(0, width, size=count)
    ys = rng.integers(0, height, size=count)
    # Always include the four corners of the square clipped to the photo (off-by-one territory).
    corners_x = [max(0, box.x), min(width, box.x + box.side) - 1]
    corners_y = [max(0, box.y), min(height, box.y + box.side) - 1]
    points = [(x, y) for x in corners_x for y in corners_y if 0 <= x < width and 0 <= y < height]
    points += list(zip(xs.tolist(), ys.tolist()))
    return [[x, y, int(pasted[y, x])] for x, y in points]


def crop_cases(rng: np.random.Generator) -> list[dict]:
    rules = [CropRule(), CropRule(k=1.7, dx=0.05, dy=-0.2), CropRule(k=3.0, dx=-0.1, dy=0.15)]
    pixel_boxes = [
        ("centred face", (640, 480), (250.0, 150.0, 140.0, 160.0)),
        ("face at the left border", (640, 480), (0.0, 200.0, 120.0, 120.0)),
        ("face past the top-right corner", (640, 480), (590.0, -30.0, 100.0, 90.0)),
        ("tiny image", (3, 2), (0.5, 0.25, 2.0, 1.5)),
        ("huge image", (40000, 30000), (12345.5, 6789.25, 3000.0, 3500.0)),
        ("fractional box", (250, 250), (77.3, 81.9, 95.6, 95.6)),
    ]
    cases = []
    for name, (width, height), face in pixel_boxes:
        for rule in rules:
            box = head_crop_box(face, rule)
            cases.append({
                "name": f"{name}, k={rule.k}", "kind": "face", "rule": {"k": rule.k, "dx": rule.dx, "dy": rule.dy},
                "image": [width, height], "face_box": list(face), "crop": list(box.as_tuple()),
                "paste_samples": _paste_samples(box, width, height, rng),
            })
    vision_boxes = [
        ("vision box, centre", (1080, 1920), (0.3, 0.4, 0.4, 0.225)),
        ("vision box, bottom-left corner", (4032, 3024), (0.0, 0.0, 0.2, 0.25)),
        ("vision box, top edge", (800, 600), (0.55, 0.7, 0.3, 0.3)),
    ]
    for name, (width, height), normalized in vision_boxes:
        face = vision_box_to_pixels(normalized, width, height)
        box = head_crop_box(face, rules[0])
        cases.append({
            "name": name, "kind": "vision", "rule": {"k": rules[0].k, "dx": rules[0].dx, "dy": rules[0].dy},
            "image": [width, height], "vision_box": list(normalized), "face_box": list(face),
            "crop": list(box.as_tuple()), "paste_samples": _paste_samples(box, width, height, rng),
        })
    for width, height in [(400, 300), (300, 401), (1, 1), (224, 224), (7, 1000)]:
        box = whole_image_box(width, height)
        cases.append({
            "name": f"whole image {width}x{height}", "kind": "whole_image", "image": [width, height],
            "crop": list(box.as_tuple()), "paste_samples": _paste_samples(box, width, height, rng),
        })
    return cases


def build() -> dict[str, dict]:
    rng = np.random.default_rng(SEED)
    return {
        "label_map.json": {"description": "eq. 2 label maps from stride-laid-out probabilities", "cases": label_map_cases(rng)},
        "attributes.json": {"description": "hair color argmax and attribute decisions", "colors": list(HAIR_COLORS),
                            "attributes": list(ATTRIBUTES), "cases": attribute_cases(rng)},
        "crop.json": {"description": "head-crop rule, Vision boxes, whole-image fallback and paste-back; "
                      "paste_samples are [x, y, label] of a 224x224 pattern label[r][c] = (7r + 3c) mod 3 "
                      "pasted back onto the photo", "input_size": INPUT_SIZE, "cases": crop_cases(rng)},
    }


def render(content: dict) -> str:
    return json.dumps(content, indent=1, allow_nan=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the JSON files live")
    parser.add_argument("--check", action="store_true", help="fail if the files differ from a fresh build")
    args = parser.parse_args(argv)
    stale = []
    for name, content in build().items():
        path = args.dir / name
        text = render(content)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        write_file(path, text)
        print(f"wrote {path}")
    if stale:
        print("stale golden files (run `python -m hairnet.golden`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
