"""Training: exact resume, the three stages' freezing, and two-process DDP with gloo."""

import json
import os
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from hairnet.calibration import shift_hair_logit
from hairnet.checkpoint import load_checkpoint, save_checkpoint
from hairnet.contract import DEFAULT_CROP, CropRule
from hairnet.data.cache import CACHE_VERSION
from hairnet.ema import WeightAverage
from hairnet.errors import HairNetError
from hairnet.model import HairNet
from hairnet.train import Trainer, TrainConfig

SIZE = 224


def _write_cache(folder: Path, n: int, seed: int, masks: bool, crop=DEFAULT_CROP) -> None:
    """A tiny cache in the documented format: a bright square is 'hair' on a dark background."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    images = rng.integers(0, 60, size=(n, SIZE, SIZE, 3), dtype=np.uint8)
    seg = np.zeros((n, 2, SIZE, SIZE), np.uint8)
    for i in range(n):
        y, x = rng.integers(0, SIZE - 80, size=2)
        images[i, y : y + 80, x : x + 80] = 200
        seg[i, 1, y : y + 80, x : x + 80] = 1
    arrays = {
        "images": images, "seg": seg,
        "seg_known": np.tile([False, masks], (n, 1)),
        "color": rng.integers(-1, 4, size=n).astype(np.int8),
        "attrs": rng.integers(-1, 2, size=(n, 4)).astype(np.int8),
        "face_found": np.ones(n, bool), "boxes": np.zeros((n, 3), np.int32), "image_sizes": np.full((n, 2), SIZE, np.int32),
    }
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    (folder / "stems.json").write_text(json.dumps([f"s{i}" for i in range(n)]))
    rule = {"k": crop.k, "dx": crop.dx, "dy": crop.dy}
    dataset, split = folder.name.rsplit("-", 1)
    (folder / "meta.json").write_text(json.dumps({"version": CACHE_VERSION, "dataset": dataset, "split": split,
                                                  "crop_rule": rule}))


@pytest.fixture()
def config(tmp_path) -> TrainConfig:
    cache = tmp_path / "cache"
    for split, n in (("train", 8), ("val", 4)):
        _write_cache(cache / f"figaro1k-{split}", n, seed=len(split), masks=True)
        _write_cache(cache / f"celeba-attrs-{split}", n, seed=10 + len(split), masks=False)
    return TrainConfig(
        data_root=str(tmp_path / "no-data-needed"), cache_dir=str(cache), run_dir=str(tmp_path / "run"),
        stages=(1, 2, 3), epochs={"1": 2, "2": 1, "3": 1}, batch_size=4, width_multiplier=0.25,
        segmentation_sets=("figaro1k",), attribute_sets=("celeba-attrs",), threads=1,
    )


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


class _KilledAfterFirstEpoch(Trainer):
    def save(self, improved: bool, finished_stage: int | None = None) -> None:
        super().save(improved, finished_stage)
        raise KeyboardInterrupt  # as if SIGTERM arrived right after the epoch's checkpoint


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_ends_where_an_uninterrupted_run_does(config, tmp_path, ema_decay):
    config = replace(config, ema_decay=ema_decay)
    whole = Trainer(replace(config, run_dir=str(tmp_path / "whole")))
    whole.run()
    with pytest.raises(KeyboardInterrupt):
        _KilledAfterFirstEpoch(config).run()
    assert len(json.loads((Path(config.run_dir) / "log.json").read_text())) == 1
    resumed = Trainer(config)
    resumed.run(resume=True)
    expected, got = _state(whole.model), _state(resumed.model)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert [e["epoch"] for e in resumed.history] == [1, 2, 1, 1]
    # Each epoch says what its images/s were measured on (the run table prints it).
    assert {e["hardware"] for e in resumed.history} == {f"1 × CPU, {torch.get_num_threads()} threads"}
    for name in ("last.pt", "best.pt", "log.csv", "log.json", "curves.png", "state.pt"):
        assert (Path(config.run_dir) / name).exists(), name
    model, payload = load_checkpoint(Path(config.run_dir) / "last.pt")
    assert payload["training"]["history"][-1]["stage"] == 3


def test_stage_two_freezes_backbone_and_decoder(config):
    trainer = Trainer(replace(config, stages=(2,), epochs={"2": 1}))
    before = _state(trainer.model)
    trainer.run()
    after = _state(trainer.model)
    for name in before:
        changed = not torch.equal(before[name], after[name])
        if name.startswith(("backbone.", "decoder.")):
            assert not changed, f"{name} changed in stage 2"
    assert any(not torch.equal(before[n], after[n]) for n in before if n.startswith("attribute_heads."))


def test_an_existing_run_is_not_overwritten(config):
    Trainer(replace(config, stages=(1,), epochs={"1": 1})).run()
    with pytest.raises(Exception, match="--resume"):
        Trainer(replace(config, stages=(1,), epochs={"1": 1})).run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, config: TrainConfig, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.manual_seed(rank)  # different process state must not matter: DDP syncs the replicas
    trainer = Trainer(config)
    trainer.run()
    torch.save({k: v for k, v in trainer.model.named_parameters()}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_process_gloo_replicas_stay_identical(config, tmp_path):
    config = replace(config, stages=(1, 3), epochs={"1": 1, "3": 1})
    mp.spawn(_ddp_worker, args=(2, _free_port(), config, str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    start = Trainer(replace(config, run_dir=str(tmp_path / "unused"))).model
    assert rank0.keys() == rank1.keys()
    moved = 0
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
        moved += not torch.equal(rank0[name], dict(start.named_parameters())[name].detach())
    assert moved > 0  # they trained, and stayed identical


def test_init_checkpoint_starts_from_its_weights(config, tmp_path):
    first = Trainer(replace(config, stages=(1,), epochs={"1": 1}))
    first.run()
    start = Path(config.run_dir) / "last.pt"
    second = Trainer(replace(config, run_dir=str(tmp_path / "second"), stages=(2,), epochs={"2": 1},
                             init_checkpoint=str(start)))
    second.run()
    trained, _ = load_checkpoint(start)
    for name, tensor in trained.state_dict().items():
        if name.startswith("backbone.") and tensor.is_floating_point():  # frozen in stage 2
            assert torch.equal(tensor, second.model.state_dict()[name]), name
    # Several checkpoints: the run starts from the average of their weights.
    torch.manual_seed(1)
    untrained = tmp_path / "untrained.pt"
    save_checkpoint(untrained, HairNet(trained.config))
    other, _ = load_checkpoint(untrained)
    souped = Trainer(replace(config, run_dir=str(tmp_path / "souped"), stages=(2,), epochs={"2": 1},
                             init_checkpoint=(str(start), str(untrained))))
    souped.run()
    compared = 0
    for name, tensor in trained.state_dict().items():
        if name.startswith("backbone.") and tensor.is_floating_point() and not torch.equal(tensor, other.state_dict()[name]):
            average = (tensor + other.state_dict()[name]) / 2
            assert torch.allclose(souped.model.state_dict()[name], average, atol=1e-6), name
            compared += 1
    assert compared > 0
    wider = Trainer(replace(config, run_dir=str(tmp_path / "wider"), width_multiplier=0.5, init_checkpoint=str(start)))
    with pytest.raises(Exception, match="does not match"):
        wider.run()


def test_a_calibrated_checkpoint_is_trained_on_from_its_uncalibrated_boundary(config, tmp_path):
    Trainer(replace(config, stages=(1,), epochs={"1": 1})).run()
    trained, payload = load_checkpoint(Path(config.run_dir) / "last.pt")
    calibrated = tmp_path / "calibrated.pt"
    shift_hair_logit(trained, 0.4)
    save_checkpoint(calibrated, trained, payload["crop_rule"])
    second = Trainer(replace(config, run_dir=str(tmp_path / "second"), stages=(2,), epochs={"2": 1},
                             init_checkpoint=str(calibrated)))
    second.run()  # stage 2: the decoder is frozen, so its bias is still the one training started from
    uncalibrated, _ = load_checkpoint(Path(config.run_dir) / "last.pt")
    assert second.model.config.threshold == 0.5
    assert torch.allclose(second.model.decoder.classifier.bias, uncalibrated.decoder.classifier.bias, atol=1e-6)


def test_a_run_with_its_own_crop_rule_reads_matching_caches_and_ships_the_rule(config, tmp_path):
    wide = CropRule(k=2.0, dx=0.0, dy=-0.08)
    cache = tmp_path / "wide-cache"
    for split, n in (("train", 8), ("val", 4)):
        _write_cache(cache / f"figaro1k-{split}", n, seed=len(split), masks=True, crop=wide)
    run = replace(config, cache_dir=str(cache), run_dir=str(tmp_path / "wide"), stages=(1,), epochs={"1": 1},
                  crop_rule={"k": 2.0, "dx": 0.0, "dy": -0.08}, soft_iou=0.5, lovasz=0.5, balance_classes=True)
    Trainer(run).run()
    _, payload = load_checkpoint(Path(run.run_dir) / "last.pt")
    assert payload["crop_rule"] == wide
    # The end of the stage is kept for runs that continue from it (an ablation of later stages).
    stage_end, stage_payload = load_checkpoint(Path(run.run_dir) / "stage1.pt")
    assert stage_payload["crop_rule"] == wide and len(stage_payload["training"]["history"]) == 1
    # The default-rule caches of the fixture are refused by a run that frames differently.
    with pytest.raises(Exception, match="crop rule"):
        Trainer(replace(run, cache_dir=config.cache_dir, run_dir=str(tmp_path / "mixed"))).run()
    with pytest.raises(Exception, match="crop_rule"):
        Trainer(replace(run, crop_rule={"k": -1.0, "dx": 0.0, "dy": 0.0}))


def test_weight_average_follows_the_decay_and_gives_the_raw_weights_back():
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    average = WeightAverage(model, decay=0.5)
    start = _state(model)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model[1].num_batches_tracked += 3
    keep = average.current_decay()
    assert keep == pytest.approx(0.1)  # warm-up: the first updates average over few steps
    average.update(model)
    assert torch.allclose(average.average["0.weight"], start["0.weight"] + (1 - keep))
    assert average.average["1.num_batches_tracked"] == 3  # counters are copied, not averaged
    raw = _state(model)
    with average.applied(model):
        assert torch.allclose(model[0].weight, start["0.weight"] + (1 - keep))
    assert all(torch.equal(raw[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)


def test_with_ema_the_checkpoints_hold_the_average_and_the_log_measures_both(config):
    run = replace(config, ema_decay=0.9)
    with pytest.raises(KeyboardInterrupt):
        _KilledAfterFirstEpoch(run).run()  # mid-stage: the raw weights and the average differ
    entry = json.loads((Path(run.run_dir) / "log.json").read_text())[-1]
    assert {"val_hair_iou", "val_raw_hair_iou"} <= entry.keys()
    shipped, _ = load_checkpoint(Path(run.run_dir) / "last.pt")
    state = torch.load(Path(run.run_dir) / "state.pt", weights_only=True)
    average, raw = state["ema"]["average"], state["model"]
    assert any(not torch.equal(average[n], raw[n]) for n in raw if raw[n].is_floating_point())
    for name, value in shipped.state_dict().items():
        assert torch.equal(value, average[name].to(value.dtype)), name
    with pytest.raises(Exception, match="ema_decay"):
        Trainer(replace(config, ema_decay=1.5))


def test_set_repeats_draw_a_set_that_many_times_per_epoch_on_train_only(config):
    trainer = Trainer(replace(config, set_repeats={"figaro1k": 3}))
    train, val = trainer._stage_pool(3, "train"), trainer._stage_pool(3, "val")
    counts = np.bincount(train.population, minlength=len(train))
    # stage 3 pools figaro1k (8 images, first) and celeba-attrs (8): figaro's drawn 3×, the rest once
    assert counts.tolist() == [3] * 8 + [1] * 8
    assert np.bincount(val.population).tolist() == [1] * len(val)
    indices = trainer._epoch_indices(train.population, cap=None)
    assert len(indices) == 32 and np.bincount(indices, minlength=16).tolist() == counts.tolist()
    batch = train.batch(np.array([0, 0, 9]))  # a repeated image comes back as often as it is asked for
    assert batch["images"].shape[0] == 3 and torch.equal(batch["images"][0], batch["images"][1])


def test_class_balancing_counts_a_repeated_set_as_often_as_it_is_drawn(config):
    # celeba-attrs is the set with labels here: drawn twice, each of its labels must count twice
    plain = Trainer(config)._stage_pool(3, "train")
    repeated = Trainer(replace(config, set_repeats={"celeba-attrs": 2}))._stage_pool(3, "train")
    (color, attrs), (color2, attrs2) = plain.labels(), repeated.labels()
    assert len(color2) == len(repeated.population) == len(color) + 8
    for value in range(-1, 4):
        figaro = int((color[:8] == value).sum())  # stage 3's pool starts with figaro1k's 8 images
        assert (color2 == value).sum() == figaro + 2 * ((color == value).sum() - figaro), value
    assert (attrs2 == 1).sum() == (attrs[:8] == 1).sum() + 2 * (attrs[8:] == 1).sum()


def test_without_set_repeats_an_epoch_draws_as_before(config):
    trainer = Trainer(config)
    pool = trainer._stage_pool(1, "train")
    generator_state = trainer.generator.get_state()
    drawn = trainer._epoch_indices(pool.population, cap=None)
    trainer.generator.set_state(generator_state)
    assert drawn.tolist() == torch.randperm(len(pool), generator=trainer.generator).numpy().tolist()


def test_attribute_repeats_draw_images_with_the_attribute_more_often_in_training_only(config, tmp_path):
    # celeba-attrs' caches hold s0…s7; CelebA's attribute file says s2 and s5 wear a hat
    names = ["Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Straight_Hair", "Wavy_Hair",
             "Wearing_Hat"]
    rows = [f"s{i}.jpg " + " ".join("1" if name == "Wearing_Hat" and i in (2, 5) else "-1" for name in names)
            for i in range(8)]
    attribute_file = Path(config.data_root) / "CelebA" / "Anno" / "list_attr_celeba.txt"
    attribute_file.parent.mkdir(parents=True)
    attribute_file.write_text("\n".join(["8", " ".join(names), *rows]) + "\n")
    trainer = Trainer(replace(config, attribute_repeats={"Wearing_Hat": 4}, set_repeats={"celeba-attrs": 2}))
    train, val = trainer._stage_pool(3, "train"), trainer._stage_pool(3, "val")
    # stage 3 pools figaro1k (8 images, no attribute file: once each), then celeba-attrs (twice over)
    hats = [4 * 2 if i in (2, 5) else 2 for i in range(8)]
    assert np.bincount(train.population, minlength=16).tolist() == [1] * 8 + hats
    assert np.bincount(val.population).tolist() == [1] * len(val)
    color, _ = train.labels()  # class balancing sees the hats as often as training does
    assert len(color) == len(train.population)
    with pytest.raises(HairNetError, match=r"attribute_repeats\['Wearing_Hat'\].*0"):
        Trainer(replace(config, attribute_repeats={"Wearing_Hat": 0}))
    with pytest.raises(Exception, match="no attribute Beret"):
        Trainer(replace(config, attribute_repeats={"Beret": 2}))._stage_pool(2, "train")


@pytest.mark.parametrize("repeats, named", [({"lfw-parts": 2}, "'lfw-parts'"), ({"figaro1k": 0}, "figaro1k"),
                                            ({"figaro1k": 1.5}, "1.5")])
def test_set_repeats_that_name_no_training_set_or_no_whole_count_are_refused(config, repeats, named):
    with pytest.raises(HairNetError, match=named):
        Trainer(replace(config, set_repeats=repeats))


@pytest.mark.parametrize("jitter, named", [({"zoom": 0.2}, "zoom"), ({"scale": 0.6}, "scale"),
                                           ({"rotation": -5}, "rotation"), ({"shift": "wide"}, "shift")])
def test_jitter_that_is_unknown_or_out_of_range_is_refused_by_name(config, jitter, named):
    with pytest.raises(HairNetError, match=f"jitter.*{named}"):
        Trainer(replace(config, jitter=jitter))


def test_cli_init_takes_one_checkpoint_or_several_to_average(monkeypatch, tmp_path):
    import hairnet.train
    from hairnet import cli

    started = []

    class Recorder:
        def __init__(self, config):
            started.append(config.init_checkpoint)

        def run(self, resume=False):
            return tmp_path

    monkeypatch.setattr(hairnet.train, "Trainer", Recorder)
    assert cli.main(["train", "--run-dir", str(tmp_path), "--init", "a.pt"]) == 0
    assert cli.main(["train", "--run-dir", str(tmp_path), "--init", "a.pt", "b.pt"]) == 0
    assert cli.main(["train", "--run-dir", str(tmp_path)]) == 0
    assert started == ["a.pt", ("a.pt", "b.pt"), ""]
