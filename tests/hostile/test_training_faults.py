"""Training faults through `hairnet train`: SIGTERM or SIGINT in the middle of an epoch, and a
checkpoint write that fails. The last complete epoch must stay loadable, `--resume` must carry on
from it (ending exactly where an uninterrupted run ends), and the run folder must hold no partial
file."""

from __future__ import annotations

import errno
import json
import os
import signal
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from conftest import attempt, no_partial_files, record
from hairnet.checkpoint import load_checkpoint
from hairnet.cli import main
from hairnet.data.cache import build_cache
from hairnet.errors import OutputError
from hairnet.train import Pool, Trainer
from test_text import figaro
from test_train import config  # noqa: F401  (the tiny synthetic caches and a four-epoch, three-stage run)

# Pool.batch calls before the signal: epoch 1 takes two training batches and one validation batch;
# the fifth call is epoch 2's second batch, so epoch 2 has already changed the weights in memory.
SIGNAL_AT_BATCH = 5


def write_config(config, path: Path) -> Path:
    path.write_text(json.dumps(asdict(config)))
    return path


@pytest.fixture()
def uninterrupted(config, tmp_path) -> dict[str, torch.Tensor]:  # noqa: F811
    trainer = Trainer(replace(config, run_dir=str(tmp_path / "uninterrupted")))
    trainer.run()
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_epoch_then_resume(config, uninterrupted, tmp_path, capsys, monkeypatch, signum):  # noqa: F811
    settings = write_config(config, tmp_path / "run.json")
    run_dir = Path(config.run_dir)
    real_batch, calls, handler = Pool.batch, [0], signal.getsignal(signum)

    def batch_then_signal(self, indices):
        calls[0] += 1
        if calls[0] == SIGNAL_AT_BATCH:
            os.kill(os.getpid(), signum)
        return real_batch(self, indices)

    monkeypatch.setattr(Pool, "batch", batch_then_signal)
    code = main(["train", "--config", str(settings)])
    out, err = capsys.readouterr()
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert "continue with --resume" in out
    assert signal.getsignal(signum) == handler and calls[0] == SIGNAL_AT_BATCH  # the handler is given back
    no_partial_files(run_dir, "hairnet train")

    # On disk: epoch 1, complete; the half of epoch 2 that ran is nowhere.
    model, payload = attempt("hairnet train", lambda: load_checkpoint(run_dir / "last.pt"))
    assert [e["epoch"] for e in payload["training"]["history"]] == [1]
    state = torch.load(run_dir / "state.pt", weights_only=True)
    assert (state["stage_index"], state["epoch"]) == (0, 1)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["model"].items() if v.is_floating_point())

    monkeypatch.setattr(Pool, "batch", real_batch)
    assert main(["train", "--config", str(settings), "--resume"]) == 0
    resumed = torch.load(run_dir / "state.pt", weights_only=True)["model"]
    assert all(torch.equal(resumed[k], v) for k, v in uninterrupted.items())
    no_partial_files(run_dir, "hairnet train")


def test_failing_checkpoint_write_keeps_the_previous_one(config, tmp_path, capsys, monkeypatch):  # noqa: F811
    config = replace(config, stages=(1,), epochs={"1": 2})
    settings = write_config(config, tmp_path / "run.json")
    run_dir = Path(config.run_dir)
    real_open, writes = open, {"last.pt": 0}

    def disk_full_on_second_last_pt(path, *args, **kwargs):
        if Path(path).name.startswith(".last.pt."):
            writes["last.pt"] += 1
            if writes["last.pt"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("hairnet.files.open", disk_full_on_second_last_pt, raising=False)
    code = main(["train", "--config", str(settings)])
    err = capsys.readouterr().err
    assert code == 2 and f"{run_dir / 'last.pt'}: cannot write (No space left on device)" in err
    assert "Traceback" not in err
    record("hairnet train", "clean errors")
    no_partial_files(run_dir, "hairnet train")
    _, payload = load_checkpoint(run_dir / "last.pt")
    assert [e["epoch"] for e in payload["training"]["history"]] == [1]
    assert torch.load(run_dir / "state.pt", weights_only=True)["epoch"] == 1

    monkeypatch.undo()
    assert main(["train", "--config", str(settings), "--resume"]) == 0
    _, payload = load_checkpoint(run_dir / "last.pt")
    assert [e["epoch"] for e in payload["training"]["history"]] == [1, 2]
    record("hairnet train", "correct answers")


def test_run_folder_that_cannot_be_created(config, tmp_path, capsys):  # noqa: F811
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    settings = write_config(replace(config, run_dir=str(blocker / "run")), tmp_path / "run.json")
    code = main(["train", "--config", str(settings)])
    err = capsys.readouterr().err
    assert code == 2 and str(blocker / "run") in err and "Traceback" not in err
    record("hairnet train", "clean errors")


@pytest.mark.parametrize("damage", ["truncated", "not a state", "another width"])
def test_resume_from_a_state_that_does_not_fit(config, tmp_path, capsys, damage):  # noqa: F811
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True)
    state = run_dir / "state.pt"
    if damage == "truncated":
        state.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    elif damage == "not a state":
        torch.save({"weights": torch.zeros(3)}, state)
    else:
        torch.save({"model": Trainer(replace(config, width_multiplier=0.5)).model.state_dict()}, state)
    code = main(["train", "--config", str(write_config(config, tmp_path / "run.json")), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and str(state) in err and "Traceback" not in err
    record("hairnet train", "clean errors")


@pytest.mark.parametrize("cache", ["a-file", "a-file/cache"])
def test_crop_cache_that_cannot_be_written(tmp_path, cache):
    root = figaro(tmp_path)
    (tmp_path / "a-file").write_text("in the way")
    error = attempt("hairnet train", lambda: build_cache("figaro1k", root, "train", cache_dir=tmp_path / cache, workers=1))
    assert isinstance(error, OutputError) and str(tmp_path / cache) in str(error)
    no_partial_files(tmp_path, "hairnet train")
