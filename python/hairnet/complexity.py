"""Parameter count, multiply-accumulates and the custom ops a trace records."""

from __future__ import annotations

import torch
from torch import nn

from .contract import INPUT_SIZE


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, size: int = INPUT_SIZE) -> int:
    """Multiply-accumulates of convolutions and fully connected layers for one image."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += output.numel() * kernel

    def linear_hook(module: nn.Linear, _inputs, output) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    hooks = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return total


def traced_custom_ops(model: nn.Module, size: int = INPUT_SIZE) -> list[str]:
    """Names of non-ATen ops in the TorchScript trace (each distinct name once, in graph order)."""
    was_training = model.training
    model.eval()
    try:
        traced = torch.jit.trace(model, torch.zeros(1, 3, size, size), check_trace=False)
    finally:
        model.train(was_training)
    names = []
    for node in traced.inlined_graph.nodes():
        kind = node.kind()
        if not kind.startswith(("aten::", "prim::")) and kind not in names:
            names.append(kind)
    return names
