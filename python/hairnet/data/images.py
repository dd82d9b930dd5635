"""Decoding photos and label images into predictable arrays, or a DataError that names the file.

Every file goes through `_open`: the size in the header is checked before any pixel is decoded
(a 60-byte PNG can claim 10⁵×10⁵ pixels), and decoding is forced so that a truncated or corrupt
file fails here, not later inside a worker or a training step. Only the formats photos and label
images come in are opened (FORMATS): Pillow would otherwise also try EPS (which runs Ghostscript),
PSD, FITS and a dozen other decoders on whatever a hostile file claims to be.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError

MAX_PIXELS = 100_000_000
# Pillow's names; PPM covers PBM and PGM, JPEG covers the MPO files many cameras write.
FORMATS = ("JPEG", "PNG", "PPM", "BMP", "TIFF", "WEBP", "GIF")


def _open(path: Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open and decode, or raise a DataError naming the file.

    Decoders meet hostile bytes here and raise whatever their parser hit (ValueError,
    struct.error, IndexError, …), so every Exception becomes a DataError at this one boundary.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # We enforce our own limit below; Pillow's warnings about corrupt files would only add noise.
            warnings.simplefilter("ignore")
            image = Image.open(path, formats=FORMATS)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Image.DecompressionBombError:  # Pillow's own, coarser limit fired first
        raise DataError(f"{path}: header claims more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; "
                        f"refused before decoding (limit {max_pixels:,})") from None
    except UnidentifiedImageError:
        size = path.stat().st_size
        what = ("empty file (0 bytes)" if size == 0 else
                f"not a readable image ({size} bytes; formats read: {', '.join(FORMATS)})")
        raise DataError(f"{path}: {what}") from None
    except OSError as error:
        raise DataError(f"{path}: cannot open ({error})") from None
    except Exception as error:
        raise DataError(f"{path}: corrupt image header ({type(error).__name__}: {error})") from None
    width, height = image.size
    if width < 1 or height < 1 or width * height > max_pixels:
        image.close()
        raise DataError(
            f"{path}: header claims {width}×{height} = {width * height:,} pixels; "
            f"refused before decoding (limit {max_pixels:,})"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except Exception as error:
        image.close()
        raise DataError(f"{path}: truncated or corrupt image data ({type(error).__name__}: {error})") from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB, keeping what the pixels mean."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey (Pillow opens 16-bit PNG as I;16 or I): keep the full range, not the low byte.
        grey = np.asarray(image, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8)).convert("RGB")
    if mode == "F":
        return Image.fromarray(np.clip(np.rint(np.asarray(image)), 0, 255).astype(np.uint8)).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        # Transparent pixels become black: the same fill the crop uses outside the photo.
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV, RGBX


def load_image(path: Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A photo as an upright RGB image: EXIF orientation applied, any mode converted."""
    image = _open(path, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unreadable orientation leaves the picture as stored, as viewers do
            image = ImageOps.exif_transpose(image)
    except Exception as error:  # malformed EXIF blocks raise a variety of types
        raise DataError(f"{path}: unreadable EXIF orientation ({type(error).__name__}: {error})") from None
    return _to_rgb(image)


def load_label(path: Path, expected_size: tuple[int, int] | None = None) -> Image.Image:
    """A label image as stored (no EXIF rotation, no mode change), checked against the photo size."""
    image = _open(path)
    if expected_size is not None and image.size != tuple(expected_size):
        raise DataError(
            f"{path}: label is {image.size[0]}×{image.size[1]} but its photo is "
            f"{expected_size[0]}×{expected_size[1]}"
        )
    return image


def load_binary_mask(path: Path, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """A two-valued mask → bool H×W (True = the part). Mode '1': white is True.

    Grey or RGB masks must hold only 0 and 255 with equal channels; anything else is refused
    rather than thresholded, since it means the file is not the binary mask we think it is.
    """
    image = load_label(path, expected_size)
    if image.mode == "1":
        return np.asarray(image, dtype=bool)
    if image.mode not in ("L", "RGB", "P"):
        raise DataError(f"{path}: a binary mask must be mode 1, L or RGB, got {image.mode}")
    pixels = np.asarray(image.convert("RGB") if image.mode == "P" else image)
    if pixels.ndim == 3:
        unequal = np.count_nonzero((pixels != pixels[..., :1]).any(axis=-1))
        if unequal:
            raise DataError(f"{path}: a binary mask must be grey; {unequal} pixels have unequal RGB channels")
        pixels = pixels[..., 0]
    stray = (pixels != 0) & (pixels != 255)
    if stray.any():
        values, counts = np.unique(pixels[stray], return_counts=True)
        listed = ", ".join(f"{v}×{c}" for v, c in zip(values[:5].tolist(), counts[:5].tolist()))
        raise DataError(f"{path}: binary mask holds values other than 0 and 255 ({listed}{', …' if len(values) > 5 else ''})")
    return pixels == 255


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a bool mask to (width, height)."""
    if mask.shape[::-1] == tuple(size):
        return mask
    resized = Image.fromarray(mask.astype(np.uint8) * 255).resize(tuple(size), Image.NEAREST)
    return np.asarray(resized) >= 128
