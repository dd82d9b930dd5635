"""Calibrate the head-crop constants (k, dx, dy) on aligned CelebA-HQ faces (DESIGN.md §4).

CelebA-HQ images are aligned and framed consistently, so the whole image is the target square:
for each image where the cascade finds a face (x, y, w, h) in an image of side S,

    k = S / max(w, h),   dx = (S/2 − (x + w/2)) / w,   dy = (S/2 − (y + h/2)) / h,

and the rule takes the median of each (robust to the odd mis-detection). The interquartile
ranges say how well one rule fits all faces. Run as `hairnet calibrate-crop` or
`python -m hairnet.data.calibrate`; it prints JSON and changes nothing: copy the rounded
figures into CropRule's defaults (contract.py) and regenerate the golden files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..contract import CropRule
from ..errors import DataError
from ..postprocess import head_crop_box
from . import open_dataset
from .faces import find_face

DATA_DIR = Path(__file__).resolve().parents[4] / "shared" / "data"
DEFAULT_SOURCES = (("celebamask-hq", DATA_DIR / "CelebAMask-HQ"), ("celeba-hq-attrs", DATA_DIR / "CelebA-HQ-attrs"))
DECIMALS = 2  # the spread across faces is several hundredths; more digits would be noise


def measure(name: str, root: Path, split: str = "train") -> dict:
    """Per-image (k, dx, dy) for every image of one CelebA-HQ split where a face is found."""
    reader = open_dataset(name, root, split)
    values = []
    for item in reader.items:
        image = reader.load(item).image
        face = find_face(image)
        if face is None:
            continue
        x, y, w, h = face
        side = max(image.width, image.height)  # a non-square image counts as padded to a square
        values.append((side / max(w, h), (image.width / 2 - (x + w / 2)) / w, (image.height / 2 - (y + h / 2)) / h,
                       image.width, image.height, x, y, w, h))
    return {"dataset": name, "root": str(root), "split": split, "images": len(reader.items),
            "values": np.array(values, dtype=np.float64).reshape(-1, 9)}


def summarise(values: np.ndarray, images: int) -> dict:
    summary = {"images": images, "detected": len(values),
               "detection_rate": round(len(values) / images, 4) if images else 0.0}
    for column, name in enumerate(("k", "dx", "dy")):
        if len(values):
            q1, median, q3 = np.percentile(values[:, column], [25, 50, 75])
            summary[name] = {"median": round(float(median), 4), "q1": round(float(q1), 4),
                             "q3": round(float(q3), 4), "iqr": round(float(q3 - q1), 4)}
    return summary


def crop_iou(rule: CropRule, values: np.ndarray) -> float:
    """Median IoU between the rule's crop and the image square: how well the rule reproduces the framing."""
    ious = []
    for _, _, _, width, height, *face in values:
        box = head_crop_box(face, rule)
        side = max(width, height)
        ix = max(0.0, min(box.x + box.side, (width + side) / 2) - max(box.x, (width - side) / 2))
        iy = max(0.0, min(box.y + box.side, (height + side) / 2) - max(box.y, (height - side) / 2))
        ious.append(ix * iy / (box.side ** 2 + side ** 2 - ix * iy))
    return round(float(np.median(ious)), 4) if ious else 0.0


def calibrate_crop(sources=DEFAULT_SOURCES, split: str = "train") -> dict:
    """Measure on every (dataset name, root) source and fit one rule on all detections together."""
    started = time.time()
    measured = [measure(name, Path(root), split) for name, root in sources]
    values = np.concatenate([m["values"] for m in measured])
    if not len(values):
        raise DataError("calibration found no face in any image; nothing to fit")
    overall = summarise(values, sum(m["images"] for m in measured))
    rule = CropRule(**{name: round(overall[name]["median"], DECIMALS) + 0.0  # + 0.0: no "-0.0"
                       for name in ("k", "dx", "dy")})
    return {
        "rule": {"k": rule.k, "dx": rule.dx, "dy": rule.dy},
        "overall": overall,
        "median_crop_iou": crop_iou(rule, values),
        "per_source": [{"dataset": m["dataset"], "root": m["root"], "split": m["split"],
                        **summarise(m["values"], m["images"])} for m in measured],
        "detector": "OpenCV haarcascade_frontalface_default (hairnet.data.faces)",
        "seconds": round(time.time() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hairnet calibrate-crop", description=__doc__.splitlines()[0])
    parser.add_argument("--source", action="append", metavar="DATASET=ROOT",
                        help="a CelebA-HQ reader and its folder, repeatable (default: celebamask-hq and "
                             f"celeba-hq-attrs under {DATA_DIR})")
    parser.add_argument("--split", default="train")
    parser.add_argument("--output", type=Path, help="also write the JSON report here")
    args = parser.parse_args(argv)
    sources = DEFAULT_SOURCES
    if args.source:
        pairs = [s.split("=", 1) for s in args.source]
        if any(len(p) != 2 for p in pairs):
            parser.error("--source must be DATASET=ROOT")
        sources = [(name, Path(root)) for name, root in pairs]
    report = calibrate_crop(sources, args.split)
    text = json.dumps(report, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
