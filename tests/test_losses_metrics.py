import numpy as np
import pytest
import torch

from hairnet.losses import (LossWeights, boundary_bce_loss, edge_band, inverse_frequency_weights, lovasz_hinge_loss,
                            multitask_loss, segmentation_loss, soft_jaccard_loss)
from hairnet.metrics import BinaryCounts, ColorCounts, ConfusionMatrix


def _batch(n=4, size=8):
    g = torch.Generator().manual_seed(1)
    return {
        "seg": (torch.rand(n, 2, size, size, generator=g) > 0.5).float(),
        "seg_known": torch.tensor([[False, True], [True, True], [False, False], [False, True]]),
        "color": torch.tensor([2, -1, 0, -1]),
        "attrs": torch.tensor([[1, -1, 0, -1], [-1, -1, 1, -1], [0, -1, -1, -1], [1, -1, -1, -1]]),
    }, g


def test_unknown_labels_contribute_nothing():
    batch, g = _batch()
    outputs = (torch.randn(4, 2, 8, 8, generator=g), torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g))
    total, terms = multitask_loss(outputs, batch)
    assert "wavy" not in terms and "bald" not in terms  # never labelled in this batch
    # Changing the predictions where labels are unknown changes nothing.
    seg, color, attrs = (o.clone() for o in outputs)
    seg[2] += 10; seg[0, 0] -= 7; seg[3, 0] += 3
    color[1] += 5; color[3] -= 5
    attrs[:, 1] += 9; attrs[:, 3] -= 9; attrs[1, 0] += 4; attrs[2, 2] += 4
    total2, terms2 = multitask_loss((seg, color, attrs), batch)
    assert total2.item() == pytest.approx(total.item())
    assert terms2 == pytest.approx(terms)


def test_segmentation_loss_pools_known_pairs_only():
    batch, g = _batch()
    logits = torch.randn(4, 2, 8, 8, generator=g)
    known = batch["seg_known"]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], batch["seg"][known])
    assert segmentation_loss(logits, batch["seg"], known).item() == pytest.approx(expected.item())
    assert segmentation_loss(logits, batch["seg"], torch.zeros_like(known)) is None


def test_nothing_known_gives_a_connected_zero():
    batch, g = _batch()
    batch["seg_known"][:] = False
    batch["color"][:] = -1
    batch["attrs"][:] = -1
    seg = torch.randn(4, 2, 8, 8, requires_grad=True)
    total, terms = multitask_loss((seg, torch.randn(4, 4), torch.randn(4, 4)), batch)
    assert terms == {} and total.item() == 0.0
    total.backward()  # still part of the graph


def test_lambda_weights_the_terms():
    batch, g = _batch()
    outputs = (torch.randn(4, 2, 8, 8, generator=g), torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g))
    _, terms = multitask_loss(outputs, batch)
    total, _ = multitask_loss(outputs, batch, LossWeights(segmentation=2.0, color=0.0))
    expected = 2 * terms["segmentation"] + terms["straight"] + terms["bangs"]
    assert total.item() == pytest.approx(expected, rel=1e-6)


def test_soft_jaccard_is_one_minus_pooled_iou_on_confident_predictions():
    target = torch.zeros(2, 2, 4, 4)
    target[0, 1, :2] = 1  # 8 hair pixels in sample 0
    target[1, 1, :1] = 1  # 4 in sample 1
    logits = torch.full((2, 2, 4, 4), -30.0)
    logits[0, 1, :1] = 30  # 4 of sample 0's 8 found
    logits[1, 1, :2] = 30  # sample 1's 4 found, and 4 more
    known = torch.tensor([[False, True], [False, True]])
    # Pooled over both samples: intersection 8, union 16 → IoU 0.5 (per image 0.5 and 0.5 too).
    assert soft_jaccard_loss(logits, target, known).item() == pytest.approx(1 - 9 / 17, abs=1e-4)
    # Only known pairs count, and only their channel: the skin channel is never labelled here.
    logits[:, 0] = 30
    assert soft_jaccard_loss(logits, target, known).item() == pytest.approx(1 - 9 / 17, abs=1e-4)
    bce = segmentation_loss(logits, target, known).item()
    assert segmentation_loss(logits, target, known, soft_iou=0.5).item() == pytest.approx(bce + 0.5 * (1 - 9 / 17), abs=1e-4)


def test_soft_jaccard_gradient_pushes_towards_the_target():
    target = torch.zeros(1, 2, 4, 4)
    target[0, 1, :, :2] = 1
    logits = torch.zeros(1, 2, 4, 4, requires_grad=True)
    soft_jaccard_loss(logits, target, torch.tensor([[False, True]])).backward()
    grad = logits.grad[0, 1]
    assert (grad[:, :2] < 0).all() and (grad[:, 2:] > 0).all()  # raise hair logits, lower the rest
    assert not logits.grad[0, 0].any()


def test_lovasz_hinge_equals_the_jaccard_loss_of_the_mispredicted_set():
    # Hinge errors are 1 where the logit is 0 (mispredicted) and 0 where it is ±1 on the right side:
    # the extension then equals the set function Δ_J(M) = |M| / |positives ∪ M|.
    target = torch.zeros(2, 2, 4, 4)
    target[0, 1, :2] = 1  # 8 hair pixels in sample 0
    target[1, 1, 0, :2] = 1  # 2 in sample 1: 10 pooled
    logits = 2 * target - 1
    logits[0, 1, 0, :3] = 0  # 3 hair pixels missed
    logits[1, 1, 3, :2] = 0  # 2 background pixels called hair
    known = torch.tensor([[False, True], [False, True]])
    assert lovasz_hinge_loss(logits, target, known).item() == pytest.approx(5 / 12, abs=1e-6)
    assert lovasz_hinge_loss(3 * (2 * target - 1), target, known).item() == 0.0  # every margin ≥ 1
    logits[:, 0] = 5.0  # the skin channel is never labelled here, so it does not count
    assert lovasz_hinge_loss(logits, target, known).item() == pytest.approx(5 / 12, abs=1e-6)
    bce = segmentation_loss(logits, target, known).item()
    assert segmentation_loss(logits, target, known, lovasz=2.0).item() == pytest.approx(bce + 2 * 5 / 12, abs=1e-5)


def test_lovasz_hinge_gradient_pushes_towards_the_target():
    target = torch.zeros(1, 2, 4, 4)
    target[0, 1, :, :2] = 1
    known = torch.tensor([[False, True]])
    logits = (0.1 * torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))).requires_grad_()
    loss = lovasz_hinge_loss(logits, target, known)
    loss.backward()
    grad = logits.grad[0, 1]
    # Each pixel's weight is ≥ 0 (zero once the sorted prefix already costs the whole union).
    assert (grad[:, :2] <= 0).all() and (grad[:, 2:] >= 0).all() and grad.abs().sum() > 0
    assert not logits.grad[0, 0].any()
    assert lovasz_hinge_loss(logits - 0.1 * logits.grad, target, known) < loss


def test_edge_band_is_the_pixels_within_the_radius_of_an_edge():
    target = torch.zeros(1, 12, 12)
    target[0, 4:8, 3:9] = 1  # a 4×6 rectangle
    band = edge_band(target, radius=1)
    expected = torch.zeros(12, 12, dtype=torch.bool)
    expected[3:9, 2:10] = True  # dilated by one pixel…
    expected[5:7, 4:8] = False  # …minus the interior that stays inside after eroding by one
    assert torch.equal(band[0], expected)
    assert not edge_band(torch.zeros(1, 12, 12)).any() and not edge_band(torch.ones(1, 12, 12)).any()


def test_boundary_bce_is_the_bce_of_the_edge_pixels_alone():
    target = torch.zeros(2, 2, 16, 16)
    target[0, 1, 4:12, 4:12] = 1
    known = torch.tensor([[False, True], [True, False]])  # sample 1's skin: all background, no edge
    band = edge_band(target[:, 1])[0]
    logits = torch.full((2, 2, 16, 16), -4.0)
    logits[0, 1, 6:10, 6:10] = 4.0  # right in the interior and far outside; 0 on the edge band,
    logits[0, 1][band] = 0.0  # where the hair channel costs ln 2 per pixel
    # The skin channel's one known mask has no edge: it adds zero to the mean over the two channels.
    assert boundary_bce_loss(logits, target, known).item() == pytest.approx(np.log(2) / 2, abs=1e-6)
    bce = segmentation_loss(logits, target, known).item()
    assert segmentation_loss(logits, target, known, boundary=2.0).item() == pytest.approx(bce + np.log(2), abs=1e-5)
    logits.requires_grad_()
    boundary_bce_loss(logits, target, known).backward()
    assert not logits.grad[:, :, 6:10, 6:10].any()  # interior pixels are not weighed
    assert logits.grad[0, 1][band].ne(0).all()


def test_inverse_frequency_weights_equalise_the_classes():
    color = np.array([0] * 6 + [1] * 3 + [2] * 2 + [3] * 1 + [-1] * 5)
    attrs = np.array([[1, 0, -1, 1]] * 2 + [[0, 0, -1, 0]] * 18)
    color_weights, pos_weights = inverse_frequency_weights(color, attrs, cap=10.0)
    counts = np.bincount(color[color >= 0], minlength=4)
    # Each colour's total weight (count × weight) is the same: 12 labelled / 4 colours = 3.
    assert np.allclose(counts * color_weights.numpy(), 3.0)
    # straight: 2 positives vs 18 negatives → 9; wavy: no positive → 1; bangs: unlabelled → 1; bald 9.
    assert pos_weights.tolist() == pytest.approx([9.0, 1.0, 1.0, 9.0])
    _, capped = inverse_frequency_weights(color, np.array([[1, 0, 0, 0]] + [[0, 0, 0, 0]] * 99), cap=10.0)
    assert capped[0].item() == 10.0


def test_class_weights_reach_the_terms():
    batch, g = _batch()
    outputs = (torch.randn(4, 2, 8, 8, generator=g), torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g))
    _, plain = multitask_loss(outputs, batch)
    _, weighted = multitask_loss(outputs, batch, pos_weights=torch.tensor([3.0, 1.0, 1.0, 1.0]),
                                 color_weights=torch.tensor([1.0, 1.0, 5.0, 1.0]))
    # straight has a positive label in the batch: its loss grows; colour's mean over classes 0 and 2 moves.
    assert weighted["straight"] > plain["straight"]
    assert weighted["color"] != pytest.approx(plain["color"])
    assert weighted["bangs"] == pytest.approx(plain["bangs"])


def test_iou_and_macc_pool_pixels_over_the_set():
    # Image A: 1 hair pixel, predicted right. Image B: 99 hair pixels, half predicted.
    meter = ConfusionMatrix(("rest", "hair"))
    meter.update(np.array([1, 0, 0, 0]), np.array([1, 0, 0, 0]))
    target_b = np.ones(100, dtype=int); target_b[99] = 0
    pred_b = np.zeros(100, dtype=int); pred_b[:49] = 1
    meter.update(pred_b, target_b)
    # Pooled: hair tp 50, fn 50, fp 0 -> IoU 0.5. The per-image mean would be (1 + 49/99)/2 ≈ 0.747.
    assert meter.iou()["hair"] == pytest.approx(0.5)
    assert meter.class_accuracy()["hair"] == pytest.approx(0.5)
    rest_iou = 4 / (4 + 50)
    assert meter.mean_iou() == pytest.approx((0.5 + rest_iou) / 2)
    assert meter.mean_accuracy() == pytest.approx((0.5 + 1.0) / 2)
    assert meter.pixel_accuracy() == pytest.approx(54 / 104)


def test_valid_mask_excludes_pixels():
    meter = ConfusionMatrix(("rest", "hair"))
    meter.update(np.array([1, 1, 0]), np.array([0, 1, 0]), valid=np.array([False, True, True]))
    assert meter.matrix.tolist() == [[1, 0], [0, 1]]


def test_binary_and_color_counts():
    counts = BinaryCounts()
    counts.update(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 1, -1]))
    summary = counts.summary()
    assert summary["n"] == 4 and summary["accuracy"] == 0.5
    assert summary["precision"] == 0.5 and summary["recall"] == 0.5 and summary["f1"] == 0.5
    colors = ColorCounts(("black", "blond", "brown", "gray"))
    colors.update(np.array([0, 1, 2, 2]), np.array([0, 1, 0, -1]))
    s = colors.summary()
    assert s["n"] == 3 and s["accuracy"] == pytest.approx(2 / 3)
    assert s["confusion_matrix"][0] == [1, 0, 1, 0]
