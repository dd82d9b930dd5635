"""benchmarks/train_throughput.py with one tiny step per stage: the report's shape, never speeds."""

import sys
from pathlib import Path

import pytest

from hairnet.checkpoint import save_checkpoint
from hairnet.contract import DEFAULT_CROP
from hairnet.errors import HairNetError
from hairnet.model import HairNet, HairNetConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import train_throughput  # noqa: E402


@pytest.fixture(scope="module")
def report():
    return train_throughput.main(["--batch-size", "2", "--steps", "1", "--threads", "1", "--device", "cpu"])


def test_every_stage_times_every_phase(report):
    assert set(report["stages"]) == {"stage1", "stage2", "stage3"}
    for stage in report["stages"].values():
        assert set(stage["ms_per_step"]) == set(train_throughput.PHASES)
        ms = stage["ms_per_step"]
        assert ms["transfer"] >= 0  # a no-op on the CPU
        assert ms["augment"] > 0 and ms["step"] > 0 and ms["ema"] > 0


def test_images_per_second_is_the_batch_over_the_phases_sum(report):
    for stage in report["stages"].values():
        step_seconds = sum(stage["ms_per_step"].values()) / 1e3
        assert stage["images_per_s"] == pytest.approx(2 / step_seconds, rel=0.02)
    assert report["batch_size"] == 2 and report["hardware"] == "CPU, 1 threads"
    assert report["checkpoint"].endswith("checkpoints/hairnet.pt")  # the shipped model's recipe


def test_a_checkpoint_without_its_training_config_is_refused(tmp_path):
    path = tmp_path / "bare.pt"
    save_checkpoint(path, HairNet(HairNetConfig()), DEFAULT_CROP)
    with pytest.raises(HairNetError, match="bare.pt: no training config recorded"):
        train_throughput.recipe(path)
