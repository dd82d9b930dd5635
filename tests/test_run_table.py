"""benchmarks/runs.py's description of a run: the settings that tell it apart from the defaults."""

import sys
from dataclasses import asdict
from pathlib import Path

from hairnet.contract import DEFAULT_CROP
from hairnet.train import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import runs  # noqa: E402


def _config(**changes) -> dict:
    return {**asdict(TrainConfig(stages=(3,))), **changes}


def test_defaults_give_only_the_architecture_crop_and_learning_rate():
    assert runs.describe(_config()) == f"α 0.5; crop k {DEFAULT_CROP.k:g}; lr 3: 1e-05"


def test_one_start_several_starts_and_changed_loss_weights_are_named():
    one = runs.describe(_config(init_checkpoint="runs/a/last.pt"))
    assert "init a/last.pt" in one
    several = runs.describe(_config(init_checkpoint=["runs/a/last.pt", "runs/b/stage1.pt"]))
    assert "init average of a/last.pt, b/stage1.pt" in several
    weighted = runs.describe(_config(loss_weights={**asdict(TrainConfig())["loss_weights"], "segmentation": 3.0}))
    assert "λ segmentation 3" in weighted and "color" not in weighted
