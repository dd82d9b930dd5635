"""Paper-style evaluation (Table 1 segmentation, Table 2 attributes) on full-size masks.

Each photo is framed as at inference (head crop around the detected face, or the whole photo
padded to a square when no face is found — counted), run through the model, and the label map is
pasted back onto the photo, so the figures are those a user of `predict` would see.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .checkpoint import load_checkpoint
from .contract import ATTRIBUTES, HAIR_COLORS, LABEL_HAIR, LABEL_SKIN
from .data import open_dataset
from .data.faces import frame
from .files import png_bytes, write_file
from .inference import CropAnalysis, analyze_crops, overlay
from .metrics import BinaryCounts, ColorCounts, ConfusionMatrix

# Paper (Borza et al., IJCB 2020), Tables 1 and 2, for reports side by side.
PAPER_SEGMENTATION = {
    "celebamask-hq": {"hair_iou": 0.939},
    "figaro1k": {"hair_iou": 0.903},
}
PAPER_ATTRIBUTE_ACCURACY = {"color": 0.9345, "straight": 0.9460, "wavy": 0.9430, "bangs": 0.9441, "bald": 0.9810}


def _ground_truth(hair: np.ndarray | None, skin: np.ndarray | None) -> np.ndarray:
    labels = np.zeros((hair if hair is not None else skin).shape, dtype=np.uint8)
    if skin is not None:
        labels[skin] = LABEL_SKIN
    if hair is not None:
        labels[hair] = LABEL_HAIR
    return labels


def analyse_photo(model, image, rule, flip: bool = False, source: str = "input") -> tuple[CropAnalysis, bool]:
    """(analysis, face found): the photo framed as evaluation frames it (the head crop, or the padded
    whole photo when no face is found) and run through the model."""
    box, face_found = frame(image, rule)
    (analysis,) = analyze_crops(model, image, [box], flip, source=source)
    return analysis, face_found


def analysed(model, reader, items: list, rule, flip: bool, failures: list):
    """(item, sample, face found, analysis) for each item that decodes (`analyse_photo`); one that
    fails to decode is recorded in `failures` and skipped."""
    for item, sample in reader.loaded(items, failures):
        analysis, face_found = analyse_photo(model, sample.image, rule, flip, str(item.image_path))
        yield item, sample, face_found, analysis


def evaluate(
    checkpoint: Path,
    dataset: str,
    root: Path,
    split: str = "val",
    masking: bool = True,
    flip: bool = False,
    report_dir: Path | None = None,
    limit: int | None = None,
) -> dict:
    model, payload = load_checkpoint(checkpoint)
    model.masking = masking and model.config.masking
    rule = payload["crop_rule"]
    reader = open_dataset(dataset, root, split)
    items = reader.items[:limit] if limit else reader.items

    three_class = ConfusionMatrix(("background", "skin", "hair"))
    hair_only = ConfusionMatrix(("rest", "hair"))
    skin_only = ConfusionMatrix(("rest", "skin"))
    color = ColorCounts(HAIR_COLORS)
    attributes = {name: BinaryCounts() for name in ATTRIBUTES}
    per_image, fallbacks, failures = [], 0, []
    segmented = both_known = 0
    start = time.time()
    for item, sample, face_found, analysis in tqdm(analysed(model, reader, items, rule, flip, failures),
                                                   total=len(items), desc=f"evaluate {dataset}/{split}", leave=False):
        fallbacks += not face_found
        color.update(np.array([analysis.hair_color.argmax()]), np.array([sample.color]))
        for index, name in enumerate(ATTRIBUTES):
            attributes[name].update(np.array([analysis.attributes[index] > 0.5]), sample.attributes[index : index + 1])
        if sample.hair is None and sample.skin is None:
            continue
        segmented += 1
        predicted = analysis.labels(*sample.image.size)
        if sample.hair is not None:
            hair_only.update(predicted == LABEL_HAIR, sample.hair)
            tp = np.count_nonzero((predicted == LABEL_HAIR) & sample.hair)
            union = np.count_nonzero((predicted == LABEL_HAIR) | sample.hair)
            per_image.append({"stem": item.stem, "hair_iou": tp / union if union else 1.0,
                              "face_found": face_found, "path": str(item.image_path)})
        if sample.skin is not None:
            skin_only.update(predicted == LABEL_SKIN, sample.skin)
        if sample.hair is not None and sample.skin is not None:
            both_known += 1
            three_class.update(predicted, _ground_truth(sample.hair, sample.skin))

    result: dict = {
        "dataset": dataset, "split": split, "root": str(root), "checkpoint": str(checkpoint),
        "masking": model.masking, "flip_tta": flip, "images": len(items), "failed_images": failures,
        "face_fallback": fallbacks, "seconds": round(time.time() - start, 1), "reader": reader.report(),
    }
    if segmented:
        # Table 1 figures: over background/skin/hair where both masks are known, else hair vs rest.
        table = three_class if both_known == segmented else hair_only
        result |= {
            "segmentation_images": segmented,
            "classes": list(table.class_names),
            "hair_iou": hair_only.iou()["hair"],
            "hair_iou_per_image_mean": float(np.mean([p["hair_iou"] for p in per_image])) if per_image else math.nan,
            "skin_iou": skin_only.iou()["skin"] if skin_only.matrix.sum() else None,
            "pixel_accuracy": table.pixel_accuracy(),
            "miou": table.mean_iou(),
            "macc": table.mean_accuracy(),
            "confusion_matrix": table.matrix.tolist(),
        }
    result["attributes"] = {name: counts.summary() for name, counts in attributes.items() if counts.summary()["n"]}
    if color.summary()["n"]:
        result["hair_color"] = color.summary()
    if report_dir:
        write_report(Path(report_dir), result, per_image, reader, rule, model, flip)
    return _json_safe(result)


def summarize(accuracy: dict) -> dict:
    """The headline figures of an accuracy report (benchmarks/accuracy.py), for model metadata."""
    summary = {}
    for group in accuracy["segmentation"].values():
        for r in group:
            key = f"{r['dataset']}/{r['split']}"
            summary[key] = {k: r.get(k) for k in ("hair_iou", "skin_iou", "pixel_accuracy", "miou", "macc")
                            if r.get(k) is not None}
            summary[key]["images"] = r["segmentation_images"]
    for pair in accuracy["attributes"]:
        r = pair["masking"]
        key = f"{r['dataset']}/{r['split']}"
        figures = summary.setdefault(key, {})
        if "hair_color" in r:
            figures["color_accuracy"] = r["hair_color"]["accuracy"]
        for name, s in r.get("attributes", {}).items():
            figures[f"{name}_balanced_accuracy"] = s["balanced_accuracy"]
    return summary


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _fmt(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def markdown_table(result: dict) -> str:
    """Table 1 and Table 2 style rows for one evaluation, with the paper's figures beside them."""
    lines = [f"### {result['dataset']} / {result['split']} (masking {'on' if result['masking'] else 'off'})", ""]
    paper = PAPER_SEGMENTATION.get(result["dataset"], {})
    if "hair_iou" in result:
        lines += [
            f"Segmentation on {result['segmentation_images']} images ({result['face_fallback']} without a detected face, "
            f"framed as the padded whole photo); classes {', '.join(result['classes'])}.", "",
            "| measure | HairNet | paper |", "|---|---|---|",
            f"| hair IoU | {_fmt(result['hair_iou'])} | {_fmt(paper.get('hair_iou'))} |",
            f"| hair IoU, per-image mean | {_fmt(result['hair_iou_per_image_mean'])} | — |",
            f"| skin IoU | {_fmt(result['skin_iou'])} | — |",
            f"| pixel accuracy | {_fmt(result['pixel_accuracy'])} | — |",
            f"| mIoU | {_fmt(result['miou'])} | — |",
            f"| mAcc | {_fmt(result['macc'])} | — |", "",
        ]
    rows = []
    if "hair_color" in result:
        c = result["hair_color"]
        rows.append(f"| color | {c['n']} | {_fmt(c['accuracy'])} | {_fmt(c['balanced_accuracy'])} | "
                    f"{_fmt(c['macro_f1'])} (macro) | {_fmt(PAPER_ATTRIBUTE_ACCURACY['color'])} |")
    for name, s in result.get("attributes", {}).items():
        rows.append(f"| {name} | {s['n']} ({s['positives']} positive) | {_fmt(s['accuracy'])} | "
                    f"{_fmt(s['balanced_accuracy'])} | {_fmt(s['f1'])} | {_fmt(PAPER_ATTRIBUTE_ACCURACY[name])} |")
    if rows:
        lines += ["| attribute | images | accuracy | balanced accuracy | F1 | paper accuracy (balanced sets) |",
                  "|---|---|---|---|---|---|", *rows, ""]
    return "\n".join(lines)


def write_report(report_dir: Path, result: dict, per_image: list, reader, rule, model, flip: bool) -> None:
    """report.md and overlays of the best and worst images by hair IoU."""
    from PIL import Image

    ranked = sorted(per_image, key=lambda p: p["hair_iou"])
    chosen = [("worst", p) for p in ranked[:4]] + [("best", p) for p in ranked[-4:]]
    by_stem = {item.stem: item for item in reader.items}
    lines = [markdown_table(result), "| case | image | hair IoU | overlay |", "|---|---|---|---|"]
    shown = analysed(model, reader, [by_stem[entry["stem"]] for _, entry in chosen], rule, flip, [])
    for (kind, entry), (_, sample, _, analysis) in zip(chosen, shown):
        predicted = analysis.labels(*sample.image.size)
        truth = _ground_truth(sample.hair, sample.skin)
        pair = Image.new("RGB", (sample.image.width * 2, sample.image.height))
        pair.paste(overlay(sample.image, truth), (0, 0))
        pair.paste(overlay(sample.image, predicted), (sample.image.width, 0))
        name = f"{kind}_{entry['stem'].replace('/', '_')}.png"
        write_file(report_dir / name, png_bytes(pair))
        lines.append(f"| {kind} | {entry['stem']} | {entry['hair_iou']:.3f} | ![ground truth, prediction]({name}) |")
    write_file(report_dir / "report.md", "\n".join(lines) + "\n\nLeft: ground truth; right: HairNet (hair magenta, skin cyan).\n")


def write_json(result: dict, path: Path) -> None:
    write_file(path, json.dumps(result, indent=1, allow_nan=False))
