"""Vanishing and exploding gradients: every number and curve on the cards is measured with autograd.

Sections (in card order):
  1. Why gradients vanish or explode: a deep linear network whose layers scale vectors by g.
  2. Gradient flow through 30-layer networks: plain sigmoid, the same net with skip connections,
     ReLU with He init, and ReLU with a too-large init.
  3. Residual connections: the Jacobian I + dF/dx, and what vanishing gradients do to training.
  4. Gradient clipping by value and by norm with torch.nn.utils, and Keras' per-tensor clipnorm.
  5. Recurrent networks: gradient norm over time steps for recurrent weights of spectral radius < 1, = 1, > 1.
"""

import math

import torch
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import mlp
from torch import nn


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def random_orthogonal(n):
    """A random n x n orthogonal matrix (it preserves vector norms)."""
    q, r = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


class Net(nn.Module):
    """`depth` layers h <- W act(h) + b of equal width (activation first, as in pre-activation ResNets);
    with residual=True each layer becomes h <- h + W act(h) + b."""

    def __init__(self, depth, width, act, residual=False, init_std=None):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        self.act, self.residual = act, residual
        for lin in self.layers:
            nn.init.zeros_(lin.bias)
            if init_std is None:
                nn.init.xavier_normal_(lin.weight)
            else:
                nn.init.normal_(lin.weight, std=init_std)

    def forward(self, x):
        """Returns the output and the list of hidden states h_0 = x, h_1, ..., h_depth."""
        hs = [x]
        for lin in self.layers:
            out = lin(self.act(hs[-1]))
            hs.append(hs[-1] + out if self.residual else out)
        return hs[-1], hs


def hidden_grad_norms(net, x, y):
    """Backprop an MSE loss on a batch; return ||dL/dh_l|| for l = 0..depth (h_0 is the input)."""
    x = x.clone().requires_grad_(True)
    out, hs = net(x)
    for h in hs[1:]:
        h.retain_grad()
    F.mse_loss(out, y).backward()
    return [h.grad.norm().item() for h in hs]


# --------------------------------------------------------------------------------------------
# 1. Repeated multiplication: a deep linear net whose every layer multiplies norms by g
# --------------------------------------------------------------------------------------------
def weight_scale(ctx):
    depth, width = 30, 32
    torch.manual_seed(0)
    qs = [random_orthogonal(width) for _ in range(depth)]
    ctx.value("lin_depth", depth)
    err = 0.1
    for tag, g in (("small", 1 - err), ("one", 1.0), ("big", 1 + err)):
        x = torch.randn(width, dtype=torch.float64, requires_grad=True)
        h = x
        for q in qs:
            h = (g * q) @ h
        u = torch.randn(width, dtype=torch.float64)
        (h @ (u / u.norm())).backward()  # upstream gradient of norm 1 at the output
        ctx.value(f"lin_g_{tag}", g)
        ctx.value(f"lin_grad_{tag}", x.grad.norm())  # = g ** depth exactly
        ctx.value(f"lin_pow_{tag}", g**depth)
        if tag == "small":
            ctx.value("lin_inv_small", 1 / x.grad.norm())
    ctx.value("lin_scale_err", err)

    # Sigmoid's largest slope (at z = 0), by autograd.
    z = torch.zeros(1, requires_grad=True)
    torch.sigmoid(z).backward()
    ctx.value("sig_grad_max", z.grad)


# --------------------------------------------------------------------------------------------
# 2. Gradient flow through 30 layers
# --------------------------------------------------------------------------------------------
def depth_flow(ctx):
    depth, width, batch, blowup = 30, 64, 128, 1.5
    he_std = math.sqrt(2 / width)
    variants = {
        "sigmoid": dict(act=torch.sigmoid),
        "sigmoid_res": dict(act=torch.sigmoid, residual=True),
        "relu_he": dict(act=torch.relu, init_std=he_std),
        "relu_big": dict(act=torch.relu, init_std=blowup * he_std),
    }
    torch.manual_seed(0)
    x, y = torch.randn(batch, width), torch.randn(batch, width)
    flows = {}
    for name, kw in variants.items():
        torch.manual_seed(1)
        net = Net(depth, width, **kw)
        norms = hidden_grad_norms(net, x, y)
        flows[name] = [n / norms[-1] for n in norms]  # relative to the gradient at the output
        ctx.value(f"flow_first_{name}", flows[name][0])  # gradient reaching the input / at the output
    ctx.value("flow_depth", depth)
    ctx.value("flow_width", width)
    ctx.value("flow_batch", batch)
    ctx.value("flow_blowup", blowup)
    ctx.value("flow_blowup_pow", blowup**depth)

    labels = {
        "sigmoid": "sigmoid, plain",
        "sigmoid_res": "sigmoid + skip (h + F(h))",
        "relu_he": "ReLU, He init",
        "relu_big": f"ReLU, {blowup:g}x He std",
    }

    def draw(fig):
        ax = fig.subplots()
        for name, label in labels.items():
            ax.semilogy(range(depth + 1), flows[name], label=label)
        ax.set_xlabel("layer l (0 = input)")
        ax.set_ylabel(r"$\|\partial L / \partial h_l\|$ (output = 1)")
        ax.set_title(f"Gradient reaching each layer, {depth} layers")
        ax.legend(fontsize=8, loc="lower right")

    ctx.figure("grad_flow_depth", draw, height=3.2)


def exploding_training(ctx):
    """The too-large-init ReLU net from the figure, trained with SGD: without and with norm clipping."""
    depth, width, batch, blowup, lr, steps, max_norm = 30, 64, 128, 1.5, 0.01, 10, 1.0
    torch.manual_seed(0)
    x, y = torch.randn(batch, width), torch.randn(batch, width)
    runs = {}
    for name, clip in (("noclip", None), ("clip", max_norm)):
        torch.manual_seed(1)
        net = Net(depth, width, torch.relu, init_std=blowup * math.sqrt(2 / width))
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        losses, norms = [], []
        for _ in range(steps):
            loss = F.mse_loss(net(x)[0], y)
            opt.zero_grad()
            loss.backward()
            # With max_norm=inf this only measures the total gradient norm.
            norms.append(torch.nn.utils.clip_grad_norm_(net.parameters(), clip or math.inf).item())
            opt.step()
            losses.append(loss.item())
            if not math.isfinite(loss.item()):
                break  # once the weights hold inf/NaN, every later step is NaN too
        runs[name] = (losses, norms)
    ctx.value("ex_lr", lr)
    ctx.value("ex_steps", steps)
    ctx.value("ex_max_norm", max_norm)
    ctx.value("ex_loss0", runs["noclip"][0][0])
    ctx.value("ex_gradnorm0", runs["noclip"][1][0])
    ctx.value("ex_loss1_is_nan", math.isnan(runs["noclip"][0][1]))
    ctx.value("ex_clip_loss_end", runs["clip"][0][-1])
    ctx.value("ex_clip_all_finite", all(math.isfinite(v) for v in runs["clip"][0]))


# --------------------------------------------------------------------------------------------
# 3. Residual connections
# --------------------------------------------------------------------------------------------
def residual(ctx):
    # The Jacobian of y = x + F(x) is I + dF/dx (checked with autograd on a small block).
    torch.manual_seed(0)
    width = 6
    block = mlp(width, width, width, act=nn.Tanh)
    x = torch.randn(width)
    jac_y = torch.autograd.functional.jacobian(lambda v: v + block(v), x)
    jac_f = torch.autograd.functional.jacobian(block, x)
    agree(ctx, "res_jac_tol", (jac_y - (torch.eye(width) + jac_f)).abs().max(), 1e-6)

    # A block starts as the identity only if its branch starts at zero: zero-initialise its last layer
    # (or the last normalisation's gamma). With default init, F(x) is far from 0.
    with torch.no_grad():
        default_dev = (block(x).norm() / x.norm()).item()
        nn.init.zeros_(block[2].weight)
        nn.init.zeros_(block[2].bias)
        ctx.value("res_zero_init_identity", bool(torch.equal(x + block(x), x)))
    ctx.value("res_default_dev", default_dev)

    # Even if every branch Jacobian is tiny, the product of (I + J_l) stays near I; the product of J_l vanishes.
    depth, eps = 30, 0.1
    torch.manual_seed(0)
    js = [eps * torch.randn(width, width, dtype=torch.float64) / math.sqrt(width) for _ in range(depth)]
    prod_plain = torch.eye(width, dtype=torch.float64)
    prod_res = torch.eye(width, dtype=torch.float64)
    for j in js:
        prod_plain = j @ prod_plain
        prod_res = (torch.eye(width, dtype=torch.float64) + j) @ prod_res
    ctx.value("res_prod_depth", depth)
    ctx.value("res_prod_eps", eps)
    ctx.value("res_prod_plain_norm", torch.linalg.matrix_norm(prod_plain, 2))
    ctx.value("res_prod_res_smin", torch.linalg.svdvals(prod_res).min())
    ctx.value("res_prod_res_smax", torch.linalg.svdvals(prod_res).max())

    # Training consequence: 30-layer sigmoid net, plain vs skip connections, same data, SGD.
    depth, width, batch, steps, lr = 30, 32, 64, 40, 0.1
    torch.manual_seed(0)
    x = torch.randn(batch, width)
    y = torch.sin(x @ torch.randn(width, width) / math.sqrt(width))  # a smooth target to fit
    curves, moved = {}, {}
    for name, res in (("plain", False), ("res", True)):
        torch.manual_seed(1)
        net = Net(depth, width, torch.sigmoid, residual=res)
        head = nn.Linear(width, width)
        start = [lin.weight.detach().clone() for lin in net.layers]
        opt = torch.optim.SGD([*net.parameters(), *head.parameters()], lr=lr)
        losses = []
        for _ in range(steps):
            loss = F.mse_loss(head(net(x)[0]), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves[name] = losses
        # How far each layer's weights moved, relative to their initial size.
        moved[name] = [
            ((lin.weight.detach() - w0).norm() / w0.norm()).item() for lin, w0 in zip(net.layers, start, strict=True)
        ]
    frozen = sum(1 for m in moved["plain"] if m == 0.0)  # layers whose float32 weights did not change at all
    ctx.value("tr_frozen_layers", frozen)
    ctx.value("tr_depth", depth)
    ctx.value("tr_steps", steps)
    ctx.value("tr_lr", lr)
    for name in curves:
        ctx.value(f"tr_loss0_{name}", curves[name][0])
        ctx.value(f"tr_loss_end_{name}", curves[name][-1])
        ctx.value(f"tr_move_first_{name}", moved[name][0])
        ctx.value(f"tr_move_last_{name}", moved[name][-1])

    def draw(fig):
        ax = fig.subplots()
        layers = range(1, depth + 1)
        ax.semilogy(layers, moved["plain"], "o-", ms=3, label="plain sigmoid")
        ax.semilogy(layers, moved["res"], "o-", ms=3, label="with skip connections")
        ax.set_xlabel("layer (1 = next to the input)")
        ax.set_ylabel(r"$\|\Delta W\| \,/\, \|W_0\|$")
        ax.set_title(f"Weight change after {steps} SGD steps")
        ax.text(1, 3e-11, f"plain, layers 1–{frozen}:\nexactly 0", fontsize=9, color="C0")
        ax.legend(fontsize=9, loc="center left")

    ctx.figure("weight_change_depth", draw)


# --------------------------------------------------------------------------------------------
# 4. Gradient clipping
# --------------------------------------------------------------------------------------------
def clipping(ctx):
    g = torch.tensor([2.0, 0.25])
    clip_value, max_norm = 0.5, 1.0

    p_val = nn.Parameter(torch.zeros(2))
    p_val.grad = g.clone()
    torch.nn.utils.clip_grad_value_([p_val], clip_value)
    p_norm = nn.Parameter(torch.zeros(2))
    p_norm.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_([p_norm], max_norm)  # returns the norm BEFORE clipping

    def angle(v):
        return math.degrees(math.atan2(v[1].item(), v[0].item()))

    ctx.value("clip_g", g)
    ctx.value("clip_g_norm", g.norm())
    ctx.value("clip_value", clip_value)
    ctx.value("clip_max_norm", max_norm)
    ctx.value("clip_val_out", p_val.grad)
    ctx.value("clip_val_out_norm", p_val.grad.norm())
    ctx.value("clip_norm_out", p_norm.grad)
    ctx.value("clip_norm_out_norm", p_norm.grad.norm())
    ctx.value("clip_norm_returned", total)
    ctx.value("clip_angle_g", angle(g))
    ctx.value("clip_angle_val", angle(p_val.grad))
    ctx.value("clip_angle_norm", angle(p_norm.grad))
    ctx.value("clip_cos_val", F.cosine_similarity(g, p_val.grad, dim=0))
    ctx.value("clip_cos_norm", F.cosine_similarity(g, p_norm.grad, dim=0))

    # A gradient already inside the limit is left alone.
    small = torch.tensor([0.3, -0.4])
    p_small = nn.Parameter(torch.zeros(2))
    p_small.grad = small.clone()
    ret = torch.nn.utils.clip_grad_norm_([p_small], max_norm)
    ctx.value("clip_small", small)
    ctx.value("clip_small_returned", ret)
    ctx.value("clip_small_unchanged", torch.equal(p_small.grad, small))

    # Keras clipnorm clips each weight tensor separately; PyTorch's clip_grad_norm_ uses the global norm.
    ga, gb = torch.tensor([3.0, 4.0]), torch.tensor([0.6, 0.8])
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    a.grad, b.grad = ga.clone(), gb.clone()
    glob = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
    ga_glob, gb_glob = a.grad.clone(), b.grad.clone()
    a.grad, b.grad = ga.clone(), gb.clone()
    for prm in (a, b):  # per tensor: what Keras' clipnorm does
        torch.nn.utils.clip_grad_norm_([prm], max_norm)
    ctx.value("kc_ga", ga)
    ctx.value("kc_gb", gb)
    ctx.value("kc_global_norm", glob)
    ctx.value("kc_glob_a", ga_glob)
    ctx.value("kc_glob_b", gb_glob)
    ctx.value("kc_per_a", a.grad)
    ctx.value("kc_per_b", b.grad)
    ctx.value("kc_per_total", torch.cat([a.grad, b.grad]).norm())

    out_v, out_n = p_val.grad.clone(), p_norm.grad.clone()

    def draw(fig):
        ax = fig.subplots()
        c = clip_value
        ax.fill([-c, c, c, -c], [-c, -c, c, c], color="C1", alpha=0.15, label=f"box |gᵢ| ≤ {c:g}")
        t = torch.linspace(0, 2 * math.pi, 200)
        ax.plot((max_norm * torch.cos(t)).tolist(), (max_norm * torch.sin(t)).tolist(), color="C2", lw=1,
                label=f"circle ‖g‖ = {max_norm:g}")  # fmt: skip
        for vec, col, lab in ((g, "C0", "gradient g"), (out_v, "C1", "clip by value"), (out_n, "C2", "clip by norm")):
            ax.annotate("", xy=vec.tolist(), xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": col, "lw": 2})
            ax.plot([], [], color=col, lw=2, label=lab)
        ax.set_aspect("equal")
        ax.set_xlim(-1.1, 2.2)
        ax.set_ylim(-1.1, 1.1)
        ax.set_title("Clipping a 2-D gradient")
        ax.legend(fontsize=8, loc="lower right")

    ctx.figure("clipping_2d", draw)


# --------------------------------------------------------------------------------------------
# 5. Recurrent networks: the same matrix at every time step
# --------------------------------------------------------------------------------------------
def rnn_spectral(ctx):
    hidden, steps = 16, 50
    torch.manual_seed(0)
    base = torch.randn(hidden, hidden, dtype=torch.float64)
    base = base / torch.linalg.eigvals(base).abs().max()  # spectral radius exactly 1
    u = torch.randn(hidden, dtype=torch.float64)
    u = u / u.norm()
    radii = (0.9, 1.0, 1.1)
    curves = {}
    for rho in radii:
        w = rho * base
        h0 = torch.randn(hidden, dtype=torch.float64)
        hs = [h0.requires_grad_(True)]
        for _ in range(steps):
            hs.append(w @ hs[-1])  # linear recurrence h_t = W h_{t-1} (inputs add nothing to the Jacobian)
            hs[-1].retain_grad()
        (hs[-1] @ u).backward()  # a loss at the last step with gradient u, norm 1
        curves[rho] = [hs[steps - k].grad.norm().item() for k in range(steps + 1)]  # k steps back in time
    ctx.value("rnn_hidden", hidden)
    ctx.value("rnn_steps", steps)
    for tag, rho in zip(("small", "one", "big"), radii, strict=True):
        ctx.value(f"rnn_rho_{tag}", rho)
        ctx.value(f"rnn_grad_{tag}", curves[rho][-1])
        ctx.value(f"rnn_pow_{tag}", rho**steps)

    # A tanh RNN with the same large recurrent weight: saturation limits the blow-up.
    w = 1.1 * base
    h0 = torch.randn(hidden, dtype=torch.float64, requires_grad=True)
    h = h0
    for _ in range(steps):
        h = torch.tanh(w @ h)
    (h @ u).backward()
    ctx.value("rnn_tanh_grad_big", h0.grad.norm())

    def draw(fig):
        ax = fig.subplots()
        for rho in radii:
            ax.semilogy(range(steps + 1), curves[rho], label=f"ρ(W) = {rho:g}")
        ax.set_xlabel("time steps back from the loss")
        ax.set_ylabel(r"$\|\partial L / \partial h_{T-k}\|$")
        ax.set_title(f"Linear RNN, hidden size {hidden}")
        ax.legend(fontsize=9)

    ctx.figure("rnn_spectral_radius", draw)


def compute(ctx):
    weight_scale(ctx)
    depth_flow(ctx)
    exploding_training(ctx)
    residual(ctx)
    clipping(ctx)
    rnn_spectral(ctx)
