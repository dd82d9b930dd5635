"""Photo and mask decoding: every bad file becomes a DataError naming it; every mode becomes RGB."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from hairnet.data.images import load_binary_mask, load_image
from hairnet.errors import DataError


def png_header_only(path, width, height):
    """A PNG whose header claims width×height and which holds no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("width, height", [(12_000, 9_000), (40_000, 40_000)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, width, height):
    path = png_header_only(tmp_path / "bomb.png", width, height)
    with pytest.raises(DataError, match="refused") as raised:
        load_image(path)
    assert "bomb.png" in str(raised.value)


def test_empty_truncated_and_non_image_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    for name, message in [("empty.jpg", "empty file"), ("text.jpg", "not a readable image"),
                          ("cut.jpg", "truncated or corrupt"), ("missing.jpg", "file not found")]:
        with pytest.raises(DataError, match=message) as raised:
            load_image(tmp_path / name)
        assert name in str(raised.value)


def test_modes_become_rgb(tmp_path):
    grey = np.array([[0, 128, 255]], np.uint8)
    cases = {
        "grey.png": Image.fromarray(grey),
        "bilevel.png": Image.fromarray(grey).convert("1"),
        "palette.png": Image.fromarray(np.dstack([grey] * 3)).convert("P"),
        "cmyk.jpg": Image.new("CMYK", (3, 1), (0, 0, 0, 0)),
        "deep.png": Image.fromarray(np.array([[0, 32768, 65535]], np.uint16)),
    }
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[0, 0, 3] = 0  # transparent → black
    rgba[0, 1:, 3] = 255
    cases["alpha.png"] = Image.fromarray(rgba, "RGBA")
    for name, image in cases.items():
        image.save(tmp_path / name)
        loaded = load_image(tmp_path / name)
        assert loaded.mode == "RGB" and loaded.size == (3, 1), name
    assert np.asarray(load_image(tmp_path / "deep.png"))[0, :, 0].tolist() == [0, 128, 255]
    assert np.asarray(load_image(tmp_path / "alpha.png"))[0, :, 0].tolist() == [0, 200, 200]
    assert np.asarray(load_image(tmp_path / "cmyk.jpg")).min() > 240  # no ink is white


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((2, 4, 3), np.uint8)
    pixels[0, 0] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(tmp_path / "rotated.png", exif=exif)
    assert load_image(tmp_path / "rotated.png").size == (2, 4)


def test_binary_masks_must_be_binary(tmp_path):
    mask = np.zeros((4, 4), np.uint8)
    mask[:2] = 255
    Image.fromarray(mask).save(tmp_path / "ok.png")
    assert load_binary_mask(tmp_path / "ok.png", (4, 4)).sum() == 8
    with pytest.raises(DataError, match="label is 4×4 but its photo is 5×4"):
        load_binary_mask(tmp_path / "ok.png", (5, 4))
    mask[3, 3] = 17
    Image.fromarray(mask).save(tmp_path / "grey.png")
    with pytest.raises(DataError, match=r"grey.png: binary mask holds values other than 0 and 255 \(17×1\)"):
        load_binary_mask(tmp_path / "grey.png")
