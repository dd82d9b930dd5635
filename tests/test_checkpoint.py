import pickle

import pytest
import torch

from hairnet.checkpoint import load_checkpoint, save_checkpoint
from hairnet.contract import CropRule
from hairnet.errors import CheckpointError
from hairnet.model import HairNet, HairNetConfig


def test_round_trip_fp16(tmp_path):
    torch.manual_seed(0)
    model = HairNet(HairNetConfig(width_multiplier=0.25)).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, crop=CropRule(2.0, 0.1, -0.1), evaluation={"hair_iou": 0.5}, half=True)
    loaded, payload = load_checkpoint(path)
    assert loaded.config == model.config
    assert payload["crop_rule"] == CropRule(2.0, 0.1, -0.1)
    assert payload["evaluation"] == {"hair_iou": 0.5}
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(loaded(x)[0], model(x)[0], atol=2e-2)


def test_corrupt_and_foreign_files(tmp_path):
    model = HairNet(HairNetConfig(width_multiplier=0.25))
    good = tmp_path / "good.pt"
    save_checkpoint(good, model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated.pt: corrupt"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": model.state_dict()}, foreign)
    with pytest.raises(CheckpointError, match="not a HairNet checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")


def test_config_that_does_not_match_the_weights(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, HairNet(HairNetConfig(width_multiplier=0.25)))
    payload = torch.load(path, weights_only=True)
    payload["config"]["width_multiplier"] = 0.5
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


class _Payload:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return (open, (str(self.sentinel), "w"))


def test_pickle_that_runs_code_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "hairnet-checkpoint", "x": _Payload(sentinel)}, f)
    torch.save({"format": "hairnet-checkpoint", "x": _Payload(sentinel)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not sentinel.exists()
