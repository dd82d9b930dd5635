"""The output contract shared by PyTorch, the Core ML package and HairNetKit (DESIGN.md §3–§5).

Everything a consumer of the model needs to interpret its outputs lives here, so that the
converter, the evaluator and the golden vectors read one source of truth.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass

CONTRACT_VERSION = 1
INPUT_SIZE = 224
INPUT_NAME = "image"

SEGMENTATION_CHANNELS = ("skin", "hair")  # channel 0 skin, 1 hair
HAIR_COLORS = ("black", "blond", "brown", "gray")
ATTRIBUTES = ("straight", "wavy", "bangs", "bald")

OUTPUT_SHAPES = {
    "segmentation": (1, len(SEGMENTATION_CHANNELS), INPUT_SIZE, INPUT_SIZE),
    "hair_color": (1, len(HAIR_COLORS)),
    "attributes": (1, len(ATTRIBUTES)),
}

THRESHOLD = 0.5
# x/127.5 - 1: one scale for all channels, which is all a Core ML ImageType can express.
INPUT_SCALE = 1.0 / 127.5
INPUT_BIAS = -1.0
INPUT_NORMALIZATION = "x/127.5-1"

LABEL_BACKGROUND, LABEL_SKIN, LABEL_HAIR = 0, 1, 2

TRAINING_DATA = (
    "CelebAMask-HQ, CelebA, CelebA-HQ attributes (non-commercial research only), Figaro-1k, "
    "LFW Part Labels, FASSEG (research use). The weights inherit the non-commercial research "
    "restriction."
)


MAX_K, MAX_OFFSET = 4.0, 1.0


@dataclass(frozen=True)
class CropRule:
    """Face box → square head crop (DESIGN.md §4).

    Centre (x + w/2 + dx·w, y + h/2 + dy·h), side k·max(w, h). The constants are calibrated
    on the aligned CelebA-HQ images with OpenCV's frontal Haar cascade (`hairnet calibrate-crop`):
    on the CelebAMask-HQ and CelebA-HQ-attrs training images, faces found in 2,400 of 2,500 (96.0 %);
    medians k 1.542 (IQR 0.149), dx −0.003 (IQR 0.020), dy −0.083 (IQR 0.025), rounded to 0.01.

    A model carries the rule it was trained with, and every consumer (evaluate, predict,
    HairNetKit) reads it from the model. The shipped model widens k to 2.0: with the median k, half
    the faces get a crop smaller than CelebA-HQ's frame, and a perfect model behind k = 1.54 would
    reach only 0.92–0.94 hair IoU on the training sets, 0.98–0.99 behind k = 2.0
    (`benchmarks/crop_ceiling.py`).
    """

    k: float = 1.54
    dx: float = 0.0
    dy: float = -0.08

    def __post_init__(self) -> None:
        # The rule arrives in checkpoints and packages: refuse what would cut a wrong crop silently
        # (k ≤ 0 gives a 1-pixel crop, dy = 50 a crop far from the face) or exhaust memory (the
        # crop is cut at full resolution, side k·face). A head with its hair spans well under
        # MAX_K faces (calibrated k ≈ 1.5). HairNetCore's CropRule applies the same bounds.
        values = (self.k, self.dx, self.dy)
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values) \
                or not 0 < self.k <= MAX_K or abs(self.dx) > MAX_OFFSET or abs(self.dy) > MAX_OFFSET:
            raise ValueError(f"crop rule needs 0 < k ≤ {MAX_K:g} and |dx|, |dy| ≤ {MAX_OFFSET:g}, "
                             f"got k={self.k!r}, dx={self.dx!r}, dy={self.dy!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CropRule":
        try:
            values = json.loads(text)
            return cls(k=float(values["k"]), dx=float(values["dx"]), dy=float(values["dy"]))
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(f"hairnet.crop: malformed crop rule {text!r} ({error})") from None


DEFAULT_CROP = CropRule()


def metadata(crop: CropRule = DEFAULT_CROP, evaluation: dict | None = None) -> dict[str, str]:
    """The user-defined metadata of the Core ML package (DESIGN.md §5), all string values."""
    meta = {
        "hairnet.contract_version": str(CONTRACT_VERSION),
        "hairnet.segmentation_channels": ",".join(SEGMENTATION_CHANNELS),
        "hairnet.hair_colors": ",".join(HAIR_COLORS),
        "hairnet.attributes": ",".join(ATTRIBUTES),
        "hairnet.threshold": str(THRESHOLD),
        "hairnet.input_normalization": INPUT_NORMALIZATION,
        "hairnet.crop": crop.to_json(),
        "hairnet.training_data": TRAINING_DATA,
    }
    if evaluation:
        meta["hairnet.evaluation"] = json.dumps(evaluation, sort_keys=True)
    return meta


REQUIRED_METADATA_KEYS = tuple(metadata().keys())
