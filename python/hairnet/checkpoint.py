"""The checkpoint format: one file with the weights, the model config, the label names, the crop
rule and (optionally) evaluation figures. Loaded with `weights_only=True`, so a file carrying a
pickle that runs code is refused rather than executed."""

from __future__ import annotations

import math
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch

from .contract import ATTRIBUTES, DEFAULT_CROP, HAIR_COLORS, SEGMENTATION_CHANNELS, CropRule
from .errors import CheckpointError
from .model import HairNet, HairNetConfig

FORMAT = "hairnet-checkpoint"
FORMAT_VERSION = 1


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: Path,
    model: HairNet,
    crop: CropRule = DEFAULT_CROP,
    evaluation: dict | None = None,
    training: dict | None = None,
    half: bool = False,
) -> None:
    """Write the shippable checkpoint. `half` stores float weights as fp16 (the shipped file)."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
             for k, v in model.state_dict().items()}
    atomic_save(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": model.config.to_dict(),
            "labels": {
                "segmentation_channels": list(SEGMENTATION_CHANNELS),
                "hair_colors": list(HAIR_COLORS),
                "attributes": list(ATTRIBUTES),
            },
            "crop": {"k": crop.k, "dx": crop.dx, "dy": crop.dy},
            "evaluation": evaluation or {},
            "training": training or {},
            "state_dict": state,
        },
        path,
    )


def read_checkpoint(path: Path) -> dict:
    """The raw checkpoint dictionary, after the safety and format checks."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused to load: the file is not a plain weights checkpoint ({str(error).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({str(error).splitlines()[0]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a HairNet checkpoint (field 'format' is {found!r}, expected {FORMAT!r})")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: field 'format_version' is {payload.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
    labels = payload.get("labels", {})
    expected = {"segmentation_channels": list(SEGMENTATION_CHANNELS), "hair_colors": list(HAIR_COLORS),
                "attributes": list(ATTRIBUTES)}
    for key, value in expected.items():
        if labels.get(key) != value:
            raise CheckpointError(f"{path}: field 'labels.{key}' is {labels.get(key)!r}, expected {value!r}")
    return payload


def load_checkpoint(path: Path) -> tuple[HairNet, dict]:
    """Build the model the checkpoint describes and load its weights (as float32, eval mode)."""
    payload = read_checkpoint(path)
    try:
        config = HairNetConfig.from_dict(payload["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: field 'config' is invalid ({error})") from None
    model = HairNet(config)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: weight '{name}' contains NaN or Inf")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise CheckpointError(f"{path}: weights do not match the config's architecture: {' '.join(lines[1:3])}") from None
    model.eval()
    crop = payload.get("crop") or {}
    try:
        payload["crop_rule"] = CropRule(float(crop["k"]), float(crop["dx"]), float(crop["dy"]))
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: field 'crop' is {crop!r}, expected {{'k', 'dx', 'dy'}} numbers") from None
    if not all(math.isfinite(v) for v in (payload["crop_rule"].k, payload["crop_rule"].dx, payload["crop_rule"].dy)):
        raise CheckpointError(f"{path}: field 'crop' has non-finite values {crop!r}")
    return model, payload
