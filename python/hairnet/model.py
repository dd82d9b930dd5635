"""The HairNet network (DESIGN.md §2): MobileNet-v1 backbone, HairMatteNet-style decoder,
and attribute heads that read feature maps masked by the network's own segmentation."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from . import masking
from .contract import ATTRIBUTES, HAIR_COLORS, INPUT_BIAS, INPUT_SCALE, INPUT_SIZE, THRESHOLD

# MobileNet-v1 depthwise-separable layers: (output channels at α = 1, stride).
MOBILENET_V1_LAYERS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


@dataclass(frozen=True)
class HairNetConfig:
    width_multiplier: float = 0.5
    input_size: int = INPUT_SIZE
    masking: bool = True
    threshold: float = THRESHOLD
    head_stride: int = 16  # the backbone map the heads read: 16 (14×14) or 32 (7×7)
    decoder_channels: tuple[int, ...] = (64, 64, 32, 16, 16)  # outputs at 14, 28, 56, 112, 224
    head_channels: int = 32

    def __post_init__(self) -> None:
        if self.input_size != INPUT_SIZE:
            raise ValueError(f"input_size must be {INPUT_SIZE} (the contract), got {self.input_size}")
        if self.head_stride not in (16, 32):
            raise ValueError(f"head_stride must be 16 or 32, got {self.head_stride}")
        if len(self.decoder_channels) != 5:
            raise ValueError(f"decoder_channels needs 5 entries (14→224), got {self.decoder_channels}")
        if not 0 < self.width_multiplier <= 2:
            raise ValueError(f"width_multiplier must be in (0, 2], got {self.width_multiplier}")
        # Configs come from checkpoint files: a string where a bool belongs would be truthy silently.
        if not isinstance(self.masking, bool):
            raise ValueError(f"masking must be true or false, got {self.masking!r}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be a number in (0, 1), got {self.threshold!r}")
        channels = (*self.decoder_channels, self.head_channels)
        if not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels):
            raise ValueError(f"decoder_channels and head_channels must be positive integers, got {channels}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "HairNetConfig":
        values = dict(values)
        if "decoder_channels" in values:
            values["decoder_channels"] = tuple(values["decoder_channels"])
        return cls(**values)


def _channels(base: int, alpha: float) -> int:
    return max(8, int(base * alpha + 4) // 8 * 8)


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


def separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """Depthwise 3×3 then pointwise 1×1, each with BatchNorm and ReLU6."""
    return nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout))


class MobileNetV1(nn.Module):
    """Returns the feature maps at strides 2, 4, 8, 16 and 32."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.stem = conv_bn(3, _channels(32, alpha), 3, 2)
        layers, cin = [], _channels(32, alpha)
        for base, stride in MOBILENET_V1_LAYERS:
            cout = _channels(base, alpha)
            layers.append(separable(cin, cout, stride))
            cin = cout
        self.layers = nn.ModuleList(layers)
        # The last layer at each stride is the skip source for the decoder block of that size.
        self.tap_indices = (0, 2, 4, 10, 12)
        self.tap_channels = tuple(_channels(MOBILENET_V1_LAYERS[i][0], alpha) for i in self.tap_indices)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        taps = []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.tap_indices:
                taps.append(x)
        return taps


class DecoderBlock(nn.Module):
    """2× upsampling → add a 1×1-projected skip → depthwise 3×3 → pointwise 1×1."""

    def __init__(self, cin: int, cout: int, skip_channels: int | None) -> None:
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.skip = None if skip_channels is None else nn.Conv2d(skip_channels, cin, 1)
        self.conv = separable(cin, cout)

    def forward(self, x: Tensor, skip: Tensor | None = None) -> Tensor:
        x = self.upsample(x)
        if self.skip is not None:
            x = x + self.skip(skip)
        return self.conv(x)


class SegmentationDecoder(nn.Module):
    """7 → 14 → 28 → 56 (the paper's three blocks) → 112 → 224, then two logit channels."""

    def __init__(self, tap_channels: tuple[int, ...], channels: tuple[int, ...]) -> None:
        super().__init__()
        self.entry = conv_bn(tap_channels[-1], channels[0])
        skips = (tap_channels[3], tap_channels[2], tap_channels[1], tap_channels[0], None)
        cins = (channels[0],) + channels[:-1]
        self.blocks = nn.ModuleList(DecoderBlock(ci, co, sk) for ci, co, sk in zip(cins, channels, skips))
        self.classifier = nn.Conv2d(channels[-1], 2, 1)

    def forward(self, taps: list[Tensor]) -> Tensor:
        f2, f4, f8, f16, f32 = taps
        x = self.entry(f32)
        for block, skip in zip(self.blocks, (f16, f8, f4, f2, None)):
            x = block(x, skip)
        return self.classifier(x)


class HeadBranch(nn.Module):
    """Two depthwise-separable convolutions (the first halves the grid), flattened."""

    def __init__(self, cin: int, channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(separable(cin, 2 * channels, stride=2), separable(2 * channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return torch.flatten(self.convs(x), 1)


class BinaryHead(nn.Module):
    def __init__(self, cin: int, channels: int, grid: int) -> None:
        super().__init__()
        self.branch = HeadBranch(cin, channels)
        self.fc = nn.Linear(channels * grid * grid, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.branch(x))


class ColorHead(nn.Module):
    """A global branch (scene lighting) and a hair-masked branch, concatenated."""

    def __init__(self, cin: int, channels: int, grid: int) -> None:
        super().__init__()
        self.global_branch = HeadBranch(cin, channels)
        self.hair_branch = HeadBranch(cin, channels)
        self.fc = nn.Linear(2 * channels * grid * grid, len(HAIR_COLORS))

    def forward(self, features: Tensor, hair_features: Tensor) -> Tensor:
        return self.fc(torch.cat([self.global_branch(features), self.hair_branch(hair_features)], 1))


class HairNet(nn.Module):
    """Input: N×3×224×224 normalised as x/127.5 − 1. Outputs (DESIGN.md §3): `segmentation`,
    `hair_color` and `attributes`, as a tuple in that order (the Core ML output order)."""

    output_names = ("segmentation", "hair_color", "attributes")

    def __init__(self, config: HairNetConfig = HairNetConfig()) -> None:
        super().__init__()
        self.config = config
        self.backbone = MobileNetV1(config.width_multiplier)
        self.decoder = SegmentationDecoder(self.backbone.tap_channels, config.decoder_channels)
        tap = 3 if config.head_stride == 16 else 4
        cin, grid = self.backbone.tap_channels[tap], (config.input_size // config.head_stride + 1) // 2
        self.head_tap = tap
        self.color_head = ColorHead(cin, config.head_channels, grid)
        self.attribute_heads = nn.ModuleList(BinaryHead(cin, config.head_channels, grid) for _ in ATTRIBUTES)
        self.masking = config.masking

    def mask(self, features: Tensor, probs: Tensor) -> Tensor:
        if not self.masking:  # the paper's ablation: the mask is all ones
            return features
        return masking.feature_mask(features, probs.detach(), self.config.threshold)

    def _run(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        taps = self.backbone(x)
        segmentation = self.decoder(taps)
        probs = torch.sigmoid(segmentation)
        features = taps[self.head_tap]
        skin, hair = probs[:, 0:1], probs[:, 1:2]
        hair_features = self.mask(features, hair)
        head_features = self.mask(features, torch.maximum(skin, hair))
        color = self.color_head(features, hair_features)
        straight, wavy, bangs, bald = self.attribute_heads
        attributes = torch.cat(
            [straight(hair_features), wavy(hair_features), bangs(head_features), bald(head_features)], 1
        )
        return segmentation, probs, color, attributes

    def logits(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Segmentation, color and attribute logits (what the losses read)."""
        segmentation, _, color, attributes = self._run(x)
        return segmentation, color, attributes

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        _, probs, color, attributes = self._run(x)
        return probs, torch.softmax(color, 1), torch.sigmoid(attributes)


def normalize(images: Tensor) -> Tensor:
    """uint8 N×3×H×W (or N×H×W×3) → the model's input range, as the Core ML ImageType does it."""
    if images.shape[-1] == 3 and images.shape[1] != 3:
        images = images.permute(0, 3, 1, 2)
    return images.float() * INPUT_SCALE + INPUT_BIAS
