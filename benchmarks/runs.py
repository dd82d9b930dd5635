"""The table of training runs: what each changed, how long it took, what validation said.

    python benchmarks/runs.py runs/hairnet-v1 runs/hairnet-v2 ... [--out benchmarks/results/runs.md]

Reads each run folder's `log.json` and the configuration recorded in its `last.pt` (the run folders
themselves stay out of git), one row per stage of each run: epochs, images seen, minutes,
images/s, and the validation figures after the stage's last epoch (crop-level, on the run's own
crop caches: hair and skin IoU pooled over the validation pools of every mask set, colour accuracy
and per-attribute balanced accuracy on the attribute sets). Figures of runs with different crop
rules are measured on differently framed crops: compare those with `benchmarks/accuracy.py`, which
scores full-size masks.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path

from hairnet.checkpoint import load_checkpoint
from hairnet.contract import ATTRIBUTES, DEFAULT_CROP
from hairnet.files import write_file
from hairnet.losses import LossWeights

FIGURES = [("val_hair_iou", "hair IoU"), ("val_raw_hair_iou", "hair IoU, raw weights"), ("val_skin_iou", "skin IoU"), ("val_color_accuracy", "colour acc.")] + [
    (f"val_{name}_balanced_accuracy", f"{name} bal.") for name in ATTRIBUTES]
DEFAULTS = {"batch_size": 16, "soft_iou": 0.0, "lovasz": 0.0, "boundary": 0.0, "balance_classes": False, "masking": True, "augment": True,
            "ema_decay": 0.0, "pseudo_label_sets": [], "set_repeats": {}, "attribute_repeats": {},
            "jitter": {}}


# Logs written before the trainer recorded its hardware all came from this machine.
OLD_LOGS_HARDWARE = "1 × CPU, 2 threads"


def describe(config: dict) -> str:
    """The settings that tell runs apart."""
    rule = config.get("crop_rule", asdict(DEFAULT_CROP))  # runs from before the field used the default
    parts = [f"α {config['width_multiplier']:g}", f"crop k {rule['k']:g}",
             f"lr {', '.join(f'{s}: {float(v):g}' for s, v in sorted(config['lr'].items()) if int(s) in config['stages'])}"]
    if config.get("init_checkpoint"):
        starts = config["init_checkpoint"]
        starts = [starts] if isinstance(starts, str) else starts
        parts.append(("init " if len(starts) == 1 else "init average of ")
                     + ", ".join(f"{Path(p).parent.name}/{Path(p).name}" for p in starts))
    default_weights = LossWeights().as_dict()
    changed = {task: weight for task, weight in config.get("loss_weights", default_weights).items()
               if weight != default_weights.get(task)}
    if changed:
        parts.append("λ " + ", ".join(f"{task} {weight:g}" for task, weight in changed.items()))
    for key, default in DEFAULTS.items():
        value = config.get(key, default)
        if (list(value) if isinstance(value, tuple) else value) != default:
            parts.append(f"{key} {config[key]}")
    return "; ".join(parts)


def rows(run: Path) -> list[str]:
    history = json.loads((run / "log.json").read_text())
    _, payload = load_checkpoint(run / "last.pt")
    config = payload["training"]["config"]
    out = []
    for index, stage in enumerate(sorted({entry["stage"] for entry in history})):
        entries = [e for e in history if e["stage"] == stage]
        seconds = sum(e["train_seconds"] for e in entries)
        images = sum(e["train_seconds"] * e["images_per_s"] for e in entries)
        last = entries[-1]
        cells = ["—" if math.isnan(last.get(key, math.nan)) else f"{last[key]:.3f}" for key, _ in FIGURES]
        out.append(f"| {run.name} | {describe(config) if index == 0 else ''} | {stage} | "
                   f"{last.get('hardware', OLD_LOGS_HARDWARE)} | {len(entries)} | {images:,.0f} | {seconds / 60:.1f} | "
                   f"{images / seconds:.1f} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/runs.md"))
    args = parser.parse_args()
    lines = ["# Training runs (written by `benchmarks/runs.py` from the run folders' logs)", "",
             "One row per stage; validation figures after the stage's last epoch, crop-level on the run's own crop "
             "caches (see the script's docstring). Hair IoU after stage 2 is over the attribute sets' validation pool, "
             "where only CelebAMask-HQ has masks; after stages 1 and 3 over every mask set's. Runs with `ema_decay` are "
             "validated on the weight average; 'raw weights' is the same epoch without it. Minutes are training time "
             "without validation, on the hardware the row names.", "",
             "| run | what changed | stage | hardware | epochs | images | minutes | images/s | " + " | ".join(n for _, n in FIGURES) + " |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(FIGURES)]
    for run in args.runs:
        lines += rows(run)
    write_file(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
