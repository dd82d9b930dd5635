"""`hairnet predict` and `hairnet evaluate` end to end, through the command line.

EXIF: a photo stored rotated with an orientation tag must give the answer the upright photo gives:
exactly (faces, probabilities, label counts, overlay pixels) where the upright pixels are the same
ones — a lossless file, or the tagged JPEG's own pixels turned upright by the EXIF definition —
and, against a separately encoded upright JPEG, within a stated tolerance. A folder of good and
bad photos: the good ones are analysed, every bad one is reported with its reason, the exit
status is non-zero, and the output folder holds complete pairs only.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import attempt, encode, no_partial_files, record
from hairnet.cli import main
from hairnet.evaluate import evaluate
from test_images import BOMB_HEADERS, STORED

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "hairnet.pt"
# How the upright picture is recovered from stored pixels: the inverse of STORED, per EXIF 2.3.
UPRIGHT = {
    1: lambda s: s, 2: lambda s: s[:, ::-1], 3: lambda s: s[::-1, ::-1], 4: lambda s: s[::-1],
    5: lambda s: s.swapaxes(0, 1), 6: lambda s: np.rot90(s, -1), 7: lambda s: s.swapaxes(0, 1)[::-1, ::-1],
    8: lambda s: np.rot90(s, 1),
}
# Against an upright photo encoded on its own, JPEG's blocks fall differently: the face box may
# move by a pixel or two, and the hair label with it along the hair's edge. Tolerance: the box
# within 3 px, the hair pixel count within 1 % of the photo's area, the overlay within 3 grey
# levels on average. (Colour and attribute probabilities are not compared there: the shipped
# interim checkpoint's heads are untrained and swing with a one-pixel shift of the crop; they
# are compared exactly in the same-pixels test.)
JPEG_TOLERANCE = {"face_box_px": 3, "hair_pixels_of_photo": 0.01, "overlay_mean_abs": 3.0}


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    assert SHIPPED.is_file(), f"{SHIPPED}: the shipped checkpoint is part of the repository"
    return SHIPPED


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """A portrait the frontal cascade finds a face in, cut to 420×512 so quarter turns change its shape."""
    return pytest.importorskip("skimage.data").astronaut()[:, 40:460]


def predict(capsys, *args) -> tuple[int, str]:
    code = main(["predict", *map(str, args)])
    return code, capsys.readouterr().err


def outputs(folder: Path, stem: str) -> tuple[dict, np.ndarray]:
    return json.loads((folder / f"{stem}.json").read_text()), np.asarray(Image.open(folder / f"{stem}_overlay.png"))


def tagged(upright: np.ndarray, orientation: int, fmt: str) -> bytes:
    image = Image.fromarray(np.ascontiguousarray(STORED[orientation](upright)))
    exif = image.getexif()
    exif[0x0112] = orientation
    return encode(image, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))


@pytest.fixture(scope="module")
def exif_run(tmp_path_factory, checkpoint, astronaut):
    """One `hairnet predict` over every orientation in PNG and JPEG, with the oracles beside them."""
    photos, out = tmp_path_factory.mktemp("photos"), tmp_path_factory.mktemp("out")
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg")):
        for orientation in STORED:
            path = photos / f"{ext}{orientation}.{ext}"
            path.write_bytes(tagged(astronaut, orientation, fmt))
            with Image.open(path) as stored:  # the stored pixels, turned upright by the EXIF definition
                upright = UPRIGHT[orientation](np.asarray(stored.convert("RGB")))
            Image.fromarray(np.ascontiguousarray(upright)).save(photos / f"{ext}{orientation}-oracle.png")
    Image.fromarray(astronaut).save(photos / "upright.jpg", quality=95)
    reports = io.StringIO()  # what predict says about each photo, for the tests' messages
    with contextlib.redirect_stderr(reports):
        main(["predict", str(photos), "--checkpoint", str(checkpoint), "--out", str(out)])
    no_partial_files(out, "hairnet predict")
    return out, reports.getvalue()


@pytest.mark.parametrize("ext", ["png", "jpg"])
@pytest.mark.parametrize("orientation", STORED)
def test_exif_rotated_photo_gives_the_upright_answer(exif_run, astronaut, orientation, ext):
    out, reports = exif_run
    assert (out / f"{ext}{orientation}.json").exists(), reports
    got, overlay = outputs(out, f"{ext}{orientation}")
    want, want_overlay = outputs(out, f"{ext}{orientation}-oracle")
    assert (got["width"], got["height"]) == (astronaut.shape[1], astronaut.shape[0])
    assert got["faces"] and got["faces"] == want["faces"]
    assert overlay.shape == astronaut.shape and np.array_equal(overlay, want_overlay)  # the overlay is upright
    record("hairnet predict", "correct answers")


@pytest.mark.parametrize("orientation", STORED)
def test_exif_rotated_jpeg_is_within_tolerance_of_an_upright_jpeg(exif_run, orientation):
    out, reports = exif_run
    assert (out / f"jpg{orientation}.json").exists(), reports
    got, overlay = outputs(out, f"jpg{orientation}")
    want, want_overlay = outputs(out, "upright")
    assert len(got["faces"]) == len(want["faces"]) == 1
    (face,), (reference,) = got["faces"], want["faces"]
    assert np.abs(np.subtract(face["face_box"], reference["face_box"])).max() <= JPEG_TOLERANCE["face_box_px"]
    assert abs(face["hair_pixels"] - reference["hair_pixels"]) <= JPEG_TOLERANCE["hair_pixels_of_photo"] * overlay[..., 0].size
    assert np.abs(overlay.astype(int) - want_overlay).mean() <= JPEG_TOLERANCE["overlay_mean_abs"]
    record("hairnet predict", "correct answers")


def test_evaluate_honours_exif_orientation(tmp_path, checkpoint, astronaut):
    """Figaro-style folder: the same photo upright and in the eight orientations, its hair mask upright.
    Each rotated copy must be scored as the upright one: the pooled confusion matrix is nine times it."""
    hair = np.zeros(astronaut.shape[:2], bool)
    hair[20:200, 100:330] = True

    def dataset(name: str, orientations) -> Path:
        root = tmp_path / name
        for folder in ("Original/Testing", "GT/Testing"):
            (root / folder).mkdir(parents=True)
        for index, orientation in enumerate(orientations):
            (root / "Original" / "Testing" / f"Frame{index:05d}-org.jpg").write_bytes(tagged(astronaut, orientation, "PNG"))
            Image.fromarray(hair).save(root / "GT" / "Testing" / f"Frame{index:05d}-gt.pbm")
        return root

    single = evaluate(checkpoint, "figaro1k", dataset("upright", [1]), "test")
    rotated = attempt("hairnet evaluate", lambda: evaluate(checkpoint, "figaro1k", dataset("all", [1, *STORED]), "test"))
    assert rotated["images"] == 9 and not rotated["failed_images"]
    assert np.array_equal(np.array(rotated["confusion_matrix"]), 9 * np.array(single["confusion_matrix"]))


# --- a folder of good and bad photos ------------------------------------------------------------------

def write_folder(folder: Path, astronaut: np.ndarray) -> dict[str, str | None]:
    """name → the reason it must be reported with, or None for a photo that must be analysed."""
    photo = Image.fromarray(astronaut)
    jpeg = encode(photo, "JPEG", quality=90)
    files = {
        "good.png": (encode(photo, "PNG"), None),
        "cmyk.jpg": (encode(photo.convert("CMYK"), "JPEG", quality=90), None),
        "portrait.jpg": (tagged(astronaut, 6, "JPEG"), None),
        "screenshot.png": (encode(photo.convert("RGBA"), "PNG"), None),
        "half-downloaded.jpg": (jpeg[: len(jpeg) // 2], "truncated or corrupt"),
        "empty.png": (b"", "empty file (0 bytes)"),
        "not-an-image.jpg": (b"<html><body>Forbidden</body></html>", "not a readable image"),
        "bomb.png": (BOMB_HEADERS["png"](30000, 30000), "refused before decoding"),
        "blank.png": (encode(Image.new("RGB", (300, 200), (128, 128, 128)), "PNG"), "no face found"),
        "dot.gif": (encode(Image.new("P", (1, 1)), "GIF"), "no face found"),
        "notes.txt": (b"not a photo, and not picked up from a folder", None),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items() if name != "notes.txt"}


def test_folder_with_bad_photos(tmp_path, capsys, checkpoint, astronaut):
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    expected = write_folder(photos, astronaut)
    code, err = predict(capsys, photos, "--checkpoint", checkpoint, "--out", out)
    assert code == 1 and "Traceback" not in err
    reported = {line.removeprefix("skipped: ").split(": ")[0]: line for line in err.splitlines() if line.startswith("skipped: ")}
    for name, reason in expected.items():
        stem = Path(name).stem
        if reason is None:
            result, overlay = outputs(out, stem)
            assert result["faces"] and overlay.shape == (512, 420, 3), name
            record("hairnet predict", "correct answers")
        else:
            assert reason in reported[str(photos / name)], reported.get(str(photos / name))
            assert not (out / f"{stem}.json").exists() and not (out / f"{stem}_overlay.png").exists()
            record("hairnet predict", "clean errors")
    assert len(reported) == sum(reason is not None for reason in expected.values())
    no_partial_files(out, "hairnet predict")


@pytest.mark.parametrize("box, reason", [
    ("nan,0,10,10", "does not lie on the 420×512 photo"),
    ("0,0,inf,10", "does not lie on the 420×512 photo"),
    ("-500,-500,10,10", "does not lie on the 420×512 photo"),
    ("1000,0,50,50", "does not lie on the 420×512 photo"),
    ("0,0,100000,100000", "does not lie on the 420×512 photo"),
    ("150,60,110,110", None),
    ("-20,-20,100,100", None),  # a face cut by the border is still a face
    ("0,0,420,512", None),
])
def test_face_box(tmp_path, capsys, checkpoint, astronaut, box, reason):
    photo, out = tmp_path / "astronaut.png", tmp_path / "out"
    Image.fromarray(astronaut).save(photo)
    code, err = predict(capsys, photo, "--checkpoint", checkpoint, "--out", out, f"--face-box={box}")
    assert "Traceback" not in err
    if reason is None:
        assert code == 0 and len(outputs(out, "astronaut")[0]["faces"]) == 1
        record("hairnet predict", "correct answers")
    else:
        assert code == 1 and reason in err and str(photo) in err and not list(out.iterdir())
        record("hairnet predict", "clean errors")


@pytest.mark.parametrize("box", ["0,0,-5,5", "a,b,c,d", "1,2,3"])
def test_face_box_that_is_not_one(tmp_path, capsys, checkpoint, box):
    with pytest.raises(SystemExit) as exit_:
        predict(capsys, tmp_path / "x.png", "--checkpoint", checkpoint, "--out", tmp_path / "out", f"--face-box={box}")
    assert exit_.value.code == 2 and "--face-box" in capsys.readouterr().err
    record("hairnet predict", "clean errors")


def test_outputs_that_cannot_be_written(tmp_path, capsys, checkpoint, astronaut, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(astronaut).save(photos / name)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    code, err = predict(capsys, photos, "--checkpoint", checkpoint, "--out", blocker)
    assert code == 2 and "cannot create the output folder" in err and str(blocker) in err
    record("hairnet predict", "clean errors")

    out = tmp_path / "out"
    (out / "b.json").mkdir(parents=True)  # b's JSON cannot replace a folder: b's overlay must not stay alone
    real_open = open

    def disk_full_for_c(path, *args, **kwargs):
        if Path(path).name.startswith(".c_overlay.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("hairnet.files.open", disk_full_for_c, raising=False)
    code, err = predict(capsys, photos, "--checkpoint", checkpoint, "--out", out)
    assert code == 1 and "Traceback" not in err
    assert f"{out / 'b.json'}: cannot write" in err and f"{out / 'c_overlay.png'}: cannot write (No space left" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a_overlay.png", "b.json"]
    assert (out / "b.json").is_dir()
    record("hairnet predict", "clean errors")
    no_partial_files(out, "hairnet predict")


def test_two_photos_with_one_name(tmp_path, capsys, checkpoint, astronaut):
    for folder, ext in (("a", "png"), ("b", "jpg")):
        (tmp_path / folder).mkdir()
        Image.fromarray(astronaut).save(tmp_path / folder / f"portrait.{ext}")
    out = tmp_path / "out"
    code, err = predict(capsys, tmp_path / "a", tmp_path / "b", "--checkpoint", checkpoint, "--out", out)
    assert code == 1 and f"{tmp_path / 'b' / 'portrait.jpg'}: its outputs would overwrite those of" in err
    assert json.loads((out / "portrait.json").read_text())["image"] == str(tmp_path / "a" / "portrait.png")
    record("hairnet predict", "clean errors")


def test_folder_without_photos(tmp_path, capsys, checkpoint):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    code, err = predict(capsys, tmp_path / "empty", "--checkpoint", checkpoint, "--out", tmp_path / "out")
    assert code == 2 and "no image files" in err and not (tmp_path / "out").exists()
    record("hairnet predict", "clean errors")


@pytest.mark.parametrize("command", ["predict", "evaluate", "info", "export"])
@pytest.mark.parametrize("content", [b"", b"\x80\x02}q\x00.", b"PK\x03\x04 half a zip"])
def test_bad_checkpoint_on_the_command_line(tmp_path, capsys, command, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    args = {
        "predict": ["predict", str(tmp_path), "--checkpoint", str(bad), "--out", str(tmp_path / "out")],
        "evaluate": ["evaluate", "--checkpoint", str(bad), "--dataset", "figaro1k", "--root", str(tmp_path),
                     "--json", str(tmp_path / "e.json")],
        "info": ["info", "--checkpoint", str(bad)],
        "export": ["export", "--checkpoint", str(bad), "--out", str(tmp_path / "x.pt")],
    }[command]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "e.json").exists() and not (tmp_path / "x.pt").exists()
    record(f"hairnet {command}", "clean errors")


def test_evaluate_reports_bad_files_and_scores_the_rest(tmp_path, capsys, checkpoint, astronaut):
    root = tmp_path / "Figaro1k"
    for folder in ("Original/Testing", "GT/Testing"):
        (root / folder).mkdir(parents=True)
    mask = np.zeros(astronaut.shape[:2], bool)
    mask[20:200, 100:330] = True
    photo = encode(Image.fromarray(astronaut), "JPEG", quality=90)
    frames = {  # frame → (photo bytes, mask image, what the report says)
        1: (photo, Image.fromarray(mask), None),
        2: (photo[:5000], Image.fromarray(mask), "truncated or corrupt"),
        3: (photo, Image.fromarray(mask[:100]), "label is 420×100 but its photo is 420×512"),
        4: (photo, Image.fromarray((mask * 128).astype(np.uint8)), "values other than 0 and 255"),
        5: (b"", Image.fromarray(mask), "empty file"),
        6: (photo, Image.fromarray(mask), None),
    }
    for frame, (data, label, _) in frames.items():
        (root / "Original" / "Testing" / f"Frame{frame:05d}-org.jpg").write_bytes(data)
        label.save(root / "GT" / "Testing" / f"Frame{frame:05d}-gt.{'pbm' if label.mode == '1' else 'png'}")
    for frame in (4,):  # a grey "mask" where the reader expects a PBM
        (root / "GT" / "Testing" / f"Frame{frame:05d}-gt.png").rename(root / "GT" / "Testing" / f"Frame{frame:05d}-gt.pbm")
    report = tmp_path / "report"
    code = main(["evaluate", "--checkpoint", str(checkpoint), "--dataset", "figaro1k", "--root", str(root),
                 "--split", "test", "--json", str(tmp_path / "figures.json"), "--report", str(report)])
    assert code == 0
    figures = json.loads((tmp_path / "figures.json").read_text())
    failed = {f["stem"]: f["reason"] for f in figures["failed_images"]}
    for frame, (_, _, reason) in frames.items():
        stem = f"Frame{frame:05d}"
        if reason is None:
            assert stem not in failed
            record("hairnet evaluate", "correct answers")
        else:
            assert reason in failed[stem] and stem in failed[stem], failed.get(stem)
            record("hairnet evaluate", "clean errors")
    assert figures["segmentation_images"] == 2
    no_partial_files(report, "hairnet evaluate")
