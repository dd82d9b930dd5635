"""From a photo and a crop box to full-size answers: crop, run the model, paste back.

`evaluate` and `predict` both go through `analyze_crops`, so what is measured is what ships.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .contract import LABEL_HAIR, LABEL_SKIN
from .errors import HairNetError
from .model import HairNet
from .postprocess import CropBox, crop_image, decode_attributes, label_map, paste_back


@dataclass
class CropAnalysis:
    box: CropBox
    probs: np.ndarray  # 2×224×224 (skin, hair) at crop resolution
    hair_color: np.ndarray  # 4
    attributes: np.ndarray  # 4

    def labels(self, width: int, height: int) -> np.ndarray:
        """The eq. 2 label map pasted back onto the photo (background outside the crop)."""
        return paste_back(label_map(self.probs), self.box, width, height)

    def decoded(self) -> dict:
        return decode_attributes(self.hair_color, self.attributes)


@torch.no_grad()
def run_crops(model: HairNet, crops: np.ndarray, flip: bool = False, source: str = "input"
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """N×224×224×3 uint8 crops → (segmentation N×2×224×224, hair_color N×4, attributes N×4).

    `flip` averages the outputs of the crop and its mirror image (test-time augmentation).
    Outputs holding NaN or Inf raise a HairNetError naming `source`: eq. 2 would turn a NaN
    segmentation into background, a wrong answer nobody would notice.
    """
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    seg, color, attrs = model(x)
    if flip:
        seg_f, color_f, attrs_f = model(torch.flip(x, dims=[3]))
        seg = (seg + torch.flip(seg_f, dims=[3])) / 2
        color, attrs = (color + color_f) / 2, (attrs + attrs_f) / 2
    broken = [name for name, o in zip(HairNet.output_names, (seg, color, attrs)) if not torch.isfinite(o).all()]
    if broken:
        raise HairNetError(f"{source}: model output(s) {', '.join(broken)} are NaN or Inf")
    return seg.numpy(), color.numpy(), attrs.numpy()


def analyze_crops(model: HairNet, image: Image.Image, boxes: list[CropBox], flip: bool = False,
                  source: str = "input") -> list[CropAnalysis]:
    if not boxes:
        return []
    crops = np.stack([crop_image(image, box)[0] for box in boxes])
    seg, color, attrs = run_crops(model, crops, flip, source)
    return [CropAnalysis(box, seg[i], color[i], attrs[i]) for i, box in enumerate(boxes)]


def merge_labels(analyses: list[CropAnalysis], width: int, height: int) -> np.ndarray:
    """One label map for several faces: hair wins over skin wins over background."""
    merged = np.zeros((height, width), dtype=np.uint8)
    for analysis in analyses:
        merged = np.maximum(merged, analysis.labels(width, height))
    return merged


HAIR_TINT = np.array([255, 40, 160], dtype=np.float32)
SKIN_TINT = np.array([40, 200, 255], dtype=np.float32)


def overlay(image: Image.Image, labels: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The photo with hair tinted magenta and skin tinted cyan."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    for label, tint in ((LABEL_HAIR, HAIR_TINT), (LABEL_SKIN, SKIN_TINT)):
        where = labels == label
        pixels[where] = (1 - alpha) * pixels[where] + alpha * tint
    return Image.fromarray(pixels.round().astype(np.uint8))
