"""Peer models run exactly as their authors feed them, for side-by-side figures (../shared/peers/README.md).

MediaPipe's hair segmenter: RGB scaled to [0, 1], stretched to 512×512 (bilinear, no crop), a 4th
channel holding the previous frame's mask (zeros: a still image is a first frame); softmax over the
two output logits, channel 1 = hair; the hair probability resized back to the image (bilinear).
The runtime, `ai-edge-litert`, comes with the optional extra `peers`.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import HairNetError

PEERS_DIR_ENV = "HAIRNET_PEERS_DIR"
MEDIAPIPE_FILE = Path("mediapipe") / "hair_segmentation.tflite"
MEDIAPIPE_SIZE = 512
HAIR_THRESHOLD = 0.5  # the README's: hair where the upsampled probability exceeds it
EXTRA_HINT = "install the optional extra 'peers': pip install -e '.[peers]' (brings ai-edge-litert)"


class PeerUnavailable(HairNetError):
    """A peer model whose file or runtime is missing."""


def peers_dir() -> Path:
    """$HAIRNET_PEERS_DIR, else ../shared/peers beside the repository root."""
    override = os.environ.get(PEERS_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[3] / "shared" / "peers"


class MediaPipeHair:
    """MediaPipe's hair segmentation network on still images."""

    name = "mediapipe"

    def __init__(self, model_path: Path | None = None, threads: int = 2) -> None:
        self.model_path = Path(model_path) if model_path else peers_dir() / MEDIAPIPE_FILE
        if not self.model_path.is_file():
            raise PeerUnavailable(f"{self.model_path}: MediaPipe's hair_segmentation.tflite not found "
                                  f"(set {PEERS_DIR_ENV} to the folder holding mediapipe/)")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise PeerUnavailable(f"MediaPipe's hair segmenter needs ai-edge-litert: {EXTRA_HINT}") from None
        try:
            self.interpreter = Interpreter(model_path=str(self.model_path), num_threads=threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise PeerUnavailable(f"{self.model_path}: LiteRT cannot load it ({error})") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        shapes = [list(detail["shape"]) for detail in inputs]
        expected = [1, MEDIAPIPE_SIZE, MEDIAPIPE_SIZE, 4]
        if shapes != [expected] or len(outputs) != 1:
            raise PeerUnavailable(f"{self.model_path}: input shapes {shapes} and {len(outputs)} outputs, "
                                  f"expected one {expected} input and one output: not MediaPipe's hair network")
        self._input, self._output = inputs[0], outputs[0]

    @staticmethod
    def preprocess(image: np.ndarray) -> np.ndarray:
        """H×W×3 uint8 RGB → 1×512×512×4 float32: [0, 1] RGB stretched, previous mask channel 0."""
        image = _rgb_uint8(image)
        # cv2's INTER_LINEAR is plain bilinear sampling (no antialiasing), as MediaPipe's GPU resize.
        rgb = cv2.resize(image, (MEDIAPIPE_SIZE, MEDIAPIPE_SIZE), interpolation=cv2.INTER_LINEAR)
        tensor = np.zeros((1, MEDIAPIPE_SIZE, MEDIAPIPE_SIZE, 4), dtype=np.float32)
        tensor[0, :, :, :3] = rgb.astype(np.float32) / 255.0
        return tensor

    def invoke(self, tensor: np.ndarray) -> np.ndarray:
        """The network alone: 1×512×512×4 → 512×512 hair probability (softmax channel 1)."""
        self.interpreter.set_tensor(self._input["index"], tensor)
        self.interpreter.invoke()
        logits = self.interpreter.get_tensor(self._output["index"])[0]
        # Softmax over two logits is the sigmoid of their difference; the tanh form cannot overflow.
        return (0.5 + 0.5 * np.tanh(0.5 * (logits[..., 1] - logits[..., 0]))).astype(np.float32)

    def hair_probability(self, image: np.ndarray) -> np.ndarray:
        """H×W×3 uint8 RGB → H×W float32 hair probability at the image's size."""
        image = _rgb_uint8(image)
        probability = self.invoke(self.preprocess(image))
        height, width = image.shape[:2]
        return cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)


def _rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise HairNetError(f"MediaPipeHair expects an H×W×3 uint8 RGB array, got {image.dtype} {image.shape}")
    return image
