"""Dataset readers, face framing, the crop cache and training augmentation (DESIGN.md §4, §8).

    reader = open_dataset("figaro1k", "/path/to/Figaro1k", "train")
    sample = reader[0]          # Sample: image, hair / skin masks (None = unknown), color, attributes
    reader.report()             # known-label counts and skipped items with reasons
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .celeba import CelebA
from .celebamask import CelebAHQAttrs, CelebAMaskHQ
from .fasseg import FASSEG
from .figaro import Figaro
from .lfw import LFWParts
from .samples import Item, Reader, Sample

READERS: dict[str, type[Reader]] = {
    cls.dataset: cls for cls in (CelebAMaskHQ, CelebAHQAttrs, Figaro, LFWParts, FASSEG, CelebA)
}

# Registry name → folder under a data root laid out as ../shared/data (each dataset's official layout).
DATASET_FOLDERS = {
    "celebamask-hq": "CelebAMask-HQ", "celeba-hq-attrs": "CelebA-HQ-attrs", "figaro1k": "Figaro1k",
    "lfw-parts": "LFW", "fasseg": "FASSEG", "celeba-attrs": "CelebA",
}


def open_dataset(name: str, root: Path, split: str) -> Reader:
    """The reader registered as `name` (see READERS) over the folder `root`, for one split."""
    if name not in READERS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(READERS)}")
    return READERS[name](root, split)


__all__ = ["DATASET_FOLDERS", "READERS", "Item", "Reader", "Sample", "open_dataset"]
