"""The hair IoU a perfect model could reach through each crop rule: the framing's ceiling.

    python benchmarks/crop_ceiling.py [--data ../shared/data] [--k 1.54 1.8 2.0 2.2 2.4]
                                      [--split train] [--limit 200] [--out benchmarks/results]

For every photo with a hair mask, the photo is framed as evaluation frames it (head crop around the
detected face, or the padded whole photo), the ground-truth mask itself is cut to 224×224 as the
crop caches cut it, and pasted back onto the photo as predictions are: the pooled hair IoU of that
round trip against the full-size mask is what no model behind that crop can exceed. Hair outside
the crop (long hair below the chin, big curls beside a tight face box) and the 224-pixel resolution
account for the gap to 1. Measured on training splits by default, so that choosing k looks at no
evaluation image. Writes crop_ceiling.json and crop_ceiling.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from hairnet.contract import DEFAULT_CROP, CropRule
from hairnet.data import DATASET_FOLDERS, open_dataset
from hairnet.data.cache import crop_mask
from hairnet.data.faces import find_face, frame_face
from hairnet.files import write_files
from hairnet.metrics import ConfusionMatrix
from hairnet.postprocess import paste_back

DATASETS = ("celebamask-hq", "lfw-parts", "figaro1k", "fasseg")


def ceilings(dataset: str, root: Path, split: str, rules: list[CropRule], limit: int) -> dict:
    reader = open_dataset(dataset, root, split)
    items = reader.items[:limit]
    meters = {rule.k: {"all": ConfusionMatrix(("rest", "hair")), "face": ConfusionMatrix(("rest", "hair")),
                       "no_face": ConfusionMatrix(("rest", "hair"))} for rule in rules}
    failures: list = []
    faces = 0
    for _, sample in tqdm(reader.loaded(items, failures), total=len(items), desc=f"{dataset}/{split}", leave=False):
        if sample.hair is None:
            continue
        face = find_face(sample.image)
        faces += face is not None
        for rule in rules:
            box, _ = frame_face(face, *sample.image.size, rule)
            back = paste_back(crop_mask(sample.hair, box), box, *sample.image.size) > 0
            for key in ("all", "face" if face is not None else "no_face"):
                meters[rule.k][key].update(back, sample.hair)
    return {"dataset": dataset, "split": split, "images": len(items) - len(failures), "faces_found": faces,
            "ceilings": {str(k): {key: m.iou()["hair"] for key, m in parts.items()} for k, parts in meters.items()}}


def markdown(results: list[dict], rules: list[CropRule], seconds: float) -> str:
    lines = ["# Crop ceiling: the best hair IoU any model can reach behind each crop rule",
             "",
             f"Written by `benchmarks/crop_ceiling.py` in {seconds:.0f} s. The ground-truth mask is cut as the crop caches "
             "cut it (224×224, nearest) and pasted back as predictions are; pooled hair IoU against the full-size "
             f"mask. dx = {rules[0].dx:g}, dy = {rules[0].dy:g}; k is the crop side in face-box sides (calibrated "
             f"median {DEFAULT_CROP.k}). Photos without a detected face use the padded whole photo at every k.",
             "",
             "| dataset / split | images | faces found | " + " | ".join(f"k = {r.k:g}" for r in rules) + " |",
             "|---|---|---|" + "---|" * len(rules)]
    for r in results:
        cells = [f"{r['ceilings'][str(rule.k)]['all']:.3f}" for rule in rules]
        lines.append(f"| {r['dataset']} / {r['split']} | {r['images']} | {r['faces_found']} | " + " | ".join(cells) + " |")
    lines += ["", "Photos with a detected face only:", "",
              "| dataset / split | " + " | ".join(f"k = {r.k:g}" for r in rules) + " |",
              "|---|" + "---|" * len(rules)]
    for r in results:
        cells = [f"{r['ceilings'][str(rule.k)]['face']:.3f}" for rule in rules]
        lines.append(f"| {r['dataset']} / {r['split']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--k", type=float, nargs="+", default=[DEFAULT_CROP.k, 1.8, 2.0, 2.2, 2.4])
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=200, help="photos per dataset (the first N of the split)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    rules = [CropRule(k=k, dx=DEFAULT_CROP.dx, dy=DEFAULT_CROP.dy) for k in args.k]
    start = time.time()
    results = []
    for dataset in DATASETS:
        result = ceilings(dataset, args.data / DATASET_FOLDERS[dataset], args.split, rules, args.limit)
        print(json.dumps({k: v for k, v in result.items() if k != "ceilings"} |
                         {"all": {k: round(v["all"], 4) for k, v in result["ceilings"].items()}}), flush=True)
        results.append(result)
    seconds = time.time() - start
    write_files({args.out / "crop_ceiling.json": json.dumps({"split": args.split, "limit": args.limit, "results": results},
                                                            indent=1),
                 args.out / "crop_ceiling.md": markdown(results, rules, seconds)})
    print(f"wrote {args.out / 'crop_ceiling.md'}")


if __name__ == "__main__":
    main()
