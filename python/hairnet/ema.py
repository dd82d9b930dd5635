"""Exponential moving average of a model's weights ("weight EMA", a training lever of issue #11).

Optimiser steps move the raw weights; the average trails them and is what gets validated and
shipped. Buffers are averaged too, so BatchNorm statistics match the averaged weights.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.average = {name: value.detach().clone() for name, value in model.state_dict().items()}

    def current_decay(self) -> float:
        # Warm-up as in TensorFlow's ExponentialMovingAverage(num_updates): a short average at first,
        # so the weights a stage starts from do not linger for thousands of steps.
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        keep = self.current_decay()
        self.updates += 1
        for name, value in model.state_dict().items():
            average = self.average[name]
            if average.is_floating_point():
                average.lerp_(value.detach(), 1.0 - keep)
            else:  # counters such as BatchNorm's num_batches_tracked
                average.copy_(value)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.average)

    @contextmanager
    def applied(self, model: nn.Module):
        """The model holds the averaged weights inside the block and its own weights again after it."""
        raw = {name: value.detach().clone() for name, value in model.state_dict().items()}
        self.copy_to(model)
        try:
            yield model
        finally:
            model.load_state_dict(raw)

    def state_dict(self) -> dict:
        return {"updates": self.updates, "average": self.average}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
        self.average = {name: value.clone() for name, value in state["average"].items()}
