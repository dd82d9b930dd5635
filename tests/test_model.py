import json

import torch

from hairnet import cli
from hairnet.complexity import count_macs, parameter_count
from hairnet.contract import OUTPUT_SHAPES
from hairnet.model import HairNet, HairNetConfig, normalize


def test_outputs_follow_the_contract():
    model = HairNet().eval()
    with torch.no_grad():
        seg, color, attrs = model(torch.randn(2, 3, 224, 224))
    assert seg.shape == (2, 2, 224, 224) and color.shape == (2, 4) and attrs.shape == (2, 4)
    assert torch.allclose(color.sum(1), torch.ones(2))
    assert seg.min() >= 0 and seg.max() <= 1 and attrs.min() >= 0 and attrs.max() <= 1


def test_only_factor_two_upsampling():
    model = HairNet()
    factors = [m.scale_factor for m in model.modules() if isinstance(m, torch.nn.Upsample)]
    assert factors and all(f == 2 for f in factors)


def test_width_multiplier_scales_cost():
    small, large = HairNet(HairNetConfig(width_multiplier=0.25)), HairNet(HairNetConfig(width_multiplier=1.0))
    assert parameter_count(small) < parameter_count(large)
    assert count_macs(small) < count_macs(large)


def test_default_stays_within_budget():
    assert count_macs(HairNet()) <= 250e6


def test_normalize_matches_contract():
    images = torch.tensor([[[[0, 255]]] * 3], dtype=torch.uint8)
    assert torch.allclose(normalize(images), torch.tensor([[[[-1.0, 1.0]]] * 3]))


def test_info_json(capsys):
    assert cli.main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["outputs"] == {k: list(v) for k, v in OUTPUT_SHAPES.items()}
    assert "hairnet::feature_mask" in info["traced_custom_ops"]
    assert info["params"] > 0 and info["macs"] > 0


def test_config_round_trip():
    config = HairNetConfig(width_multiplier=0.35, head_stride=32, masking=False)
    assert HairNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
