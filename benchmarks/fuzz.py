#!/usr/bin/env python3
"""Coverage-guided fuzzing (atheris, libFuzzer) of the code that reads files users and attackers send.

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python benchmarks/fuzz.py --target attributes --minutes 3
    .venv/bin/python benchmarks/fuzz.py --list

Targets: attributes (CelebA attribute files), splits (splits.json), lists (CelebA partition,
CelebA-HQ mapping, LFW name lists), labels (binary masks, LFW and FASSEG labels, photos), checkpoint
(load_checkpoint: raw files, and pickles inside a valid archive), crop (the head-crop rule, crop
and paste-back). A target fails on any exception other than the project's own errors (and, for
the documented pure functions of the crop rule, ValueError) and on a broken invariant (a wrong
answer). The corpus (seeded with small valid files generated here) and any crashing input go to
--out (default out/fuzz/TARGET/); each finding becomes a test in tests/hostile/test_regressions.py.
Not part of `make test`: fuzzing for minutes per target is for people, not CI.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["hairnet", "PIL"]):
    import numpy as np
    from PIL import Image

    from hairnet.checkpoint import load_checkpoint, save_checkpoint
    from hairnet.contract import CropRule
    from hairnet.data import fasseg, lfw, open_dataset
    from hairnet.data.attributes import read_attribute_table
    from hairnet.data.celeba import read_partition
    from hairnet.data.celebamask import read_mapping
    from hairnet.data.images import load_binary_mask, load_image
    from hairnet.errors import HairNetError
    from hairnet.model import HairNet, HairNetConfig
    from hairnet.postprocess import CropBox, crop_image, head_crop_box, paste_back, whole_image_box

SCRATCH = Path(tempfile.mkdtemp(prefix="hairnet-fuzz-"))
NAMES = ("Bald Bangs Black_Hair Blond_Hair Brown_Hair Gray_Hair Straight_Hair Wavy_Hair Young").split()


def scratch_file(name: str, data: bytes) -> Path:
    path = SCRATCH / name
    path.write_bytes(data)
    return path


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


# --- targets: each takes the fuzzer's bytes; project errors are answers, anything else a finding --------

def attributes(data: bytes) -> None:
    try:
        table = read_attribute_table(scratch_file("list_attr_celeba.txt", data))
    except HairNetError:
        return
    for stem in table.rows:
        color, labels = table.hair_labels(stem)
        assert -1 <= color < 4 and set(labels.tolist()) <= {0, 1}


FIGARO = SCRATCH / "Figaro1k"


def splits(data: bytes) -> None:
    scratch_file("splits.json", data)
    try:
        reader = open_dataset("figaro1k", FIGARO, "train")
    except HairNetError:
        return
    listed = {s["stem"] for s in reader.skipped} | {i.stem for i in reader.items}
    for item in reader.items:  # whatever was listed, nothing outside the dataset folder is read
        assert item.image_path.resolve().is_relative_to(FIGARO.resolve())
    assert len(listed) == len(reader.items) + len(reader.skipped)


LIST_READERS = (read_partition, read_mapping, lfw.read_name_list)


def lists(data: bytes) -> None:
    if not data:
        return
    try:
        LIST_READERS[data[0] % len(LIST_READERS)](scratch_file("list.txt", data[1:]))
    except HairNetError:
        return


LABEL_SIZE = (12, 9)


def labels(data: bytes) -> None:
    if not data:
        return
    path = scratch_file("label", data[1:])
    decoder = data[0] % 4
    try:
        if decoder == 0:
            mask = load_binary_mask(path, LABEL_SIZE)
            assert mask.dtype == bool and mask.shape == LABEL_SIZE[::-1]
        elif decoder == 1:
            hair, skin = lfw.decode_label(path, LABEL_SIZE)
            assert not (hair & skin).any()
        elif decoder == 2:
            hair, skin = fasseg.decode_label(path, LABEL_SIZE)
            assert not (hair & skin).any()
        else:
            image = load_image(path)
            assert image.mode == "RGB" and image.width * image.height > 0
    except HairNetError:
        return


CHECKPOINT: bytes = b""


def checkpoint(data: bytes) -> None:
    """First byte even: the bytes are the file. Odd: they are data.pkl inside a valid archive,
    CRCs correct, so the unpickler and the field checks are reached, not only the zip check."""
    if not data:
        return
    body = data[1:]
    if data[0] % 2:
        source, buffer = zipfile.ZipFile(io.BytesIO(CHECKPOINT)), io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for info in source.infolist():
                archive.writestr(info, body if info.filename.endswith("/data.pkl") else source.read(info))
        body = buffer.getvalue()
    try:
        load_checkpoint(scratch_file("model.pt", body))
    except HairNetError:
        return


def crop(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    k, dx, dy = (provider.ConsumeFloat() for _ in range(3))
    box = tuple(provider.ConsumeFloat() for _ in range(4))
    width, height = provider.ConsumeIntInRange(1, 64), provider.ConsumeIntInRange(1, 64)
    try:
        rule = CropRule(k, dx, dy)
        square = head_crop_box(box, rule)
    except ValueError:  # documented: invalid rules and boxes are refused
        return
    # The rule as DESIGN.md §4 states it, up to the rounding to whole pixels.
    x, y, w, h = box
    side = rule.k * max(w, h)
    assert square.side == 1 if side < 0.5 else abs(square.side - side) <= 0.5 + 1e-9 * side
    centre_x, centre_y = x + w / 2 + rule.dx * w, y + h / 2 + rule.dy * h
    assert abs(square.x + square.side / 2 - centre_x) <= 0.5 + 1e-9 * (abs(centre_x) + side)
    assert abs(square.y + square.side / 2 - centre_y) <= 0.5 + 1e-9 * (abs(centre_y) + side)
    labels = np.arange(16, dtype=np.int32).reshape(4, 4) + 1
    pasted = paste_back(labels, square, width, height)
    assert pasted.shape == (height, width) and set(np.unique(pasted)) <= set(range(17))
    # What predict admits (a box on the photo, no larger than it) is cut without a huge allocation.
    if x < width and y < height and x + w > 0 and y + h > 0 and w <= width and h <= height:
        pixels, inside = crop_image(Image.new("RGB", (width, height), (200, 10, 10)), square, size=8)
        assert pixels.shape == (8, 8, 3) and inside.shape == (8, 8)
    whole = whole_image_box(width, height)
    assert whole.side == max(width, height) and isinstance(whole, CropBox)


TARGETS = {"attributes": attributes, "splits": splits, "lists": lists, "labels": labels,
           "checkpoint": checkpoint, "crop": crop}


# --- seeds -------------------------------------------------------------------------------------------

def seeds(target: str) -> dict[str, bytes]:
    rows = [f"{i:06d}.jpg " + " ".join("1" if (i + j) % 3 == 0 else "-1" for j in range(len(NAMES))) for i in (1, 2, 3)]
    mask = np.zeros(LABEL_SIZE[::-1], bool)
    mask[2:6, 3:9] = True
    lfw_label = np.zeros(LABEL_SIZE[::-1] + (3,), np.uint8)
    lfw_label[...] = lfw.BACKGROUND
    lfw_label[mask] = lfw.HAIR
    lfw_label[7:] = lfw.SKIN
    if target == "attributes":
        return {"celeba": ("3\n" + " ".join(NAMES) + "\n" + "\n".join(rows) + "\n").encode(),
                "crlf-bom": b"\xef\xbb\xbf" + ("3\r\n" + "  ".join(NAMES) + "\r\n" + "\r\n".join(rows)).encode()}
    if target == "splits":
        return {"listed": json.dumps({"Figaro1k": {"train": ["Frame00001", "Frame00009"], "val": [], "test": []}}).encode(),
                "empty": b"{}"}
    if target == "lists":
        return {"partition": b"\x00000001.jpg 0\n000002.jpg 2\n",
                "mapping": b"\x01idx orig_idx orig_file\n0 9 000010.jpg\n1 4 000005.jpg\n",
                "names": b"\x02George_HW_Bush 13\nZico 0002\n"}
    if target == "labels":
        return {"pbm": b"\x00" + png(Image.fromarray(mask), "PPM"), "png-mask": b"\x00" + png(Image.fromarray(mask)),
                "lfw": b"\x01" + png(Image.fromarray(lfw_label), "PPM"), "fasseg": b"\x02" + png(Image.fromarray(lfw_label)),
                "jpeg": b"\x03" + png(Image.fromarray(lfw_label), "JPEG")}
    if target == "checkpoint":
        pickled = next(zipfile.ZipFile(io.BytesIO(CHECKPOINT)).read(n) for n in zipfile.ZipFile(io.BytesIO(CHECKPOINT)).namelist()
                       if n.endswith("/data.pkl"))
        return {"file": b"\x00" + CHECKPOINT, "data-pkl": b"\x01" + pickled}
    return {"face": np.array([1.54, 0.0, -0.08, 10, 12, 20, 20], np.float64).tobytes() + b"\x20\x20"}


def prepare(target: str) -> None:
    global CHECKPOINT
    if target == "splits":
        for frame in (1, 2):
            for folder, name, image in (("Original", f"Frame{frame:05d}-org.jpg", Image.new("RGB", (8, 6))),
                                        ("GT", f"Frame{frame:05d}-gt.pbm", Image.new("1", (8, 6)))):
                (FIGARO / folder / "Training").mkdir(parents=True, exist_ok=True)
                image.save(FIGARO / folder / "Training" / name)
    if target == "checkpoint":
        import torch

        torch.set_num_threads(1)
        torch.manual_seed(0)
        save_checkpoint(SCRATCH / "seed.pt", HairNet(HairNetConfig(width_multiplier=0.125)))
        CHECKPOINT = (SCRATCH / "seed.pt").read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(TARGETS))
    parser.add_argument("--minutes", type=float, default=3.0, help="how long to fuzz (default 3)")
    parser.add_argument("--out", type=Path, help="corpus and findings (default out/fuzz/TARGET)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("libfuzzer", nargs="*", help="extra libFuzzer flags after --, e.g. -- -jobs=1")
    args = parser.parse_args(argv)
    if args.list or not args.target:
        print("\n".join(TARGETS))
        return 0
    out = args.out or Path("out") / "fuzz" / args.target
    corpus, findings = out / "corpus", out / "findings"
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    prepare(args.target)
    for name, data in seeds(args.target).items():
        (corpus / f"seed-{name}").write_bytes(data)
    libfuzzer = [sys.argv[0], str(corpus), f"-artifact_prefix={findings}/", f"-max_total_time={int(args.minutes * 60)}",
                 "-rss_limit_mb=4096", "-timeout=20", "-print_final_stats=1", *args.libfuzzer]
    atheris.Setup(libfuzzer, TARGETS[args.target])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
