"""Cache bundles: a round trip keeps every label exactly and the crops within JPEG's error, subsets
are drawn in cache order, and bad input or a clash is refused by name."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hairnet.contract import DEFAULT_CROP
from hairnet.data.bundle import main, pack, unpack
from hairnet.data.cache import LABEL_ARRAYS, load_cache
from hairnet.errors import DataError, OutputError
from hairnet.train import Trainer
from test_train import _write_cache, config  # noqa: F401  (the tiny synthetic caches and run config)


def _quiet(*_args) -> None:
    pass


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_round_trip_keeps_labels_exactly_and_crops_within_jpeg_error(config, tmp_path):
    source = Path(config.cache_dir)
    manifest = pack(source, tmp_path / "b.npz", log=_quiet)
    assert sorted(manifest["caches"]) == ["celeba-attrs-train", "celeba-attrs-val", "figaro1k-train", "figaro1k-val"]
    written = unpack(tmp_path / "b.npz", tmp_path / "out", log=_quiet)
    assert [p.name for p in written] == sorted(manifest["caches"])
    for folder in written:
        before, after = load_cache(source / folder.name), load_cache(folder, DEFAULT_CROP)
        assert after.stems == before.stems
        np.testing.assert_array_equal(after.seg, before.seg)
        for name in LABEL_ARRAYS:
            np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
            assert getattr(after, name).dtype == getattr(before, name).dtype
        # Exactly a JPEG round trip of each crop at the bundle's quality, without chroma subsampling.
        assert after.images.dtype == np.uint8
        for row in range(len(before)):
            np.testing.assert_array_equal(after.images[row], _jpeg_round_trip(before.images[row], 90))
        assert after.meta["crop_rule"] == before.meta["crop_rule"] and after.meta["dataset"] == before.meta["dataset"]
        expected_error = np.mean([np.abs(after.images[row].astype(int) - before.images[row]).mean()
                                  for row in range(len(before))]) if len(before) else 0.0
        assert after.meta["bundle"] == {"jpeg_quality": 90, "jpeg_mean_abs_error": round(expected_error, 3),
                                        "kept": len(before), "of": len(before), "seed": 0}
    # What the bundle is for: a run trains on the unpacked caches.
    run = replace(config, cache_dir=str(tmp_path / "out"), run_dir=str(tmp_path / "run"), stages=(1,), epochs={"1": 1})
    Trainer(run).run()
    assert (tmp_path / "run" / "last.pt").is_file()


def test_limit_draws_a_subset_in_cache_order_and_recounts_its_labels(config, tmp_path):
    source = Path(config.cache_dir)
    pack(source, tmp_path / "b.npz", only=["figaro1k-train", "celeba-attrs-train"],
         limits={"celeba-attrs-train": 3}, seed=5, log=_quiet)
    written = unpack(tmp_path / "b.npz", tmp_path / "out", log=_quiet)
    assert [p.name for p in written] == ["celeba-attrs-train", "figaro1k-train"]
    before, after = load_cache(source / "celeba-attrs-train"), load_cache(tmp_path / "out" / "celeba-attrs-train")
    rows = [before.stems.index(stem) for stem in after.stems]
    assert len(rows) == 3 and rows == sorted(rows)
    np.testing.assert_array_equal(after.attrs, before.attrs[rows])
    np.testing.assert_array_equal(after.color, before.color[rows])
    assert after.meta["images"] == 3 and after.meta["bundle"]["of"] == 8 and after.meta["bundle"]["seed"] == 5
    assert after.meta["known"]["color"] == int(np.count_nonzero(before.color[rows] >= 0))
    # Another seed draws other crops; the unlimited cache is whole.
    pack(source, tmp_path / "c.npz", only=["celeba-attrs-train"], limits={"celeba-attrs-train": 3}, seed=6, log=_quiet)
    other = unpack(tmp_path / "c.npz", tmp_path / "other", log=_quiet)[0]
    assert load_cache(other).stems != after.stems
    assert len(load_cache(tmp_path / "out" / "figaro1k-train")) == 8


def test_an_empty_cache_travels(tmp_path):
    _write_cache(tmp_path / "cache" / "fasseg-val", 0, seed=0, masks=True)
    pack(tmp_path / "cache", tmp_path / "b.npz", log=_quiet)
    (folder,) = unpack(tmp_path / "b.npz", tmp_path / "out", log=_quiet)
    cache = load_cache(folder)
    assert len(cache) == 0 and cache.images.shape == (0, 224, 224, 3) and cache.seg.shape == (0, 2, 224, 224)


def test_unpack_replaces_caches_only_when_told(config, tmp_path):
    pack(Path(config.cache_dir), tmp_path / "b.npz", only=["figaro1k-val"], log=_quiet)
    unpack(tmp_path / "b.npz", tmp_path / "out", log=_quiet)
    marker = tmp_path / "out" / "figaro1k-val" / "stems.json"
    marker.write_text(json.dumps(["changed"]))
    with pytest.raises(OutputError, match="figaro1k-val.*--force"):
        unpack(tmp_path / "b.npz", tmp_path / "out", log=_quiet)
    assert json.loads(marker.read_text()) == ["changed"]
    unpack(tmp_path / "b.npz", tmp_path / "out", force=True, log=_quiet)
    assert json.loads(marker.read_text()) == [f"s{i}" for i in range(4)]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["figaro1k-val"]  # no temporary left behind


def test_bad_input_is_refused_by_name(config, tmp_path):
    source = Path(config.cache_dir)
    with pytest.raises(DataError, match="no cache named lfw-parts-train"):
        pack(source, tmp_path / "b.npz", only=["lfw-parts-train"], log=_quiet)
    with pytest.raises(DataError, match="no cache named figaro-train"):
        pack(source, tmp_path / "b.npz", limits={"figaro-train": 2}, log=_quiet)
    with pytest.raises(DataError, match="no crop caches here"):
        pack(tmp_path / "empty", tmp_path / "b.npz", log=_quiet)
    with pytest.raises(DataError, match="is one crop cache.*--only figaro1k-val"):
        pack(source / "figaro1k-val", tmp_path / "b.npz", log=_quiet)
    with pytest.raises(ValueError, match="quality"):
        pack(source, tmp_path / "b.npz", quality=0, log=_quiet)
    assert not (tmp_path / "b.npz").exists()

    pack(source, tmp_path / "b.npz", only=["figaro1k-val"], log=_quiet)
    whole = (tmp_path / "b.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "text.npz").write_text("not a bundle")
    for name in ("cut.npz", "text.npz"):
        with pytest.raises(DataError, match=name):
            unpack(tmp_path / name, tmp_path / "out", log=_quiet)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

    # A manifest that does not describe its caches.
    with np.load(tmp_path / "b.npz") as data:
        arrays = {key: data[key] for key in data.files}
    manifest = json.loads(bytes(arrays["manifest"]).decode())
    del manifest["caches"]["figaro1k-val"]["stems"]
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez_compressed(tmp_path / "no-stems.npz", **arrays)
    with pytest.raises(DataError, match="no-stems.npz: its manifest does not list caches"):
        unpack(tmp_path / "no-stems.npz", tmp_path / "out", log=_quiet)

    # An array of another shape: the cache and the array are named.
    with np.load(tmp_path / "b.npz") as data:
        arrays = {key: data[key] for key in data.files}
    arrays["figaro1k-val.seg_known"] = arrays["figaro1k-val.seg_known"][:, :1]
    np.savez_compressed(tmp_path / "narrow.npz", **arrays)
    with pytest.raises(DataError, match=r"cache figaro1k-val: 4 stems but arrays \{'seg_known': 'bool\[4, 1\]'\}"):
        unpack(tmp_path / "narrow.npz", tmp_path / "out", log=_quiet)

    # An array missing from the bundle: the cache it belongs to is named, and nothing of it is written.
    with np.load(tmp_path / "b.npz") as data:
        arrays = {key: data[key] for key in data.files if key != "figaro1k-val.attrs"}
    np.savez_compressed(tmp_path / "partial.npz", **arrays)
    with pytest.raises(DataError, match="cache figaro1k-val: incomplete"):
        unpack(tmp_path / "partial.npz", tmp_path / "out", log=_quiet)
    assert not (tmp_path / "out" / "figaro1k-val").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "/abs"])
def test_a_cache_name_that_is_a_path_is_refused(config, tmp_path, name):
    pack(Path(config.cache_dir), tmp_path / "b.npz", only=["figaro1k-val"], log=_quiet)
    with np.load(tmp_path / "b.npz") as data:
        arrays = {key.replace("figaro1k-val.", f"{name}."): data[key] for key in data.files}
    manifest = json.loads(bytes(arrays["manifest"]).decode())
    manifest["caches"] = {name: manifest["caches"]["figaro1k-val"]}
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez_compressed(tmp_path / "hostile.npz", **arrays)
    with pytest.raises(DataError, match="not a plain folder name"):
        unpack(tmp_path / "hostile.npz", tmp_path / "out" / "inner", log=_quiet)
    assert not (tmp_path / "out").exists()


def test_command_line(config, tmp_path, capsys):
    source = Path(config.cache_dir)
    bundle = tmp_path / "b.npz"
    assert main(["pack", str(source), "--out", str(bundle), "--limit", "figaro1k-train=2", "--quality", "80"]) == 0
    assert "packed figaro1k-train: 2 of 8 crops" in capsys.readouterr().out
    assert main(["unpack", str(bundle), "--out", str(tmp_path / "out")]) == 0
    assert load_cache(tmp_path / "out" / "figaro1k-train").meta["bundle"]["jpeg_quality"] == 80
    assert main(["unpack", str(bundle), "--out", str(tmp_path / "out")]) == 1
    assert "--force" in capsys.readouterr().err
    for bad in (["--limit", "figaro1k-train=0"], ["--limit", "figaro1k-train"], ["--quality", "101"]):
        with pytest.raises(SystemExit) as stop:
            main(["pack", str(source), "--out", str(bundle), *bad])
        assert stop.value.code == 2
