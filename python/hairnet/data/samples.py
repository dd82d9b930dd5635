"""What every reader produces (`Sample`) and the bookkeeping they share (`Reader`).

A reader lists its split once, cheaply (`items`: paths and the labels known for each, no pixels
decoded), and decodes on demand (`reader[i]` → `Sample`, eagerly: the image and masks are in
memory when the Sample is returned). `report()` says which labels were known for how many
images and lists every item left out with its reason, so a training log shows what it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..contract import ATTRIBUTES, HAIR_COLORS
from ..errors import DataError
from .images import load_image
from .splits import listed_stems

SPLITS = ("train", "val", "test")


def unknown_attributes() -> np.ndarray:
    return np.full(len(ATTRIBUTES), -1, dtype=np.int8)


@dataclass
class Sample:
    """One decoded image with its labels. Masks share the image's pixel grid (H×W = size[::-1]).

    hair / skin: bool H×W, or None when the dataset does not annotate that part for this image
    (unknown, which is not the same as empty). color: index into HAIR_COLORS, -1 unknown.
    attributes: int8 (straight, wavy, bangs, bald), 1 present, 0 absent, -1 unknown.
    """

    stem: str
    image_path: Path
    image: Image.Image
    hair: np.ndarray | None = None
    skin: np.ndarray | None = None
    color: int = -1
    attributes: np.ndarray = field(default_factory=unknown_attributes)

    def __post_init__(self):
        shape = (self.image.height, self.image.width)
        for name in ("hair", "skin"):
            mask = getattr(self, name)
            if mask is not None and (mask.dtype != bool or mask.shape != shape):
                raise DataError(f"{self.image_path}: {name} mask is {mask.dtype} {mask.shape}, image is {shape}")


@dataclass
class Item:
    """A listed image before decoding: where it is and which labels it will have.

    `labels` holds the dataset-specific label files the reader needs to build the masks.
    """

    stem: str
    image_path: Path
    hair_known: bool
    skin_known: bool
    color: int = -1
    attributes: np.ndarray = field(default_factory=unknown_attributes)
    labels: dict[str, Path] = field(default_factory=dict)


class Reader:
    """Base of the dataset readers: list once in `_list_items`, decode masks in `_masks`."""

    dataset = ""  # the registry name, e.g. "figaro1k"
    splits_key = ""  # the dataset's entry in splits.json, e.g. "Figaro1k"
    attribute_file = ""  # CelebA's 40-attribute file under root, where every image has a row

    def __init__(self, root: Path, split: str):
        if split not in SPLITS:
            raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: dataset folder not found")
        self.split = split
        self.split_source = ""
        self.skipped: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.items: list[Item] = self._list_items()

    def _list_items(self) -> list[Item]:
        raise NotImplementedError

    def _masks(self, item: Item, size: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(hair, skin) on the image's grid; `size` is the image's (width, height)."""
        raise NotImplementedError

    def _listed(self) -> tuple[list[str], str] | None:
        """The split's stems from splits.json next to root, or None to use the official split."""
        return listed_stems(self.root, self.splits_key, self.split)

    def skip(self, stem: str, reason: str) -> None:
        self.skipped.append({"stem": stem, "reason": reason})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        return self.load(self.items[index])

    def loaded(self, items: list[Item], failures: list[dict]):
        """(item, Sample) for each item in order; one that fails to decode is recorded in
        `failures` as {stem, reason} and skipped, so a run reports it instead of stopping."""
        for item in items:
            try:
                yield item, self.load(item)
            except DataError as error:
                failures.append({"stem": item.stem, "reason": str(error)})

    def load(self, item: Item) -> Sample:
        """Decode one item; raises DataError (naming the file) when its image or labels are bad."""
        image = load_image(item.image_path)
        hair, skin = self._masks(item, image.size)
        return Sample(item.stem, item.image_path, image, hair, skin, item.color, item.attributes.copy())

    def report(self) -> dict:
        return {
            "dataset": self.dataset,
            "root": str(self.root),
            "split": self.split,
            "split_source": self.split_source,
            "images": len(self.items),
            "known": known_counts(
                [i.hair_known for i in self.items], [i.skin_known for i in self.items],
                np.array([i.color for i in self.items], dtype=np.int8),
                np.array([i.attributes for i in self.items], dtype=np.int8).reshape(-1, len(ATTRIBUTES)),
            ),
            "skipped": list(self.skipped),
            "notes": list(self.notes),
        }


def known_counts(hair_known, skin_known, color: np.ndarray, attributes: np.ndarray) -> dict:
    """Per label: how many images have it known, and (for classes) how many are positive."""
    counts = {"hair": int(np.count_nonzero(hair_known)), "skin": int(np.count_nonzero(skin_known)),
              "color": int(np.count_nonzero(color >= 0))}
    counts.update({name: int(np.count_nonzero(attributes[:, j] >= 0)) for j, name in enumerate(ATTRIBUTES)})
    counts["color_classes"] = {name: int(np.count_nonzero(color == c)) for c, name in enumerate(HAIR_COLORS)}
    counts["attribute_positives"] = {name: int(np.count_nonzero(attributes[:, j] == 1)) for j, name in enumerate(ATTRIBUTES)}
    return counts
