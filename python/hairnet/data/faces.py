"""Face boxes from OpenCV's frontal Haar cascade, and the framing of a photo (DESIGN.md §4).

Detection runs on a copy whose longer side is at most DETECTION_SIDE (512 px: an official
1024 px CelebA-HQ image is halved, the subsets' images are used as they are), greyscale,
histogram-equalised; boxes are mapped back to the original pixels. Smaller images are not
upscaled. Boxes narrower than a fifth of the image's shorter side are not searched for: on
Figaro-1k and FASSEG every such detection inspected was a false positive (an ear, a curl, a wall),
while the smallest real faces were about a quarter of the shorter side (LFW ≥ 0.35, CelebA-HQ
≥ 0.45). When several faces are found, the largest, most central one is taken: among the boxes
at least half as large (in area) as the largest, the one whose centre is nearest the image's.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..contract import DEFAULT_CROP, CropRule
from ..errors import HairNetError
from ..postprocess import CropBox, head_crop_box, whole_image_box

DETECTION_SIDE = 512
CASCADE_FILE = "haarcascade_frontalface_default.xml"
SCALE_FACTOR, MIN_NEIGHBORS, MIN_SIZE = 1.1, 5, 24  # OpenCV's customary settings
MIN_FACE_FRACTION = 0.2

FaceBox = tuple[float, float, float, float]  # x, y, w, h in original pixels, top-left origin
_cascade: cv2.CascadeClassifier | None = None


def cascade() -> cv2.CascadeClassifier:
    """The bundled cascade, loaded once per process."""
    global _cascade
    if _cascade is None:
        path = Path(cv2.data.haarcascades) / CASCADE_FILE
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise HairNetError(f"{path}: OpenCV's frontal face cascade is missing or unreadable "
                               "(install opencv-python-headless<5)")
        _cascade = classifier
    return _cascade


def detect_faces(image: Image.Image) -> list[FaceBox]:
    """Every face the cascade finds, in the image's own pixels."""
    width, height = image.size
    scale = min(1.0, DETECTION_SIDE / max(width, height))
    small = image if scale == 1.0 else image.resize(
        (max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    grey = cv2.equalizeHist(np.asarray(small.convert("L")))
    min_side = max(MIN_SIZE, round(MIN_FACE_FRACTION * min(small.size)))
    found = cascade().detectMultiScale(grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
                                       minSize=(min_side, min_side))
    sx, sy = width / small.width, height / small.height
    return [(float(x) * sx, float(y) * sy, float(w) * sx, float(h) * sy) for x, y, w, h in found]


def choose_face(boxes: list[FaceBox], width: int, height: int) -> FaceBox | None:
    """The largest, most central box (see the module docstring), or None."""
    if not boxes:
        return None
    largest = max(w * h for _, _, w, h in boxes)
    candidates = [b for b in boxes if b[2] * b[3] >= 0.5 * largest]
    return min(candidates, key=lambda b: (b[0] + b[2] / 2 - width / 2) ** 2 + (b[1] + b[3] / 2 - height / 2) ** 2)


def find_face(image: Image.Image) -> FaceBox | None:
    return choose_face(detect_faces(image), image.width, image.height)


def frame(image: Image.Image, rule: CropRule = DEFAULT_CROP) -> tuple[CropBox, bool]:
    """The square to crop: the head crop around the face, or the whole photo padded when none is found."""
    return frame_face(find_face(image), image.width, image.height, rule)


def frame_face(face: FaceBox | None, width: int, height: int, rule: CropRule = DEFAULT_CROP) -> tuple[CropBox, bool]:
    """`frame` for a face already found (or None), so that one detection can serve several rules."""
    if face is None:
        return whole_image_box(width, height), False
    return head_crop_box(face, rule), True
