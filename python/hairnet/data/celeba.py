"""CelebA (`img_align_celeba/`): attributes only; hair and skin unknown.

Official layout: `img_align_celeba/<file>.jpg` (178×218 officially; any size is accepted, the
crop does not assume one), `Anno/list_attr_celeba.txt`, `Eval/list_eval_partition.txt`
(0 train, 1 val, 2 test). `splits.json`'s "CelebA" entry, when present, overrides the partition.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .attributes import read_attribute_table
from .samples import Item, Reader
from .textfiles import numbered_rows

PARTITION_CODES = {"train": 0, "val": 1, "test": 2}


def read_partition(path: Path) -> dict[str, int]:
    """`list_eval_partition.txt` → {file stem: 0 | 1 | 2}."""
    partition: dict[str, int] = {}
    for number, fields in numbered_rows(path):
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(f"{path}, line {number}: expected '<file> <0|1|2>', got {' '.join(fields)!r}")
        stem = Path(fields[0]).stem
        if stem in partition:
            raise DataError(f"{path}, line {number}: {fields[0]} is listed twice")
        partition[stem] = int(fields[1])
    return partition


def split_from_partition(path: Path, split: str) -> tuple[list[str], str]:
    code = PARTITION_CODES[split]
    return [s for s, p in read_partition(path).items() if p == code], f"official: {path} partition {code}"


def file_names(folder: Path) -> set[str]:
    """The names in a (possibly 200,000-file) folder, read once instead of one stat per item."""
    try:
        return {entry.name for entry in os.scandir(folder)}
    except FileNotFoundError:
        raise DataError(f"{folder}: image folder not found") from None


class CelebA(Reader):
    dataset = "celeba-attrs"
    splits_key = "CelebA"
    attribute_file = "Anno/list_attr_celeba.txt"

    def _list_items(self) -> list[Item]:
        table = read_attribute_table(self.root / self.attribute_file)
        stems, self.split_source = self._listed() or split_from_partition(
            self.root / "Eval" / "list_eval_partition.txt", self.split)
        folder = self.root / "img_align_celeba"
        present = file_names(folder)
        items = []
        for stem in stems:
            if f"{stem}.jpg" not in present:
                self.skip(stem, f"image {folder / (stem + '.jpg')} not found")
            elif stem not in table.rows:
                self.skip(stem, f"no row in {table.path}")
            else:
                color, attributes = table.hair_labels(stem)
                items.append(Item(stem, folder / f"{stem}.jpg", False, False, color, attributes))
        return items

    def _masks(self, item, size):
        return None, None
