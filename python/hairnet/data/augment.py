"""Training augmentation that keeps every label true.

Geometry (horizontal flip, and by default scale ±15 %, shift ±8 % of the side, rotation ±15°: a
`Jitter`) is one affine map per image, applied identically to the image (bilinear) and the masks
(nearest). Area the map exposes is black in the image, like the crop's outside-the-photo fill, and
background (0) in the masks: no hair or skin was there. A flip keeps every attribute (bangs stay bangs).

Light changes only luminance, never chromaticity, because hair colour is a label: each pixel's
RGB is multiplied by one factor, so its hue, saturation and channel ratios are unchanged, while
its luminance L moves to b·(m + c·(L − m)) with brightness b and contrast c in [0.85, 1.15] and
m the image's mean luminance. The factor is capped so that no channel passes 1 (clipping one
channel would shift the hue) and at MAX_GAIN, so that lowering contrast does not turn near-black
sensor noise into visible colour. A mild Gaussian blur (σ 0.4–1.0) is applied to a quarter of the
images, standing in for soft focus and compression, and a fifth are shrunk by 1.5–3× and
enlarged back (bilinear), as a small face in a low-resolution photo or a surveillance frame
reaches the model after the crop's resize. The masks stay sharp: the label is the true region.

All randomness comes from the given CPU generator, drawn in a fixed order: the same generator
state gives the same batch, on any device.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

BRIGHTNESS, CONTRAST = 0.15, 0.15
MAX_GAIN = 2.0
BLUR_PROBABILITY, BLUR_SIGMA = 0.25, (0.4, 1.0)
LOW_RES_PROBABILITY, LOW_RES_FACTOR = 0.2, (1.5, 3.0)
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class Jitter:
    """Half-ranges of the geometric jitter around the head box, each drawn uniformly per image."""

    scale: float = 0.15  # fraction of the size
    shift: float = 0.08  # fraction of the side, along each axis
    rotation: float = 15.0  # degrees

    def __post_init__(self) -> None:
        limits = {"scale": 0.5, "shift": 0.5, "rotation": 90.0}
        for name, limit in limits.items():
            value = getattr(self, name)
            # As CropRule: a bool is not a number here, and NaN fails the range test.
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not 0.0 <= value < limit:
                raise ValueError(f"jitter {name} must be a number in [0, {limit}), got {value!r}")


def augment(images: torch.Tensor, seg: torch.Tensor, generator: torch.Generator,
            jitter: Jitter = Jitter()) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch.

    images: N×3×S×S, either float in [-1, 1] (the model's x/127.5 − 1) or uint8 0–255;
    seg: N×2×S×S, 0/1 (float or uint8), channel 0 skin, 1 hair; generator: a CPU torch.Generator.
    Returns (float images in [-1, 1], float seg 0/1), on the input's device.
    """
    n, channels, height, width = images.shape
    if channels != 3 or height != width or seg.shape != (n, 2, height, width):
        raise ValueError(f"augment: expected N×3×S×S images and N×2×S×S masks, got {tuple(images.shape)} "
                         f"and {tuple(seg.shape)}")
    unit = images.float() / 255.0 if images.dtype == torch.uint8 else (images.float() + 1.0) / 2.0
    draws = _draw(n, generator, jitter)
    device = images.device
    grid = F.affine_grid(_inverse_affine(draws).to(device), [n, 3, height, width], align_corners=False)
    unit = F.grid_sample(unit, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    seg = F.grid_sample(seg.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    unit = _relight(unit, draws["brightness"].to(device), draws["contrast"].to(device))
    unit = _blur(unit, draws["blur"].to(device), draws["sigma"].to(device))
    unit = _low_resolution(unit, draws["low_res"], draws["factor"])
    return unit.clamp(0.0, 1.0) * 2.0 - 1.0, seg


def _uniform(n: int, half_range: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator, dtype=torch.float64) * 2.0 - 1.0) * half_range


def _draw(n: int, generator: torch.Generator, jitter: Jitter) -> dict[str, torch.Tensor]:
    draws = {
        "flip": torch.rand(n, generator=generator) < 0.5,
        "scale": 1.0 + _uniform(n, jitter.scale, generator),
        "shift_x": _uniform(n, jitter.shift, generator),
        "shift_y": _uniform(n, jitter.shift, generator),
        "angle": _uniform(n, math.radians(jitter.rotation), generator),
        "brightness": (1.0 + _uniform(n, BRIGHTNESS, generator)).float(),
        "contrast": (1.0 + _uniform(n, CONTRAST, generator)).float(),
        "blur": torch.rand(n, generator=generator) < BLUR_PROBABILITY,
    }
    low, high = BLUR_SIGMA
    draws["sigma"] = low + torch.rand(n, generator=generator) * (high - low)
    draws["low_res"] = torch.rand(n, generator=generator) < LOW_RES_PROBABILITY
    low, high = LOW_RES_FACTOR
    draws["factor"] = low + torch.rand(n, generator=generator) * (high - low)
    return draws


def _inverse_affine(draws: dict[str, torch.Tensor]) -> torch.Tensor:
    """N×2×3 matrices taking output coordinates (in [-1, 1]) to input coordinates, as affine_grid wants.

    Forward map: flip, then scale and rotate about the centre, then shift; its inverse is
    p_in = Flip · R(−θ) / s · (p_out − t). A shift of f of the side is 2f in [-1, 1] units.
    """
    cos, sin = torch.cos(draws["angle"]), torch.sin(draws["angle"])
    flip = torch.where(draws["flip"], -1.0, 1.0).double()
    scale = draws["scale"]
    # Rows of Flip · R(−θ) / s, with R(−θ) = [[cos, sin], [−sin, cos]].
    linear = torch.stack([torch.stack([flip * cos, flip * sin], -1),
                          torch.stack([-sin, cos], -1)], -2) / scale[:, None, None]
    shift = torch.stack([draws["shift_x"], draws["shift_y"]], -1) * 2.0
    offset = -(linear @ shift[:, :, None])
    return torch.cat([linear, offset], -1).float()


def _relight(unit: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    luma = (unit * unit.new_tensor(LUMA)[None, :, None, None]).sum(1, keepdim=True)
    mean = luma.mean(dim=(2, 3), keepdim=True)
    b, c = brightness[:, None, None, None], contrast[:, None, None, None]
    target = (b * (mean + c * (luma - mean))).clamp_min(0.0)
    gain = target / luma.clamp_min(1e-6)
    brightest = unit.amax(1, keepdim=True).clamp_min(1e-6)
    gain = torch.minimum(gain, torch.minimum(1.0 / brightest, gain.new_tensor(MAX_GAIN)))
    return unit * gain


def _blur(unit: torch.Tensor, chosen: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap Gaussian, per image; images not chosen get the identity kernel."""
    n, channels, height, width = unit.shape
    taps = torch.arange(-2, 3, device=unit.device, dtype=unit.dtype)
    kernel = torch.exp(-(taps[None, :] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)
    identity = (taps == 0).to(unit.dtype).expand(n, -1)
    kernel = torch.where(chosen[:, None], kernel, identity).repeat_interleave(channels, 0)  # (N·C)×5
    flat = unit.reshape(1, n * channels, height, width)
    flat = F.conv2d(F.pad(flat, (2, 2, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=n * channels)
    flat = F.conv2d(F.pad(flat, (0, 0, 2, 2), mode="replicate"), kernel[:, None, :, None], groups=n * channels)
    return flat.reshape(n, channels, height, width)


def _low_resolution(unit: torch.Tensor, chosen: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Shrink each chosen image by its factor (antialiased) and enlarge it back to its size."""
    side = unit.shape[-1]
    out = unit.clone()
    for index in torch.nonzero(chosen).flatten().tolist():
        small = max(8, round(side / float(factor[index])))
        shrunk = F.interpolate(unit[index : index + 1], size=(small, small), mode="bilinear", antialias=True,
                               align_corners=False)
        out[index] = F.interpolate(shrunk, size=(side, side), mode="bilinear", align_corners=False)[0]
    return out
