"""Training throughput of the default config on this machine, in images per second.

    python benchmarks/train_throughput.py [--batch-size 16] [--steps 10] [--threads N]

Measures one optimisation step (forward, multi-task loss, backward, Adam) on random crops for
stage 1 (segmentation loss, everything trainable), stage 2 (backbone and decoder frozen) and
stage 3 (all losses, everything trainable), after two warm-up steps. Data loading and
augmentation are not included: the cache makes them small beside the step.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from hairnet.losses import LossWeights, multitask_loss
from hairnet.model import HairNet, HairNetConfig


def synthetic_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    return torch.rand(n, 3, 224, 224, generator=generator) * 2 - 1, {
        "seg": (torch.rand(n, 2, 224, 224, generator=generator) > 0.5).float(),
        "seg_known": torch.ones(n, 2, dtype=torch.bool),
        "color": torch.randint(0, 4, (n,), generator=generator),
        "attrs": torch.randint(0, 2, (n, 4), generator=generator),
    }


def measure(stage: int, batch_size: int, steps: int) -> float:
    torch.manual_seed(0)
    model = HairNet(HairNetConfig()).train()
    if stage == 2:
        for module in (model.backbone, model.decoder):
            module.requires_grad_(False)
            module.eval()
    weights = LossWeights(color=0, straight=0, wavy=0, bangs=0, bald=0) if stage == 1 else \
        LossWeights(segmentation=0) if stage == 2 else LossWeights()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(0)
    x, batch = synthetic_batch(batch_size, generator)
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        loss, _ = multitask_loss(model.logits(x), batch, weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
              "torch": torch.__version__, "batch_size": args.batch_size, "images_per_s": {}}
    for stage in (1, 2, 3):
        result["images_per_s"][f"stage{stage}"] = round(measure(stage, args.batch_size, args.steps), 2)
        print(f"stage {stage}: {result['images_per_s'][f'stage{stage}']:.1f} images/s "
              f"(batch {args.batch_size}, {torch.get_num_threads()} threads)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
