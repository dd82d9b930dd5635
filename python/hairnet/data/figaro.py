"""Figaro-1k: unconstrained hair photos with binary hair masks; skin unknown.

Layout: `Original/{Training,Testing}/FrameNNNNN-org.jpg`, `GT/{Training,Testing}/FrameNNNNN-gt.pbm`.
Masks are PBM: in Pillow (mode '1') hair is white = True. Official split: Training / Testing;
there is no official validation split, so without `splits.json` (whose train and val are both
drawn from Training) `val` is empty and the report says so.
"""

from __future__ import annotations

from .images import load_binary_mask
from .samples import Item, Reader

OFFICIAL_FOLDERS = {"train": "Training", "test": "Testing"}


class Figaro(Reader):
    dataset = "figaro1k"
    splits_key = "Figaro1k"

    def _list_items(self) -> list[Item]:
        listed = self._listed()
        if listed:
            stems, self.split_source = listed
            # splits.json names frames, not folders: test frames live in Testing, train and val in Training.
            folders = ("Testing", "Training") if self.split == "test" else ("Training", "Testing")
        elif self.split in OFFICIAL_FOLDERS:
            folders = (OFFICIAL_FOLDERS[self.split],)
            originals = self.root / "Original" / folders[0]
            stems = sorted(p.name[: -len("-org.jpg")] for p in originals.glob("*-org.jpg"))
            self.split_source = f"official: {originals}"
        else:
            stems, self.split_source = [], "official: Figaro-1k has no validation split (only Training/Testing)"
            self.notes.append("val is empty without a splits.json entry 'Figaro1k'")
            folders = ()
        items = []
        for stem in stems:
            folder = next((f for f in folders if (self.root / "Original" / f / f"{stem}-org.jpg").is_file()), None)
            if folder is None:
                self.skip(stem, f"image {stem}-org.jpg not found in Original/{' or Original/'.join(folders)}")
                continue
            mask = self.root / "GT" / folder / f"{stem}-gt.pbm"
            if not mask.is_file():
                self.skip(stem, f"hair mask {mask} not found")
                continue
            items.append(Item(stem, self.root / "Original" / folder / f"{stem}-org.jpg", True, False,
                              labels={"hair": mask}))
        return items

    def _masks(self, item, size):
        return load_binary_mask(item.labels["hair"], size), None
