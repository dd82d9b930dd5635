"""benchmarks/accuracy.py's report: every figure lands in its column, targets are judged from the figures."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import accuracy  # noqa: E402


def _segmentation(dataset, split, hair, skin=None):
    return {"dataset": dataset, "split": split, "segmentation_images": 10, "face_fallback": 1, "hair_iou": hair,
            "skin_iou": skin, "pixel_accuracy": 0.9, "miou": 0.8, "macc": 0.85}


def _attributes(dataset, split, balanced):
    heads = {head: {"n": 20, "positives": 5, "accuracy": 0.7, "balanced_accuracy": balanced, "f1": balanced / 2}
             for head in ("straight", "bald")}
    return {"dataset": dataset, "split": split, "attributes": heads,
            "hair_color": {"n": 12, "accuracy": 0.6, "balanced_accuracy": balanced, "macro_f1": 0.5}}


def _result(ablation: bool) -> dict:
    groups = {"validation": [("celebamask-hq", "val")], "test": [("celebamask-hq", "test"), ("figaro1k", "test")]}
    hair = {"val": 0.80, "celebamask-hq": 0.871, "figaro1k": 0.812}

    def seg(shift):
        return {g: [_segmentation(d, s, (hair["val"] if s == "val" else hair[d]) + shift) for d, s in runs]
                for g, runs in groups.items()}

    pair = {"masking": _attributes("celeba-attrs", "val", 0.811), "flip": _attributes("celeba-attrs", "val", 0.822),
            "no_masking": _attributes("celeba-attrs", "val", 0.533)}
    if ablation:
        pair["trained_without_masking"] = _attributes("celeba-attrs", "val", 0.744)
    return {"checkpoint": "ckpt.pt", "ablation_checkpoint": "plain.pt" if ablation else None,
            "segmentation": seg(0.0), "segmentation_flip": seg(0.004), "attributes": [pair]}


def test_targets_are_judged_against_mediapipe():
    text = accuracy.render(_result(ablation=False))
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| hair IoU, ")}
    assert rows["| hair IoU, celebamask-hq / test"].endswith("| > 0.862 | 0.939 | 0.871 | 0.875 | yes |")
    assert rows["| hair IoU, figaro1k / test"].endswith("| > 0.830 | 0.903 | 0.812 | 0.816 | no |")


def test_flip_and_masking_variants_land_in_their_columns():
    text = accuracy.render(_result(ablation=True))
    straight = next(line for line in text.splitlines() if line.startswith("| celeba-attrs / val | straight |"))
    # masking: acc, balanced, F1 | flip balanced | mask-all-ones balanced, F1 | trained-without balanced, F1 | paper
    assert straight == ("| celeba-attrs / val | straight | 20 (5) | 0.700 | 0.811 | 0.406 | 0.822 | 0.533 | 0.267 | "
                        "0.744 | 0.372 | 0.946 |")
    color = next(line for line in text.splitlines() if line.startswith("| celeba-attrs / val | color |"))
    assert "| 12 | 0.600 | 0.811 | 0.500 (macro) | 0.822 |" in color
    assert "plain.pt" in text
    test_row = next(line for line in text.splitlines() if line.startswith("| figaro1k / test |"))
    assert "| 0.812 | 0.816 | 0.903 |" in test_row  # hair IoU, with flip, paper


def test_without_an_ablation_the_columns_are_left_out():
    text = accuracy.render(_result(ablation=False))
    assert "trained without masking" not in text
    header = next(line for line in text.splitlines() if line.startswith("| dataset / split | head |"))
    assert header.count("|") == 11
