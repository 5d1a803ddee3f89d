"""The numbers and the figure of the starter topic, computed by PyTorch at build time.

`deckgen build` runs compute(ctx) in its own process (seeded, one thread) and caches the result
under a hash of this file: edit it, rebuild, and the cards change with the code.
"""

import torch
from torch import nn


def compute(ctx):
    # A number on a card comes from running a real layer, so it cannot drift from PyTorch.
    conv = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)
    ctx.value("conv_side", conv(torch.zeros(1, 3, 32, 32)).shape[-1])

    # ReLU has no derivative at 0; ask autograd which value it uses there.
    zero = torch.zeros((), requires_grad=True)
    torch.relu(zero).backward()
    ctx.value("relu_grad_at_0", zero.grad)

    # A figure: ReLU and the derivative autograd gives it.
    x = torch.linspace(-3, 3, 601, requires_grad=True)
    y = torch.relu(x)
    y.sum().backward()

    def draw(fig):
        ax = fig.subplots()
        ax.plot(x.detach(), y.detach(), label="ReLU(x)")
        ax.plot(x.detach(), x.grad, "--", label="derivative")
        ax.set_xlabel("x")
        ax.legend()

    ctx.figure("relu", draw)


def conv_side(n, k, s, p):
    """A drill's answer: a real Conv2d's output side, checked against the formula."""
    side = nn.Conv2d(1, 1, k, stride=s, padding=p)(torch.zeros(1, 1, n, n)).shape[-1]
    assert side == (n + 2 * p - k) // s + 1, (side, n, k, s, p)
    return {"side": side}
