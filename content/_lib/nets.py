"""Small networks and counting their parameters: what many cards compute on."""

from __future__ import annotations

from itertools import pairwise

from torch import nn


def n_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters, read from ``module.parameters()`` (works on the meta device too)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def mlp(*sizes: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``mlp(4, 8, 2)``: Linear(4, 8), act(), Linear(8, 2); an activation between layers, none after the last.

    The layers are created in order, so a seeded ``mlp(...)`` starts from the same weights as the
    same ``nn.Sequential`` written out by hand.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(sizes)):
        if i:
            layers.append(act())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)
