"""The checkpoint format: one file with the weights, the model config, the label names, the crop
rule and (optionally) evaluation figures.

Reading one is a boundary for hostile files, checked in this order: the zip archive torch.save
writes (every entry's CRC, so a flipped bit or a cut-off download is refused instead of loading
slightly different weights; no compressed entries, so nothing is inflated), then `torch.load`
with `weights_only=True` (a pickle that would run code is refused, never executed), then every
field's type, the config against the weights' shapes on the meta device (a config claiming a
huge network allocates nothing), finite weights, and a probe forward pass (weights that overflow
to NaN or Inf are refused here, not discovered as a silently blank label map).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import torch

from .contract import ATTRIBUTES, DEFAULT_CROP, HAIR_COLORS, INPUT_SIZE, SEGMENTATION_CHANNELS, CropRule
from .errors import CheckpointError
from .files import write_file
from .model import HairNet, HairNetConfig

FORMAT = "hairnet-checkpoint"
FORMAT_VERSION = 1


def atomic_save(obj, path: Path) -> None:
    """torch.save through files.write_file: never a half-written file, an OutputError naming the path."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_file(path, buffer.getvalue())


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


def _check_archive(path: Path) -> None:
    """The zip archive torch.save writes, intact: stored entries whose CRC-32s match.

    torch.load checks neither, so without this a flipped bit in a weight loads silently.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            compressed = next((i.filename for i in archive.infolist() if i.compress_type != zipfile.ZIP_STORED), None)
            if compressed is not None:
                raise CheckpointError(f"{path}: entry {compressed!r} is compressed; torch.save stores entries "
                                      "uncompressed, so this file was not written by it")
            damaged = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint, not a complete zip archive "
                              f"as torch.save writes ({error})") from None
    if damaged is not None:
        raise CheckpointError(f"{path}: corrupt checkpoint: entry {damaged!r} fails its CRC check")


def _field(path: Path, payload: dict, name: str, kind: type, required: bool = True):
    value = payload.get(name)
    if value is None and not required:
        return kind()
    if not isinstance(value, kind):
        raise CheckpointError(f"{path}: field {name!r} is {type(value).__name__} {str(value)[:80]!r}, "
                              f"expected {kind.__name__}")
    return value


def read_checkpoint(path: Path) -> dict:
    """The raw checkpoint dictionary, after the archive, safety and format checks."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused to load: the file is not a plain weights checkpoint ({str(error).splitlines()[0]})"
        ) from None
    except Exception as error:  # the unpickler and torch's zip reader raise many types on damaged data
        message = str(error).splitlines()[0] if str(error) else ""
        raise CheckpointError(f"{path}: corrupt checkpoint ({type(error).__name__}: {message})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a HairNet checkpoint (field 'format' is {found!r}, expected {FORMAT!r})")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: field 'format_version' is {payload.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
    labels = _field(path, payload, "labels", dict)
    expected = {"segmentation_channels": list(SEGMENTATION_CHANNELS), "hair_colors": list(HAIR_COLORS),
                "attributes": list(ATTRIBUTES)}
    for key, value in expected.items():
        if labels.get(key) != value:
            raise CheckpointError(f"{path}: field 'labels.{key}' is {labels.get(key)!r}, expected {value!r}")
    for name in ("config", "state_dict", "crop"):
        _field(path, payload, name, dict)
    for name in ("evaluation", "training"):
        payload[name] = _field(path, payload, name, dict, required=False)
    bad = next((k for k, v in payload["state_dict"].items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))), None)
    if bad is not None:
        raise CheckpointError(f"{path}: field 'state_dict' entry {bad!r} is not a named tensor")
    return payload


def load_checkpoint(path: Path) -> tuple[HairNet, dict]:
    """Build the model the checkpoint describes and load its weights (as float32, eval mode)."""
    path = Path(path)
    payload = read_checkpoint(path)
    crop = payload["crop"]
    try:
        payload["crop_rule"] = CropRule(float(crop["k"]), float(crop["dx"]), float(crop["dy"]))
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CheckpointError(f"{path}: field 'crop' is {str(crop)[:200]}: {error}") from None
    try:
        config = HairNetConfig.from_dict(payload["config"])
        with torch.device("meta"):  # shapes only: a config claiming a huge network allocates nothing
            expected = {k: (v.shape, v.is_floating_point()) for k, v in HairNet(config).state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: field 'config' is invalid ({error})") from None
    state = payload["state_dict"]
    mismatch = sorted(set(expected) ^ set(state)) or [
        k for k, (shape, floating) in expected.items() if state[k].shape != shape or state[k].is_floating_point() != floating]
    if mismatch:
        name = mismatch[0]
        found = f"{tuple(state[name].shape)} {state[name].dtype}" if name in state else "absent"
        wanted = f"{tuple(expected[name][0])}" if name in expected else "absent"
        raise CheckpointError(f"{path}: weights do not match the config's architecture: {len(mismatch)} tensor(s) "
                              f"differ, first {name!r}: the file has {found}, the config needs {wanted}")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: weight '{name}' contains NaN or Inf")
    model = HairNet(config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    model.eval()
    with torch.no_grad():  # mid-grey: finite weights can still overflow, or a negative variance give NaN
        outputs = model(torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE))
    broken = [name for name, o in zip(HairNet.output_names, outputs) if not torch.isfinite(o).all()]
    if broken:
        raise CheckpointError(f"{path}: the weights are finite but output(s) {', '.join(broken)} are NaN or Inf "
                              "on a grey image (overflowing weights or a negative BatchNorm variance)")
    return model, payload


def load_weight_average(paths: list[Path]) -> HairNet:
    """The uniform average of several checkpoints' weights, a "model soup" (Wortsman et al., 2022).

    Runs fine-tuned from one start stay in one basin of the loss, where their average is often
    better than each of them. BatchNorm statistics are averaged as well: they stay close between
    such runs, and training on from the average re-estimates them anyway.
    """
    models = [load_checkpoint(Path(path))[0] for path in paths]
    if not models:
        raise CheckpointError("no checkpoints to average")
    first = models[0].config.to_dict()
    for path, model in zip(paths[1:], models[1:]):
        if model.config.to_dict() != first:
            raise CheckpointError(f"{path}: config {model.config.to_dict()} differs from {paths[0]}'s {first}: "
                                  "only one architecture's weights can be averaged")
    states = [model.state_dict() for model in models]
    average = {name: torch.stack([s[name] for s in states]).mean(0) if value.is_floating_point() else value
               for name, value in states[0].items()}
    models[0].load_state_dict(average)
    return models[0]
