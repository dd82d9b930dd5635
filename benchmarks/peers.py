"""HairNet beside MediaPipe's hair segmenter on Figaro-1k Testing, CelebAMask-HQ test and LFW validation.

    python benchmarks/peers.py [--checkpoint checkpoints/hairnet.pt] [--data-root ../shared/data]

Runs `hairnet compare` on each set (hair vs rest, full-size masks) and writes
benchmarks/results/peers.json (every figure) and peers.md (the tables; whether MediaPipe's hair IoU
reproduces ../shared/peers/README.md; latency ratios). Latency is not measured here: it is read
from benchmarks/results/latency.json (written by benchmarks/latency.py): its medians and ratios for
the model alone and for the whole pipeline (MediaPipe ÷ HairNet, above 1: HairNet is faster).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hairnet.checkpoint import read_checkpoint
from hairnet.compare import compare, markdown_table
from hairnet.data import DATASET_FOLDERS
from hairnet.errors import HairNetError
from hairnet.evaluate import write_json
from latency import HAIRNET, MEDIAPIPE, write_atomic  # latency.json's candidate names

SETS = (("figaro1k", "test"), ("celebamask-hq", "test"), ("lfw-parts", "val"))
# ../shared/peers/README.md, hair IoU with pixels pooled; a faithful runner lands within TOLERANCE.
README_HAIR_IOU = {"figaro1k": 0.830, "celebamask-hq": 0.862}
TOLERANCE = 0.005
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
LATENCY_SECTIONS = {"model_alone": "model alone", "pipeline": "photo → full-size mask"}


def describe_checkpoint(path: Path) -> str:
    history = read_checkpoint(path).get("training", {}).get("history") or []
    return f"{path}: trained, {len(history)} epochs recorded" if history else \
        f"{path}: no training record (an untrained network: its HairNet figures mean nothing yet)"


def reproduction(results: dict) -> dict:
    return {name: {"readme": expected, "measured": results[name]["models"]["mediapipe"]["hair_iou"],
                   "within_tolerance": abs(results[name]["models"]["mediapipe"]["hair_iou"] - expected) <= TOLERANCE}
            for name, expected in README_HAIR_IOU.items() if name in results}


def latency(path: Path) -> dict:
    """latency.py's medians and ratios for HairNet and MediaPipe, or why there are none."""
    if not path.is_file():
        return {"note": f"not measured yet ({path.name} absent; benchmarks/latency.py writes it)"}
    try:
        report = json.loads(path.read_text())
        if MEDIAPIPE in report["skipped"]:
            return {"note": f"{path.name}: MediaPipe was skipped ({report['skipped'][MEDIAPIPE]})"}
        sections = {section: {"hairnet_ms": report[section][HAIRNET]["median_ms"],
                              "mediapipe_ms": report[section][MEDIAPIPE]["median_ms"],
                              "mediapipe_over_hairnet": report["ratios"][section][MEDIAPIPE]}
                    for section in LATENCY_SECTIONS}
        return {"weights": report["hairnet"]["weights"], "conditions": report["note"], "sections": sections}
    except (ValueError, KeyError, TypeError) as error:
        return {"note": f"{path.name} unreadable: field {error} missing or malformed"}


def markdown(summary: dict) -> str:
    lines = ["# HairNet vs MediaPipe's hair segmenter", "",
             f"Checkpoint {summary['checkpoint']}. Peer: MediaPipe `hair_segmentation.tflite` run as "
             "../shared/peers/README.md feeds it (whole photo stretched to 512×512, threshold 0.5). "
             "Hair vs rest everywhere (MediaPipe has no skin class), each set with its own definition of hair: "
             "LFW counts beards and moustaches as hair, CelebAMask-HQ does not.", "",
             "## MediaPipe reproduces its README", "", "| set | README hair IoU | measured | within ±0.005 |",
             "|---|---|---|---|"]
    lines += [f"| {name} | {r['readme']:.3f} | {r['measured']:.3f} | {'yes' if r['within_tolerance'] else 'NO'} |"
              for name, r in summary["reproduction"].items()]
    lines += ["", "## Latency", ""]
    timing = summary["latency"]
    if "note" in timing:
        lines.append(f"Latency: {timing['note']}.")
    else:
        lines += [f"From latency.json (HairNet weights: {timing['weights']}; {timing['conditions'] or 'no note'}). "
                  "Medians; ratio = MediaPipe ÷ HairNet, above 1: HairNet is faster.", "",
                  "| what is timed | HairNet ms | MediaPipe ms | ratio |", "|---|---|---|---|"]
        lines += [f"| {LATENCY_SECTIONS[name]} | {t['hairnet_ms']:.1f} | {t['mediapipe_ms']:.1f} | "
                  f"{t['mediapipe_over_hairnet']:.2f} |" for name, t in timing["sections"].items()]
    lines += ["", "## Masks", ""] + [markdown_table(result) for result in summary["sets"].values()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "hairnet.pt")
    parser.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    described = describe_checkpoint(args.checkpoint)
    results = {name: compare(args.checkpoint, name, args.data_root / DATASET_FOLDERS[name], split,
                             threads=args.threads) for name, split in SETS}
    summary = {"checkpoint": described, "date": time.strftime("%Y-%m-%d"), "sets": results,
               "reproduction": reproduction(results), "latency": latency(args.out / "latency.json")}
    write_json(summary, args.out / "peers.json")
    write_atomic(args.out / "peers.md", markdown(summary))
    print(markdown(summary))


if __name__ == "__main__":
    try:
        main()
    except HairNetError as error:
        sys.exit(f"benchmarks/peers.py: error: {error}")
