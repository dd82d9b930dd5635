""".mlpackages through conversion/verify.py: missing, empty, truncated and damaged files inside the
package (each named), and metadata with a key missing or a value changed (each key named).
The package is the one HairNetKit bundles, with the checkpoint it was converted from; copies are
damaged, the original is never touched."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import attempt, record, rng
from hairnet import contract
from hairnet.errors import ConversionError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "conversion"))
ct = pytest.importorskip("coremltools")
import verify  # noqa: E402

BUNDLED = ROOT / "ios" / "HairNetKit" / "Sources" / "HairNetKit" / "Resources" / "HairNet.mlpackage"
CHECKPOINT = ROOT / "checkpoints" / "hairnet.pt"
MODEL, WEIGHTS = Path("Data/com.apple.CoreML/model.mlmodel"), Path("Data/com.apple.CoreML/weights/weight.bin")


@pytest.fixture(scope="module")
def bundled() -> Path:
    if not (BUNDLED / "Manifest.json").is_file():
        pytest.skip(f"{BUNDLED} is a placeholder: run `make bundle-model`")
    return BUNDLED


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crops")
    Image.fromarray(np.full((224, 224, 3), 128, np.uint8)).save(folder / "grey.png")
    return folder


def damaged(tmp_path: Path, bundled: Path, damage) -> Path:
    package = tmp_path / "HairNet.mlpackage"
    shutil.copytree(bundled, package)
    damage(package)
    return package


def cut(relative: Path, keep):
    def damage(package: Path) -> None:
        data = (package / relative).read_bytes()
        (package / relative).write_bytes(data[: keep(len(data))])
    return damage


def rewrite_manifest(change):
    def damage(package: Path) -> None:
        manifest = package / "Manifest.json"
        manifest.write_text(change(manifest.read_text()))
    return damage


def break_blob_sentinel(case: int):
    """Flip a byte of one blob's 0xDEADBEEF sentinel (what a writer that died mid-file leaves)."""
    def damage(package: Path) -> None:
        data = bytearray((package / WEIGHTS).read_bytes())
        sentinels = [i for i in range(64, len(data) - 3, 64) if data[i : i + 4] == b"\xef\xbe\xad\xde"]
        data[sentinels[int(rng("sentinel", case).integers(0, len(sentinels)))]] ^= 0xFF
        (package / WEIGHTS).write_bytes(bytes(data))
    return damage


FILE_DAMAGE = {  # name → (damage, the path the message must name)
    "no weight file": (lambda p: (p / WEIGHTS).unlink(), WEIGHTS),
    "empty weight file": (cut(WEIGHTS, lambda n: 0), WEIGHTS),
    "weight header only": (cut(WEIGHTS, lambda n: 64), WEIGHTS),
    **{f"weights cut at {f}": (cut(WEIGHTS, lambda n, f=f: int(n * f)), WEIGHTS) for f in (0.001, 0.1, 0.5, 0.9, 0.999)},
    **{f"weight sentinel {case}": (break_blob_sentinel(case), WEIGHTS) for case in range(3)},
    "no model": (lambda p: (p / MODEL).unlink(), MODEL),
    **{f"model cut at {f}": (cut(MODEL, lambda n, f=f: int(n * f)), Path("HairNet.mlpackage")) for f in (0.0, 0.05, 0.5)},
    "no manifest": (lambda p: (p / "Manifest.json").unlink(), Path("Manifest.json")),
    "manifest not JSON": (rewrite_manifest(lambda text: text[: len(text) // 2]), Path("Manifest.json")),
    "manifest nested too deep": (rewrite_manifest(lambda text: "[" * 100_000 + "]" * 100_000), Path("Manifest.json")),
    "manifest without entries": (rewrite_manifest(lambda text: json.dumps({"fileFormatVersion": "1.0.0"})), Path("Manifest.json")),
    "manifest naming a missing item": (rewrite_manifest(lambda text: text.replace("model.mlmodel", "gone.mlmodel")),
                                       Path("Data/com.apple.CoreML/gone.mlmodel")),
    "empty folder": (lambda p: (shutil.rmtree(p), p.mkdir()), Path("Manifest.json")),
}


@pytest.mark.parametrize("name", FILE_DAMAGE)
def test_damaged_package_file_is_named(tmp_path, bundled, crops, name):
    damage, named = FILE_DAMAGE[name]
    package = damaged(tmp_path, bundled, damage)
    error = attempt("verify.py (package files)", lambda: verify.verify(package, CHECKPOINT, crops, 1))
    assert isinstance(error, ConversionError) and str(named) in str(error), str(error)


@pytest.mark.parametrize("what", ["a file", "nothing"])
def test_package_that_is_not_a_folder(tmp_path, crops, what):
    package = tmp_path / "HairNet.mlpackage"
    if what == "a file":
        package.write_bytes(b"PK\x03\x04 a zipped package")
    error = attempt("verify.py (package files)", lambda: verify.verify(package, CHECKPOINT, crops, 1), names=package)
    assert isinstance(error, ConversionError) and "no such .mlpackage" in str(error)


@pytest.fixture(scope="module")
def spec(bundled):
    return ct.models.MLModel(str(bundled), skip_model_load=True).get_spec()


@pytest.fixture(scope="module")
def expected_metadata(spec) -> dict[str, str]:
    """The contract's keys as the intact package carries them: each case differs by one key."""
    return {key: spec.description.metadata.userDefined[key] for key in contract.REQUIRED_METADATA_KEYS}


WRONG_VALUES = {
    "hairnet.contract_version": "2", "hairnet.segmentation_channels": "hair,skin",
    "hairnet.hair_colors": "black,blonde,brown,gray", "hairnet.attributes": "straight,wavy,bangs",
    "hairnet.threshold": "0.6", "hairnet.input_normalization": "(x-mean)/std",
    "hairnet.crop": '{"k": 2.0, "dx": 0.0, "dy": 0.0}', "hairnet.training_data": "",
}


@pytest.mark.parametrize("change", ["missing", "wrong", "misspelt"])
@pytest.mark.parametrize("key", contract.REQUIRED_METADATA_KEYS)
def test_metadata_key_missing_or_wrong_is_named(spec, expected_metadata, key, change):
    tampered = type(spec)()
    tampered.CopyFrom(spec)
    user = tampered.description.metadata.userDefined
    if change == "wrong":
        user[key] = WRONG_VALUES[key]
    else:
        value = user.pop(key)
        if change == "misspelt":
            user[key.replace("hairnet.", "hairnet_")] = value
    problems = attempt("verify.py (metadata)", lambda: verify.check_metadata(tampered, expected_metadata))
    wanted = (f"metadata key {key!r} is missing" if change != "wrong"
              else f"metadata key {key!r} is {WRONG_VALUES[key]!r}, expected {expected_metadata[key]!r}")
    assert problems == [wanted]


def test_verify_command_names_every_bad_key(tmp_path, bundled, crops, capsys):
    """The whole command on a package with two keys gone and one changed: each is named, exit 1."""
    original = ct.models.MLModel(str(bundled), skip_model_load=True)
    tampered_spec = original.get_spec()
    user = tampered_spec.description.metadata.userDefined
    del user["hairnet.crop"], user["hairnet.hair_colors"]
    user["hairnet.threshold"] = "0.6"
    package = tmp_path / "tampered.mlpackage"
    ct.models.MLModel(tampered_spec, weights_dir=original.weights_dir, skip_model_load=True).save(str(package))
    code = verify.main([str(package), "--checkpoint", str(CHECKPOINT), "--images", str(crops), "--max-images", "1"])
    out = capsys.readouterr().out
    assert code == 1 and "VERIFICATION FAILED" in out
    for problem in ("metadata key 'hairnet.crop' is missing", "metadata key 'hairnet.hair_colors' is missing",
                    "metadata key 'hairnet.threshold' is '0.6', expected '0.5'"):
        assert problem in out
    record("verify.py (metadata)", "clean errors")
