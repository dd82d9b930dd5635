"""LFW Part Labels (funneled): hair, skin and background all labelled.

Layout: `lfw_funneled/<Name>/<Name>_NNNN.jpg`, labels `parts_lfw_funneled_gt_images/<stem>.ppm`
(official; this repository's copy holds lossless `.png` instead, used as a fallback), lists
`parts_{train,validation,test}.txt` with lines `<Name> <number>` (number possibly unpadded).
Label colours: red = hair (beards included), green = skin of face and neck, blue = background.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .images import load_label
from .samples import Item, Reader
from .textfiles import natural, numbered_rows

OFFICIAL_LISTS = {"train": "parts_train.txt", "val": "parts_validation.txt", "test": "parts_test.txt"}
LABEL_FOLDER = "parts_lfw_funneled_gt_images"
HAIR, SKIN, BACKGROUND = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def read_name_list(path: Path) -> list[str]:
    """`<Name> <number>` lines → stems `<Name>_<number:04d>`."""
    stems = []
    for number, fields in numbered_rows(path):
        index = natural(fields[1]) if len(fields) == 2 else None
        if index is None:
            raise DataError(f"{path}, line {number}: expected '<Name> <number>', got {' '.join(fields)!r}")
        stems.append(f"{fields[0]}_{index:04d}")
    return stems


def decode_label(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(hair, skin) from an LFW part label; a colour that is none of the three is an error."""
    pixels = np.asarray(load_label(path, size).convert("RGB"))
    hair = np.all(pixels == HAIR, axis=-1)
    skin = np.all(pixels == SKIN, axis=-1)
    stray = ~(hair | skin | np.all(pixels == BACKGROUND, axis=-1))
    if stray.any():
        colours, counts = np.unique(pixels[stray], axis=0, return_counts=True)
        order = np.argsort(-counts)[:5]
        listed = ", ".join(f"RGB{tuple(colours[i].tolist())} ×{counts[i]}" for i in order)
        raise DataError(f"{path}: {int(stray.sum())} pixels are not hair/skin/background colours: {listed}")
    return hair, skin


class LFWParts(Reader):
    dataset = "lfw-parts"
    splits_key = "LFW"

    def _list_items(self) -> list[Item]:
        listed = self._listed()
        if listed:
            stems, self.split_source = listed
        else:
            path = self.root / OFFICIAL_LISTS[self.split]
            stems, self.split_source = read_name_list(path), f"official: {path}"
        items = []
        for stem in stems:
            image = self.root / "lfw_funneled" / stem.rsplit("_", 1)[0] / f"{stem}.jpg"
            label = next((p for p in (self.root / LABEL_FOLDER / f"{stem}{ext}" for ext in (".ppm", ".png"))
                          if p.is_file()), None)
            if not image.is_file():
                self.skip(stem, f"image {image} not found")
            elif label is None:
                self.skip(stem, f"label {self.root / LABEL_FOLDER / stem}.ppm (or .png) not found")
            else:
                items.append(Item(stem, image, True, True, labels={"parts": label}))
        return items

    def _masks(self, item, size):
        return decode_label(item.labels["parts"], size)
