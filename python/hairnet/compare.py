"""`hairnet compare`: HairNet and MediaPipe's hair segmenter on the same images, scored the same way.

Hair vs rest on every dataset (MediaPipe has no skin class), on full-size masks. HairNet runs what
`hairnet evaluate` runs (framing, head crop, model, eq. 2 label map pasted back); MediaPipe runs as
its README feeds it (`hairnet.peers`). One ConfusionMatrix per image and model gives the per-image
figures; their sum gives the pooled ones. F1 (Dice) is 2·IoU/(1 + IoU) of the same counts.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .checkpoint import load_checkpoint
from .contract import LABEL_HAIR
from .data import open_dataset
from .errors import DataError
from .evaluate import _fmt, _ground_truth, _json_safe, analyse_photo
from .inference import overlay
from .metrics import ConfusionMatrix
from .peers import HAIR_THRESHOLD, MediaPipeHair
from .files import png_bytes, write_file

MODELS = ("hairnet", "mediapipe")
HAIR_VS_REST = ("rest", "hair")
REPORT_CASES = 8  # images shown where HairNet loses most, and as many where it wins most
REPORT_PANEL_HEIGHT = 320  # px: keeps a report row small whatever the photo's size


def _f1(iou):
    return 2 * iou / (1 + iou)


class Scores:
    """One model's hair-vs-rest counts: pooled over the set, and per image."""

    def __init__(self) -> None:
        self.pooled = ConfusionMatrix(HAIR_VS_REST)
        self.iou: list[float] = []
        self.accuracy: list[float] = []

    def update(self, predicted_hair: np.ndarray, hair: np.ndarray) -> float:
        """Add one image; returns its hair IoU (1.0 when neither truth nor prediction has hair)."""
        image = ConfusionMatrix(HAIR_VS_REST)
        image.update(predicted_hair, hair)
        self.pooled.matrix += image.matrix
        iou = image.iou()["hair"]
        self.iou.append(1.0 if np.isnan(iou) else iou)
        self.accuracy.append(image.pixel_accuracy())
        return self.iou[-1]

    def summary(self) -> dict:
        iou = self.pooled.iou()["hair"]
        return {
            "hair_iou": iou, "pixel_accuracy": self.pooled.pixel_accuracy(), "hair_f1": _f1(iou),
            "hair_iou_per_image_mean": float(np.mean(self.iou)),
            "pixel_accuracy_per_image_mean": float(np.mean(self.accuracy)),
            "hair_f1_per_image_mean": float(np.mean(_f1(np.array(self.iou)))),
            "confusion_matrix": self.pooled.matrix.tolist(),
        }


def predict_both(model, rule, peer: MediaPipeHair, image: Image.Image) -> tuple[np.ndarray, np.ndarray, bool]:
    """(HairNet's full-size label map, MediaPipe's hair mask, whether a face was found)."""
    analysis, face_found = analyse_photo(model, image, rule)
    mediapipe_hair = peer.hair_probability(np.asarray(image)) > HAIR_THRESHOLD
    return analysis.labels(*image.size), mediapipe_hair, face_found


def compare(checkpoint: Path, dataset: str, root: Path, split: str = "test", report_dir: Path | None = None,
            limit: int | None = None, threads: int = 2) -> dict:
    model, payload = load_checkpoint(checkpoint)
    rule = payload["crop_rule"]
    peer = MediaPipeHair(threads=threads)
    reader = open_dataset(dataset, root, split)
    items = reader.items[:limit] if limit else reader.items
    scores = {name: Scores() for name in MODELS}
    per_image, failures, hair_unknown, fallbacks = [], [], 0, 0
    start = time.time()
    for item, sample in tqdm(reader.loaded(items, failures), total=len(items), desc=f"compare {dataset}/{split}",
                             leave=False):
        if sample.hair is None:
            hair_unknown += 1
            continue
        labels, mediapipe_hair, face_found = predict_both(model, rule, peer, sample.image)
        fallbacks += not face_found
        per_image.append({
            "stem": item.stem, "face_found": face_found,
            "hairnet_iou": scores["hairnet"].update(labels == LABEL_HAIR, sample.hair),
            "mediapipe_iou": scores["mediapipe"].update(mediapipe_hair, sample.hair),
        })
    if not per_image:
        raise DataError(f"{root}: no {dataset}/{split} image with a hair mask among {len(items)} listed "
                        f"({len(failures)} unreadable, {hair_unknown} without hair labels); "
                        "compare needs hair ground truth")
    result = {
        "dataset": dataset, "split": split, "root": str(root), "checkpoint": str(checkpoint),
        "peer": {"name": "MediaPipe hair segmentation", "model": str(peer.model_path), "threads": threads},
        "classes": list(HAIR_VS_REST), "images": len(per_image), "listed": len(items),
        "hair_unknown": hair_unknown, "failed_images": failures, "face_fallback": fallbacks,
        "hairnet_better": sum(p["hairnet_iou"] > p["mediapipe_iou"] for p in per_image),
        "mediapipe_better": sum(p["hairnet_iou"] < p["mediapipe_iou"] for p in per_image),
        "seconds": round(time.time() - start, 1), "reader": reader.report(),
        "models": {name: s.summary() for name, s in scores.items()},
        "per_image": per_image,
    }
    if report_dir:
        write_report(Path(report_dir), result, reader, model, rule, peer)
    return _json_safe(result)


MEASURES = [
    ("hair_iou", "hair IoU, pooled"), ("hair_iou_per_image_mean", "hair IoU, per-image mean"),
    ("hair_f1", "hair F1, pooled"), ("hair_f1_per_image_mean", "hair F1, per-image mean"),
    ("pixel_accuracy", "pixel accuracy, pooled"), ("pixel_accuracy_per_image_mean", "pixel accuracy, per-image mean"),
]


def markdown_table(result: dict) -> str:
    hairnet, mediapipe = result["models"]["hairnet"], result["models"]["mediapipe"]
    lines = [
        f"### {result['dataset']} / {result['split']}: HairNet vs MediaPipe", "",
        f"Hair vs rest on {result['images']} images at full size ({result['face_fallback']} without a detected face, "
        f"which HairNet frames as the padded whole photo; MediaPipe always sees the whole photo). "
        f"Images where HairNet's hair IoU is higher: {result['hairnet_better']}; "
        f"where MediaPipe's is: {result['mediapipe_better']}.", "",
        "| measure | HairNet | MediaPipe | HairNet − MediaPipe |", "|---|---|---|---|",
    ]
    for key, label in MEASURES:
        delta = None if hairnet[key] is None or mediapipe[key] is None else hairnet[key] - mediapipe[key]
        lines.append(f"| {label} | {_fmt(hairnet[key])} | {_fmt(mediapipe[key])} | {_signed(delta)} |")
    return "\n".join(lines) + "\n"


def _signed(value) -> str:
    return _fmt(value) if value is None or value < 0 else "+" + _fmt(value)


def write_report(report_dir: Path, result: dict, reader, model, rule, peer: MediaPipeHair) -> None:
    """report.md with, per chosen image, one row: photo | ground truth | MediaPipe | HairNet."""
    ranked = sorted(result["per_image"], key=lambda p: p["hairnet_iou"] - p["mediapipe_iou"])
    losses = ranked[:REPORT_CASES]
    wins = [p for p in ranked[::-1][:REPORT_CASES] if p not in losses]
    by_stem = {item.stem: item for item in reader.items}
    lines = [markdown_table(result),
             "| case | image | HairNet IoU | MediaPipe IoU | photo, ground truth, MediaPipe, HairNet |",
             "|---|---|---|---|---|"]
    # Named by rank, not by sign: on a set where one model is better everywhere, "wins" would lie.
    for kind, entry in [("worst for HairNet", p) for p in losses] + [("best for HairNet", p) for p in wins]:
        sample = reader.load(by_stem[entry["stem"]])
        labels, mediapipe_hair, _ = predict_both(model, rule, peer, sample.image)
        panels = [sample.image, overlay(sample.image, _ground_truth(sample.hair, None)),
                  overlay(sample.image, np.where(mediapipe_hair, LABEL_HAIR, 0)), overlay(sample.image, labels)]
        name = f"{kind.split()[0]}_{entry['stem'].replace('/', '_')}.png"
        write_file(report_dir / name, png_bytes(_side_by_side(panels)))
        lines.append(f"| {kind} | {entry['stem']} | {entry['hairnet_iou']:.3f} | {entry['mediapipe_iou']:.3f} | "
                     f"![photo, ground truth, MediaPipe, HairNet]({name}) |")
    lines.append("\nHair magenta; HairNet's skin cyan (not scored: MediaPipe has no skin class).\n")
    write_file(report_dir / "report.md", "\n".join(lines))


def _side_by_side(panels: list[Image.Image]) -> Image.Image:
    width, height = panels[0].size
    scale = min(1.0, REPORT_PANEL_HEIGHT / height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    row = Image.new("RGB", (size[0] * len(panels), size[1]))
    for index, panel in enumerate(panels):
        row.paste(panel.convert("RGB").resize(size, Image.BILINEAR), (index * size[0], 0))
    return row
