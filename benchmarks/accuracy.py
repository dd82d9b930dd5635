"""Table 1 (segmentation) and Table 2 (attributes) of the shipped model, beside the paper's.

    python benchmarks/accuracy.py [--checkpoint checkpoints/hairnet.pt] [--data ../shared/data]
                                  [--out benchmarks/results] [--flip]

Runs `hairnet.evaluate.evaluate` on the validation splits (and, in a separate table, the test
splits, which no training choice looked at), attributes with masking and without (the paper's
ablation), and writes accuracy.json and accuracy.md. Every figure in the Markdown comes from this
run; nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from hairnet.contract import ATTRIBUTES
from hairnet.data import DATASET_FOLDERS
from hairnet.evaluate import PAPER_ATTRIBUTE_ACCURACY, PAPER_SEGMENTATION, evaluate, write_json

SEGMENTATION_RUNS = {
    "validation": [("celebamask-hq", "val"), ("figaro1k", "val"), ("lfw-parts", "val")],
    "test": [("celebamask-hq", "test"), ("figaro1k", "test"), ("fasseg", "test")],
}
ATTRIBUTE_RUNS = [("celeba-attrs", "val"), ("celeba-hq-attrs", "val"), ("celebamask-hq", "val"), ("celebamask-hq", "test")]
LABEL_NOTES = {
    "celebamask-hq": "hair vs rest (skin not annotated in this subset)",
    "figaro1k": "hair vs rest (skin not annotated)",
    "lfw-parts": "background / skin (face and neck) / hair (beards count as hair)",
    "fasseg": "background / skin (face, neck, eyes, nose, mouth) / hair (eyebrows painted as hair)",
}


def fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def segmentation_table(results: list[dict]) -> list[str]:
    lines = ["| dataset / split | images | no face found | hair IoU | paper hair IoU | skin IoU | pixel acc. | mIoU | mAcc | classes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        paper = PAPER_SEGMENTATION.get(r["dataset"], {}).get("hair_iou")
        lines.append(f"| {r['dataset']} / {r['split']} | {r['segmentation_images']} | {r['face_fallback']} | "
                     f"{fmt(r['hair_iou'])} | {fmt(paper)} | {fmt(r.get('skin_iou'))} | {fmt(r['pixel_accuracy'])} | "
                     f"{fmt(r['miou'])} | {fmt(r['macc'])} | {LABEL_NOTES[r['dataset']]} |")
    return lines


def attribute_table(pairs: list[tuple[dict, dict]]) -> list[str]:
    lines = ["| dataset / split | head | images (positives) | accuracy | balanced acc. | F1 | accuracy, no masking | balanced acc., no masking | F1, no masking | paper accuracy |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for masked, plain in pairs:
        name = f"{masked['dataset']} / {masked['split']}"
        if "hair_color" in masked:
            m, p = masked["hair_color"], plain["hair_color"]
            lines.append(f"| {name} | color | {m['n']} | {fmt(m['accuracy'])} | {fmt(m['balanced_accuracy'])} | "
                         f"{fmt(m['macro_f1'])} (macro) | {fmt(p['accuracy'])} | {fmt(p['balanced_accuracy'])} | "
                         f"{fmt(p['macro_f1'])} (macro) | {fmt(PAPER_ATTRIBUTE_ACCURACY['color'])} |")
        for head in ATTRIBUTES:
            if head not in masked.get("attributes", {}):
                continue
            m, p = masked["attributes"][head], plain["attributes"][head]
            lines.append(f"| {name} | {head} | {m['n']} ({m['positives']}) | {fmt(m['accuracy'])} | "
                         f"{fmt(m['balanced_accuracy'])} | {fmt(m['f1'])} | {fmt(p['accuracy'])} | "
                         f"{fmt(p['balanced_accuracy'])} | {fmt(p['f1'])} | {fmt(PAPER_ATTRIBUTE_ACCURACY[head])} |")
    return lines


def render(result: dict) -> str:
    attributes = [(pair["masking"], pair["no_masking"]) for pair in result["attributes"]]
    lines = [
        "# HairNet accuracy (written by `benchmarks/accuracy.py`)", "",
        f"Checkpoint `{result['checkpoint']}`, data `{result.get('data', '../shared/data')}`, test-time flip "
        f"{'on' if result['flip_tta'] else 'off'}. "
        "Segmentation on full-size masks (prediction pasted back onto the photo), pixels pooled over each set; "
        "photos where the face detector finds no face are framed as the padded whole photo (counted). "
        "Paper figures: Borza et al., IJCB 2020, Tables 1 and 2 (COCO pre-training, 27 k training images; "
        "attribute accuracies on balanced sets). Each dataset is scored with its own label definitions.", "",
        "## Table 1 — segmentation, validation splits", "", *segmentation_table(result["segmentation"]["validation"]), "",
        "## Table 1 — segmentation, test splits (never used for any training choice)", "",
        *segmentation_table(result["segmentation"]["test"]), "",
        "## Table 2 — attributes, with feature masking and without", "",
        "Accuracy on the split as it is (its own class balance); balanced accuracy is the mean of the per-class "
        "recalls, the closer comparison to the paper's balanced test sets. \"No masking\" runs the same "
        "weights with the mask set to all ones at inference (`hairnet evaluate --no-masking`); the paper's "
        "ablation instead trains a model without masking (`hairnet train --no-masking`).", "",
        *attribute_table(attributes), "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/hairnet.pt"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--flip", action="store_true", help="test-time flip averaging")
    parser.add_argument("--render-only", action="store_true", help="rewrite accuracy.md from accuracy.json")
    args = parser.parse_args()
    started = time.time()

    def run(dataset: str, split: str, masking: bool = True) -> dict:
        print(f"evaluating {dataset}/{split} (masking {'on' if masking else 'off'})", flush=True)
        return evaluate(args.checkpoint, dataset, args.data / DATASET_FOLDERS[dataset], split,
                        masking=masking, flip=args.flip)

    if args.render_only:
        result = json.loads((args.out / "accuracy.json").read_text())
    else:
        segmentation = {group: [run(d, s) for d, s in runs] for group, runs in SEGMENTATION_RUNS.items()}
        attributes = [(run(d, s, True), run(d, s, False)) for d, s in ATTRIBUTE_RUNS]
        result = {"checkpoint": str(args.checkpoint), "data": str(args.data), "flip_tta": args.flip,
                  "segmentation": segmentation,
                  "attributes": [{"masking": m, "no_masking": p} for m, p in attributes],
                  "seconds": round(time.time() - started), "python": platform.python_version()}
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(result, args.out / "accuracy.json")
    tmp = args.out / ".accuracy.md.tmp"
    tmp.write_text(render(result))
    tmp.replace(args.out / "accuracy.md")
    print(f"wrote {args.out / 'accuracy.md'} (figures measured in {result['seconds']} s)")


if __name__ == "__main__":
    main()
