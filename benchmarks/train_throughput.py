"""Training throughput on this machine, in images per second, and where a step's time goes.

    python benchmarks/train_throughput.py [--checkpoint checkpoints/hairnet.pt] [--batch-size N] [--steps 10]
                                          [--threads N] [--device cpu|cuda]

Runs the training step as `hairnet train` does it with the recipe of the run that made a
checkpoint (the training config it carries: loss terms, jitter, weight average, batch size; by
default the shipped model's), on random crops in the
cache's layout (uint8 images, 0/1 masks), for stage 1 (segmentation loss, everything trainable),
stage 2 (backbone and decoder frozen) and stage 3 (all losses, everything trainable), after two
warm-up steps, and times each phase of it:

- transfer: the batch to the device;
- augment: `hairnet.data.augment` (geometry, light, blur, low resolution);
- step: forward, the multi-task loss (BCE + the config's soft IoU and Lovász terms), backward, Adam, and reading the loss terms back for the log;
- ema: the weight average's update (zero when the config has none).

Gathering crops from the cache is not timed: it is a memory copy, done by DataLoader workers
when `workers` is set. On a GPU every phase ends with a synchronisation, so the phases add up to
the step's wall time (a little above the unsynchronised trainer's).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from hairnet.checkpoint import read_checkpoint
from hairnet.data.augment import Jitter, augment
from hairnet.errors import HairNetError
from hairnet.losses import LossWeights, multitask_loss
from hairnet.model import HairNet, HairNetConfig
from hairnet.train import TrainConfig, hardware_name, stage_setup, to_model_input

PHASES = ("transfer", "augment", "step", "ema")
SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "hairnet.pt"


def recipe(checkpoint: Path) -> TrainConfig:
    """The training config a checkpoint carries (`hairnet train` and `hairnet export` keep it)."""
    values = read_checkpoint(checkpoint).get("training", {}).get("config")
    if not values:
        raise HairNetError(f"{checkpoint}: no training config recorded, so no recipe to time")
    return TrainConfig(**values)


def synthetic_batch(n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A batch as `Pool.batch` returns it."""
    return {
        "images": torch.randint(0, 256, (n, 224, 224, 3), generator=generator, dtype=torch.uint8),
        "seg": torch.randint(0, 2, (n, 2, 224, 224), generator=generator, dtype=torch.uint8),
        "seg_known": torch.ones(n, 2, dtype=torch.bool),
        "color": torch.randint(0, 4, (n,), generator=generator),
        "attrs": torch.randint(0, 2, (n, 4), generator=generator),
    }


def measure(config: TrainConfig, stage: int, batch_size: int, steps: int, device: torch.device) -> dict[str, float]:
    """Mean seconds per step of each phase."""
    torch.manual_seed(0)
    model = HairNet(HairNetConfig(width_multiplier=config.width_multiplier, masking=config.masking)).to(device).train()
    # A stage the run did not train (v19 trained only 2 and 3) is timed at the default learning rate.
    setup = stage_setup(model, stage, replace(config, lr={**TrainConfig().lr, **config.lr}),
                        LossWeights(**config.loss_weights))
    for module in setup.frozen:
        module.eval()
    jitter = Jitter(**config.jitter)
    generator = torch.Generator().manual_seed(0)
    cpu_batch = synthetic_batch(batch_size, generator)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    totals = dict.fromkeys(PHASES, 0.0)

    def lap(phase: str, since: float, counted: bool) -> float:
        sync()
        now = time.perf_counter()
        if counted:
            totals[phase] += now - since
        return now

    for step in range(steps + 2):
        counted = step >= 2
        sync()
        start = time.perf_counter()
        batch = {k: v.to(device, non_blocking=True) for k, v in cpu_batch.items()}
        start = lap("transfer", start, counted)
        images, batch["seg"] = augment(to_model_input(batch["images"]), batch["seg"].float(), generator, jitter)
        start = lap("augment", start, counted)
        loss, _ = multitask_loss(model.logits(images), batch, setup.weights, **config.segmentation_terms())
        setup.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        setup.optimizer.step()
        float(loss.detach())  # the trainer logs it every step
        start = lap("step", start, counted)
        if setup.ema:
            setup.ema.update(model)
        lap("ema", start, counted)
    return {phase: seconds / steps for phase, seconds in totals.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED, help="checkpoint whose training recipe to time")
    parser.add_argument("--batch-size", type=int, default=0, help="images per step (0: the config's)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = recipe(args.checkpoint)
    batch_size = args.batch_size or config.batch_size
    device = torch.device(args.device)
    hardware = hardware_name(device)
    result = {"checkpoint": str(args.checkpoint), "hardware": hardware, "torch": torch.__version__, "batch_size": batch_size,
              "stages": {}}
    for stage in (1, 2, 3):
        seconds = measure(config, stage, batch_size, args.steps, device)
        total = sum(seconds.values())
        images_per_s = batch_size / total
        result["stages"][f"stage{stage}"] = {"images_per_s": round(images_per_s, 2),
                                             "ms_per_step": {k: round(v * 1e3, 3) for k, v in seconds.items()}}
        shares = ", ".join(f"{phase} {seconds[phase] / total:.0%}" for phase in PHASES)
        print(f"stage {stage}: {images_per_s:.1f} images/s, {total * 1e3:.0f} ms/step ({shares}); "
              f"batch {batch_size} on {hardware}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
