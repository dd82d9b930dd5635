import pytest
import torch

from hairnet import masking
from hairnet.model import HairNet, HairNetConfig


def _probs_with_one_pixel(row: int, col: int, size: int = 224) -> torch.Tensor:
    probs = torch.zeros(1, 1, size, size)
    probs[0, 0, row, col] = 0.9
    return probs


@pytest.mark.parametrize("grid", [7, 14, 28, 56, 112])
def test_cell_reads_its_receptive_field_centre(grid):
    s = 224 // grid
    features = torch.ones(1, 3, grid, grid)
    i, j = grid // 3, grid - 2
    out = masking.feature_mask(features, _probs_with_one_pixel(i * s + s // 2, j * s + s // 2), 0.5)
    on = (out[0, 0] > 0).nonzero().tolist()
    assert on == [[i, j]]
    # One pixel off the centre (in either direction) must not switch the cell on.
    for dr, dc in [(1, 0), (0, 1), (-1, 0), (0, -1)]:
        probs = _probs_with_one_pixel(i * s + s // 2 + dr, j * s + s // 2 + dc)
        assert masking.feature_mask(features, probs, 0.5).sum() == 0


def test_registered_op_agrees_with_reference():
    g = torch.Generator().manual_seed(0)
    for grid in (7, 14, 28):
        features = torch.randn(2, 5, grid, grid, generator=g)
        probs = torch.rand(2, 1, 224, 224, generator=g)
        for threshold in (0.2, 0.5, 0.8):
            expected = masking.feature_mask_reference(features, probs, threshold)
            assert torch.equal(masking.feature_mask(features, probs, threshold), expected)


def test_threshold_is_strict():
    features = torch.ones(1, 1, 14, 14)
    probs = torch.full((1, 1, 224, 224), 0.5)
    assert masking.feature_mask(features, probs, 0.5).sum() == 0
    assert masking.feature_mask(features, probs, 0.4999).sum() == 14 * 14


def test_gradient_reaches_features_not_probs():
    features = torch.randn(1, 4, 14, 14, requires_grad=True)
    probs = torch.rand(1, 1, 224, 224, requires_grad=True)
    masking.feature_mask(features, probs, 0.5).sum().backward()
    expected = masking.binary_mask(features, probs.detach(), 0.5).expand_as(features)
    assert torch.equal(features.grad, expected)
    assert probs.grad is None or torch.all(probs.grad == 0)


def test_opcheck_fake_kernel_and_autograd():
    features = torch.randn(2, 3, 14, 14, requires_grad=True)
    probs = torch.rand(2, 1, 224, 224)
    torch.library.opcheck(masking.feature_mask, (features, probs, 0.5))


def test_mismatched_grid_is_refused():
    with pytest.raises(ValueError, match="feature_mask"):
        masking.feature_mask(torch.ones(1, 1, 15, 15), torch.rand(1, 1, 224, 224), 0.5)


def test_trace_shows_one_node_per_masked_map():
    model = HairNet().eval()
    traced = torch.jit.trace(model, torch.zeros(1, 3, 224, 224))
    kinds = [n.kind() for n in traced.inlined_graph.nodes()]
    assert kinds.count(masking.OP_NAME) == 2  # hair-masked and hair∪skin-masked maps


def _head_inputs(model: HairNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    seen = {}
    hooks = [
        model.color_head.hair_branch.register_forward_hook(lambda m, i, o: seen.__setitem__("hair", i[0])),
        model.attribute_heads[2].register_forward_hook(lambda m, i, o: seen.__setitem__("head", i[0])),
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return seen


def test_masking_switch_changes_the_heads_inputs():
    torch.manual_seed(0)
    model = HairNet(HairNetConfig()).eval()
    # Make the segmentation decisive: half the image hair, the rest nothing.
    with torch.no_grad():
        model.decoder.classifier.weight.zero_()
        model.decoder.classifier.bias.copy_(torch.tensor([-5.0, 5.0]))
    x = torch.randn(1, 3, 224, 224)
    masked = _head_inputs(model, x)
    model.masking = False
    unmasked = _head_inputs(model, x)
    assert torch.equal(masked["hair"], unmasked["hair"])  # all hair: the mask is all ones
    with torch.no_grad():
        model.decoder.classifier.bias.copy_(torch.tensor([-5.0, -5.0]))  # nothing above threshold
    model.masking = True
    masked = _head_inputs(model, x)
    assert torch.count_nonzero(masked["hair"]) == 0 and torch.count_nonzero(masked["head"]) == 0
    assert torch.count_nonzero(unmasked["hair"]) > 0
