"""Crop caches packed to travel: one file, about a tenth of their size, unpacked into caches again.

    python -m hairnet.data.bundle pack cache/k2.0 --out k2.0.npz [--only NAME ...] [--limit NAME=N ...]
                                       [--quality 90] [--seed 0]
    python -m hairnet.data.bundle unpack k2.0.npz --out cache/k2.0 [--force]

For training on a machine that lacks the datasets, or reaches them slowly (a rented GPU): the caches
of `python -m hairnet.data.cache` are raw arrays (150 KB of image and 100 KB of masks per crop), the
raw datasets larger still. A bundle keeps every cache's labels, boxes, stems and meta exactly and
stores the 224×224 crops as JPEG (4:4:4, no chroma subsampling: hair colour is a label) and the 0/1
masks as bits, all in one NumPy `.npz` (zip, deflated). The images are the one lossy part: at the
default quality 90 a crop moves by about one grey level on average; each cache's meta records the
quality, so a run's caches say what they were trained on. `--limit NAME=N` keeps N crops of a cache,
drawn with `--seed`, in their cache order, for a bundle that must fit a size.

Unpacking writes each cache folder whole or not at all (as building one does), and refuses to
replace an existing cache unless told to.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..contract import INPUT_SIZE
from ..errors import DataError, HairNetError, OutputError
from ..files import make_folder
from .cache import CACHE_VERSION, LABEL_ARRAYS, label_counts, load_cache, staged_folder, write_arrays, write_meta

BUNDLE_VERSION = 1
DEFAULT_QUALITY = 90
MANIFEST = "manifest"
# Every array of a cache: trailing shape and dtype (cache.py's module docstring).
LAYOUT = {"images": ((INPUT_SIZE, INPUT_SIZE, 3), np.uint8), "seg": ((2, INPUT_SIZE, INPUT_SIZE), np.uint8),
          **{name: (shape, dtype) for name, (shape, dtype, _) in LABEL_ARRAYS.items()}}


def cache_folders(root: Path) -> list[Path]:
    """The crop caches directly under `root` (folders with a meta.json), by name."""
    root = Path(root)
    if (root / "meta.json").is_file():
        raise DataError(f"{root}: is one crop cache; pack the folder holding it, with --only {root.name}")
    folders = sorted(p for p in root.iterdir() if (p / "meta.json").is_file()) if root.is_dir() else []
    if not folders:
        raise DataError(f"{root}: no crop caches here (folders holding meta.json); build them with python -m hairnet.data.cache")
    return folders


def _kept_rows(count: int, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def pack(root: Path, out: Path, only: list[str] | None = None, limits: dict[str, int] | None = None,
         quality: int = DEFAULT_QUALITY, seed: int = 0, log=print) -> dict:
    """Write the caches under `root` (or the ones named in `only`) to the bundle `out`; return its manifest."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    folders = cache_folders(root)
    names = [p.name for p in folders]
    unknown = sorted(set(only or []) - set(names)) + sorted(set(limits or {}) - set(names))
    if unknown:
        raise DataError(f"{root}: no cache named {', '.join(unknown)}; it holds {', '.join(names)}")
    arrays: dict[str, np.ndarray] = {}
    manifest = {"version": BUNDLE_VERSION, "cache_version": CACHE_VERSION, "jpeg_quality": quality, "seed": seed,
                "caches": {}}
    for folder in folders:
        if only and folder.name not in only:
            continue
        cache = load_cache(folder)
        rows = _kept_rows(len(cache), (limits or {}).get(folder.name), seed)
        encoded = [_jpeg(cache.images[i], quality) for i in rows]
        # What the JPEG costs, recorded with the cache: mean absolute difference in grey levels (0-255).
        error = float(np.mean([np.abs(_decoded_jpeg(e, folder.name, row).astype(np.int16) - cache.images[i]).mean()
                               for row, (e, i) in enumerate(zip(encoded, rows))])) if len(rows) else 0.0
        arrays[f"{folder.name}.jpeg"] = np.frombuffer(b"".join(encoded), np.uint8)
        arrays[f"{folder.name}.jpeg_ends"] = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        arrays[f"{folder.name}.seg_bits"] = np.packbits(np.asarray(cache.seg[rows]).astype(bool), axis=-1)
        for name in LABEL_ARRAYS:
            arrays[f"{folder.name}.{name}"] = np.asarray(getattr(cache, name)[rows])
        meta = {key: value for key, value in cache.meta.items() if key != "version"}
        manifest["caches"][folder.name] = {"meta": meta, "stems": [cache.stems[i] for i in rows],
                                           "of": len(cache), "jpeg_mean_abs_error": round(error, 3)}
        log(f"packed {folder.name}: {len(rows)} of {len(cache)} crops, "
            f"{sum(map(len, encoded)) / max(len(rows), 1) / 1024:.1f} KiB of JPEG each, "
            f"mean absolute error {error:.2f} grey levels")
    arrays[MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    out = Path(out)
    make_folder(out.parent)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, out)
    except OSError as error:
        raise OutputError(f"{out}: cannot write the bundle ({error.strerror or error})") from None
    finally:
        tmp.unlink(missing_ok=True)
    log(f"wrote {out}: {len(manifest['caches'])} caches, {out.stat().st_size / 2**20:.1f} MiB")
    return manifest


def _open(bundle: Path) -> tuple[np.lib.npyio.NpzFile, dict]:
    try:
        data = np.load(bundle, allow_pickle=False)
        manifest = json.loads(bytes(data[MANIFEST]).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(f"{bundle}: not a crop-cache bundle ({error})") from None
    if manifest.get("version") != BUNDLE_VERSION or manifest.get("cache_version") != CACHE_VERSION:
        raise DataError(f"{bundle}: bundle version {manifest.get('version')!r} of cache version "
                        f"{manifest.get('cache_version')!r}; this code reads {BUNDLE_VERSION} of {CACHE_VERSION}")
    caches = manifest.get("caches")
    entry_keys = {"meta": dict, "stems": list, "of": int, "jpeg_mean_abs_error": (int, float)}
    if not isinstance(caches, dict) or not all(
            isinstance(entry, dict) and all(isinstance(entry.get(key), kind) for key, kind in entry_keys.items())
            for entry in caches.values()):
        raise DataError(f"{bundle}: its manifest does not list caches as {{name: {{{', '.join(entry_keys)}}}}}")
    return data, manifest


def _decoded_jpeg(data: bytes, where: str, row: int) -> np.ndarray:
    try:
        image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except (OSError, ValueError) as error:
        raise DataError(f"{where}: crop {row} is not a readable JPEG ({error})") from None
    if image.shape != (INPUT_SIZE, INPUT_SIZE, 3):
        raise DataError(f"{where}: crop {row} is {image.shape}, expected {(INPUT_SIZE, INPUT_SIZE, 3)}")
    return image


def _decoded(blob: np.ndarray, ends: np.ndarray, where: str) -> np.ndarray:
    images = np.empty((len(ends), INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    starts = np.concatenate([[0], ends[:-1]])
    for row, (start, end) in enumerate(zip(starts, ends)):
        images[row] = _decoded_jpeg(blob[start:end].tobytes(), where, row)
    return images


def unpack(bundle: Path, out: Path, force: bool = False, log=print) -> list[Path]:
    """Write every cache of `bundle` as a folder under `out`; return their paths."""
    data, manifest = _open(Path(bundle))
    out = Path(out)
    # A name from the file decides where we write: only a plain folder name, never a path out of `out`.
    unsafe = [name for name in manifest["caches"] if Path(name).name != name or name.startswith(".") or "\\" in name]
    if unsafe:
        raise DataError(f"{bundle}: cache name {unsafe[0]!r} is not a plain folder name")
    clashes = [name for name in manifest["caches"] if (out / name).exists()]
    if clashes and not force:
        raise OutputError(f"{out}: already holds {', '.join(clashes)}; pass --force to replace them")
    written = []
    for name, entry in manifest["caches"].items():
        where = f"{bundle}: cache {name}"
        try:
            images = _decoded(data[f"{name}.jpeg"], data[f"{name}.jpeg_ends"], where)
            seg = np.unpackbits(data[f"{name}.seg_bits"], axis=-1, count=INPUT_SIZE)
            exact = {array: data[f"{name}.{array}"] for array in LABEL_ARRAYS}
        except (KeyError, ValueError, zipfile.BadZipFile) as error:
            raise DataError(f"{where}: incomplete or corrupt ({error})") from None
        count = len(entry["stems"])
        arrays = {"images": images, "seg": seg, **exact}
        wrong = {array: f"{values.dtype}{list(values.shape)}" for array, values in arrays.items()
                 if values.shape != (count, *LAYOUT[array][0]) or values.dtype != LAYOUT[array][1]}
        if wrong:
            raise DataError(f"{where}: {count} stems but arrays {wrong}; expected {count} rows of the cache's layout")
        meta = {**entry["meta"], **label_counts(exact),
                "bundle": {"jpeg_quality": manifest["jpeg_quality"], "jpeg_mean_abs_error": entry["jpeg_mean_abs_error"],
                           "kept": count, "of": entry["of"], "seed": manifest["seed"]}}
        with staged_folder(out / name) as tmp:
            write_arrays(tmp, arrays)
            (tmp / "stems.json").write_text(json.dumps(entry["stems"]) + "\n")
            write_meta(tmp, meta)
        log(f"unpacked {out / name}: {count} crops")
        written.append(out / name)
    return written


def _limit(text: str) -> tuple[str, int]:
    name, _, count = text.partition("=")
    try:
        value = int(count)
    except ValueError:
        value = -1
    if not name or value < 1:
        raise argparse.ArgumentTypeError(f"--limit {text!r}: expected NAME=N with N a whole number ≥ 1")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    packing = verbs.add_parser("pack", help="crop caches → one bundle file")
    packing.add_argument("root", type=Path, help="the folder holding the caches, e.g. cache/k2.0")
    packing.add_argument("--out", type=Path, required=True, help="the bundle to write (.npz)")
    packing.add_argument("--only", nargs="+", metavar="NAME", help="pack only these caches (folder names)")
    packing.add_argument("--limit", nargs="+", type=_limit, default=[], metavar="NAME=N",
                         help="keep N crops of that cache, drawn with --seed")
    packing.add_argument("--quality", type=int, default=DEFAULT_QUALITY, help="JPEG quality of the crops (1-100)")
    packing.add_argument("--seed", type=int, default=0)
    unpacking = verbs.add_parser("unpack", help="a bundle file → crop caches")
    unpacking.add_argument("bundle", type=Path)
    unpacking.add_argument("--out", type=Path, required=True, help="the folder to write the caches in")
    unpacking.add_argument("--force", action="store_true", help="replace caches of the same names")
    args = parser.parse_args(argv)
    try:
        if args.verb == "pack":
            if not 1 <= args.quality <= 100:
                parser.error(f"--quality {args.quality}: expected 1..100")
            pack(args.root, args.out, args.only, dict(args.limit), args.quality, args.seed)
        else:
            unpack(args.bundle, args.out, args.force)
    except HairNetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
