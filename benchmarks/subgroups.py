"""Hair IoU by CelebA attribute: which kinds of photo the model fails on.

    python benchmarks/subgroups.py [--checkpoint checkpoints/hairnet.pt [OTHER.pt …]] [--peer] [--data ../shared/data]
                                   [--split val] [--attributes Wearing_Hat Eyeglasses …] [--out benchmarks/results]

Every CelebAMask-HQ photo of the split is evaluated as `hairnet evaluate` evaluates it (framed,
run, pasted back onto the full-size mask); the pooled hair IoU is then taken over the photos that
have each CelebA attribute and over those that do not, and over all of them ("all" is
`hairnet evaluate`'s figure). Several checkpoints, and with `--peer` MediaPipe's hair segmenter run as
`hairnet compare` runs it, are compared on the same photos. The validation
split by default: a failure is looked for, and a fix judged, there, never on the test split.
Writes subgroups.json and subgroups.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hairnet.checkpoint import load_checkpoint
from hairnet.contract import LABEL_HAIR
from hairnet.data import DATASET_FOLDERS, open_dataset
from hairnet.data.attributes import read_attribute_table
from hairnet.evaluate import analysed
from hairnet.files import write_files

DATASET = "celebamask-hq"
ATTRIBUTES = ("Wearing_Hat", "Eyeglasses", "Bald", "Bangs", "Wavy_Hair", "Straight_Hair", "Black_Hair", "Blond_Hair",
              "Brown_Hair", "Gray_Hair", "Male", "Blurry")
SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "hairnet.pt"
MEDIAPIPE = "MediaPipe"


def pooled_iou(counts: np.ndarray) -> float | None:
    """Σ intersection / Σ union over rows of (intersection, union); None for no rows."""
    return float(counts[:, 0].sum() / counts[:, 1].sum()) if len(counts) and counts[:, 1].sum() else None


def hairnet_predictions(checkpoint: Path, reader, failures: list):
    """(stem, true hair, predicted hair) per photo, from a checkpoint run as `hairnet evaluate` runs it."""
    model, payload = load_checkpoint(checkpoint)
    for item, sample, _, analysis in analysed(model, reader, reader.items, payload["crop_rule"], False, failures):
        yield item.stem, sample.hair, analysis.labels(*sample.image.size) == LABEL_HAIR


def mediapipe_predictions(reader, failures: list):
    """The same from MediaPipe's hair segmenter, fed the whole photo as `hairnet compare` feeds it."""
    from hairnet.peers import HAIR_THRESHOLD, MediaPipeHair  # the `peers` extra, only when asked for

    peer = MediaPipeHair()
    for item, sample in reader.loaded(reader.items, failures):
        yield item.stem, sample.hair, peer.hair_probability(np.asarray(sample.image)) > HAIR_THRESHOLD


def hair_counts(name: str, predictions, total: int) -> tuple[list[str], np.ndarray]:
    """Stems of the photos with a hair mask and, per photo, (intersection, union) of predicted and true hair."""
    stems, counts = [], []
    for stem, hair, predicted in tqdm(predictions, total=total, desc=name, leave=False):
        if hair is not None:
            stems.append(stem)
            counts.append((np.count_nonzero(predicted & hair), np.count_nonzero(predicted | hair)))
    return stems, np.array(counts, dtype=np.int64).reshape(-1, 2)


def subgroups(checkpoints: list[Path], root: Path, split: str, attributes: list[str], peer: bool = False) -> dict:
    reader = open_dataset(DATASET, root, split)
    table = read_attribute_table(root / reader.attribute_file)
    for name in attributes:  # an unknown name is refused before minutes of evaluation, not after
        table.has([], name)
    models = {str(c): (lambda failures, c=c: hairnet_predictions(c, reader, failures)) for c in checkpoints}
    if peer:
        models[MEDIAPIPE] = lambda failures: mediapipe_predictions(reader, failures)
    results = {"dataset": DATASET, "split": split, "root": str(root), "models": list(models), "groups": {}}
    for name, predictions in models.items():
        failures: list = []
        stems, counts = hair_counts(name, predictions(failures), len(reader.items))
        if failures:
            print(f"{name}: {len(failures)} photo(s) failed to decode and are left out: {failures}")
        groups = {"all": {"images": len(stems), "hair_iou": pooled_iou(counts)}}
        for attribute in attributes:
            has = table.has(stems, attribute)
            groups[attribute] = {"with": {"images": int(has.sum()), "hair_iou": pooled_iou(counts[has])},
                                 "without": {"images": int((~has).sum()), "hair_iou": pooled_iou(counts[~has])}}
        results["groups"][name] = groups
    return results


def markdown(results: dict, attributes: list[str], seconds: float) -> str:
    models = results["models"]
    first = results["groups"][models[0]]
    names = [c if c == MEDIAPIPE else Path(c).parent.name + "/" + Path(c).name for c in models]
    lines = ["# Hair IoU by CelebA attribute", "",
             f"Written by `benchmarks/subgroups.py` in {seconds:.0f} s: {results['dataset']} / {results['split']}, "
             f"{first['all']['images']} photos, each evaluated at full size as `hairnet evaluate` does; pooled hair IoU "
             "over the photos with the attribute (CelebA's labels) and over the rest.", "",
             "| attribute | photos with | " + " | ".join(f"{n}: with | {n}: without" for n in names) + " |",
             "|---|---|" + "---|---|" * len(names),
             "| all | " + str(first["all"]["images"]) + " | "
             + " | ".join(f"{_fmt(results['groups'][c]['all']['hair_iou'])} | —" for c in models) + " |"]
    for name in attributes:
        cells = [f"{_fmt(results['groups'][c][name]['with']['hair_iou'])} | "
                 f"{_fmt(results['groups'][c][name]['without']['hair_iou'])}" for c in models]
        lines.append(f"| {name} | {first[name]['with']['images']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, nargs="+", default=[SHIPPED])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--attributes", nargs="+", default=list(ATTRIBUTES), help="CelebA attribute names")
    parser.add_argument("--peer", action="store_true", help="add MediaPipe's hair segmenter (the `peers` extra)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    start = time.time()
    results = subgroups(args.checkpoint, args.data / DATASET_FOLDERS[DATASET], args.split, args.attributes, args.peer)
    text = markdown(results, args.attributes, time.time() - start)
    write_files({args.out / "subgroups.json": json.dumps(results, indent=1), args.out / "subgroups.md": text})
    print(text + f"\nwrote {args.out / 'subgroups.md'}")
    return results


if __name__ == "__main__":
    main()
