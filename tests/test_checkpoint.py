import pickle

import pytest
import torch

from hairnet.checkpoint import load_checkpoint, load_weight_average, save_checkpoint
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


def test_weight_average_is_the_mean_of_the_checkpoints_weights(tmp_path):
    paths, states = [], []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        model = HairNet(HairNetConfig(width_multiplier=0.25)).eval()
        for module in model.modules():  # distinct BatchNorm statistics, which are averaged too
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
        paths.append(tmp_path / f"m{seed}.pt")
        save_checkpoint(paths[-1], model)
        states.append(model.state_dict())
    average = load_weight_average(paths).state_dict()
    for name, value in average.items():
        if value.is_floating_point():
            expected = (states[0][name] + states[1][name] + states[2][name]) / 3
            assert torch.allclose(value, expected, atol=1e-6), name
            assert not torch.equal(value, states[0][name]) or torch.equal(states[0][name], states[1][name]), name
        else:
            assert torch.equal(value, states[0][name]), name

    other = tmp_path / "wider.pt"
    save_checkpoint(other, HairNet(HairNetConfig(width_multiplier=0.5)))
    with pytest.raises(CheckpointError, match="wider.pt: config .* differs from .*m0.pt"):
        load_weight_average([paths[0], other])
    with pytest.raises(CheckpointError, match="no checkpoints"):
        load_weight_average([])


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
