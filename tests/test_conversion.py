"""Core ML conversion (conversion/to_coreml.py) and its verification without a Mac (conversion/verify.py).

The checkpoint under test must give *decisive* outputs: an untrained model answers ~0.5 everywhere,
where eq. 2 labels flip on rounding noise and agreement would measure nothing. So a session
fixture fits a fresh HairNet to a few real head crops (CelebAMask-HQ faces and their hair masks
from ../shared/data when present, else skimage's astronaut), with an ellipse as the skin target
and a fixed color and attribute answer per crop. First the BatchNorm statistics are set to those
of the crops (at their initial values of 0 and 1 the random network's features hardly depend on
the input, and fitting takes three times longer); then the model is fitted in eval mode, so the
statistics stay put and the exported model computes exactly what was fitted. The numeric checks
run on those same crops.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "conversion"))

import coremltools as ct  # noqa: E402
from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY  # noqa: E402

import feature_mask_op  # noqa: E402
import mil_interpreter  # noqa: E402
import to_coreml  # noqa: E402
import verify  # noqa: E402
from hairnet import contract, masking  # noqa: E402
from hairnet.checkpoint import read_checkpoint, save_checkpoint  # noqa: E402
from hairnet.errors import ConversionError  # noqa: E402
from hairnet.model import HairNet, HairNetConfig, normalize  # noqa: E402
from hairnet.postprocess import crop_image, head_crop_box, whole_image_box  # noqa: E402

CELEBAMASK = ROOT.parent / "shared" / "data" / "CelebAMask-HQ"
ASTRONAUT_FACE = (167, 59, 112, 112)  # OpenCV's frontal cascade on skimage.data.astronaut()
FIT_STEPS = 60
FIT_CROPS = 3  # each costs ~0.05 s per step; three give 1,176 mask cells for the sampling checks
EPS = 1e-6


def _head_crops() -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(name, 224×224×3 uint8 crop, hair mask or None)."""
    images = CELEBAMASK / "CelebA-HQ-img"
    if not images.is_dir():
        astronaut = Image.fromarray(pytest.importorskip("skimage.data").astronaut())
        return [("astronaut", crop_image(astronaut, head_crop_box(ASTRONAUT_FACE))[0], None)]
    crops = []
    for path in sorted(images.glob("*.jpg"))[:FIT_CROPS]:
        number = int(path.stem)
        mask_path = CELEBAMASK / "CelebAMask-HQ-mask-anno" / str(number // 2000) / f"{number:05d}_hair.png"
        # CelebA-HQ images are aligned head crops already: the whole square is the crop.
        with Image.open(path) as image, Image.open(mask_path) as mask:
            crop = crop_image(image, whole_image_box(*image.size))[0]
            hair = crop_image(mask, whole_image_box(*mask.size))[0][..., 0] >= 128
        crops.append((path.stem, crop, hair))
    return crops


def _targets(hair: np.ndarray | None) -> np.ndarray:
    """2×224×224 (skin, hair): an ellipse for the face; the hair mask, or a cap above the face."""
    y, x = np.mgrid[0:224, 0:224] / 224.0
    face = ((x - 0.5) / 0.2) ** 2 + ((y - 0.55) / 0.27) ** 2 < 1
    if hair is None:
        hair = (((x - 0.5) / 0.3) ** 2 + ((y - 0.4) / 0.3) ** 2 < 1) & ~face
    return np.stack([face & ~hair, hair]).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The work here is small tensors; with a training job on the other core, two torch threads
    spin against it and ran 25× slower than one (167 s against 6 s to fit the checkpoint)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fitted(one_torch_thread, tmp_path_factory):
    """(checkpoint path, folder of the crops it was fitted to)."""
    folder = tmp_path_factory.mktemp("fitted")
    crops_dir = folder / "crops"
    crops_dir.mkdir()
    crops = _head_crops()
    for name, crop, _ in crops:
        Image.fromarray(crop).save(crops_dir / f"{name}.png")
    torch.manual_seed(0)
    model = HairNet()
    x = normalize(torch.from_numpy(np.stack([crop for _, crop, _ in crops])))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 1.0  # one pass in train mode sets the running statistics to the batch's
    with torch.no_grad():
        model.train()(x)
    model.eval()
    segmentation = torch.from_numpy(np.stack([_targets(hair) for _, _, hair in crops]))
    colors = torch.arange(len(crops)) % len(contract.HAIR_COLORS)
    attributes = (torch.arange(len(crops))[:, None] + torch.arange(len(contract.ATTRIBUTES))) % 3 == 0
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    # Decaying to zero lets the last steps settle instead of ending on a noisy one.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / FIT_STEPS)
    for _ in range(FIT_STEPS):
        seg, color, attrs = model(x)
        loss = (F.binary_cross_entropy(seg.clamp(EPS, 1 - EPS), segmentation)
                + F.nll_loss(torch.log(color + EPS), colors)
                + F.binary_cross_entropy(attrs.clamp(EPS, 1 - EPS), attributes.float()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    checkpoint = folder / "fitted.pt"
    save_checkpoint(checkpoint, model, evaluation={"fixture_fit_steps": FIT_STEPS, "fixture_crops": len(crops)})
    return checkpoint, crops_dir


@pytest.fixture(scope="module")
def package(fitted, tmp_path_factory):
    """package(precision, palettize) → path of the converted .mlpackage, converted once."""
    built = {}

    def make(precision: str = "fp16", palettize: int | None = None) -> Path:
        if (precision, palettize) not in built:
            output = tmp_path_factory.mktemp("packages") / f"hairnet_{precision}_{palettize}.mlpackage"
            to_coreml.convert(fitted[0], output, precision, palettize)
            built[precision, palettize] = output
        return built[precision, palettize]

    return make


def _verify(package_path: Path, fitted, limit: int = 8) -> dict:
    return verify.verify(package_path, fitted[0], fitted[1], limit)


def _folder_holds_only(folder: Path, names: set[str]) -> bool:
    """Nothing half-written: no staging folder or partial package beside the expected files."""
    return {p.name for p in folder.iterdir()} == names


# --- the packages compute what PyTorch computes ---------------------------------------------

def test_fp16_package_verifies(package, fitted, tmp_path, capsys):
    report_path = tmp_path / "report.json"
    code = verify.main([str(package("fp16")), "--checkpoint", str(fitted[0]), "--images", str(fitted[1]),
                        "--json", str(report_path)])
    assert code == 0, capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert report["precision"] == "fp16"
    assert report["label_agreement"] >= 0.995
    assert report["decisions_agree"] is True
    assert report["mask_agreement"] == 1.0
    assert report["max_abs_diff"] <= 0.05
    assert {"slice_by_index", "greater", "cast", "mul", "conv"} <= set(report["op_types"])
    assert report["structure"] == {"passed": True, "problems": []}
    assert report["coreml"].get("skipped") or report["coreml"]["passed"]


def test_fp32_package_verifies(package, fitted):
    report = _verify(package("fp32"), fitted)
    assert report["passed"], verify.summary(report)
    assert report["precision"] == "fp32"
    assert report["label_agreement"] >= 0.999
    assert report["max_abs_diff"] <= 1e-3
    assert report["decisions_agree"]


def test_palettized_package_is_smaller_and_close(package, fitted):
    """Palettization approximates the weights, so verify judges labels and decisions, not max |Δ|.
    An iOS 16 look-up table is per tensor, coarse for layers with BatchNorm folded in: on this
    fixture 8 bits keep 99.7 % of the labels (the variant table in conversion/README.md)."""
    palettized = package("fp16", 8)
    report = _verify(palettized, fitted)
    assert report["structure"]["passed"], report["structure"]["problems"]
    assert report["palette_bits"] == [8]
    assert "constexpr_lut_to_dense" in report["op_types"]
    assert report["numerics"]["thresholds"]["max_abs_diff"] is None
    assert report["decisions_agree"] and report["mask_agreement"] == 1.0
    assert report["label_agreement"] >= 0.99
    assert to_coreml.package_size(palettized) < 0.7 * to_coreml.package_size(package("fp16"))


def test_package_carries_the_contract(package, fitted):
    spec = ct.models.MLModel(str(package("fp16")), skip_model_load=True).get_spec()
    (image,) = spec.description.input
    assert image.name == contract.INPUT_NAME and image.type.WhichOneof("Type") == "imageType"
    assert image.type.imageType.colorSpace == ct.proto.FeatureTypes_pb2.ImageFeatureType.RGB
    assert [(o.name, tuple(o.type.multiArrayType.shape)) for o in spec.description.output] == list(
        contract.OUTPUT_SHAPES.items())
    meta = spec.description.metadata
    payload = read_checkpoint(fitted[0])
    crop = contract.CropRule(**payload["crop"])
    assert dict(meta.userDefined).items() >= contract.metadata(crop, payload["evaluation"]).items()
    assert "hairnet.evaluation" in meta.userDefined
    assert "non-commercial" in meta.license.lower()
    assert meta.author and meta.versionString and meta.shortDescription
    # The ImageType's normalisation x/127.5 − 1 is the program's first two operations.
    _, function = mil_interpreter.load_program(package("fp16"))
    scale, bias = verify.non_const_ops(function)[:2]
    assert (scale.op_type, bias.op_type) == ("mul", "add")
    assert np.isclose(scale.y.val, contract.INPUT_SCALE) and np.all(bias.y.val == contract.INPUT_BIAS)


# --- verify.py catches what is wrong -------------------------------------------------------------

def test_off_by_one_sampling_is_caught(fitted, tmp_path):
    """The translation sampling pixel s//2 + 1 instead of the receptive-field centre s//2."""
    broken, report_path = tmp_path / "broken.mlpackage", tmp_path / "report.json"
    feature_mask_op.register(sample_offset=lambda s: s // 2 + 1)
    try:
        to_coreml.convert(fitted[0], broken)
    finally:
        feature_mask_op.register()
    code = verify.main([str(broken), "--checkpoint", str(fitted[0]), "--images", str(fitted[1]),
                        "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    assert code == 1 and not report["passed"]
    assert any("mask sampling" in p and "[9, 9]" in p for p in report["structure"]["problems"])
    # Numerically too, in fp16, where max |Δ| alone stays within rounding tolerance.
    assert report["mask_agreement"] < 1.0
    assert any("binary_mask" in f for f in report["numerics"]["failures"])


def test_unknown_op_type_fails_the_numeric_check_by_name(package, fitted, monkeypatch):
    monkeypatch.delitem(mil_interpreter.KERNELS, "sigmoid")
    report = _verify(package("fp16"), fitted, limit=1)
    assert not report["passed"] and not report["numerics"]["passed"]
    assert report["numerics"]["unsupported_op_types"] == ["sigmoid"]
    assert "sigmoid" in report["numerics"]["failures"][0]


def test_missing_or_wrong_metadata_is_named(package, fitted, tmp_path):
    original = ct.models.MLModel(str(package("fp16")), skip_model_load=True)
    spec = original.get_spec()
    del spec.description.metadata.userDefined["hairnet.crop"]
    spec.description.metadata.userDefined["hairnet.threshold"] = "0.6"
    tampered = tmp_path / "tampered.mlpackage"
    ct.models.MLModel(spec, weights_dir=original.weights_dir, skip_model_load=True).save(str(tampered))
    report = _verify(tampered, fitted, limit=1)
    assert not report["passed"]
    problems = report["structure"]["problems"]
    assert "metadata key 'hairnet.crop' is missing" in problems
    assert "metadata key 'hairnet.threshold' is '0.6', expected '0.5'" in problems


# --- conversion refuses to lose the masking --------------------------------------------------------

@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # the plain-tensor reference, traced on purpose
def test_masking_op_missing_from_the_trace_fails(fitted, tmp_path, monkeypatch):
    monkeypatch.setattr(masking, "feature_mask", masking.feature_mask_reference)
    with pytest.raises(ConversionError, match=f"no {masking.OP_NAME} node"):
        to_coreml.convert(fitted[0], tmp_path / "out.mlpackage")
    assert _folder_holds_only(tmp_path, set())


def test_unregistered_translation_fails(fitted, tmp_path, monkeypatch):
    monkeypatch.delitem(_TORCH_OPS_REGISTRY.name_to_func_mapping, masking.OP_NAME)
    with pytest.raises(ConversionError, match=f"no Core ML translation is registered for {masking.OP_NAME}"):
        to_coreml.convert(fitted[0], tmp_path / "out.mlpackage")
    assert _folder_holds_only(tmp_path, set())


# --- user errors: one line naming the file, nothing half-written -----------------------------------

def _other_architecture(path: Path) -> None:
    """A valid checkpoint file whose weights belong to another width than its config says."""
    save_checkpoint(path, HairNet(HairNetConfig(width_multiplier=0.25)))
    payload = torch.load(path, weights_only=True)
    payload["config"]["width_multiplier"] = 0.5
    torch.save(payload, path)


def _truncated(path: Path, fitted) -> None:
    path.write_bytes(fitted[0].read_bytes()[:5000])


def _not_hairnet(path: Path) -> None:
    torch.save({"state_dict": torch.nn.Linear(3, 2).state_dict()}, path)


@pytest.mark.parametrize("make, message", [
    (lambda p, f: _truncated(p, f), "corrupt or truncated"),
    (lambda p, f: _other_architecture(p), "do not match the config's architecture"),
    (lambda p, f: _not_hairnet(p), "not a HairNet checkpoint"),
])
def test_bad_checkpoint_gives_one_line(make, message, fitted, tmp_path, capsys):
    checkpoint = tmp_path / "bad.pt"
    make(checkpoint, fitted)
    assert to_coreml.main([str(checkpoint), "-o", str(tmp_path / "out.mlpackage")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith(f"error: {checkpoint}:") and message in error
    assert _folder_holds_only(tmp_path, {"bad.pt"})


def test_unwritable_output_folder(fitted, tmp_path, capsys):
    if os.geteuid() == 0:  # root writes through file modes; sysfs refuses even root
        folder = Path("/sys")
        if not folder.is_dir():
            pytest.skip("running as root without /sys: no folder is unwritable")
    else:
        folder = tmp_path / "readonly"
        folder.mkdir(mode=0o555)
    output = folder / "hairnet.mlpackage"
    assert to_coreml.main([str(fitted[0]), "-o", str(output)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith(f"error: {output}:") and "cannot write" in error
    assert not output.exists()


def test_existing_output_needs_force_and_survives_a_failed_write(package, fitted, tmp_path, capsys, monkeypatch):
    output = tmp_path / "hairnet.mlpackage"
    shutil.copytree(package("fp16"), output)
    before = sorted((p.relative_to(output), p.read_bytes()) for p in output.rglob("*") if p.is_file())

    assert to_coreml.main([str(fitted[0]), "-o", str(output)]) == 1
    assert "pass --force" in capsys.readouterr().err

    # What is tested is the writing, so skip the conversion: "build" hands back the fp16 package.
    built = ct.models.MLModel(str(package("fp16")), skip_model_load=True)
    monkeypatch.setattr(to_coreml, "build", lambda *args: built)

    def full_disk(self, path):
        Path(path).mkdir()
        (Path(path) / "partial").write_bytes(b"x")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ct.models.MLModel, "save", full_disk)
    assert to_coreml.main([str(fitted[0]), "-o", str(output), "--force"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith(f"error: {output}:") and "No space left" in error
    after = sorted((p.relative_to(output), p.read_bytes()) for p in output.rglob("*") if p.is_file())
    assert after == before
    assert _folder_holds_only(tmp_path, {"hairnet.mlpackage"})


def test_help_runs_as_a_script():
    result = subprocess.run([sys.executable, str(ROOT / "conversion" / "to_coreml.py"), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "--palettize" in result.stdout and "--precision" in result.stdout and "--force" in result.stdout


def test_default_output_names():
    checkpoint = Path("checkpoints/hairnet.pt")
    assert to_coreml.default_output(checkpoint, "fp16", None) == Path("checkpoints/hairnet.mlpackage")
    assert to_coreml.default_output(checkpoint, "fp32", None) == Path("checkpoints/hairnet_fp32.mlpackage")
    assert to_coreml.default_output(checkpoint, "fp16", 6) == Path("checkpoints/hairnet_pal6.mlpackage")


# --- the MIL interpreter's kernels against PyTorch and coremltools ----------------------------------

@pytest.mark.parametrize("cin, cout, groups, stride, pad_type, padding, dilation", [
    (3, 8, 1, 2, "custom", 1, 1),
    (6, 6, 6, 1, "custom", 1, 1),  # depthwise
    (6, 4, 2, 1, "valid", 0, 1),  # grouped
    (4, 5, 1, 1, "custom", 2, 2),  # dilated
    (4, 5, 1, 1, "same", "same", 1),
])
def test_conv_matches_torch(cin, cout, groups, stride, pad_type, padding, dilation):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, cin, 11, 11, generator=g)
    weight, bias = torch.randn(cout, cin // groups, 3, 3, generator=g), torch.randn(cout, generator=g)
    expected = F.conv2d(x, weight, bias, stride, padding, dilation, groups).numpy()
    pad = [padding] * 4 if pad_type == "custom" else [0] * 4
    got = mil_interpreter.conv(x.numpy(), weight.numpy(), bias.numpy(), strides=[stride] * 2, pad_type=pad_type,
                               pad=pad, dilations=[dilation] * 2, groups=groups)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_batch_norm_matches_torch():
    g = torch.Generator().manual_seed(2)
    x, mean, var, gamma, beta = (torch.randn(*shape, generator=g) for shape in [(2, 3, 4, 4)] + [(3,)] * 4)
    var = var.abs() + 0.1
    expected = F.batch_norm(x, mean, var, gamma, beta, eps=1e-3).numpy()
    got = mil_interpreter.batch_norm(x.numpy(), mean.numpy(), var.numpy(), gamma.numpy(), beta.numpy(), epsilon=1e-3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("nbits", [4, 6, 8])
def test_lut_to_dense_matches_coremltools(nbits):
    from coremltools.converters.mil.mil.ops.defs.iOS16.constexpr_ops import constexpr_lut_to_dense
    from coremltools.optimize import _utils as optimize_utils

    rng = np.random.default_rng(nbits)
    lut = rng.standard_normal(1 << nbits).astype(np.float16)
    shape = np.array([5, 3, 7], dtype=np.uint32)
    indices = rng.integers(0, 1 << nbits, size=int(np.prod(shape))).astype(np.uint8)
    packed = optimize_utils.pack_elements_into_bits(indices, nbits)
    expected = constexpr_lut_to_dense.decompress(lut, packed, shape)
    np.testing.assert_array_equal(mil_interpreter.constexpr_lut_to_dense(packed, lut, shape), expected)
    np.testing.assert_array_equal(expected.ravel(), lut[indices])


def test_slice_by_index_masks_and_strides():
    x = np.arange(2 * 3 * 16 * 16).reshape(2, 3, 16, 16)
    got = mil_interpreter.slice_by_index(x, begin=[0, 1, 2, 2], end=[0, 0, 16, 16], stride=[1, 1, 4, 4],
                                         begin_mask=[True, False, False, False], end_mask=[True, True, False, False],
                                         squeeze_mask=[False, False, False, False])
    np.testing.assert_array_equal(got, x[:, 1:, 2::4, 2::4])
