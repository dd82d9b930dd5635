"""Photos through `load_image` (the one decoder every entry point uses): truncated and bit-flipped
files in every format read, empty files, wrong extensions, every pixel mode, 1×1 images,
headers claiming 30000×30000 pixels, and EXIF orientations 1–8."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import attempt, encode, record, rng, smooth_photo
from hairnet.data.images import MAX_PIXELS, load_image
from hairnet.errors import DataError

# extension → (Pillow format, mode the clean picture is saved in, save options)
FORMATS = {
    "jpg": ("JPEG", "RGB", {"quality": 90}),
    "png": ("PNG", "RGB", {}),
    "ppm": ("PPM", "RGB", {}),
    "pgm": ("PPM", "L", {}),
    "pbm": ("PPM", "1", {}),
    "bmp": ("BMP", "RGB", {}),
    "tif": ("TIFF", "RGB", {}),
    "gif": ("GIF", "P", {}),
    "webp": ("WEBP", "RGB", {"lossless": True}),
}
TRUNCATIONS, BIT_FLIPS = 16, 24


def clean_bytes(ext: str) -> bytes:
    fmt, mode, options = FORMATS[ext]
    return encode(smooth_photo().convert(mode), fmt, **options)


def decoded(path) -> np.ndarray:
    return np.asarray(load_image(path))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, np.ndarray]:
    """Each format's clean file as load_image decodes it: the oracle for damaged copies."""
    folder = tmp_path_factory.mktemp("clean")
    out = {}
    for ext in FORMATS:
        (folder / f"clean.{ext}").write_bytes(clean_bytes(ext))
        out[ext] = decoded(folder / f"clean.{ext}")
    return out


@pytest.mark.parametrize("case", range(TRUNCATIONS))
@pytest.mark.parametrize("ext", FORMATS)
def test_truncated_file_is_refused_or_decodes_exactly(tmp_path, reference, ext, case):
    """A half-downloaded file never gives a partial picture: either the bytes that are left hold
    the whole image (e.g. only a PNG's end marker was cut) or it is a DataError naming the file."""
    data = clean_bytes(ext)
    cut = int(rng("truncate", ext, case).integers(0, len(data)))
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(data[:cut])
    result = attempt("load_image (photos)", lambda: decoded(path), names=path)
    if not isinstance(result, DataError):
        assert result.shape == reference[ext].shape and np.array_equal(result, reference[ext]), f"cut at {cut}"


@pytest.mark.parametrize("case", range(BIT_FLIPS))
@pytest.mark.parametrize("ext", FORMATS)
def test_bit_flipped_file_is_refused_or_decodes_to_rgb(tmp_path, ext, case):
    """Flipped bits in pixel data change pixels (formats without checksums cannot know); anything
    else must be a DataError. What decodes is an upright 8-bit RGB picture within the pixel limit."""
    data = bytearray(clean_bytes(ext))
    generator = rng("flip", ext, case)
    for _ in range(int(generator.integers(1, 4))):
        data[int(generator.integers(0, len(data)))] ^= 1 << int(generator.integers(0, 8))
    path = tmp_path / f"flipped.{ext}"
    path.write_bytes(bytes(data))
    result = attempt("load_image (photos)", lambda: load_image(path), names=path)
    if not isinstance(result, DataError):
        assert result.mode == "RGB" and 0 < result.width * result.height <= MAX_PIXELS


@pytest.mark.parametrize("ext", FORMATS)
def test_zero_byte_file(tmp_path, ext):
    path = tmp_path / f"empty.{ext}"
    path.write_bytes(b"")
    error = attempt("load_image (photos)", lambda: load_image(path), names=path)
    assert isinstance(error, DataError) and "empty file (0 bytes)" in str(error)


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("offset", [1, 4])
def test_wrong_extension_is_read_by_content(tmp_path, reference, ext, offset):
    """A PNG called .jpg is still that PNG: Pillow sniffs the content, not the name."""
    names = list(FORMATS)
    wrong = names[(names.index(ext) + offset) % len(names)]
    path = tmp_path / f"photo.{wrong}"
    path.write_bytes(clean_bytes(ext))
    assert np.array_equal(attempt("load_image (photos)", lambda: decoded(path), names=path), reference[ext])


@pytest.mark.parametrize("ext", ["jpg", "png", "txt", "eps"])
@pytest.mark.parametrize("content", [
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",  # EPS: Pillow would run Ghostscript
    b"8BPS\x00\x01" + b"\x00" * 20,  # PSD
    b"\x00\x00\x01\x00\x01\x00\x10\x10" + b"\x00" * 30,  # ICO
    b"SIMPLE  =                    T" + b" " * 50,  # FITS
    b"<html><body>not an image</body></html>",
    b"\x00" * 64,
])
def test_other_formats_and_non_images_are_refused(tmp_path, ext, content):
    path = tmp_path / f"photo.{ext}"
    path.write_bytes(content)
    error = attempt("load_image (photos)", lambda: load_image(path), names=path)
    assert isinstance(error, DataError)


def _png16_rgb(values: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    height, width, _ = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


GREY = np.array([[0, 64, 128], [192, 255, 32]], np.uint8)
RGB_OF_GREY = np.repeat(GREY[..., None], 3, axis=-1)


def _with_alpha(mode: str) -> Image.Image:
    alpha = np.where(GREY > 100, 255, 0).astype(np.uint8)  # transparent where dark
    return Image.fromarray(np.dstack([RGB_OF_GREY, alpha]), "RGBA").convert(mode)


def _palette_with_transparency() -> Image.Image:
    image = Image.fromarray(RGB_OF_GREY).convert("P", palette=Image.ADAPTIVE)
    image.info["transparency"] = image.getpixel((0, 0))
    return image


# name → (file bytes, the RGB pixels load_image must give)
MODE_CASES = {
    "grey.png": (lambda: encode(Image.fromarray(GREY), "PNG"), RGB_OF_GREY),
    "grey.jpg": (lambda: encode(Image.fromarray(GREY), "JPEG", quality=100), RGB_OF_GREY),
    "bilevel.png": (lambda: encode(Image.fromarray(GREY >= 128), "PNG"), np.repeat((GREY >= 128)[..., None] * 255, 3, -1)),
    "bilevel.tif": (lambda: encode(Image.fromarray(GREY >= 128), "TIFF"), np.repeat((GREY >= 128)[..., None] * 255, 3, -1)),
    "palette.png": (lambda: encode(Image.fromarray(RGB_OF_GREY).convert("P", palette=Image.ADAPTIVE), "PNG"), RGB_OF_GREY),
    "palette.gif": (lambda: encode(Image.fromarray(RGB_OF_GREY).convert("P", palette=Image.ADAPTIVE), "GIF"), RGB_OF_GREY),
    "palette-transparent.png": (lambda: encode(_palette_with_transparency(), "PNG"),
                                np.where((GREY == 0)[..., None], 0, RGB_OF_GREY)),
    "rgba.png": (lambda: encode(_with_alpha("RGBA"), "PNG"), np.where((GREY > 100)[..., None], RGB_OF_GREY, 0)),
    "rgba.webp": (lambda: encode(_with_alpha("RGBA"), "WEBP", lossless=True, exact=True),
                  np.where((GREY > 100)[..., None], RGB_OF_GREY, 0)),
    "rgba.tif": (lambda: encode(_with_alpha("RGBA"), "TIFF"), np.where((GREY > 100)[..., None], RGB_OF_GREY, 0)),
    "grey-alpha.png": (lambda: encode(_with_alpha("LA"), "PNG"), np.where((GREY > 100)[..., None], RGB_OF_GREY, 0)),
    "cmyk.jpg": (lambda: encode(Image.new("CMYK", (3, 2), (0, 0, 0, 0)), "JPEG", quality=100), np.full((2, 3, 3), 255)),
    "cmyk.tif": (lambda: encode(Image.new("CMYK", (3, 2), (0, 0, 0, 255)), "TIFF"), np.zeros((2, 3, 3))),
    "grey16.png": (lambda: encode(Image.fromarray(GREY.astype(np.uint16) * 257), "PNG"), RGB_OF_GREY),
    "grey16.tif": (lambda: encode(Image.fromarray(GREY.astype(np.uint16) * 257), "TIFF"), RGB_OF_GREY),
    "rgb16.png": (lambda: _png16_rgb(RGB_OF_GREY.astype(np.uint16) * 257), RGB_OF_GREY),
    "int32.tif": (lambda: encode(Image.fromarray(GREY.astype(np.int32) * 257, "I"), "TIFF"), RGB_OF_GREY),
    "float.tif": (lambda: encode(Image.fromarray(GREY.astype(np.float32), "F"), "TIFF"), RGB_OF_GREY),
    "ycbcr.tif": (lambda: encode(Image.fromarray(RGB_OF_GREY).convert("YCbCr"), "TIFF"), RGB_OF_GREY),
}


@pytest.mark.parametrize("name", MODE_CASES)
def test_every_mode_becomes_the_right_rgb(tmp_path, name):
    make, expected = MODE_CASES[name]
    path = tmp_path / name
    path.write_bytes(make())
    result = attempt("load_image (photos)", lambda: decoded(path), names=path)
    assert result.dtype == np.uint8 and result.shape == (2, 3, 3)
    tolerance = 6 if name.endswith(".jpg") or name.startswith("ycbcr") else 1  # lossy, or a colour-space round trip
    assert np.abs(result.astype(int) - expected).max() <= tolerance, result[..., 0]


@pytest.mark.parametrize("ext", FORMATS)
def test_one_pixel_image(tmp_path, ext):
    fmt, mode, options = FORMATS[ext]
    colour = (255, 255, 255) if mode == "1" else (200, 200, 200) if mode == "L" else (10, 200, 90)
    path = tmp_path / f"dot.{ext}"
    path.write_bytes(encode(Image.new("RGB", (1, 1), colour).convert(mode), fmt, **options))
    result = attempt("load_image (photos)", lambda: decoded(path), names=path)
    assert result.shape == (1, 1, 3) and np.abs(result[0, 0].astype(int) - colour).max() <= 12


# --- decompression bombs: a few bytes claiming a huge image -----------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _tiff(w: int, h: int) -> bytes:
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 110), (278, 4, 1, h), (279, 4, 1, w * h % 2**32)]
    return (b"II*\0" + struct.pack("<IH", 8, len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries)
            + b"\0" * 20)


BOMB_HEADERS = {
    "png": lambda w, h: b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + _chunk(b"IEND", b""),
    "ppm": lambda w, h: f"P6\n{w} {h}\n255\n".encode() + b"\0" * 16,
    "pgm": lambda w, h: f"P5\n{w} {h}\n255\n".encode() + b"\0" * 16,
    "pbm": lambda w, h: f"P4\n{w} {h}\n".encode() + b"\0" * 16,
    "bmp": lambda w, h: b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0) + b"\0" * 16,
    "gif": lambda w, h: b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0) + b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x08\x00\x3b",
    "tif": _tiff,
    "jpg": lambda w, h: b"\xff\xd8\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00\xff\xd9",
    "webp": lambda w, h: (b"RIFF" + struct.pack("<I", 22) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\0" * 4
                          + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")),
}
# 30000² is past Pillow's own limit too; 11000×10000 and 100001×1001 only past ours (10⁸ pixels).
BOMB_SIZES = [(30000, 30000), (11000, 10000), (100_001, 1001)]


@pytest.mark.parametrize("ext, size", [(ext, size) for ext in BOMB_HEADERS for size in BOMB_SIZES
                                        if ext not in ("gif", "jpg") or max(size) <= 65535],  # 16-bit sizes
                         ids=lambda v: f"{v[0]}x{v[1]}" if isinstance(v, tuple) else v)
def test_decompression_bomb_is_refused_before_decoding(tmp_path, ext, size):
    path = tmp_path / f"bomb.{ext}"
    path.write_bytes(BOMB_HEADERS[ext](*size))
    error = attempt("load_image (photos)", lambda: load_image(path), names=path)
    assert isinstance(error, DataError)
    # libwebp itself refuses a canvas it has no data for, before our check sees the size.
    assert "refused before decoding" in str(error) or (ext == "webp" and "cannot open" in str(error)), str(error)


BOMB_UNDER_A_MEMORY_CAP = textwrap.dedent("""
    import resource, sys
    from hairnet.data.images import load_image
    from hairnet.errors import DataError
    with open("/proc/self/status") as status:
        used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    # 256 MiB above what the interpreter already maps: a 110-megapixel RGB buffer (330 MB) cannot fit.
    resource.setrlimit(resource.RLIMIT_AS, (used + 256 * 2**20, resource.RLIM_INFINITY))
    try:
        load_image(sys.argv[1])
    except DataError as error:
        print("refused:", error)
    except MemoryError:
        print("ALLOCATED: MemoryError while decoding")
    else:
        print("DECODED")
""")


@pytest.mark.parametrize("size", BOMB_SIZES[:2], ids=lambda s: f"{s[0]}x{s[1]}")
def test_decompression_bomb_is_refused_before_any_large_allocation(tmp_path, size):
    """Under an address-space cap of 256 MiB more than the interpreter needs, the claim is refused
    with our message: had anything tried to allocate the claimed image, it would have failed."""
    path = tmp_path / "bomb.png"
    path.write_bytes(BOMB_HEADERS["png"](*size))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", BOMB_UNDER_A_MEMORY_CAP, str(path)], capture_output=True,
                         text=True, timeout=60, env=env)
    outcome = run.stdout.strip() or run.stderr.strip().splitlines()[-1]
    assert outcome.startswith("refused:") and "refused before decoding" in outcome and str(path) in outcome, outcome
    record("load_image (photos)", "clean errors")


# --- EXIF orientation ----------------------------------------------------------------------------

# How an upright picture U is stored under each EXIF orientation, written from the EXIF 2.3
# definitions of where stored row 0 and column 0 are shown (not from Pillow's own table).
STORED = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],  # row 0 top, column 0 right
    3: lambda u: u[::-1, ::-1],  # row 0 bottom, column 0 right
    4: lambda u: u[::-1],  # row 0 bottom, column 0 left
    5: lambda u: u.swapaxes(0, 1),  # row 0 left, column 0 top
    6: lambda u: np.rot90(u, 1),  # row 0 right, column 0 top (portrait iPhone photos)
    7: lambda u: u[::-1, ::-1].swapaxes(0, 1),  # row 0 right, column 0 bottom
    8: lambda u: np.rot90(u, -1),  # row 0 left, column 0 bottom
}
EXIF_FORMATS = {"png": ("PNG", {}), "tif": ("TIFF", {}), "webp": ("WEBP", {"lossless": True}),
                "jpg": ("JPEG", {"quality": 100, "subsampling": 0})}


def stored_with_orientation(upright: np.ndarray, orientation: int, ext: str, tag_value: int | None = None) -> bytes:
    image = Image.fromarray(np.ascontiguousarray(STORED.get(orientation, STORED[1])(upright)))
    exif = image.getexif()
    exif[0x0112] = orientation if tag_value is None else tag_value
    fmt, options = EXIF_FORMATS[ext]
    return encode(image, fmt, exif=exif, **options)


@pytest.mark.parametrize("ext", EXIF_FORMATS)
@pytest.mark.parametrize("orientation", STORED)
def test_exif_orientation_gives_the_upright_picture(tmp_path, orientation, ext):
    upright = np.asarray(smooth_photo(32, 24, seed=orientation))
    path = tmp_path / f"oriented{orientation}.{ext}"
    path.write_bytes(stored_with_orientation(upright, orientation, ext))
    result = attempt("load_image (photos)", lambda: decoded(path), names=path)
    assert result.shape == upright.shape
    assert np.abs(result.astype(int) - upright).max() <= (8 if ext == "jpg" else 0)


@pytest.mark.parametrize("ext", ["png", "jpg"])
@pytest.mark.parametrize("value", [0, 9, 255, 65535])
def test_invalid_exif_orientation_is_ignored_as_viewers_do(tmp_path, value, ext):
    upright = np.asarray(smooth_photo())
    path = tmp_path / f"odd-orientation.{ext}"
    path.write_bytes(stored_with_orientation(upright, 1, ext, tag_value=value))
    result = attempt("load_image (photos)", lambda: decoded(path), names=path)
    assert np.abs(result.astype(int) - upright).max() <= (8 if ext == "jpg" else 0)


@pytest.mark.parametrize("case", range(12))
def test_damaged_exif_block(tmp_path, case):
    """Bit flips confined to the EXIF block of a JPEG: refused, or the picture in some orientation."""
    upright = np.asarray(smooth_photo())
    data = bytearray(stored_with_orientation(upright, 6, "jpg"))
    start = data.find(b"Exif\0\0")
    generator = rng("exif", case)
    for _ in range(int(generator.integers(1, 5))):
        data[start + int(generator.integers(6, 40))] ^= 1 << int(generator.integers(0, 8))
    path = tmp_path / "exif.jpg"
    path.write_bytes(bytes(data))
    result = attempt("load_image (photos)", lambda: decoded(path), names=path)
    if not isinstance(result, DataError):
        assert sorted(result.shape[:2]) == sorted(upright.shape[:2])
