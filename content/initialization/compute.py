"""Weight initialization: symmetry, signal propagation through depth, and PyTorch's init functions.

Every variance on the cards is measured on real tensors filled by `torch.nn.init` (or by the
default `nn.Linear` constructor) and compared with the textbook formula.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import mlp


def small_net(init, n_in, n_hidden):
    """n_in -> n_hidden (tanh) -> 1 MLP, with init(linear) applied to both linear layers."""
    torch.manual_seed(0)
    net = mlp(n_in, n_hidden, 1, act=nn.Tanh)
    for m in (net[0], net[2]):
        init(m)
    return net


def train_small(net, x, y, lr, steps):
    """Plain SGD on MSE. Returns the first-step gradient of W1, the history of W1[:, 0], the final loss."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    history = []
    for step in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        if step == 0:
            first_grad = net[0].weight.grad.clone()
        opt.step()
        history.append(net[0].weight[:, 0].detach().clone())
    return first_grad, torch.stack(history), F.mse_loss(net(x), y).item()


def row_spread(m):
    """Largest difference between any row of m and its first row (0 = all rows identical)."""
    return (m - m[0]).abs().max().item()


def deep_stds(init, act, depth, width, batch):
    """Push a standard-normal batch through `depth` Linear+act layers; std of each layer's output.

    Also returns the weight-gradient norm of the first layer for an MSE loss on random targets.
    """
    torch.manual_seed(0)
    layers = []
    for _ in range(depth):
        lin = nn.Linear(width, width)
        if init is not None:  # None = keep PyTorch's default init (weights and biases)
            init(lin.weight)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
    h = torch.randn(batch, width)
    stds = []
    for lin in layers:
        h = act(lin(h))
        stds.append(h.std().item())
    F.mse_loss(h, torch.randn_like(h)).backward()
    # float64 for the norm: squaring tiny float32 gradients would underflow to 0.
    return stds, layers[0].weight.grad.double().norm().item()


def compute(ctx):
    # ------------------------------------------------------------------ symmetry: constant init
    # A 3 -> 4 (tanh) -> 1 regression MLP trained with SGD from three different starts.
    n_in, n_hidden, c, lr, steps = 3, 4, 0.5, 0.1, 150
    ctx.value("sym_in", n_in)
    ctx.value("sym_hidden", n_hidden)
    ctx.value("sym_const", c)
    ctx.value("sym_lr", lr)
    ctx.value("sym_steps", steps)
    torch.manual_seed(0)
    x = torch.randn(64, n_in)
    y = torch.sin(2 * x[:, :1]) + x[:, 1:2] * x[:, 2:3]  # needs several different hidden units
    ctx.value("sym_n", x.shape[0])

    def constant(m):
        nn.init.constant_(m.weight, c)
        nn.init.zeros_(m.bias)

    def zeros(m):
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)

    def xavier_zero_bias(m):
        nn.init.xavier_normal_(m.weight)
        nn.init.zeros_(m.bias)  # zero biases are fine once the weights are random

    runs = {}
    for name, init in [("const", constant), ("zero", zeros), ("rand", xavier_zero_bias)]:
        net = small_net(init, n_in, n_hidden)
        g0, hist, loss = train_small(net, x, y, lr, steps)
        runs[name] = hist
        w1 = net[0].weight.detach()
        ctx.value(f"{name}_grad_row_spread", row_spread(g0))  # first step: are the rows' gradients equal?
        ctx.value(f"{name}_w1_row_spread", row_spread(w1))  # after training: are the units still equal?
        ctx.value(f"{name}_w1_rank", torch.linalg.matrix_rank(w1).item())
        ctx.value(f"{name}_loss", loss)
        if name == "const":
            ctx.value("const_grad_row", g0[0])
            ctx.value("const_w2_row_spread", row_spread(net[2].weight.detach().T))
        if name == "zero":
            ctx.value("zero_w1_norm", w1.norm().item())
            ctx.value("zero_w2_norm", net[2].weight.detach().norm().item())
            ctx.value("zero_b2", net[2].bias.item())
            ctx.value("y_mean", y.mean().item())

    # ------------------------------------------------------------------ signal through depth
    depth, width, batch = 30, 256, 256
    ctx.value("depth", depth)
    ctx.value("width", width)
    small_std = 0.01
    ctx.value("small_std", small_std)
    configs = {
        "small_tanh": (lambda w: nn.init.normal_(w, std=small_std), torch.tanh),
        "xavier_tanh": (nn.init.xavier_normal_, torch.tanh),
        "xavier_gain_tanh": (lambda w: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh")), torch.tanh),
        "he_relu": (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"), torch.relu),
        "xavier_relu": (nn.init.xavier_normal_, torch.relu),
        "std1_relu": (lambda w: nn.init.normal_(w, std=1.0), torch.relu),
        "default_relu": (None, torch.relu),
    }
    stds = {}
    for name, (init, act) in configs.items():
        stds[name], g_first = deep_stds(init, act, depth, width, batch)
        ctx.value(f"{name}_std_first", stds[name][0])
        ctx.value(f"{name}_std_last", stds[name][-1])
        if name == "std1_relu":  # activations near 1e31: the backward pass overflows
            ctx.value("std1_grad_nonfinite", not math.isfinite(g_first))
        else:
            ctx.value(f"{name}_grad_first", g_first)
        # Geometric-mean factor by which the std changes per layer.
        ctx.value(f"{name}_factor", (stds[name][-1] / stds[name][0]) ** (1 / (depth - 1)))
    ctx.value("small_factor_formula", small_std * math.sqrt(width))  # tanh ~ identity near 0
    short = 10
    ctx.value("short_depth", short)
    ctx.value("std1_relu_std_short", stds["std1_relu"][short - 1])
    ctx.value("default_relu_std_short", stds["default_relu"][short - 1])

    # ------------------------------------------------------------------ what ReLU does to the second moment
    # For zero-mean symmetric z, E[relu(z)^2] = Var(z) / 2 exactly, but Var(relu(z)) = (1/2 - 1/(2 pi)) Var(z):
    # ReLU outputs are not zero-mean. The next layer's Var(z') = n Var(w) E[x^2], so the second moment is
    # what propagates (He et al., 2015).
    g = torch.Generator().manual_seed(0)
    z = 3.0 * torch.randn(1_000_000, generator=g, dtype=torch.float64)
    r = torch.relu(z)
    ctx.value("relu_n", z.numel())
    ctx.value("relu_m2_ratio", (r.pow(2).mean() / z.var()).item())
    ctx.value("relu_var_ratio", (r.var() / z.var()).item())
    ctx.value("relu_var_theory", 0.5 - 1 / (2 * math.pi))
    # Var(w x) = Var(w) E[x^2] for independent w (zero-mean) and x (any mean): checked on ReLU outputs.
    w_s = torch.randn(1_000_000, generator=g, dtype=torch.float64) * 0.1
    ctx.value("prod_var_ratio", ((w_s * r).var() / (w_s.var() * r.pow(2).mean())).item())

    # ------------------------------------------------------------------ measured variances
    fan_in, fan_out = 512, 256
    ctx.value("fan_in", fan_in)
    ctx.value("fan_out", fan_out)
    torch.manual_seed(0)
    lin = nn.Linear(fan_in, fan_out)  # weight shape (out_features, in_features)
    ctx.value("lin_shape", lin.weight.shape)
    # PyTorch's default init, straight from the constructor.
    ctx.value("default_var", lin.weight.var().item())
    ctx.value("default_var_formula", 1 / (3 * fan_in))
    ctx.value("default_max_abs", lin.weight.abs().max().item())
    ctx.value("default_bias_max_abs", lin.bias.abs().max().item())
    ctx.value("default_bound", 1 / math.sqrt(fan_in))
    ctx.value("he_var_formula", 2 / fan_in)
    ctx.value("default_vs_he", (1 / (3 * fan_in)) / (2 / fan_in))

    w = lin.weight  # re-initialize the real layer in place with each scheme
    nn.init.xavier_normal_(w)
    ctx.value("xavier_normal_var", w.var().item())
    ctx.value("xavier_var_formula", 2 / (fan_in + fan_out))
    nn.init.xavier_uniform_(w)
    ctx.value("xavier_uniform_var", w.var().item())
    ctx.value("xavier_uniform_max_abs", w.abs().max().item())
    ctx.value("xavier_uniform_bound", math.sqrt(6 / (fan_in + fan_out)))
    nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")  # PyTorch's default mode
    ctx.value("he_fan_in_var", w.var().item())
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    ctx.value("he_fan_out_var", w.var().item())
    ctx.value("he_fan_out_formula", 2 / fan_out)
    ctx.value("gain_relu", nn.init.calculate_gain("relu"))
    ctx.value("gain_tanh", nn.init.calculate_gain("tanh"))

    # The trap: n = "neurons in the layer" (= fan_out) instead of fan_in, on a narrowing layer.
    wide, narrow = 512, 128
    ctx.value("trap_in", wide)
    ctx.value("trap_out", narrow)
    torch.manual_seed(0)
    h = torch.relu(torch.randn(4096, wide)) * math.sqrt(2)  # ReLU outputs with E[h^2] = 1
    w_ok = torch.empty(narrow, wide)
    nn.init.kaiming_normal_(w_ok, mode="fan_in", nonlinearity="relu")
    w_bad = torch.empty(narrow, wide)
    nn.init.kaiming_normal_(w_bad, mode="fan_out", nonlinearity="relu")  # variance 2 / 128
    ctx.value("trap_var_ok", (h @ w_ok.T).var().item())
    ctx.value("trap_var_bad", (h @ w_bad.T).var().item())
    ctx.value("trap_formula_ratio", wide // narrow)  # (2 / narrow) / (2 / wide)
    ctx.value("trap_ratio", (h @ w_bad.T).var().item() / (h @ w_ok.T).var().item())

    # fan_in of a convolution: in_channels * kernel area.
    conv = nn.Conv2d(16, 32, kernel_size=3)
    cin, cout, k = conv.in_channels, conv.out_channels, conv.kernel_size[0]
    ctx.value("conv_cin", cin)
    ctx.value("conv_cout", cout)
    ctx.value("conv_k", k)
    conv_fan_in, conv_fan_out = nn.init._calculate_fan_in_and_fan_out(conv.weight)
    ctx.value("conv_fan_in", conv_fan_in)
    ctx.value("conv_fan_out", conv_fan_out)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    ctx.value("conv_he_var", conv.weight.var().item())
    ctx.value("conv_he_formula", 2 / conv_fan_in)

    # ------------------------------------------------------------------ orthogonal init
    q = torch.empty(width, width)
    nn.init.orthogonal_(q)
    agree(ctx, "orth_tol", (q @ q.T - torch.eye(width)).abs().max().item(), 1e-5)
    v = torch.randn(width)
    out = v
    for _ in range(depth):
        nn.init.orthogonal_(q)
        out = q @ out
    ctx.value("orth_norm_ratio", (out.norm() / v.norm()).item())

    # ------------------------------------------------------------------ figures
    def draw_depth(fig):
        ax = fig.subplots()
        layers_idx = list(range(1, depth + 1))
        for name, label in [
            ("he_relu", "He + ReLU"),
            ("xavier_tanh", "Xavier + tanh"),
            ("xavier_relu", "Xavier + ReLU"),
            ("small_tanh", f"N(0, {small_std:g}²) + tanh"),
        ]:
            ax.semilogy(layers_idx, stds[name], marker="o", ms=2.5, label=label)
        ax.set_xlabel("layer")
        ax.set_ylabel("std of activations")
        ax.set_title(f"Width {width}, input std 1")
        ax.legend(loc="lower left", fontsize="small")

    ctx.figure("init_depth_std", draw_depth, height=3.4)

    def draw_symmetry(fig):
        ax1, ax2 = fig.subplots(1, 2, sharey=True)
        for ax, name, title in [(ax1, "const", f"constant {c:g}"), (ax2, "rand", "Xavier (random)")]:
            hist = runs[name]
            for j in range(n_hidden):
                ax.plot(range(1, steps + 1), hist[:, j].tolist(), label=f"unit {j + 1}")
            ax.set_title(title)
            ax.set_xlabel("SGD step")
        ax1.set_ylabel("weight from input 1")
        ax1.annotate(
            f"all {n_hidden} units\non one line",
            (steps * 0.5, runs["const"][steps // 2, 0].item()),
            xytext=(steps * 0.1, 0.1),
            arrowprops={"arrowstyle": "->"},
        )
        handles, labels = ax2.get_legend_handles_labels()
        ax1.legend(handles, labels, loc="lower right", fontsize="x-small")  # empty corner

    ctx.figure("init_symmetry", draw_symmetry, width=4.6)
