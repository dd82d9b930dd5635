"""Every fuzzing finding (benchmarks/fuzz.py), kept as the exact input that found it."""

from __future__ import annotations

import io
import zipfile

import pytest
import torch

from conftest import attempt
from hairnet.checkpoint import load_checkpoint, save_checkpoint
from hairnet.contract import CropRule
from hairnet.data.images import load_binary_mask, load_image
from hairnet.errors import CheckpointError, DataError
from hairnet.model import HairNet, HairNetConfig
from hairnet.postprocess import head_crop_box

# labels target, 34 runs: a PGM whose header runs into binary bytes; Pillow's header parser
# raised ValueError ("Token too long in file header") out of Image.open.
PGM_HEADER_INTO_BINARY = bytes.fromhex("50350b3132 20390aff f0fff0e0 70e070e0 70e070ff f0fff0fff0".replace(" ", ""))


SETITEM_ON_A_STRING = b"\x80\x02X\x01\x00\x00\x00aX\x01\x00\x00\x00bX\x01\x00\x00\x00cs."


@pytest.mark.parametrize("loader", [load_image, load_binary_mask])
def test_pgm_header_running_into_binary(tmp_path, loader):
    path = tmp_path / "label.pgm"
    path.write_bytes(PGM_HEADER_INTO_BINARY)
    error = attempt("regressions", lambda: loader(path), names=path)
    assert isinstance(error, DataError) and "corrupt image header" in str(error)


def test_checkpoint_whose_pickle_sets_an_item_on_a_string(tmp_path):
    """checkpoint target, 34 runs: a mutated data.pkl inside a valid archive. The weights_only
    unpickler raised TypeError ('str' object does not support item assignment) past our except
    clauses. Reduced by hand to PROTO 2, three strings, SETITEM."""
    torch.manual_seed(0)
    good = tmp_path / "good.pt"
    save_checkpoint(good, HairNet(HairNetConfig(width_multiplier=0.125)))
    source, buffer = zipfile.ZipFile(good), io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for info in source.infolist():
            archive.writestr(info, SETITEM_ON_A_STRING if info.filename.endswith("/data.pkl") else source.read(info))
    path = tmp_path / "odd.pt"
    path.write_bytes(buffer.getvalue())
    error = attempt("regressions", lambda: load_checkpoint(path), names=path)
    assert isinstance(error, CheckpointError) and "corrupt checkpoint (TypeError" in str(error)


def test_face_box_near_the_float_limit():
    """crop target, 3,401 runs: a finite box whose centre overflows to Inf; rounding it raised
    OverflowError instead of the ValueError head_crop_box documents for boxes it cannot crop."""
    box = (0.0, 1.7976931348623157e308, 1.7976931348606871e308, 1.0715086071852927e301)
    with pytest.raises(ValueError, match="not a finite number of pixels"):
        head_crop_box(box, CropRule(5e-324, 0.0, 0.0))
