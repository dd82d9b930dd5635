"""Table 1 (segmentation) and Table 2 (attributes) of the shipped model, beside the paper's.

    python benchmarks/accuracy.py [--checkpoint checkpoints/hairnet.pt] [--data ../shared/data]
                                  [--out benchmarks/results] [--ablation CKPT]

Runs `hairnet.evaluate.evaluate` on the validation splits (and, in a separate table, the test
splits, which no training choice looked at), each with test-time flip averaging off (the default
of `evaluate`/`predict`, and the figures carried as metadata) and on; attributes with masking, with
the mask set to all ones at inference, and, given `--ablation`, from a model whose heads were
trained without masking (the paper's ablation). Writes accuracy.json and accuracy.md, with the
targets of the accuracy issue beside the figures. Every figure in the Markdown comes from this run;
nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import functools
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
# Hair IoU to beat: MediaPipe's hair segmenter on the same images (../shared/peers/README.md), and the paper.
TARGETS = [("celebamask-hq", "test", 0.862, 0.939), ("figaro1k", "test", 0.830, 0.903)]
ATTRIBUTE_RUNS = [("celeba-attrs", "val"), ("celeba-hq-attrs", "val"), ("celebamask-hq", "val"), ("celebamask-hq", "test")]
LABEL_NOTES = {
    "celebamask-hq": "hair vs rest (skin not annotated in this subset)",
    "figaro1k": "hair vs rest (skin not annotated)",
    "lfw-parts": "background / skin (face and neck) / hair (beards count as hair)",
    "fasseg": "background / skin (face, neck, eyes, nose, mouth) / hair (eyebrows painted as hair)",
}


def fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def segmentation_table(results: list[dict], flipped: list[dict]) -> list[str]:
    lines = ["| dataset / split | images | no face found | hair IoU | hair IoU, flip TTA | paper hair IoU | skin IoU | "
             "skin IoU, flip TTA | pixel acc. | mIoU | mAcc | classes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r, f in zip(results, flipped):
        paper = PAPER_SEGMENTATION.get(r["dataset"], {}).get("hair_iou")
        lines.append(f"| {r['dataset']} / {r['split']} | {r['segmentation_images']} | {r['face_fallback']} | "
                     f"{fmt(r['hair_iou'])} | {fmt(f['hair_iou'])} | {fmt(paper)} | {fmt(r.get('skin_iou'))} | "
                     f"{fmt(f.get('skin_iou'))} | {fmt(r['pixel_accuracy'])} | {fmt(r['miou'])} | {fmt(r['macc'])} | "
                     f"{LABEL_NOTES[r['dataset']]} |")
    return lines


def targets_table(result: dict) -> list[str]:
    found = {(r["dataset"], r["split"]): (r, f) for group in result["segmentation"]
             for r, f in zip(result["segmentation"][group], result["segmentation_flip"][group])}
    lines = ["| measure | must reach (MediaPipe) | stretch (paper) | HairNet | HairNet, flip TTA | reached |",
             "|---|---|---|---|---|---|"]
    for dataset, split, must, stretch in TARGETS:
        r, f = found[(dataset, split)]
        lines.append(f"| hair IoU, {dataset} / {split} | > {must:.3f} | {stretch:.3f} | {fmt(r['hair_iou'])} | "
                     f"{fmt(f['hair_iou'])} | {'yes' if r['hair_iou'] > must else 'no'} |")
    return lines


def _head_rows(result: dict) -> list[tuple[str, dict]]:
    """(head, figures) for colour and each attribute the split labels."""
    rows = [("color", result["hair_color"] | {"f1": result["hair_color"]["macro_f1"]})] if "hair_color" in result else []
    return rows + [(head, result["attributes"][head]) for head in ATTRIBUTES if head in result.get("attributes", {})]


def attribute_table(pairs: list[dict]) -> list[str]:
    ablation = all("trained_without_masking" in pair for pair in pairs)
    columns = ["masking: accuracy", "balanced acc.", "F1", "flip TTA: balanced acc.", "mask all ones: balanced acc.",
               "mask all ones: F1"] + (["trained without masking: balanced acc.", "F1"] if ablation else [])
    lines = ["| dataset / split | head | images (positives) | " + " | ".join(columns) + " | paper accuracy |",
             "|---|---|---|" + "---|" * (len(columns) + 1)]
    for pair in pairs:
        masked = pair["masking"]
        variants = {key: dict(_head_rows(pair[key])) for key in pair}
        for head, m in _head_rows(masked):
            count = f"{m['n']}" if head == "color" else f"{m['n']} ({m['positives']})"
            f1 = lambda figures: fmt(figures["f1"]) + (" (macro)" if head == "color" else "")  # noqa: E731
            cells = [fmt(m["accuracy"]), fmt(m["balanced_accuracy"]), f1(m),
                     fmt(variants["flip"][head]["balanced_accuracy"]),
                     fmt(variants["no_masking"][head]["balanced_accuracy"]), f1(variants["no_masking"][head])]
            if ablation:
                trained = variants["trained_without_masking"][head]
                cells += [fmt(trained["balanced_accuracy"]), f1(trained)]
            lines.append(f"| {masked['dataset']} / {masked['split']} | {head} | {count} | " + " | ".join(cells) +
                         f" | {fmt(PAPER_ATTRIBUTE_ACCURACY[head])} |")
    return lines


def render(result: dict) -> str:
    ablation = result.get("ablation_checkpoint")
    lines = [
        "# HairNet accuracy (written by `benchmarks/accuracy.py`)", "",
        f"Checkpoint `{result['checkpoint']}`, data `{result.get('data', '../shared/data')}`. "
        "Segmentation on full-size masks (prediction pasted back onto the photo), pixels pooled over each set; "
        "photos where the face detector finds no face are framed as the padded whole photo (counted). "
        "\"Flip TTA\" averages the model's outputs on the crop and its mirror image (`--flip`, off by default). "
        "Paper figures: Borza et al., IJCB 2020, Tables 1 and 2 (COCO pre-training, 27 k training images; "
        "attribute accuracies on balanced sets). Each dataset is scored with its own label definitions.", "",
        "## Targets", "",
        "MediaPipe's hair segmenter on the same images, as `benchmarks/peers.py` measures it (LFW: see "
        "`peers.md`); without test-time flip, the default.", "",
        *targets_table(result), "",
        "## Table 1 — segmentation, validation splits", "",
        *segmentation_table(result["segmentation"]["validation"], result["segmentation_flip"]["validation"]), "",
        "## Table 1 — segmentation, test splits (never used for any training choice)", "",
        *segmentation_table(result["segmentation"]["test"], result["segmentation_flip"]["test"]), "",
        "## Table 2 — attributes, with feature masking and without", "",
        "Accuracy on the split as it is (its own class balance); balanced accuracy is the mean of the per-class "
        "recalls, the closer comparison to the paper's balanced test sets. \"Mask all ones\" runs the same "
        "weights with the mask set to all ones at inference (`hairnet evaluate --no-masking`), heads that never "
        "saw unmasked maps" + (f"; \"trained without masking\" is `{ablation}`, the same backbone and decoder "
                               "with heads trained on unmasked maps (the paper's ablation)." if ablation else ".") + "", "",
        *attribute_table(result["attributes"]), "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/hairnet.pt"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--ablation", type=Path, help="checkpoint whose heads were trained without masking")
    parser.add_argument("--render-only", action="store_true", help="rewrite accuracy.md from accuracy.json")
    args = parser.parse_args()
    started = time.time()

    @functools.cache  # CelebAMask-HQ is in both the segmentation and the attribute runs: evaluate it once
    def run(dataset: str, split: str, masking: bool = True, flip: bool = False, checkpoint: Path = args.checkpoint) -> dict:
        print(f"evaluating {checkpoint} on {dataset}/{split} (masking {'on' if masking else 'off'}, "
              f"flip {'on' if flip else 'off'})", flush=True)
        return evaluate(checkpoint, dataset, args.data / DATASET_FOLDERS[dataset], split, masking=masking, flip=flip)

    if args.render_only:
        result = json.loads((args.out / "accuracy.json").read_text())
    else:
        segmentation = {group: [run(d, s) for d, s in runs] for group, runs in SEGMENTATION_RUNS.items()}
        flipped = {group: [run(d, s, flip=True) for d, s in runs] for group, runs in SEGMENTATION_RUNS.items()}
        attributes = []
        for d, s in ATTRIBUTE_RUNS:
            pair = {"masking": run(d, s), "flip": run(d, s, flip=True), "no_masking": run(d, s, masking=False)}
            if args.ablation:
                pair["trained_without_masking"] = run(d, s, checkpoint=args.ablation)
            attributes.append(pair)
        result = {"checkpoint": str(args.checkpoint), "data": str(args.data),
                  "ablation_checkpoint": str(args.ablation) if args.ablation else None,
                  "segmentation": segmentation, "segmentation_flip": flipped, "attributes": attributes,
                  "seconds": round(time.time() - started), "python": platform.python_version()}
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(result, args.out / "accuracy.json")
    tmp = args.out / ".accuracy.md.tmp"
    tmp.write_text(render(result))
    tmp.replace(args.out / "accuracy.md")
    print(f"wrote {args.out / 'accuracy.md'} (figures measured in {result['seconds']} s)")


if __name__ == "__main__":
    main()
