"""Dataset readers on tiny synthetic datasets in the official layouts, plus a few real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hairnet.contract import HAIR_COLORS
from hairnet.data import open_dataset
from hairnet.data.attributes import read_attribute_table
from hairnet.data.celebamask import SKIN_PARTS
from hairnet.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NAMES = ["5_o_Clock_Shadow", "Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair",
         "Straight_Hair", "Wavy_Hair", "Young"]


def attr_row(file: str, **values: int) -> str:
    return f"{file}  " + " ".join(str(values.get(n, -1)) for n in NAMES)


def write_attr_file(path: Path, rows: list[str], newline: str = "\n") -> Path:
    text = newline.join([str(len(rows)), " ".join(NAMES)] + rows) + newline
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


def save(array: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def photo(width: int = 16, height: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# --- attribute files -------------------------------------------------------------------------

def test_attribute_file_tolerates_bom_and_mixed_line_ends(tmp_path):
    rows = [attr_row("000001.jpg", Black_Hair=1), attr_row("000002.jpg", Blond_Hair=1, Bangs=1)]
    path = tmp_path / "list_attr_celeba.txt"
    text = f"2\r\n{'  '.join(NAMES)} \r\n{rows[0]}\n{rows[1].replace('  ', '   ')}\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    table = read_attribute_table(path)
    assert table.names == tuple(NAMES)
    color, attributes = table.hair_labels("000002")
    assert color == HAIR_COLORS.index("blond") and attributes.tolist() == [0, 0, 1, 0]


@pytest.mark.parametrize("bad_row, expected", [
    (attr_row("3.jpg")[:-3], "line 5: expected 11 columns"),
    (attr_row("3.jpg", Bald=0), "line 5: 3.jpg Bald = '0'"),
    (attr_row("1.jpg"), "line 5: 1.jpg already listed on line 3"),
])
def test_malformed_attribute_rows_name_the_line_and_value(tmp_path, bad_row, expected):
    path = write_attr_file(tmp_path / "a.txt", [attr_row("1.jpg"), attr_row("2.jpg"), bad_row], newline="\r\n")
    with pytest.raises(DataError, match=expected) as raised:
        read_attribute_table(path)
    assert str(path) in str(raised.value)


def test_attribute_row_count_must_match(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("3\n" + " ".join(NAMES) + "\n" + attr_row("1.jpg") + "\n")
    with pytest.raises(DataError, match="line 1: says 3 rows, the file has 1"):
        read_attribute_table(path)


@pytest.mark.parametrize("colors, expected", [
    ({"Gray_Hair": 1}, HAIR_COLORS.index("gray")),
    ({}, -1),
    ({"Black_Hair": 1, "Brown_Hair": 1}, -1),
])
def test_color_known_only_with_exactly_one_color(tmp_path, colors, expected):
    path = write_attr_file(tmp_path / "a.txt", [attr_row("1.jpg", Bald=1, **colors)])
    color, attributes = read_attribute_table(path).hair_labels("1")
    assert color == expected
    assert attributes.tolist() == [0, 0, 0, 1]


def test_draws_repeat_an_image_by_the_largest_count_among_its_attributes(tmp_path):
    path = write_attr_file(tmp_path / "a.txt", [attr_row("1.jpg", Bangs=1), attr_row("2.jpg", Bald=1, Bangs=1),
                                                 attr_row("3.jpg"), attr_row("4.jpg", Bald=1)])
    draws = read_attribute_table(path).draws(["4", "3", "2", "1"], {"Bald": 5, "Bangs": 2})
    assert draws.tolist() == [5, 1, 5, 2]


@pytest.mark.parametrize("stems, repeats, expected", [
    (["1"], {"Wearing_Hat": 3}, "no attribute Wearing_Hat"),
    (["1", "9"], {"Bald": 3}, "no row for 1 image.*'9'"),
])
def test_draws_name_the_file_and_what_it_lacks(tmp_path, stems, repeats, expected):
    path = write_attr_file(tmp_path / "a.txt", [attr_row("1.jpg")])
    with pytest.raises(DataError, match=expected) as raised:
        read_attribute_table(path).draws(stems, repeats)
    assert str(path) in str(raised.value)


# --- CelebAMask-HQ ---------------------------------------------------------------------------

def make_celebamask(base: Path, parts_by_id: dict[int, list[str]], splits: dict | None) -> Path:
    root = base / "CelebAMask-HQ"
    for i in (0, 1, 2):
        save(photo(16, 16, i), root / "CelebA-HQ-img" / f"{i}.jpg")
        for part in parts_by_id.get(i, []):
            mask = np.zeros((8, 8, 3), np.uint8)
            mask[:4] = 255  # top half: upsampled to the image's top half
            save(mask, root / "CelebAMask-HQ-mask-anno" / "0" / f"{i:05d}_{part}.png")
    write_attr_file(root / "CelebAMask-HQ-attribute-anno.txt",
                    [attr_row("0.jpg", Black_Hair=1), attr_row("1.jpg", Bald=1), attr_row("2.jpg", Wavy_Hair=1)])
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        "idx        orig_idx   orig_file\n0          9          000010.jpg\n1          4          000005.jpg\n"
        "2          7          000008.jpg\n")
    if splits is not None:
        (base / "splits.json").write_text(json.dumps({"CelebAMask-HQ": splits}))
    return root


def test_absent_part_file_is_empty_when_annotated_elsewhere_and_unknown_when_nowhere(tmp_path):
    root = make_celebamask(tmp_path, {0: ["hair"], 2: ["hair"]}, {"train": ["0", "1", "2"], "val": [], "test": []})
    reader = open_dataset("celebamask-hq", root, "train")
    samples = [reader[i] for i in range(3)]
    assert samples[0].hair.shape == (16, 16) and samples[0].hair[:8].all() and not samples[0].hair[8:].any()
    assert samples[1].hair is not None and not samples[1].hair.any()  # bald: no file, hair annotated elsewhere
    assert all(s.skin is None for s in samples)  # no skin file anywhere: unknown
    report = reader.report()
    assert report["known"]["hair"] == 3 and report["known"]["skin"] == 0
    assert any("skin unknown" in note for note in report["notes"])
    assert samples[0].color == HAIR_COLORS.index("black") and samples[1].attributes.tolist() == [0, 0, 0, 1]


def test_celebamask_skin_is_the_union_of_face_and_neck_parts(tmp_path):
    parts = {0: ["hair", *SKIN_PARTS], 2: ["skin"]}
    root = make_celebamask(tmp_path, parts, {"train": ["0", "1", "2"], "val": [], "test": []})
    reader = open_dataset("celebamask-hq", root, "train")
    assert reader[0].skin[:8].all() and not reader[0].skin[8:].any()
    assert not reader[1].skin.any()  # annotated parts, no file for this image: no skin visible
    assert reader.report()["known"]["skin"] == 3


def test_skin_unknown_when_one_of_its_parts_is_annotated_nowhere(tmp_path):
    root = make_celebamask(tmp_path, {0: ["hair", "skin", "nose"]}, {"train": ["0"], "val": [], "test": []})
    reader = open_dataset("celebamask-hq", root, "train")
    assert reader[0].skin is None
    assert any("neck" in note for note in reader.report()["notes"])


def test_celeba_hq_without_mask_folder_has_attributes_only(tmp_path):
    root = make_celebamask(tmp_path, {}, None)
    (tmp_path / "splits.json").write_text(json.dumps({"CelebA-HQ-attrs": {"train": ["2"], "val": [], "test": []}}))
    reader = open_dataset("celeba-hq-attrs", root, "train")
    sample = reader[0]
    assert sample.hair is None and sample.skin is None and sample.attributes.tolist() == [0, 1, 0, 0]


def test_celebamask_official_split_follows_celeba_partition(tmp_path):
    root = make_celebamask(tmp_path, {0: ["hair"]}, None)
    partition = tmp_path / "CelebA" / "Eval" / "list_eval_partition.txt"
    partition.parent.mkdir(parents=True)
    partition.write_bytes(b"000005.jpg 0\r\n000008.jpg 2\r\n000010.jpg 0\r\n")
    assert [i.stem for i in open_dataset("celebamask-hq", root, "train").items] == ["0", "1"]
    reader = open_dataset("celebamask-hq", root, "test")
    assert [i.stem for i in reader.items] == ["2"] and "official" in reader.report()["split_source"]


def test_listed_but_missing_images_are_reported_not_dropped_silently(tmp_path):
    root = make_celebamask(tmp_path, {0: ["hair"]}, {"train": ["0", "7"], "val": [], "test": []})
    report = open_dataset("celebamask-hq", root, "train").report()
    assert report["images"] == 1
    assert report["skipped"] == [{"stem": "7", "reason": f"image {root / 'CelebA-HQ-img' / '7.jpg'} not found"}]


# --- Figaro-1k -------------------------------------------------------------------------------

def write_p4(path: Path, hair: np.ndarray) -> None:
    """Raw P4 bytes: bit 1 = black = background, bit 0 = white = hair (the PBM convention)."""
    height, width = hair.shape
    bits = np.packbits(~hair, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"P4\n{width} {height}\n".encode() + bits.tobytes())


def test_figaro_pbm_polarity_hair_is_white(tmp_path):
    root = tmp_path / "Figaro1k"
    hair = np.zeros((12, 10), bool)
    hair[:5, 2:7] = True
    for folder, frame in (("Training", 1), ("Testing", 2)):
        save(photo(10, 12), root / "Original" / folder / f"Frame{frame:05d}-org.jpg")
        write_p4(root / "GT" / folder / f"Frame{frame:05d}-gt.pbm", hair)
    train = open_dataset("figaro1k", root, "train")
    assert [i.stem for i in train.items] == ["Frame00001"]
    sample = train[0]
    assert np.array_equal(sample.hair, hair) and sample.skin is None
    assert open_dataset("figaro1k", root, "test")[0].stem == "Frame00002"
    val = open_dataset("figaro1k", root, "val")
    assert len(val) == 0 and "no validation split" in val.report()["split_source"]


# --- LFW Part Labels -------------------------------------------------------------------------

def make_lfw(base: Path, label: np.ndarray, suffix: str = ".png") -> Path:
    root = base / "LFW"
    save(photo(6, 4), root / "lfw_funneled" / "George_HW_Bush" / "George_HW_Bush_0013.jpg")
    save(label, root / "parts_lfw_funneled_gt_images" / f"George_HW_Bush_0013{suffix}")
    (root / "parts_train.txt").write_text("George_HW_Bush 13\n")
    return root


def lfw_label() -> np.ndarray:
    label = np.zeros((4, 6, 3), np.uint8)
    label[:] = (0, 0, 255)
    label[0] = (255, 0, 0)
    label[1:3, 1:5] = (0, 255, 0)
    return label


def test_lfw_reads_unpadded_list_and_prefers_ppm(tmp_path):
    label = lfw_label()
    root = make_lfw(tmp_path, label, ".ppm")
    save(np.zeros_like(label), root / "parts_lfw_funneled_gt_images" / "George_HW_Bush_0013.png")  # must be ignored
    sample = open_dataset("lfw-parts", root, "train")[0]
    assert sample.stem == "George_HW_Bush_0013"
    assert sample.hair[0].all() and not sample.hair[1:].any()
    assert sample.skin.sum() == 8 and not (sample.hair & sample.skin).any()


def test_lfw_stray_colour_names_file_colour_and_count(tmp_path):
    label = lfw_label()
    label[3, :3] = (255, 255, 255)
    root = make_lfw(tmp_path, label)
    with pytest.raises(DataError, match=r"George_HW_Bush_0013\.png: 3 pixels .*RGB\(255, 255, 255\) ×3"):
        open_dataset("lfw-parts", root, "train")[0]


def test_lfw_malformed_list_line(tmp_path):
    root = make_lfw(tmp_path, lfw_label())
    (root / "parts_train.txt").write_text("George_HW_Bush 13\nJane Doe 2\n")
    with pytest.raises(DataError, match="parts_train.txt, line 2"):
        open_dataset("lfw-parts", root, "train")


# --- FASSEG ----------------------------------------------------------------------------------

def test_fasseg_snaps_palette_and_merges_face_parts_into_skin(tmp_path):
    root = tmp_path / "FASSEG"
    label = np.zeros((4, 6, 3), np.uint8)
    label[:] = (255, 0, 0)  # background
    label[0, :3] = (127, 0, 0)  # hair
    label[0, 3] = (120, 4, 3)  # anti-aliased hair
    label[1] = (255, 255, 0)  # skin
    label[2, 0], label[2, 1], label[2, 2] = (0, 0, 255), (0, 255, 255), (0, 255, 0)  # eyes, nose, mouth
    save(photo(6, 4), root / "V2" / "Train_RGB" / "1.jpg")
    save(label, root / "V2" / "Train_Labels" / "1.png")
    save(photo(6, 4), root / "V3" / "Train_RGB" / "+15" / "p+0+15.jpg")
    save(label, root / "V3" / "Train_labels" / "+15" / "p+0+15.png")
    save(photo(6, 4), root / "V3" / "Test_RGB" / "+90" / "q+0+90.jpg")  # a test pose without a label
    reader = open_dataset("fasseg", root, "train")
    assert [i.stem for i in reader.items] == ["V2/Train_RGB/1", "V3/Train_RGB/+15/p+0+15"]
    sample = reader[0]
    assert sample.hair.sum() == 4 and sample.hair[0, :4].all()
    assert sample.skin[1].all() and sample.skin[2, :3].all() and sample.skin.sum() == 9
    test = open_dataset("fasseg", root, "test")
    assert len(test) == 0 and "no label file" in test.report()["skipped"][0]["reason"]


def test_fasseg_refuses_a_file_that_is_not_a_label(tmp_path):
    root = tmp_path / "FASSEG"
    save(photo(6, 4), root / "V2" / "Train_RGB" / "1.jpg")
    save(np.full((4, 6, 3), 60, np.uint8), root / "V2" / "Train_Labels" / "1.png")
    with pytest.raises(DataError, match="far from every FASSEG palette colour"):
        open_dataset("fasseg", root, "train")[0]


# --- CelebA ----------------------------------------------------------------------------------

def test_celeba_pool_official_partition(tmp_path):
    root = tmp_path / "CelebA"
    for i in (1, 2, 3):
        save(photo(9, 11, i), root / "img_align_celeba" / f"{i:06d}.jpg")
    write_attr_file(root / "Anno" / "list_attr_celeba.txt",
                    [attr_row("000001.jpg", Brown_Hair=1), attr_row("000002.jpg"), attr_row("000004.jpg")])
    (root / "Eval").mkdir()
    (root / "Eval" / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 1\n000003.jpg 0\n000004.jpg 0\n")
    reader = open_dataset("celeba-attrs", root, "train")
    assert [i.stem for i in reader.items] == ["000001"]
    assert {s["stem"] for s in reader.report()["skipped"]} == {"000003", "000004"}  # no row / no image
    sample = reader[0]
    assert sample.image.size == (9, 11) and sample.hair is None and sample.color == HAIR_COLORS.index("brown")


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(DataError, match="unknown dataset"):
        open_dataset("celeba-masks", tmp_path, "train")
    with pytest.raises(DataError, match="split must be one of"):
        open_dataset("figaro1k", tmp_path, "training")


# --- the real subset, when this checkout sits next to it ---------------------------------------

REAL = [
    ("celebamask-hq", "CelebAMask-HQ", "val", {"hair", "attributes"}),
    ("celeba-hq-attrs", "CelebA-HQ-attrs", "val", {"attributes"}),
    ("figaro1k", "Figaro1k", "test", {"hair"}),
    ("lfw-parts", "LFW", "val", {"hair", "skin"}),
    ("fasseg", "FASSEG", "test", {"hair", "skin"}),
    ("celeba-attrs", "CelebA", "val", {"attributes"}),
]


@pytest.mark.parametrize("name, folder, split, known", REAL)
def test_real_subset_reads(name, folder, split, known):
    if not (SHARED / folder).is_dir():
        pytest.skip(f"{SHARED / folder} not present")
    reader = open_dataset(name, SHARED / folder, split)
    report = reader.report()
    assert report["skipped"] == [] and len(reader) > 0
    for item in reader.items[:3]:
        sample = reader.load(item)
        assert sample.image.mode == "RGB"
        assert (sample.hair is not None) == ("hair" in known)
        assert (sample.skin is not None) == ("skin" in known)
        assert (sample.attributes >= 0).all() == ("attributes" in known)
        if sample.hair is not None:
            assert 0 < sample.hair.mean() < 1
