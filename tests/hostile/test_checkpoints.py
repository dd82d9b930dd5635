"""Checkpoints through `load_checkpoint`: truncated and bit-flipped files, another architecture, a
config that does not match the weights or is not a config, NaN/Inf weights and weights that
overflow, malformed fields, and pickles that try to run code (each would create a sentinel file:
the file must be refused and the sentinel must never appear)."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile

import pytest
import torch

from conftest import attempt, rng
from hairnet.checkpoint import load_checkpoint, save_checkpoint
from hairnet.contract import CropRule
from hairnet.errors import CheckpointError
from hairnet.model import HairNet, HairNetConfig

CONFIG = HairNetConfig(width_multiplier=0.25)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid checkpoint's bytes, its payload and the state it must load to."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("good") / "good.pt"
    save_checkpoint(path, HairNet(CONFIG), crop=CropRule(1.6, 0.0, -0.1))
    payload = torch.load(path, weights_only=True)
    return path.read_bytes(), payload


def same_weights(model: HairNet, payload: dict) -> bool:
    return all(torch.equal(model.state_dict()[k], v.float() if v.is_floating_point() else v)
               for k, v in payload["state_dict"].items())


def load(tmp_path, data: bytes, name: str = "model.pt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path, attempt("load_checkpoint", lambda: load_checkpoint(path), names=path)


@pytest.mark.parametrize("case", range(40))
def test_truncated_checkpoint(tmp_path, good, case):
    data = good[0]
    cut = int(rng("cut", case).integers(0, len(data)))
    _, result = load(tmp_path, data[:cut])
    assert isinstance(result, CheckpointError) and ("corrupt" in str(result) or "truncated" in str(result))


@pytest.mark.parametrize("case", range(60))
def test_bit_flipped_checkpoint_is_refused_or_loads_the_same_weights(tmp_path, good, case):
    """torch.load does not check the archive's CRCs; load_checkpoint does, so a flipped bit is
    refused — unless it fell where no content is (alignment padding, a timestamp)."""
    data, payload = bytearray(good[0]), good[1]
    generator = rng("flip", case)
    for _ in range(int(generator.integers(1, 3))):
        data[int(generator.integers(0, len(data)))] ^= 1 << int(generator.integers(0, 8))
    _, result = load(tmp_path, bytes(data))
    if not isinstance(result, CheckpointError):
        model, loaded = result
        assert model.config == CONFIG and loaded["crop_rule"] == CropRule(1.6, 0.0, -0.1)
        assert same_weights(model, payload)


def variant(good, **changes) -> bytes:
    """The good payload with fields replaced (a callable gets the old value), saved by torch.save."""
    payload = {k: (dict(v) if isinstance(v, dict) else v) for k, v in good[1].items()}
    for key, change in changes.items():
        payload[key] = change(payload[key]) if callable(change) else change
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def with_tensor(name: str, make):
    return lambda state: {**state, name: make(state[name])}


FIRST, MIDDLE, LAST = "backbone.stem.0.weight", "decoder.blocks.2.conv.1.0.weight", "attribute_heads.3.fc.bias"
BN_VAR = "backbone.layers.3.1.1.running_var"
COLOR_BN, COLOR_FC = "color_head.global_branch.convs.1.1.1.bias", "color_head.fc.weight"
ARCHITECTURE = {  # name → (changes, what the message says)
    "another network": ({"state_dict": {k: v for k, v in torch.nn.Linear(4, 2).state_dict().items()}}, "do not match"),
    "config wider than weights": ({"config": lambda c: {**c, "width_multiplier": 0.5}}, "do not match"),
    "config narrower": ({"config": lambda c: {**c, "width_multiplier": 0.125}}, "do not match"),
    "other head stride": ({"config": lambda c: {**c, "head_stride": 32}}, "do not match"),
    "other decoder": ({"config": lambda c: {**c, "decoder_channels": [64, 64, 32, 16, 8]}}, "do not match"),
    "other head channels": ({"config": lambda c: {**c, "head_channels": 16}}, "do not match"),
    "missing tensor": ({"state_dict": lambda s: {k: v for k, v in s.items() if k != MIDDLE}}, repr(MIDDLE)),
    "extra tensor": ({"state_dict": lambda s: {**s, "extra.weight": torch.zeros(3)}}, "'extra.weight'"),
    "transposed tensor": ({"state_dict": with_tensor(FIRST, lambda t: t.transpose(0, 1))}, repr(FIRST)),
    "integer weights": ({"state_dict": with_tensor(FIRST, lambda t: t.long())}, repr(FIRST)),
    "giant config": ({"config": lambda c: {**c, "decoder_channels": [10**6] * 5, "head_channels": 10**6}}, "do not match"),
    "config not a dict": ({"config": [0.25, 224]}, "field 'config'"),
    "unknown config key": ({"config": lambda c: {**c, "dropout": 0.5}}, "field 'config' is invalid"),
    "masking as text": ({"config": lambda c: {**c, "masking": "no"}}, "masking must be true or false"),
    "threshold as text": ({"config": lambda c: {**c, "threshold": "0.5"}}, "threshold must be a number"),
    "threshold out of range": ({"config": lambda c: {**c, "threshold": 1.5}}, "threshold must be a number"),
    "negative channels": ({"config": lambda c: {**c, "head_channels": -32}}, "positive integers"),
    "fractional channels": ({"config": lambda c: {**c, "head_channels": 31.5}}, "positive integers"),
    "width NaN": ({"config": lambda c: {**c, "width_multiplier": float("nan")}}, "width_multiplier"),
    "width as text": ({"config": lambda c: {**c, "width_multiplier": "0.25"}}, "field 'config' is invalid"),
}
FIELDS = {
    "not a dict": (None, "not a HairNet checkpoint"),
    "no format": ({"format": None}, "field 'format'"),
    "other format": ({"format": "yolo-checkpoint"}, "field 'format'"),
    "newer version": ({"format_version": 2}, "field 'format_version' is 2"),
    "labels swapped": ({"labels": lambda l: {**l, "segmentation_channels": ["hair", "skin"]}}, "labels.segmentation_channels"),
    "labels not a dict": ({"labels": "skin,hair"}, "field 'labels'"),
    "colours renamed": ({"labels": lambda l: {**l, "hair_colors": ["black", "blonde", "brown", "gray"]}}, "labels.hair_colors"),
    "state_dict not a dict": ({"state_dict": [1, 2]}, "field 'state_dict'"),
    "state_dict with a number": ({"state_dict": lambda s: {**s, FIRST: 3.0}}, "is not a named tensor"),
    "state_dict with a list": ({"state_dict": lambda s: {**s, LAST: [0.1, 0.2]}}, "is not a named tensor"),
    "crop missing": ({"crop": None}, "field 'crop'"),
    "crop keys missing": ({"crop": {"k": 1.5}}, "field 'crop'"),
    "crop k zero": ({"crop": {"k": 0.0, "dx": 0.0, "dy": 0.0}}, "0 < k"),
    "crop k negative": ({"crop": {"k": -1.5, "dx": 0.0, "dy": 0.0}}, "0 < k"),
    "crop k huge": ({"crop": {"k": 1e9, "dx": 0.0, "dy": 0.0}}, "0 < k"),
    "crop k overflowing": ({"crop": {"k": 10**400, "dx": 0.0, "dy": 0.0}}, "field 'crop'"),
    "crop dy NaN": ({"crop": {"k": 1.5, "dx": 0.0, "dy": float("nan")}}, "field 'crop'"),
    "crop dx far": ({"crop": {"k": 1.5, "dx": 40.0, "dy": 0.0}}, "|dx|"),
    "crop as text": ({"crop": {"k": "1.5", "dx": "0", "dy": "x"}}, "field 'crop'"),
    "evaluation not a dict": ({"evaluation": "0.9"}, "field 'evaluation'"),
}
VALUES = {
    "NaN first": ({"state_dict": with_tensor(FIRST, lambda t: t.clone().index_put_((torch.tensor([0]),), torch.tensor(float("nan"))))}, FIRST),
    "Inf middle": ({"state_dict": with_tensor(MIDDLE, lambda t: t.clone().fill_(float("inf")))}, MIDDLE),
    "-Inf last": ({"state_dict": with_tensor(LAST, lambda t: t.clone().fill_(float("-inf")))}, LAST),
    "NaN variance": ({"state_dict": with_tensor(BN_VAR, lambda t: t.clone().fill_(float("nan")))}, BN_VAR),
    "negative variance": ({"state_dict": with_tensor(BN_VAR, lambda t: t.clone().fill_(-1.0))}, "NaN or Inf on a grey image"),
    # Activations of 6 (a BatchNorm shift, ReLU6's cap) into weights of 3e38: logits of +Inf, softmax NaN.
    "overflowing weights": ({"state_dict": lambda s: {**s, COLOR_BN: torch.full_like(s[COLOR_BN], 6.0),
                                                      COLOR_FC: torch.full_like(s[COLOR_FC], 3e38)}},
                            "hair_color are NaN or Inf on a grey image"),
}
CASES = {**ARCHITECTURE, **FIELDS, **VALUES}


@pytest.mark.parametrize("name", CASES)
def test_malformed_checkpoint_names_the_field(tmp_path, good, name):
    changes, expected = CASES[name]
    if changes is None:
        buffer = io.BytesIO()
        torch.save([good[1]], buffer)
        data = buffer.getvalue()
    else:
        data = variant(good, **changes)
    _, error = load(tmp_path, data)
    assert isinstance(error, CheckpointError) and expected in str(error), str(error)


@pytest.mark.parametrize("change", [{}, {"evaluation": None, "training": None}, {"evaluation": {"hair_iou": 0.9}}])
def test_well_formed_variants_load(tmp_path, good, change):
    _, (model, payload) = load(tmp_path, variant(good, **change))
    assert same_weights(model, good[1])


def test_fp16_checkpoint_loads(tmp_path, good):
    model, _ = load_checkpoint_from(tmp_path, good)
    path = tmp_path / "half.pt"
    save_checkpoint(path, model, half=True)
    _, (loaded, _) = load(tmp_path, path.read_bytes(), "half-copy.pt")
    assert all(torch.allclose(loaded.state_dict()[k].float(), v.float(), atol=1e-2, rtol=1e-2)
               for k, v in model.state_dict().items())


def load_checkpoint_from(tmp_path, good):
    path = tmp_path / "source.pt"
    path.write_bytes(good[0])
    return load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"PK\x05\x06" + b"\x00" * 18, b"<html>404 Not Found</html>"])
def test_not_a_checkpoint_at_all(tmp_path, content):
    _, error = load(tmp_path, content)
    assert isinstance(error, CheckpointError)


def test_compressed_archive_is_refused_without_inflating_it(tmp_path, good):
    """A zip whose entries are deflated (a zip bomb's way) is not what torch.save writes."""
    source = zipfile.ZipFile(io.BytesIO(good[0]))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info))
    _, error = load(tmp_path, buffer.getvalue())
    assert isinstance(error, CheckpointError) and "compressed" in str(error)


# --- pickles that run code ----------------------------------------------------------------------------

class _Payload:
    """Unpickling calls `function(*arguments)`: each creates the sentinel file."""

    def __init__(self, function, *arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


def payloads(sentinel) -> dict:
    return {
        "open": _Payload(open, str(sentinel), "w"),
        "os.system": _Payload(os.system, f"touch '{sentinel}'"),
        "exec": _Payload(exec, f"open({str(sentinel)!r}, 'w').close()"),
        "eval": _Payload(eval, f"open({str(sentinel)!r}, 'w')"),
        "subprocess": _Payload(subprocess.call, ["touch", str(sentinel)]),
        "pathlib": _Payload(type(sentinel).touch, sentinel),
    }


def packed(kind: str, payload, good) -> bytes:
    """The payload inside a file as an attacker would ship it."""
    carrier = {**good[1], "evaluation": {"note": payload}}
    buffer = io.BytesIO()
    if kind == "torch.save":
        torch.save(carrier, buffer)
    elif kind == "torch.save, in a weight":
        torch.save({**good[1], "state_dict": {**good[1]["state_dict"], FIRST: payload}}, buffer)
    elif kind.startswith("raw pickle"):
        pickle.dump(carrier, buffer, protocol=int(kind[-1]))
    elif kind == "data.pkl replaced":  # a valid archive (correct CRCs) whose pickle runs code
        source = zipfile.ZipFile(io.BytesIO(good[0]))
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
            for info in source.infolist():
                data = source.read(info)
                if info.filename.endswith("/data.pkl"):
                    data = pickle.dumps(payload, protocol=2)
                out.writestr(info, data)
    return buffer.getvalue()


PACKINGS = ["torch.save", "torch.save, in a weight", "raw pickle 0", "raw pickle 2", "raw pickle 5", "data.pkl replaced"]
PAYLOADS = ["open", "os.system", "exec", "eval", "subprocess", "pathlib"]


@pytest.mark.parametrize("packing", PACKINGS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, good, payload, packing):
    sentinel = tmp_path / "pwned"
    _, error = load(tmp_path, packed(packing, payloads(sentinel)[payload], good))
    assert not sentinel.exists(), "the payload ran"
    assert isinstance(error, CheckpointError)
    assert "refused" in str(error) or "not a complete zip archive" in str(error), str(error)


def test_the_payloads_are_live(tmp_path, good):
    """Control: unpickled without weights_only, in a child process, every payload does create its
    sentinel — so the refusal above is what keeps it from running."""
    files = []
    for payload in PAYLOADS:
        path = tmp_path / f"{payload}.pt"
        path.write_bytes(packed("torch.save", payloads(tmp_path / f"{payload}.ran")[payload], good))
        files.append(str(path))
    script = f"import torch\nfor path in {files!r}:\n    torch.load(path, weights_only=False)"
    subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, timeout=120)
    assert [p for p in PAYLOADS if not (tmp_path / f"{p}.ran").exists()] == []
