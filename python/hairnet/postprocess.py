"""Turning model outputs into answers, and photos into model inputs (DESIGN.md §3–§4).

Every rule here is mirrored exactly by `HairNetCore` in Swift; `hairnet.golden` writes the
cases both sides check. Keep the arithmetic simple and the rounding explicit so that the two
languages agree bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .contract import (
    ATTRIBUTES,
    DEFAULT_CROP,
    HAIR_COLORS,
    INPUT_SIZE,
    LABEL_BACKGROUND,
    LABEL_HAIR,
    LABEL_SKIN,
    THRESHOLD,
    CropRule,
)


def label_map(probs: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Eq. 2: background unless max(skin, hair) > t; then 1 + argmax (a tie goes to hair).

    `probs` has the channel axis (skin, hair) third from the end: (2, H, W) or (N, 2, H, W).
    Every comparison with NaN is false, so a pixel with a NaN in either channel has no winner
    and is background; written with comparisons so that it does not depend on how max treats NaN.
    """
    probs = np.asarray(probs)
    if probs.ndim < 3 or probs.shape[-3] != 2:
        raise ValueError(f"label_map: expected (..., 2, H, W) probabilities, got shape {probs.shape}")
    skin, hair = probs[..., 0, :, :], probs[..., 1, :, :]
    hair_wins = hair >= skin
    skin_wins = skin > hair
    labels = np.full(skin.shape, LABEL_BACKGROUND, dtype=np.uint8)
    labels[skin_wins & (skin > threshold)] = LABEL_SKIN
    labels[hair_wins & (hair > threshold)] = LABEL_HAIR
    return labels


def decode_attributes(hair_color: np.ndarray, attributes: np.ndarray, threshold: float = THRESHOLD) -> dict:
    """Color: argmax (first index on ties) with its probability; binary attributes: p > t."""
    hair_color = np.asarray(hair_color, dtype=np.float64).reshape(-1)
    attributes = np.asarray(attributes, dtype=np.float64).reshape(-1)
    if hair_color.shape != (len(HAIR_COLORS),):
        raise ValueError(f"hair_color: expected {len(HAIR_COLORS)} values, got {hair_color.size}")
    if attributes.shape != (len(ATTRIBUTES),):
        raise ValueError(f"attributes: expected {len(ATTRIBUTES)} values, got {attributes.size}")
    for name, values in (("hair_color", hair_color), ("attributes", attributes)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: non-finite model output {values.tolist()}")
    best = int(np.argmax(hair_color))
    return {
        "hair_color": {
            "label": HAIR_COLORS[best],
            "probability": float(hair_color[best]),
            "probabilities": {name: float(p) for name, p in zip(HAIR_COLORS, hair_color)},
        },
        "attributes": {
            name: {"probability": float(p), "present": bool(p > threshold)}
            for name, p in zip(ATTRIBUTES, attributes)
        },
    }


@dataclass(frozen=True)
class CropBox:
    """A square in photo pixels (top-left origin); it may extend past the photo's borders."""

    x: int
    y: int
    side: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.x, self.y, self.side)

    def overlap(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The part of the square inside a width×height photo, (x0, y0, x1, y1) in photo pixels; None if empty."""
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(width, self.x + self.side), min(height, self.y + self.side)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def round_half_up(value: float) -> int:
    """The one rounding rule of the crop: floor(v + 0.5). Swift does the same, and likewise refuses
    a value that is not a number of pixels (a face box near the float limit overflows to Inf)."""
    if not math.isfinite(value + 0.5):
        raise ValueError(f"crop coordinate {value} is not a finite number of pixels")
    return int(math.floor(value + 0.5))


def head_crop_box(face_box: tuple[float, float, float, float], rule: CropRule = DEFAULT_CROP) -> CropBox:
    """Face box (x, y, w, h), top-left pixels → the square head crop of DESIGN.md §4."""
    x, y, w, h = (float(v) for v in face_box)
    if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"face box must have finite coordinates and positive size, got {face_box}")
    cx = x + w / 2.0 + rule.dx * w
    cy = y + h / 2.0 + rule.dy * h
    side = max(1, round_half_up(rule.k * max(w, h)))
    return CropBox(round_half_up(cx - side / 2.0), round_half_up(cy - side / 2.0), side)


def whole_image_box(width: int, height: int) -> CropBox:
    """The fallback when no face is found: the whole photo, centred in a square of zeros."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    side = max(width, height)
    return CropBox(-((side - width) // 2), -((side - height) // 2), side)


def vision_box_to_pixels(
    normalized: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    """Vision's normalised, bottom-left-origin box → top-left-origin pixels (x, y, w, h)."""
    nx, ny, nw, nh = (float(v) for v in normalized)
    return (nx * width, (1.0 - ny - nh) * height, nw * width, nh * height)


def crop_image(image: Image.Image, box: CropBox, size: int = INPUT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Cut the square out of the photo (zeros outside it) and resize it bilinearly.

    Returns the size×size×3 uint8 crop and a boolean map of which crop pixels lie inside the photo.
    """
    rgb = image.convert("RGB")
    region = (box.x, box.y, box.x + box.side, box.y + box.side)
    crop = rgb.crop(region).resize((size, size), Image.BILINEAR)
    inside = np.zeros((box.side, box.side), dtype=np.uint8)
    if overlap := box.overlap(rgb.width, rgb.height):
        x0, y0, x1, y1 = overlap
        inside[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = 255
    inside_small = np.asarray(Image.fromarray(inside).resize((size, size), Image.BILINEAR)) >= 128
    return np.asarray(crop), inside_small


def crop_values(values: np.ndarray, box: CropBox, size: int = INPUT_SIZE) -> np.ndarray:
    """An H×W float map (a probability over the photo) cut with the square, 0 outside the photo,
    and resized bilinearly: the same geometry as `crop_image`, so it lines up with the crop."""
    values = np.asarray(values, dtype=np.float32)
    # Sliced by hand: Pillow's F-mode crop ignores a region that starts outside the photo.
    square = np.zeros((box.side, box.side), np.float32)
    if overlap := box.overlap(values.shape[1], values.shape[0]):
        x0, y0, x1, y1 = overlap
        square[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = values[y0:y1, x0:x1]
    return np.asarray(Image.fromarray(square).resize((size, size), Image.BILINEAR), dtype=np.float32)


def paste_back(crop_values: np.ndarray, box: CropBox, width: int, height: int, fill: int = 0) -> np.ndarray:
    """Map a size×size array (labels or probabilities, last two axes) back onto the photo.

    Nearest neighbour: photo pixel p inside the square reads crop index
    floor((2·(p − origin) + 1)·size / (2·side)), in integer arithmetic. Pixels outside get `fill`.
    """
    crop_values = np.asarray(crop_values)
    size = crop_values.shape[-1]
    if crop_values.shape[-2] != size:
        raise ValueError(f"paste_back: expected a square crop, got shape {crop_values.shape}")
    out = np.full(crop_values.shape[:-2] + (height, width), fill, dtype=crop_values.dtype)
    overlap = box.overlap(width, height)
    if overlap is None:
        return out
    x0, y0, x1, y1 = overlap
    cols = ((2 * (np.arange(x0, x1, dtype=np.int64) - box.x) + 1) * size) // (2 * box.side)
    rows = ((2 * (np.arange(y0, y1, dtype=np.int64) - box.y) + 1) * size) // (2 * box.side)
    out[..., y0:y1, x0:x1] = crop_values[..., rows[:, None], cols[None, :]]
    return out
