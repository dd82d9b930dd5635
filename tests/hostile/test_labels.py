"""Label images: binary masks (Figaro's PBM, CelebAMask-HQ's PNG parts) through `load_binary_mask`,
LFW's three-colour labels and FASSEG's palette labels through their decoders, and CelebAMask-HQ
masks of the wrong shape through its reader. Oracle: the masks the labels were generated from."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import attempt, encode, rng
from hairnet.data import fasseg, lfw
from hairnet.data.images import load_binary_mask
from hairnet.errors import DataError

SIZE = (20, 14)  # width, height of every generated photo


def blob_mask(*key) -> np.ndarray:
    """A random bool H×W mask made of a few rectangles."""
    generator = rng("mask", *key)
    mask = np.zeros(SIZE[::-1], bool)
    for _ in range(int(generator.integers(1, 4))):
        y, x = generator.integers(0, SIZE[1] - 2), generator.integers(0, SIZE[0] - 2)
        mask[y : y + int(generator.integers(2, 8)), x : x + int(generator.integers(2, 10))] = True
    return mask


# --- binary masks ------------------------------------------------------------------------------

MASK_ENCODINGS = {  # name → (how the mask is stored, format)
    "pbm": (lambda m: Image.fromarray(m), "PPM"),
    "png1": (lambda m: Image.fromarray(m), "PNG"),
    "pngL": (lambda m: Image.fromarray(m.astype(np.uint8) * 255), "PNG"),
    "pngRGB": (lambda m: Image.fromarray(np.repeat(m[..., None].astype(np.uint8) * 255, 3, -1)), "PNG"),
    "pngP": (lambda m: Image.fromarray(m.astype(np.uint8) * 255).convert("P"), "PNG"),
    "bmp": (lambda m: Image.fromarray(m.astype(np.uint8) * 255), "BMP"),
}


def mask_file(tmp_path, name: str, mask: np.ndarray):
    store, fmt = MASK_ENCODINGS[name]
    path = tmp_path / f"mask.{'pbm' if fmt == 'PPM' else name[:3]}"
    path.write_bytes(encode(store(mask), fmt))
    return path


@pytest.mark.parametrize("case", range(4))
@pytest.mark.parametrize("name", MASK_ENCODINGS)
def test_binary_mask_in_every_encoding(tmp_path, name, case):
    mask = blob_mask(name, case)
    path = mask_file(tmp_path, name, mask)
    assert np.array_equal(attempt("load_binary_mask", lambda: load_binary_mask(path, SIZE), names=path), mask)


@pytest.mark.parametrize("mode", ["LA", "RGBA", "I;16", "CMYK", "F"])
def test_binary_mask_in_a_mode_that_is_not_a_mask(tmp_path, mode):
    path = tmp_path / ("mask.tif" if mode in ("CMYK", "F") else "mask.png")
    path.write_bytes(encode(Image.fromarray(blob_mask(mode).astype(np.uint8) * 255).convert(mode),
                            "TIFF" if path.suffix == ".tif" else "PNG"))
    error = attempt("load_binary_mask", lambda: load_binary_mask(path, SIZE), names=path)
    assert isinstance(error, DataError) and mode in str(error)


@pytest.mark.parametrize("size", [(SIZE[0] + 1, SIZE[1]), (SIZE[1], SIZE[0]), (1, 1), (SIZE[0] * 2, SIZE[1] * 2)])
def test_binary_mask_of_the_wrong_size(tmp_path, size):
    path = tmp_path / "mask.pbm"
    path.write_bytes(encode(Image.new("1", size), "PPM"))
    error = attempt("load_binary_mask", lambda: load_binary_mask(path, SIZE), names=path)
    assert isinstance(error, DataError) and f"{size[0]}×{size[1]}" in str(error) and f"{SIZE[0]}×{SIZE[1]}" in str(error)


@pytest.mark.parametrize("stray", [1, 17, 127, 128, 254])
def test_grey_mask_with_values_other_than_0_and_255(tmp_path, stray):
    pixels = blob_mask("stray", stray).astype(np.uint8) * 255
    pixels[3, 4] = stray
    path = tmp_path / "mask.png"
    path.write_bytes(encode(Image.fromarray(pixels), "PNG"))
    error = attempt("load_binary_mask", lambda: load_binary_mask(path, SIZE), names=path)
    assert isinstance(error, DataError) and f"{stray}×1" in str(error)


def test_rgb_mask_with_unequal_channels(tmp_path):
    pixels = np.repeat(blob_mask("colour")[..., None].astype(np.uint8) * 255, 3, -1)
    pixels[0, 0] = (255, 0, 0)
    path = tmp_path / "mask.png"
    path.write_bytes(encode(Image.fromarray(pixels), "PNG"))
    error = attempt("load_binary_mask", lambda: load_binary_mask(path, SIZE), names=path)
    assert isinstance(error, DataError) and "unequal RGB channels" in str(error)


@pytest.mark.parametrize("case", range(20))
@pytest.mark.parametrize("name", ["pbm", "png1"])
def test_damaged_mask_is_refused_or_exact(tmp_path, name, case):
    """Truncated (even cases) or bit-flipped (odd) masks: a DataError, or — truncation only cut
    what was not needed, or a flip only changed pixels — a bool mask of the photo's size."""
    mask = blob_mask("damaged", name)
    data = bytearray(mask_file(tmp_path, name, mask).read_bytes())
    generator = rng("damage", name, case)
    if case % 2 == 0:
        data = data[: int(generator.integers(0, len(data)))]
    else:
        data[int(generator.integers(0, len(data)))] ^= 1 << int(generator.integers(0, 8))
    path = tmp_path / f"damaged.{'pbm' if name == 'pbm' else 'png'}"
    path.write_bytes(bytes(data))
    result = attempt("load_binary_mask", lambda: load_binary_mask(path, SIZE), names=path)
    if not isinstance(result, DataError):
        assert result.dtype == bool and result.shape == SIZE[::-1]
        if case % 2 == 0:
            assert np.array_equal(result, mask)


# --- LFW: red hair, green skin, blue background ---------------------------------------------------

def lfw_pixels(*key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hair, skin = blob_mask("lfw-hair", *key), blob_mask("lfw-skin", *key)
    skin &= ~hair
    pixels = np.zeros(SIZE[::-1] + (3,), np.uint8)
    pixels[...] = lfw.BACKGROUND
    pixels[skin] = lfw.SKIN
    pixels[hair] = lfw.HAIR
    return pixels, hair, skin


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("fmt, ext", [("PPM", "ppm"), ("PNG", "png"), ("BMP", "bmp"), ("TIFF", "tif")])
def test_lfw_label_decodes_exactly(tmp_path, fmt, ext, case):
    pixels, hair, skin = lfw_pixels(ext, case)
    path = tmp_path / f"label.{ext}"
    path.write_bytes(encode(Image.fromarray(pixels), fmt))
    got_hair, got_skin = attempt("lfw.decode_label", lambda: lfw.decode_label(path, SIZE), names=path)
    assert np.array_equal(got_hair, hair) and np.array_equal(got_skin, skin)


@pytest.mark.parametrize("case", range(12))
def test_lfw_label_with_colours_outside_the_three(tmp_path, case):
    """A JPEG-compressed label, a hand-painted colour, anti-aliasing: refused with the colour and count."""
    pixels, _, _ = lfw_pixels("stray", case)
    generator = rng("lfw-stray", case)
    count = int(generator.integers(1, 6))
    colour = tuple(int(v) for v in generator.integers(1, 255, 3))
    for _ in range(count):
        pixels[int(generator.integers(0, SIZE[1])), int(generator.integers(0, SIZE[0]))] = colour
    path = tmp_path / "label.ppm"
    path.write_bytes(encode(Image.fromarray(pixels), "PPM"))
    error = attempt("lfw.decode_label", lambda: lfw.decode_label(path, SIZE), names=path)
    assert isinstance(error, DataError) and f"RGB{colour}" in str(error) and "not hair/skin/background" in str(error)


@pytest.mark.parametrize("quality", [95, 75])
def test_lfw_label_saved_as_jpeg_is_refused(tmp_path, quality):
    path = tmp_path / "label.jpg"
    path.write_bytes(encode(Image.fromarray(lfw_pixels("jpeg")[0]), "JPEG", quality=quality))
    assert isinstance(attempt("lfw.decode_label", lambda: lfw.decode_label(path, SIZE), names=path), DataError)


@pytest.mark.parametrize("size", [(SIZE[0], SIZE[1] + 1), SIZE[::-1]])
def test_lfw_label_of_the_wrong_size(tmp_path, size):
    path = tmp_path / "label.ppm"
    path.write_bytes(encode(Image.new("RGB", size, lfw.BACKGROUND), "PPM"))
    error = attempt("lfw.decode_label", lambda: lfw.decode_label(path, SIZE), names=path)
    assert isinstance(error, DataError) and "label is" in str(error)


# --- FASSEG: palette colours, snapped --------------------------------------------------------------

@pytest.mark.parametrize("noise", [0.0, 0.02, 0.08, 0.12, 0.3])
@pytest.mark.parametrize("case", range(3))
def test_fasseg_label_snaps_near_colours_and_refuses_far_ones(tmp_path, noise, case):
    generator = rng("fasseg", noise, case)
    classes = generator.integers(0, len(fasseg.PALETTE), SIZE[::-1])
    palette = np.array(list(fasseg.PALETTE.values()))
    pixels = palette[classes].astype(np.int32)
    near = generator.random(SIZE[::-1]) < 0.2  # anti-aliased borders: a shade off, still nearest
    pixels[near] = np.clip(pixels[near] + generator.integers(-20, 21, (int(near.sum()), 3)), 0, 255)
    far = generator.random(SIZE[::-1]) < noise  # far from every palette colour
    pixels[far] = (128, 128, 128)
    path = tmp_path / "label.png"
    path.write_bytes(encode(Image.fromarray(pixels.astype(np.uint8)), "PNG"))
    result = attempt("fasseg.decode_label", lambda: fasseg.decode_label(path, SIZE), names=path)
    names = list(fasseg.PALETTE)
    if far.mean() > fasseg.MAX_FAR:
        assert isinstance(result, DataError) and "far from every FASSEG palette colour" in str(result)
    else:
        hair, skin = result
        clean = ~far
        assert np.array_equal(hair[clean], (classes == names.index("hair"))[clean])
        assert np.array_equal(skin[clean], np.isin(classes, [names.index(c) for c in fasseg.SKIN_CLASSES])[clean])


# --- CelebAMask-HQ: part masks of another shape ------------------------------------------------------

@pytest.mark.parametrize("mask_size, ok", [((8, 8), True), ((32, 32), True), ((16, 8), False), ((7, 9), False)])
def test_celebamask_part_mask_of_another_shape(tmp_path, mask_size, ok):
    from hairnet.data import open_dataset

    root = tmp_path / "CelebAMask-HQ"
    (root / "CelebA-HQ-img").mkdir(parents=True)
    Image.new("RGB", (16, 16), (90, 60, 30)).save(root / "CelebA-HQ-img" / "0.jpg")
    mask = np.zeros(mask_size[::-1], np.uint8)
    mask[: mask_size[1] // 2] = 255
    (root / "CelebAMask-HQ-mask-anno" / "0").mkdir(parents=True)
    part = root / "CelebAMask-HQ-mask-anno" / "0" / "00000_hair.png"
    Image.fromarray(mask).save(part)
    names = "Bald Bangs Black_Hair Blond_Hair Brown_Hair Gray_Hair Straight_Hair Wavy_Hair"
    (root / "CelebAMask-HQ-attribute-anno.txt").write_text(f"1\n{names}\n0.jpg {' '.join(['-1'] * 8)}\n")
    (tmp_path / "splits.json").write_text('{"CelebAMask-HQ": {"train": ["0"], "val": [], "test": []}}')
    reader = open_dataset("celebamask-hq", root, "train")
    result = attempt("CelebAMaskHQ masks", lambda: reader[0], names=part)
    if ok:
        assert result.hair[:8].all() and not result.hair[8:].any()
    else:
        assert isinstance(result, DataError) and "does not have the shape of its image" in str(result)
