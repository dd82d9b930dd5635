"""Augmentation keeps image and masks aligned and never changes colour, only light."""

from __future__ import annotations

import pytest
import torch

from hairnet.data.augment import Jitter, augment

S = 224


def square_batch(n: int = 6):
    """Grey images with a red square off-centre; the hair mask is exactly that square."""
    images = torch.full((n, 3, S, S), 0.5)
    seg = torch.zeros(n, 2, S, S)
    images[:, :, 40:100, 30:80] = torch.tensor([0.9, 0.1, 0.1])[:, None, None]
    seg[:, 1, 40:100, 30:80] = 1.0
    return images * 2 - 1, seg


def redness(images: torch.Tensor) -> torch.Tensor:
    unit = (images + 1) / 2
    return (unit[:, 0] - unit[:, 1]) > 0.3  # red square pixels, whatever the light


def test_deterministic_given_the_generator():
    images, seg = square_batch()
    first = augment(images, seg, torch.Generator().manual_seed(7))
    second = augment(images, seg, torch.Generator().manual_seed(7))
    other = augment(images, seg, torch.Generator().manual_seed(8))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_masks_move_with_the_image():
    images, seg = square_batch(16)
    out_images, out_seg = augment(images, seg, torch.Generator().manual_seed(0))
    assert set(out_seg.unique().tolist()) <= {0.0, 1.0}
    square = out_seg[:, 1].bool()
    red = redness(out_images)
    for i in range(len(images)):
        iou = (square[i] & red[i]).sum() / (square[i] | red[i]).sum()
        assert iou > 0.9, f"image {i}: IoU {iou:.3f}"
    # Some were flipped (the square, left of centre, then lies right of it), some not: the IoU above
    # held for both, so a flipped mask lands on the flipped image's square.
    flipped = square[:, :, S // 2:].sum((1, 2)) > square[:, :, : S // 2].sum((1, 2))
    assert 0 < flipped.sum() < len(images)


def test_exposed_area_is_black_and_background():
    images = torch.ones(8, 3, S, S)  # white photos, hair everywhere
    seg = torch.ones(8, 2, S, S)
    out_images, out_seg = augment(images, seg, torch.Generator().manual_seed(3))
    exposed = out_seg[:, 1] == 0
    assert exposed.any()  # shrinking, shifting or rotating exposed something
    # Away from the edge (where bilinear sampling, blur and the low-resolution round trip, up to 3×
    # with an antialiasing kernel, mix in the photo) exposed pixels are black.
    deep = torch.nn.functional.max_pool2d((~exposed).float()[:, None], 19, stride=1, padding=9)[:, 0] == 0
    assert deep.any() and ((out_images + 1) / 2).amax(1)[deep].max() < 1e-4
    assert torch.equal(out_seg[:, 0], out_seg[:, 1])


def test_colour_ratios_survive_light_changes():
    colour = torch.tensor([0.6, 0.3, 0.15])
    images = (colour[None, :, None, None].expand(32, 3, S, S) * 2 - 1).contiguous()
    seg = torch.zeros(32, 2, S, S)
    out_images, _ = augment(images, seg, torch.Generator().manual_seed(1))
    unit = (out_images + 1) / 2
    lit = unit.sum(1) > 0.05
    r, g, b = unit[:, 0][lit], unit[:, 1][lit], unit[:, 2][lit]
    assert torch.allclose(r / g, torch.full_like(r, 2.0), atol=2e-3)
    assert torch.allclose(g / b, torch.full_like(g, 2.0), atol=2e-3)
    luma = (0.299 * unit[:, 0] + 0.587 * unit[:, 1] + 0.114 * unit[:, 2])[:, 100:124, 100:124].mean((1, 2))
    base = 0.299 * 0.6 + 0.587 * 0.3 + 0.114 * 0.15
    assert luma.min() < base < luma.max() and (luma / base).min() > 0.7 and (luma / base).max() < 1.35


def test_uint8_input():
    images = torch.randint(0, 256, (2, 3, S, S), dtype=torch.uint8)
    seg = torch.zeros(2, 2, S, S, dtype=torch.uint8)
    out_images, out_seg = augment(images, seg, torch.Generator().manual_seed(0))
    assert out_images.dtype == torch.float32 and out_images.min() >= -1 and out_images.max() <= 1
    assert out_seg.dtype == torch.float32


def test_low_resolution_round_trip_softens_only_the_chosen_images():
    from hairnet.data.augment import _low_resolution

    stripes = torch.zeros(3, 3, S, S)
    stripes[..., ::2] = 1.0  # the finest detail there is: gone after a 2× shrink
    out = _low_resolution(stripes, torch.tensor([True, False, True]), torch.tensor([2.0, 2.0, 3.0]))
    assert torch.equal(out[1], stripes[1])
    for index in (0, 2):
        assert out[index].std() < 0.1 * stripes[index].std()
        assert abs(float(out[index].mean()) - 0.5) < 0.02  # brightness kept


def test_without_jitter_the_masks_are_only_ever_flipped():
    images, seg = square_batch(16)
    _, out_seg = augment(images, seg, torch.Generator().manual_seed(5), Jitter(scale=0.0, shift=0.0, rotation=0.0))
    flipped = seg.flip(-1)
    same = [torch.equal(out, seg[i]) or torch.equal(out, flipped[i]) for i, out in enumerate(out_seg)]
    assert all(same)


def test_scale_jitter_spans_its_range():
    """Hair areas scale as s²: with ±40 % they leave the default ±15 % band yet stay inside their own."""
    seg = torch.zeros(64, 2, S, S)
    seg[:, 1, 82:142, 82:142] = 1.0  # centred, so that even 1.4× stays inside the crop
    images = seg[:, 1:].expand(-1, 3, -1, -1) * 2 - 1
    area = float(seg[0, 1].sum())

    def area_ratios(scale: float) -> torch.Tensor:
        jitter = Jitter(scale=scale, shift=0.0, rotation=0.0)
        _, out_seg = augment(images, seg, torch.Generator().manual_seed(2), jitter)
        return out_seg[:, 1].sum((1, 2)) / area

    def within(ratios: torch.Tensor, scale: float) -> bool:
        return bool(((ratios > (1 - scale) ** 2 * 0.97) & (ratios < (1 + scale) ** 2 * 1.03)).all())

    default, wide = area_ratios(0.15), area_ratios(0.4)
    assert within(default, 0.15) and within(wide, 0.4)
    assert not within(wide, 0.15)


@pytest.mark.parametrize("field, value", [("scale", -0.1), ("shift", 0.5), ("rotation", 90.0), ("scale", "0.2"),
                                          ("rotation", True), ("shift", float("nan"))])
def test_jitter_out_of_range_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Jitter(**{field: value})
