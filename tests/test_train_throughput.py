"""benchmarks/train_throughput.py with one tiny step per stage: the report's shape, never speeds."""

import sys
from pathlib import Path

import pytest

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
    assert report["batch_size"] == 2 and "torch threads" in report["hardware"]
