"""CelebAMask-HQ and CelebA-HQ-attrs: CelebA-HQ faces, part masks where the download has them.

Layout: `CelebA-HQ-img/<id>.jpg`, `CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<part>.png`,
`CelebAMask-HQ-attribute-anno.txt`, `CelebA-HQ-to-CelebA-mapping.txt`. The same reader serves
`CelebA-HQ-attrs/` (no mask folder: hair and skin unknown, attributes only).

Known vs empty (DESIGN.md §8), decided per part for the whole download by one scan of the mask
folder: a part with a file for at least one image is annotated, and an image without that file
does not show the part (empty mask, e.g. no hair file for a bald man); a part with no file at all
is unknown for every image.

Skin means the visible skin of face and neck, as LFW labels it. CelebAMask-HQ splits that area
into parts, so skin is their union: skin, neck, ears, nose, eyes, brows, lips and mouth
(not eyeglasses, earrings, necklace, cloth, hat). It is known only when every one of those parts
is annotated somewhere in the download: a union with a part missing would call that part
background, a wrong label rather than an unknown one.

Masks are 512×512 while official images are 1024×1024 (here 512): masks are resized to the
image's size with nearest neighbour, so a Sample's masks always share its image's grid.

Split: `splits.json` when it has the entry, otherwise CelebA's official partition of each
image's CelebA original (mapping file + CelebA's `Eval/list_eval_partition.txt`, looked for in
`../CelebA/Eval/` and in the dataset folder itself).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from .attributes import read_attribute_table
from .celeba import file_names, split_from_partition
from .images import load_binary_mask, resize_mask
from .samples import Item, Reader, unknown_attributes
from .textfiles import natural, numbered_rows

IMAGE_FOLDER = "CelebA-HQ-img"
MASK_FOLDER = "CelebAMask-HQ-mask-anno"
ATTRIBUTE_FILE = "CelebAMask-HQ-attribute-anno.txt"
MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
HAIR_PART = "hair"
SKIN_PARTS = ("skin", "neck", "l_ear", "r_ear", "nose", "l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip", "mouth")
MASK_NAME = re.compile(r"^([0-9]{1,18})_([a-z_]+)\.png$")


def read_mapping(path: Path) -> dict[str, str]:
    """`CelebA-HQ-to-CelebA-mapping.txt` → {CelebA-HQ id: CelebA file stem}."""
    rows = numbered_rows(path)
    if not rows or rows[0][1] != ["idx", "orig_idx", "orig_file"]:
        raise DataError(f"{path}, line 1: expected the header 'idx orig_idx orig_file'")
    mapping: dict[str, str] = {}
    for number, fields in rows[1:]:
        index = natural(fields[0]) if len(fields) == 3 else None
        if index is None:
            raise DataError(f"{path}, line {number}: expected '<idx> <orig_idx> <orig_file>', got {' '.join(fields)!r}")
        key = str(index)
        if key in mapping:
            raise DataError(f"{path}, line {number}: id {key} is listed twice")
        mapping[key] = Path(fields[2]).stem
    return mapping


def scan_masks(folder: Path) -> dict[str, dict[str, Path]]:
    """{image id: {part: file}} for every mask file under the folder (one pass, any nesting)."""
    found: dict[str, dict[str, Path]] = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            match = MASK_NAME.match(name)
            if match:
                found.setdefault(str(int(match[1])), {})[match[2]] = Path(directory) / name
    return found


class CelebAMaskHQ(Reader):
    dataset = "celebamask-hq"
    splits_key = "CelebAMask-HQ"
    attribute_file = ATTRIBUTE_FILE

    def _list_items(self) -> list[Item]:
        table = read_attribute_table(self.root / self.attribute_file)
        masks = self._scan_annotated_parts()
        stems, self.split_source = self._listed() or self._official_split()
        folder = self.root / IMAGE_FOLDER
        present = file_names(folder)
        items = []
        for stem in stems:
            if f"{stem}.jpg" not in present:
                self.skip(stem, f"image {folder / (stem + '.jpg')} not found")
                continue
            if stem not in table.rows and not (self.hair_annotated or self.skin_annotated):
                self.skip(stem, f"no row in {table.path} and no masks: nothing known")
                continue
            color, attributes = table.hair_labels(stem) if stem in table.rows else (-1, unknown_attributes())
            items.append(Item(stem, folder / f"{stem}.jpg", self.hair_annotated, self.skin_annotated,
                              color, attributes, masks.get(stem, {})))
        return items

    def _scan_annotated_parts(self) -> dict[str, dict[str, Path]]:
        folder = self.root / MASK_FOLDER
        masks = scan_masks(folder) if folder.is_dir() else {}
        annotated = {part for parts in masks.values() for part in parts}
        self.hair_annotated = HAIR_PART in annotated
        missing_skin = [p for p in SKIN_PARTS if p not in annotated]
        self.skin_annotated = not missing_skin
        if not folder.is_dir():
            self.notes.append(f"no {folder}: hair and skin unknown for every image")
        else:
            self.notes.append(f"parts annotated in this download: {', '.join(sorted(annotated)) or 'none'}")
            if missing_skin:
                self.notes.append(f"skin unknown for every image: no file anywhere for {', '.join(missing_skin)}")
            if not self.hair_annotated:
                self.notes.append("hair unknown for every image: no hair mask file anywhere")
        return masks

    def _official_split(self) -> tuple[list[str], str]:
        candidates = [self.root.parent / "CelebA" / "Eval" / "list_eval_partition.txt",
                      self.root / "list_eval_partition.txt"]
        partition_file = next((p for p in candidates if p.is_file()), None)
        if partition_file is None:
            raise DataError(
                f"{self.root}: no splits.json entry {self.splits_key!r} and no CelebA partition file "
                f"(looked for {', '.join(map(str, candidates))}) to derive the official split from"
            )
        celeba_stems, source = split_from_partition(partition_file, self.split)
        wanted = set(celeba_stems)
        mapping = read_mapping(self.root / MAPPING_FILE)
        return [i for i, celeba in mapping.items() if celeba in wanted], f"{source} via {self.root / MAPPING_FILE}"

    def _masks(self, item, size):
        return (self._union(item, (HAIR_PART,), size) if item.hair_known else None,
                self._union(item, SKIN_PARTS, size) if item.skin_known else None)

    def _union(self, item: Item, parts: tuple[str, ...], size: tuple[int, int]) -> np.ndarray:
        """The union of the image's files for these parts, on the image's grid; absent file = empty."""
        union = np.zeros((size[1], size[0]), dtype=bool)
        for part in parts:
            path = item.labels.get(part)
            if path is None:
                continue
            mask = load_binary_mask(path)
            if mask.shape[0] * size[0] != mask.shape[1] * size[1]:
                raise DataError(f"{path}: mask {mask.shape[1]}×{mask.shape[0]} does not have the shape of "
                                f"its image {size[0]}×{size[1]}")
            union |= resize_mask(mask, size)
        return union


class CelebAHQAttrs(CelebAMaskHQ):
    """The CelebA-HQ-attrs folder: same layout, its own splits.json entry, no masks."""

    dataset = "celeba-hq-attrs"
    splits_key = "CelebA-HQ-attrs"
