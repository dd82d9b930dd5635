"""Decode, find the face and crop once; training then reads fixed-size arrays (memory-mapped).

    python -m hairnet.data.cache --dataset figaro1k --root ../shared/data/Figaro1k --split train val --out cache

A cache is a folder `<out>/<dataset>-<split>/` holding, for N images in reader order:

    images.npy       N×224×224×3 uint8   the crop (zeros outside the photo), bilinear
    seg.npy          N×2×224×224 uint8   0/1, channel 0 skin, 1 hair, cropped with the same box and
                                         resized nearest; outside the photo 0 (truly no hair there)
    seg_known.npy    N×2 bool            whether each channel is labelled for that image
    color.npy        N int8              index into HAIR_COLORS, -1 unknown
    attrs.npy        N×4 int8            straight, wavy, bangs, bald: 1 / 0 / -1 unknown
    face_found.npy   N bool              head crop (True) or whole-image fallback (False)
    boxes.npy        N×3 int32           the crop square (x, y, side) in photo pixels
    image_sizes.npy  N×2 int32           the photo's (width, height), to map predictions back
    stems.json       the N stems
    meta.json        dataset, split, crop rule, known-label counts, skipped items with reasons, timings

Items whose files cannot be decoded are left out and listed in meta.json with the DataError
message. The folder is built under a temporary name and renamed into place, so a cache either
exists complete or not at all.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..contract import ATTRIBUTES, DEFAULT_CROP, INPUT_SIZE, CropRule
from ..errors import DataError, HairNetError, OutputError
from ..files import make_folder
from ..postprocess import CropBox, crop_image
from . import READERS, Reader, open_dataset
from .faces import frame
from .samples import SPLITS, known_counts

CACHE_VERSION = 1
# The per-image arrays beside the crops and masks: trailing shape, dtype, value before an item fills it.
LABEL_ARRAYS = {
    "seg_known": ((2,), np.bool_, False), "color": ((), np.int8, -1), "attrs": ((len(ATTRIBUTES),), np.int8, -1),
    "face_found": ((), np.bool_, False), "boxes": ((3,), np.int32, 0), "image_sizes": ((2,), np.int32, 0),
}
MAX_WORKERS = 2
_worker_state: tuple[Reader, CropRule] | None = None


def crop_mask(mask: np.ndarray, box: CropBox, size: int = INPUT_SIZE) -> np.ndarray:
    """A bool mask cut with the image's square (False outside the photo), resized nearest → uint8 0/1."""
    region = (box.x, box.y, box.x + box.side, box.y + box.side)
    square = Image.fromarray(mask.astype(np.uint8)).crop(region)  # Pillow fills outside with 0
    return np.asarray(square.resize((size, size), Image.NEAREST), dtype=np.uint8)


def _init_worker(reader: Reader, rule: CropRule) -> None:
    global _worker_state
    cv2.setNumThreads(1)  # the pool already uses the cores; nested threads would only contend
    _worker_state = (reader, rule)


def _crop_item(index: int) -> tuple[int, dict | str]:
    reader, rule = _worker_state
    try:
        sample = reader.load(reader.items[index])
    except DataError as error:
        return index, str(error)
    box, found = frame(sample.image, rule)
    image, _ = crop_image(sample.image, box)
    seg = np.zeros((2, INPUT_SIZE, INPUT_SIZE), dtype=np.uint8)
    for channel, mask in enumerate((sample.skin, sample.hair)):
        if mask is not None:
            seg[channel] = crop_mask(mask, box)
    return index, {"image": image, "seg": seg, "known": (sample.skin is not None, sample.hair is not None),
                   "color": sample.color, "attrs": sample.attributes, "found": found,
                   "box": box.as_tuple(), "size": sample.image.size}


def _crop_all(reader: Reader, rule: CropRule, workers: int):
    """Yield (index, result or error message) in index order."""
    if workers <= 1 or len(reader) < 2:
        _init_worker(reader, rule)
        yield from map(_crop_item, range(len(reader)))
        return
    # Spawned, not forked: the trainer builds caches on first use, and a fork of a process whose torch
    # and OpenCV thread pools are running can inherit a held lock and hang (seen: figaro1k-train, 11 min).
    # An executor, unlike multiprocessing.Pool, reports a worker that died instead of waiting on it forever.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(reader, rule))
    try:
        yield from pool.map(_crop_item, range(len(reader)), chunksize=8)
    except BrokenProcessPool as error:
        raise DataError(f"{reader.dataset}/{reader.split} ({reader.root}): a cropping worker died "
                        f"({error}); rebuild with --workers 1 to see the item that kills it") from None
    finally:
        pool.shutdown(cancel_futures=True)  # an early stop (an error, a signal) leaves no work queued


def write_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)


def label_counts(labels: dict[str, np.ndarray]) -> dict:
    """The meta fields a cache derives from its label arrays (LABEL_ARRAYS): images, faces found, known labels."""
    return {"images": len(labels["face_found"]), "face_found": int(labels["face_found"].sum()),
            "known": known_counts(labels["seg_known"][:, 1], labels["seg_known"][:, 0], labels["color"], labels["attrs"])}


@contextmanager
def staged_folder(final: Path):
    """A temporary sibling folder to fill; renamed to `final` (replacing an older one) when the
    block ends without error, removed otherwise, so `final` exists complete or not at all."""
    make_folder(final.parent)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        yield tmp
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OSError):  # a full disk or an unwritable folder: say where
            raise OutputError(f"{final}: cannot write the crop cache ({error})") from None
        raise


def write_meta(folder: Path, meta: dict) -> None:
    (folder / "meta.json").write_text(json.dumps({"version": CACHE_VERSION, **meta}, indent=1) + "\n")


def build_cache(dataset: str, root: Path, split: str, rule: CropRule = DEFAULT_CROP,
                cache_dir: Path = Path("cache"), workers: int = MAX_WORKERS) -> Path:
    """Build `<cache_dir>/<dataset>-<split>/` (replacing an older one) and return its path."""
    started = time.time()
    reader = open_dataset(dataset, root, split)
    final = Path(cache_dir) / f"{dataset}-{split}"
    with staged_folder(final) as tmp:
        n = len(reader)
        images = np.lib.format.open_memmap(tmp / "images.npy", "w+", np.uint8, (n, INPUT_SIZE, INPUT_SIZE, 3))
        # Rows of images whose masks are unknown are never written: they stay zero (sparse on disk).
        seg = np.lib.format.open_memmap(tmp / "seg.npy", "w+", np.uint8, (n, 2, INPUT_SIZE, INPUT_SIZE))
        small = {name: np.full((n, *shape), fill, dtype) for name, (shape, dtype, fill) in LABEL_ARRAYS.items()}
        keep, failed = [], []
        for index, result in _crop_all(reader, rule, min(workers, MAX_WORKERS)):
            if isinstance(result, str):
                failed.append({"stem": reader.items[index].stem, "reason": result})
                print(f"skipped: {result}", file=sys.stderr)
                continue
            keep.append(index)
            images[index] = result["image"]
            if any(result["known"]):
                seg[index] = result["seg"]
            small["seg_known"][index] = result["known"]
            small["color"][index] = result["color"]
            small["attrs"][index] = result["attrs"]
            small["face_found"][index] = result["found"]
            small["boxes"][index] = result["box"]
            small["image_sizes"][index] = result["size"]
            if len(keep) % 500 == 0:
                print(f"{dataset}/{split}: {len(keep)}/{n}", file=sys.stderr)
        if n and not keep:
            raise DataError(f"{dataset}/{split}: every one of {n} images failed to load; first: {failed[0]['reason']}")
        images.flush()
        seg.flush()
        del images, seg
        if failed:  # close the gaps the failed items left
            for name in ("images", "seg"):
                full = np.load(tmp / f"{name}.npy", mmap_mode="r")
                compact = np.lib.format.open_memmap(tmp / f"{name}.compact.npy", "w+", full.dtype, (len(keep),) + full.shape[1:])
                for row, index in enumerate(keep):
                    compact[row] = full[index]
                compact.flush()
                del full, compact
                os.replace(tmp / f"{name}.compact.npy", tmp / f"{name}.npy")
        small = {name: array[keep] for name, array in small.items()}
        write_arrays(tmp, small)
        stems = [reader.items[i].stem for i in keep]
        (tmp / "stems.json").write_text(json.dumps(stems) + "\n")
        report = reader.report()
        write_meta(tmp, {
            "dataset": dataset, "split": split, "root": str(Path(root).resolve()),
            "split_source": report["split_source"], "crop_rule": {"k": rule.k, "dx": rule.dx, "dy": rule.dy},
            "input_size": INPUT_SIZE, **label_counts(small), "listed": n + len(report["skipped"]),
            "skipped": report["skipped"] + failed, "notes": report["notes"],
            "build_seconds": round(time.time() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return final


@dataclass
class CropCache:
    """A built cache: the arrays memory-mapped read-only, plus its stems and meta (see module docstring)."""

    path: Path
    images: np.ndarray
    seg: np.ndarray
    seg_known: np.ndarray
    color: np.ndarray
    attrs: np.ndarray
    face_found: np.ndarray
    boxes: np.ndarray
    image_sizes: np.ndarray
    stems: list[str]
    meta: dict

    def __len__(self) -> int:
        return len(self.stems)


ARRAYS = ("images", "seg", *LABEL_ARRAYS)


def load_cache(path: Path, rule: CropRule | None = None) -> CropCache:
    """Open a cache folder; with `rule`, refuse one built with other crop constants."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
        stems = json.loads((path / "stems.json").read_text())
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a complete crop cache ({error}); rebuild it with python -m hairnet.data.cache") from None
    if meta.get("version") != CACHE_VERSION:
        raise DataError(f"{path}/meta.json: cache version {meta.get('version')!r}, this code reads {CACHE_VERSION}; rebuild")
    wrong = {name: a.shape for name, a in arrays.items() if a.shape[:1] != (len(stems),)}
    if wrong:
        raise DataError(f"{path}: {len(stems)} stems but arrays of other lengths {wrong}")
    if rule is not None and meta["crop_rule"] != {"k": rule.k, "dx": rule.dx, "dy": rule.dy}:
        raise DataError(f"{path}/meta.json: built with crop rule {meta['crop_rule']}, expected "
                        f"{rule.to_json()}; rebuild the cache")
    return CropCache(path, stems=stems, meta=meta, **arrays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(READERS))
    parser.add_argument("--root", required=True, type=Path, help="the dataset's folder, e.g. .../Figaro1k")
    parser.add_argument("--split", required=True, nargs="+", choices=SPLITS)
    parser.add_argument("--out", type=Path, default=Path("cache"), help="parent folder of the caches")
    parser.add_argument("--workers", type=int, default=MAX_WORKERS, help=f"processes (at most {MAX_WORKERS})")
    parser.add_argument("--crop", metavar="K,DX,DY", help="crop rule of the run that will read the cache "
                        f"(default the calibrated {DEFAULT_CROP.k},{DEFAULT_CROP.dx},{DEFAULT_CROP.dy})")
    args = parser.parse_args(argv)
    try:
        rule = DEFAULT_CROP
        if args.crop:
            try:
                rule = CropRule(*(float(v) for v in args.crop.split(",")))
            except (TypeError, ValueError) as error:
                parser.error(f"--crop {args.crop!r}: expected K,DX,DY ({error})")
        for split in args.split:
            folder = build_cache(args.dataset, args.root, split, rule, args.out, args.workers)
            meta = json.loads((folder / "meta.json").read_text())
            print(json.dumps({"cache": str(folder), "images": meta["images"], "face_found": meta["face_found"],
                              "known": meta["known"], "skipped": len(meta["skipped"]),
                              "build_seconds": meta["build_seconds"]}))
    except HairNetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
