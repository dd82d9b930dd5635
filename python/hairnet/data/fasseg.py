"""FASSEG (frontal02 `V2/` and multipose01 `V3/`): studio faces, hair and skin both labelled.

Layout (the repository's own): `V2/{Train,Test}_RGB/<n>.jpg` + `V2/{Train,Test}_Labels/<n>.png`,
`V3/{Train,Test}_RGB/<yaw>/<name>.jpg` + `V3/{Train,Test}_labels/<yaw>/<name>.png` (officially
`.bmp`; both are accepted, as is either capitalisation of `Labels`). `V1/` is left out: it holds
V2's images again with coarser masks. `manifest.json` is not needed. Stems are paths under the
dataset folder without extension (`V2/Train_RGB/1`), as in `splits.json`. Official split: the
Train / Test folders; there is no validation split.

Labels are RGB with anti-aliased borders: each pixel is snapped to the nearest palette colour.
Skin = skin + eyes + nose + mouth (the face's visible skin, as LFW draws it). Hair = hair, which in
FASSEG includes the eyebrows (and beards where drawn): a known disagreement with LFW, stated
wherever FASSEG figures are reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .images import load_label
from .samples import Item, Reader

SUBSETS = ("V2", "V3")
PALETTE = {
    "hair": (127, 0, 0), "skin": (255, 255, 0), "background": (255, 0, 0),
    "eyes": (0, 0, 255), "nose": (0, 255, 255), "mouth": (0, 255, 0),
}
SKIN_CLASSES = ("skin", "eyes", "nose", "mouth")
IMAGE_SUFFIXES = (".jpg", ".bmp", ".png")
LABEL_SUFFIXES = (".png", ".bmp")
# Snapping is for anti-aliased borders (~2 % of pixels; in two files the hair is also painted a
# shade off, e.g. (125, 1, 1)). Pixels farther than FAR from every palette colour stay under 1.5 %
# in every file of the dataset; a file with more than MAX_FAR of them is not a FASSEG label.
FAR, MAX_FAR = 48, 0.10


def decode_label(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(hair, skin) from a FASSEG label, each pixel snapped to its nearest palette colour."""
    pixels = np.asarray(load_label(path, size).convert("RGB"), dtype=np.int32)
    palette = np.array(list(PALETTE.values()), dtype=np.int32)
    distances = ((pixels[:, :, None, :] - palette[None, None]) ** 2).sum(axis=-1)
    nearest = distances.argmin(axis=-1)
    far = float(np.mean(distances.min(axis=-1) > FAR**2))
    if far > MAX_FAR:
        raise DataError(f"{path}: {far:.1%} of pixels are far from every FASSEG palette colour "
                        f"(anti-aliased borders explain ~1 %, limit {MAX_FAR:.0%})")
    names = list(PALETTE)
    hair = nearest == names.index("hair")
    skin = np.isin(nearest, [names.index(c) for c in SKIN_CLASSES])
    return hair, skin


class FASSEG(Reader):
    dataset = "fasseg"
    splits_key = "FASSEG"

    def _list_items(self) -> list[Item]:
        listed = self._listed()
        if listed:
            stems, self.split_source = listed
        elif self.split == "val":
            stems, self.split_source = [], "official: FASSEG has no validation split (only Train/Test)"
            self.notes.append("val is empty without a splits.json entry 'FASSEG'")
        else:
            stems = self._official_stems("Train" if self.split == "train" else "Test")
            self.split_source = f"official: {'/'.join(SUBSETS)} {self.split.title()}_RGB folders"
        items = []
        for stem in stems:
            image = _with_suffix(self.root / stem, IMAGE_SUFFIXES)
            label_stem = self._label_stem(stem)
            label = _with_suffix(self.root / label_stem, LABEL_SUFFIXES) if label_stem else None
            if image is None:
                self.skip(stem, f"image {self.root / stem}{{{','.join(IMAGE_SUFFIXES)}}} not found")
            elif label is None:
                self.skip(stem, f"no label file for {image} (FASSEG leaves some test poses unlabelled)")
            else:
                items.append(Item(stem, image, True, True, labels={"parts": label}))
        return items

    def _official_stems(self, which: str) -> list[str]:
        stems = []
        for subset in SUBSETS:
            folder = self.root / subset / f"{which}_RGB"
            stems += [p.relative_to(self.root).with_suffix("").as_posix()
                      for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
        return sorted(stems)

    def _label_stem(self, stem: str) -> str | None:
        """`V3/Train_RGB/+30/x` → `V3/Train_labels/+30/x` (whichever capitalisation exists)."""
        parts = stem.split("/")
        rgb = next((i for i, p in enumerate(parts) if p.endswith("_RGB")), None)
        if rgb is None:
            raise DataError(f"FASSEG stem {stem!r}: expected a path through a '<Split>_RGB' folder")
        base = self.root.joinpath(*parts[:rgb])
        for name in (parts[rgb][:-4] + "_Labels", parts[rgb][:-4] + "_labels"):
            if (base / name).is_dir():
                return "/".join(parts[:rgb] + [name] + parts[rgb + 1:])
        return None

    def _masks(self, item, size):
        return decode_label(item.labels["parts"], size)


def _with_suffix(stem_path: Path, suffixes: tuple[str, ...]) -> Path | None:
    return next((p for p in (stem_path.with_name(stem_path.name + s) for s in suffixes) if p.is_file()), None)
