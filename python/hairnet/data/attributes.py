"""CelebA's 40-attribute files, in both official spellings, and what HairNet reads from them.

`list_attr_celeba.txt` (CelebA) and `CelebAMask-HQ-attribute-anno.txt` (CelebAMask-HQ) share a
format: line 1 the row count, line 2 the attribute names, then `<file> v1 … v40` with values
1 / -1 (spacing differs: fixed-width columns in one, single spaces in the other).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..contract import ATTRIBUTES, HAIR_COLORS
from ..errors import DataError
from .textfiles import natural, numbered_rows

COLOR_COLUMNS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")  # order of HAIR_COLORS
ATTRIBUTE_COLUMNS = ("Straight_Hair", "Wavy_Hair", "Bangs", "Bald")  # order of ATTRIBUTES
VALID_VALUES = frozenset(("1", "-1"))
assert len(COLOR_COLUMNS) == len(HAIR_COLORS) and len(ATTRIBUTE_COLUMNS) == len(ATTRIBUTES)


@dataclass(frozen=True)
class AttributeTable:
    """The rows of one attribute file, keyed by file stem ("000001.jpg" → "000001")."""

    path: Path
    names: tuple[str, ...]
    rows: dict[str, np.ndarray]  # int8, +1 / -1 per name

    def hair_labels(self, stem: str) -> tuple[int, np.ndarray]:
        """(color index or -1, attributes int8 1/0) of an image this table has a row for.

        A color is known only when exactly one of the four color attributes is 1: none set
        (bald, or unlabelled) and several set (CelebA's annotators disagreed) are both unknown.
        """
        row = self.rows[stem]
        colors = np.flatnonzero(row[[self.names.index(c) for c in COLOR_COLUMNS]] == 1)
        color = int(colors[0]) if colors.size == 1 else -1
        attributes = (row[[self.names.index(a) for a in ATTRIBUTE_COLUMNS]] == 1).astype(np.int8)
        return color, attributes

    def has(self, stems: list[str], name: str) -> np.ndarray:
        """Per image, whether its row says 1 for the attribute; a name or an image the file lacks is an error."""
        if name not in self.names:
            raise DataError(f"{self.path}: no attribute {name} (it has {', '.join(self.names)})")
        missing = [stem for stem in stems if stem not in self.rows]
        if missing:
            raise DataError(f"{self.path}: no row for {len(missing)} image(s), e.g. {missing[0]!r}")
        column = self.names.index(name)
        return np.array([self.rows[stem][column] == 1 for stem in stems], dtype=bool)

    def draws(self, stems: list[str], repeats: dict[str, int]) -> np.ndarray:
        """Per image, how often a pass over the set draws it: the largest `repeats[name]` among the
        attributes the image has (1 with none), so that a rare case, such as a hat, is seen more often."""
        counts = np.ones(len(stems), dtype=np.int64)
        for name, times in repeats.items():
            chosen = self.has(stems, name)
            counts[chosen] = np.maximum(counts[chosen], times)
        return counts


def read_attribute_table(path: Path) -> AttributeTable:
    path = Path(path)
    rows = numbered_rows(path)
    if len(rows) < 2:
        raise DataError(f"{path}: expected a row-count line and an attribute-name line, found {len(rows)} lines")
    (count_line, count_fields), (names_line, names) = rows[0], rows[1]
    count = natural(count_fields[0]) if len(count_fields) == 1 else None
    if count is None:
        raise DataError(f"{path}, line {count_line}: expected the row count, got {' '.join(count_fields)!r}")
    if len(set(names)) != len(names):
        raise DataError(f"{path}, line {names_line}: an attribute name appears twice")
    missing = [n for n in COLOR_COLUMNS + ATTRIBUTE_COLUMNS if n not in names]
    if missing:
        raise DataError(f"{path}, line {names_line}: attribute names lack {', '.join(missing)}")

    table: dict[str, np.ndarray] = {}
    first_line: dict[str, int] = {}
    for number, fields in rows[2:]:
        if len(fields) != len(names) + 1:
            raise DataError(
                f"{path}, line {number}: expected {len(names) + 1} columns (file name and {len(names)} values), "
                f"got {len(fields)}"
            )
        stem = Path(fields[0]).stem
        if stem in first_line:
            raise DataError(f"{path}, line {number}: {fields[0]} already listed on line {first_line[stem]}")
        values = fields[1:]
        if not VALID_VALUES.issuperset(values):
            name, value = next((n, v) for n, v in zip(names, values) if v not in VALID_VALUES)
            raise DataError(f"{path}, line {number}: {fields[0]} {name} = {value!r}, expected 1 or -1")
        first_line[stem] = number
        table[stem] = np.array([1 if v == "1" else -1 for v in values], dtype=np.int8)
    if count != len(table):
        raise DataError(f"{path}, line {count_line}: says {count_fields[0]} rows, the file has {len(table)}")
    return AttributeTable(path, tuple(names), table)
