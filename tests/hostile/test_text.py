"""Annotation text: CelebA's attribute files, its partition list, CelebA-HQ's mapping, LFW's name
lists, splits.json, and split lists naming files that do not exist. Each case is a clean file
generated from a seed, then either reformatted harmlessly (BOM, CR/LF/CRLF mixes, tabs, padding,
blank lines: must read to the same table) or damaged in one known way (must be a DataError that
names the file, the line and the value)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import attempt, rng
from hairnet.data import open_dataset
from hairnet.data.attributes import read_attribute_table
from hairnet.data.celeba import read_partition
from hairnet.data.celebamask import read_mapping
from hairnet.data.lfw import read_name_list
from hairnet.errors import DataError

CELEBA_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
REQUIRED = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Straight_Hair", "Wavy_Hair", "Bangs", "Bald")


def render(lines: list[list[str]], generator: np.random.Generator, harmless: bool) -> bytes:
    """Lines of fields as text, formatted as copies of the official files vary (when `harmless`)."""
    out = []
    for fields in lines:
        gap = (lambda: " " * int(generator.integers(1, 4)) if generator.random() < 0.5 else "\t") if harmless else (lambda: " ")
        text = fields[0] + "".join(gap() + f for f in fields[1:])
        if harmless and generator.random() < 0.3:
            text += " " * int(generator.integers(1, 3))
        out.append(text)
    endings = ["\n", "\r\n", "\r"] if harmless else ["\n", "\r\n"]
    body = ""
    for index, text in enumerate(out):
        body += text + endings[int(generator.integers(0, len(endings)))]
        if harmless and index > 0 and generator.random() < 0.15:
            body += "\n"  # a blank line between rows
    data = body.encode()
    return (b"\xef\xbb\xbf" + data) if generator.random() < 0.5 else data


# --- attribute files (list_attr_celeba.txt, CelebAMask-HQ-attribute-anno.txt) ----------------------

def attribute_table(*key) -> tuple[list[str], dict[str, list[int]]]:
    generator = rng("attributes", *key)
    files = [f"{int(i):06d}.jpg" for i in sorted(generator.choice(200_000, int(generator.integers(3, 8)), replace=False))]
    return files, {f: [int(v) for v in generator.choice([-1, 1], len(CELEBA_NAMES))] for f in files}


def attribute_lines(files, values, names=CELEBA_NAMES, count=None) -> list[list[str]]:
    return [[str(len(files) if count is None else count)], list(names)] + [[f, *map(str, values[f])] for f in files]


@pytest.mark.parametrize("case", range(40))
def test_attribute_file_reformatted_harmlessly_reads_the_same(tmp_path, case):
    files, values = attribute_table("harmless", case)
    path = tmp_path / "list_attr_celeba.txt"
    path.write_bytes(render(attribute_lines(files, values), rng("format", case), harmless=True))
    table = attempt("read_attribute_table", lambda: read_attribute_table(path), names=path)
    assert table.names == tuple(CELEBA_NAMES)
    assert {stem: row.tolist() for stem, row in table.rows.items()} == {f[:-4]: values[f] for f in files}


BAD_VALUES = ["0", "2", "+1", "1.0", "-1.0", "yes", "−1", "١", "nan", "-", "1,"]


def damaged_attribute_file(kind: str, case: int) -> tuple[list[list[str]], str]:
    """(lines, what the message must contain) for one kind of damage."""
    files, values = attribute_table(kind, case)
    generator = rng("damage", kind, case)
    lines = attribute_lines(files, values)
    row = 2 + int(generator.integers(0, len(files)))  # index into lines (line number row + 1)
    if kind == "missing column":
        del lines[row][-1]
        return lines, f"line {row + 1}: expected {len(CELEBA_NAMES) + 1} columns"
    if kind == "extra column":
        lines[row].append("1")
        return lines, f"line {row + 1}: expected {len(CELEBA_NAMES) + 1} columns"
    if kind == "bad value":
        column = int(generator.integers(0, len(CELEBA_NAMES)))
        value = BAD_VALUES[case % len(BAD_VALUES)]
        lines[row][1 + column] = value
        return lines, f"line {row + 1}: {lines[row][0]} {CELEBA_NAMES[column]} = {value!r}, expected 1 or -1"
    if kind == "duplicate id":
        first = 2 + int(generator.integers(0, len(files) - 1))
        second = first + 1 + int(generator.integers(0, 1 + len(lines) - first - 2))
        lines[second][0] = lines[first][0].replace(".jpg", ".png") if case % 2 else lines[first][0]
        return lines, f"line {second + 1}: {lines[second][0]} already listed on line {first + 1}"
    if kind == "wrong count":
        lines[0] = [[str(len(files) + 1), str(len(files) - 1), "²", "3a", "-2", "9" * 5000, "0x3", "1 2"][case % 8]]
        return lines, "line 1:"
    if kind == "required name missing":
        gone = REQUIRED[case % len(REQUIRED)]
        index = CELEBA_NAMES.index(gone)
        lines = [lines[0], [n for n in CELEBA_NAMES if n != gone]] + [r[: 1 + index] + r[2 + index :] for r in lines[2:]]
        return lines, f"line 2: attribute names lack {gone}"
    if kind == "duplicate name":
        lines[1][int(generator.integers(0, len(CELEBA_NAMES)))] = "Young_"
        lines[1][CELEBA_NAMES.index("Young")] = "Young_"
        return lines, "line 2: an attribute name appears twice"
    raise AssertionError(kind)


ATTRIBUTE_DAMAGE = ["missing column", "extra column", "bad value", "duplicate id", "wrong count",
                    "required name missing", "duplicate name"]


@pytest.mark.parametrize("case", range(11))
@pytest.mark.parametrize("kind", ATTRIBUTE_DAMAGE)
def test_damaged_attribute_file_names_file_line_and_value(tmp_path, kind, case):
    lines, expected = damaged_attribute_file(kind, case)
    path = tmp_path / "CelebAMask-HQ-attribute-anno.txt"
    path.write_bytes(render(lines, rng("format", kind, case), harmless=False))
    error = attempt("read_attribute_table", lambda: read_attribute_table(path), names=path)
    assert isinstance(error, DataError) and expected in str(error), str(error)


ODD_BYTES = [
    (b"", "found 0 lines"),
    (b"\xef\xbb\xbf", "found 0 lines"),
    (b"3\n", "found 1 lines"),
    ("3\nBald Bangs\n000001.jpg 1 -1\n".encode("utf-16"), "not UTF-8 text"),
    ("1\n" + " ".join(CELEBA_NAMES) + "\ncafé.jpg " + " ".join(["1"] * 40) + "\n", None),
    (("1\n" + " ".join(CELEBA_NAMES) + "\ncaf\xe9.jpg " + " ".join(["1"] * 40) + "\n").encode("latin-1"), "not UTF-8 text (byte"),
    (b"\x00" * 100, "found 1 lines"),
    (b"\n\n\n\r\n", "found 0 lines"),
]


@pytest.mark.parametrize("content, expected", ODD_BYTES, ids=range(len(ODD_BYTES)))
def test_attribute_file_with_odd_bytes(tmp_path, content, expected):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    result = attempt("read_attribute_table", lambda: read_attribute_table(path), names=path)
    if expected is None:
        assert list(result.rows) == ["café"]
    else:
        assert isinstance(result, DataError) and expected in str(result), str(result)


# --- CelebA's partition, CelebA-HQ's mapping, LFW's name lists ---------------------------------------

def partition_lines(case) -> tuple[list[list[str]], dict[str, int]]:
    generator = rng("partition", case)
    stems = [f"{int(i):06d}" for i in sorted(generator.choice(200_000, 6, replace=False))]
    codes = {s: int(generator.integers(0, 3)) for s in stems}
    return [[f"{s}.jpg", str(c)] for s, c in codes.items()], codes


def mapping_lines(case) -> tuple[list[list[str]], dict[str, str]]:
    generator = rng("mapping", case)
    originals = [int(i) for i in generator.choice(200_000, 5, replace=False)]
    lines = [["idx", "orig_idx", "orig_file"]] + [[str(i), str(o), f"{o + 1:06d}.jpg"] for i, o in enumerate(originals)]
    return lines, {str(i): f"{o + 1:06d}" for i, o in enumerate(originals)}


def name_list_lines(case) -> tuple[list[list[str]], list[str]]:
    generator = rng("names", case)
    people = ["Aaron_Eckhart", "George_HW_Bush", "Jennifer_Lopez", "Zico"]
    numbers = [int(generator.integers(1, 30)) for _ in people]
    padded = [f"{n:04d}" if generator.random() < 0.5 else str(n) for n in numbers]  # both spellings occur
    return [[p, n] for p, n in zip(people, padded)], [f"{p}_{n:04d}" for p, n in zip(people, numbers)]


LIST_READERS = {
    "read_partition": (read_partition, partition_lines),
    "read_mapping": (read_mapping, mapping_lines),
    "read_name_list": (read_name_list, name_list_lines),
}


@pytest.mark.parametrize("case", range(8))
@pytest.mark.parametrize("reader", LIST_READERS)
def test_list_reformatted_harmlessly_reads_the_same(tmp_path, reader, case):
    read, generate = LIST_READERS[reader]
    lines, expected = generate(case)
    path = tmp_path / "list.txt"
    path.write_bytes(render(lines, rng("format", reader, case), harmless=True))
    assert attempt(reader, lambda: read(path), names=path) == expected


LIST_DAMAGE = {  # reader → [(line index to damage, replacement fields, what the message says)]
    "read_partition": [(2, ["000001.jpg", "3"], "line 3: expected '<file> <0|1|2>'"),
                       (0, ["000001.jpg", "-1"], "line 1"),
                       (4, ["000001.jpg"], "line 5"),
                       (1, ["a.jpg", "0", "1"], "line 2"),
                       (3, ["x.jpg", "²"], "line 4"),
                       (5, None, "is listed twice")],
    "read_mapping": [(0, ["idx", "orig_file"], "line 1: expected the header"),
                     (2, ["x", "3", "000004.jpg"], "line 3: expected '<idx> <orig_idx> <orig_file>'"),
                     (3, ["²", "3", "000004.jpg"], "line 4"),
                     (4, ["-4", "3", "000004.jpg"], "line 5"),
                     (1, ["1", "000004.jpg"], "line 2"),
                     (5, None, "is listed twice")],
    "read_name_list": [(1, ["Jane", "Doe", "2"], "line 2: expected '<Name> <number>'"),
                       (2, ["Zico", "x"], "line 3"),
                       (0, ["Zico", "²"], "line 1"),
                       (3, ["Zico", "-3"], "line 4"),
                       (2, ["Zico", "9" * 5000], "line 3"),
                       (0, ["Zico"], "line 1")],
}


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("reader", LIST_DAMAGE)
def test_damaged_list_names_file_and_line(tmp_path, reader, case):
    read, generate = LIST_READERS[reader]
    lines, _ = generate(case)
    index, fields, expected = LIST_DAMAGE[reader][case]
    lines[index] = list(lines[index - 1] if fields is None else fields)  # None: repeat the line above
    path = tmp_path / "list.txt"
    path.write_bytes(render(lines, rng("format", reader, case), harmless=False))
    error = attempt(reader, lambda: read(path), names=path)
    assert isinstance(error, DataError) and expected in str(error), str(error)


# --- splits.json -------------------------------------------------------------------------------------

def figaro(tmp_path, frames=(1, 2, 3)):
    root = tmp_path / "Figaro1k"
    for frame in frames:
        for folder, name, image in (("Original", f"Frame{frame:05d}-org.jpg", Image.new("RGB", (8, 6))),
                                    ("GT", f"Frame{frame:05d}-gt.pbm", Image.new("1", (8, 6)))):
            (root / folder / "Training").mkdir(parents=True, exist_ok=True)
            image.save(root / folder / "Training" / name)
    return root


SPLITS = [  # (splits.json content, what the message says, or None when the official split is used)
    (b"", "not valid JSON"),
    (b"{", "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    (b'{"Figaro1k": ' * 50_000 + b"1" + b"}" * 50_000, "not valid JSON"),
    (b'{"Figaro1k": {"train": [1' + b"0" * 5000 + b"]}}", "not valid JSON"),
    ("{'Figaro1k': {}}".encode(), "not valid JSON"),
    ('{"Figaro1k": {"train": ["Frame00001"]}}'.encode("utf-16"), "not valid JSON"),
    (b"\xef\xbb\xbf[]", None),
    (b"{}", None),
    (b'{"LFW": {"train": []}}', None),
    (b'{"Figaro1k": []}', "entry 'Figaro1k' has no 'train' list"),
    (b'{"Figaro1k": {"val": []}}', "entry 'Figaro1k' has no 'train' list"),
    (b'{"Figaro1k": {"train": "Frame00001"}}', "must be a list of non-empty strings"),
    (b'{"Figaro1k": {"train": [1, 2]}}', "must be a list of non-empty strings"),
    (b'{"Figaro1k": {"train": [""]}}', "must be a list of non-empty strings"),
    (b'{"Figaro1k": {"train": [null]}}', "must be a list of non-empty strings"),
    (b'{"Figaro1k": {"train": ["Frame00001", "Frame00001"]}}', "lists a stem twice"),
    (b'{"Figaro1k": {"train": ["/etc/passwd"]}}', "not a relative path inside the dataset folder"),
    (b'{"Figaro1k": {"train": ["../../Frame00001"]}}', "not a relative path inside the dataset folder"),
    (b'{"Figaro1k": {"train": ["a/../../b"]}}', "not a relative path inside the dataset folder"),
    (b'{"Figaro1k": {"train": ["Frame\\u00000001"]}}', "not a relative path inside the dataset folder"),
]


@pytest.mark.parametrize("content, expected", SPLITS, ids=range(len(SPLITS)))
def test_splits_json(tmp_path, content, expected):
    root = figaro(tmp_path)
    path = tmp_path / "splits.json"
    path.write_bytes(content)
    result = attempt("splits.json", lambda: open_dataset("figaro1k", root, "train"), names=path)
    if expected is None:
        assert [i.stem for i in result.items] == ["Frame00001", "Frame00002", "Frame00003"]
        assert result.split_source.startswith("official")
    else:
        assert isinstance(result, DataError) and expected in str(result), str(result)


# --- split lists naming files that do not exist --------------------------------------------------------

@pytest.mark.parametrize("case", range(10))
def test_listed_files_that_do_not_exist_are_reported_with_the_path(tmp_path, case):
    """Every listed stem is either read or reported as skipped with the path it looked for."""
    generator = rng("absent", case)
    root = figaro(tmp_path, frames=(1, 2, 3))
    stems = [f"Frame{int(f):05d}" for f in generator.choice(8, int(generator.integers(1, 8)), replace=False) + 1]
    (root / "GT" / "Training" / "Frame00003-gt.pbm").unlink()  # an image without its mask
    (tmp_path / "splits.json").write_text(json.dumps({"Figaro1k": {"train": stems, "val": [], "test": []}}))
    reader = attempt("split lists (absent files)", lambda: open_dataset("figaro1k", root, "train"))
    present = [s for s in stems if s in ("Frame00001", "Frame00002")]
    assert [i.stem for i in reader.items] == present
    skipped = {s["stem"]: s["reason"] for s in reader.report()["skipped"]}
    assert set(skipped) == set(stems) - set(present)
    for stem, reason in skipped.items():
        assert (f"hair mask {root / 'GT' / 'Training' / 'Frame00003-gt.pbm'} not found" if stem == "Frame00003"
                else f"image {stem}-org.jpg not found") in reason


def test_attribute_rows_absent_for_listed_images_are_reported(tmp_path):
    root = tmp_path / "CelebA"
    (root / "img_align_celeba").mkdir(parents=True)
    for i in (1, 2, 3):
        Image.new("RGB", (9, 11)).save(root / "img_align_celeba" / f"{i:06d}.jpg")
    (root / "Anno").mkdir()
    files, values = attribute_table("absent rows", 0)
    files = ["000001.jpg", "000003.jpg"]
    values = {f: [1] * len(CELEBA_NAMES) for f in files}
    (root / "Anno" / "list_attr_celeba.txt").write_bytes(render(attribute_lines(files, values), rng("x"), True))
    (tmp_path / "splits.json").write_text(json.dumps({"CelebA": {"train": ["000001", "000002", "000003"]}}))
    reader = attempt("split lists (absent files)", lambda: open_dataset("celeba-attrs", root, "train"))
    assert [i.stem for i in reader.items] == ["000001", "000003"]
    assert reader.report()["skipped"] == [
        {"stem": "000002", "reason": f"no row in {root / 'Anno' / 'list_attr_celeba.txt'}"}]
