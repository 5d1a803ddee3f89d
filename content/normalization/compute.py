"""Normalization layers: BatchNorm, LayerNorm, GroupNorm, InstanceNorm, reproduced by hand.

Every "which axes" claim on the cards is checked by recomputing the layer's output from the mean
and variance over those axes and comparing with the PyTorch module.
"""

import math

import matplotlib
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from _lib.nets import n_params
from matplotlib.colors import ListedColormap


def normalize(x, dims, eps):
    """(x - mean) / sqrt(var + eps), statistics over `dims` (biased variance, as every norm layer uses)."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def maxdiff(a, b):
    return (a - b).abs().max().item()


def batchnorm(x, gamma, beta, eps=1e-5):
    """BatchNorm forward (training mode) for x of shape (N, D): the code on the card."""
    mu = x.mean(axis=0)
    var = x.var(axis=0)  # biased (1/N)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, (x_hat, var)


def bn_backward(dy, x_hat, var, gamma, eps=1e-5):
    """Gradients of batchnorm w.r.t. x, gamma, beta: the code on the card."""
    n = dy.shape[0]
    dxh = dy * gamma
    dx = n * dxh - dxh.sum(0) - x_hat * (dxh * x_hat).sum(0)
    dx /= n * np.sqrt(var + eps)
    return dx, (dy * x_hat).sum(0), dy.sum(0)


def mlp(bn, depth, width, d_in, d_out):
    """ReLU MLP with He init, optionally with BatchNorm1d after every hidden linear layer."""
    torch.manual_seed(0)
    layers, d = [], d_in
    for _ in range(depth):
        lin = nn.Linear(d, width, bias=not bn)  # a bias before BN is redundant
        nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        if lin.bias is not None:
            nn.init.zeros_(lin.bias)
        layers += [lin, nn.BatchNorm1d(width)] if bn else [lin]
        layers.append(nn.ReLU())
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


def train_losses(model, x, y, lr, steps, batch):
    """Mini-batch SGD on cross-entropy; per-step training losses (NaN/inf kept as they are)."""
    g = torch.Generator().manual_seed(1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def compute(ctx):
    # ------------------------------------------------------------------ the four norms on (N, C, H, W)
    n, c, h, w, groups = 4, 6, 5, 5, 3
    ctx.value("n", n)
    ctx.value("c", c)
    ctx.value("hw", [h, w])
    ctx.value("groups", groups)
    torch.manual_seed(0)
    x = 3 + 2 * torch.randn(n, c, h, w)
    ctx.value("x_shape", x.shape)

    bn = nn.BatchNorm2d(c)
    eps = bn.eps
    ctx.value("bn_eps", eps)
    ctx.value("bn_momentum", bn.momentum)
    with torch.no_grad():  # non-trivial gamma and beta, so the affine step is checked too
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_()
    gamma, beta = bn.weight.detach().view(1, c, 1, 1), bn.bias.detach().view(1, c, 1, 1)
    by_hand = gamma * normalize(x, (0, 2, 3), eps) + beta
    ctx.value("bn_hand_diff", maxdiff(bn(x).detach(), by_hand))

    # gamma = batch std, beta = batch mean undoes the normalization: BN can represent the identity.
    bn_id = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn_id.weight.copy_(torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False) + eps))
        bn_id.bias.copy_(x.mean(dim=(0, 2, 3)))
    ctx.value("bn_identity_diff", maxdiff(bn_id(x).detach(), x))

    ln = nn.LayerNorm([c, h, w])
    ctx.value("ln_hand_diff", maxdiff(ln(x).detach(), normalize(x, (1, 2, 3), ln.eps)))
    inorm = nn.InstanceNorm2d(c)
    ctx.value("in_hand_diff", maxdiff(inorm(x), normalize(x, (2, 3), inorm.eps)))
    gn = nn.GroupNorm(groups, c)
    grouped = normalize(x.view(n, groups, c // groups, h, w), (2, 3, 4), gn.eps).view(n, c, h, w)
    ctx.value("gn_hand_diff", maxdiff(gn(x).detach(), grouped))
    ctx.value("c_per_group", c // groups)

    # How many separate (mean, variance) pairs each layer computes on this tensor.
    ctx.value("stats_bn", c)
    ctx.value("stats_ln", n)
    ctx.value("stats_in", n * c)
    ctx.value("stats_gn", n * groups)
    ctx.value("values_per_bn_stat", n * h * w)
    ctx.value("values_per_ln_stat", c * h * w)

    # GroupNorm's two extremes.
    ctx.value("gn1_vs_ln", maxdiff(nn.GroupNorm(1, c)(x).detach(), ln(x).detach()))
    ctx.value("gnc_vs_in", maxdiff(nn.GroupNorm(c, c)(x).detach(), inorm(x)))

    # ------------------------------------------------------------------ running statistics
    feats, n_batches, bsz = 3, 3, 32
    ctx.value("rs_feats", feats)
    ctx.value("rs_batches", n_batches)
    ctx.value("rs_bsz", bsz)
    true_mean = torch.tensor([2.0, -1.0, 5.0])
    ctx.value("rs_true_mean", true_mean)
    torch.manual_seed(0)
    bn1 = nn.BatchNorm1d(feats)
    m = bn1.momentum
    r_mean, r_var = torch.zeros(feats), torch.ones(feats)  # PyTorch's initial buffers
    for _ in range(n_batches):
        xb = true_mean + torch.randn(bsz, feats)
        bn1(xb)
        r_mean = (1 - m) * r_mean + m * xb.mean(0)
        r_var = (1 - m) * r_var + m * xb.var(0, unbiased=True)  # running_var uses the unbiased variance
    ctx.value("rs_running_mean", bn1.running_mean)
    ctx.value("rs_mean_hand_diff", maxdiff(bn1.running_mean, r_mean))
    ctx.value("rs_var_hand_diff", maxdiff(bn1.running_var, r_var))
    ctx.value("rs_num_batches", bn1.num_batches_tracked.item())
    ctx.value("rs_fraction", 1 - (1 - m) ** n_batches)  # share of the way from 0 to the true mean
    target = 0.99  # share of the way to the true mean
    ctx.value("rs_target", target)
    ctx.value("rs_steps_99", math.ceil(math.log(1 - target) / math.log(1 - m)))

    # Same batch, train vs eval mode.
    xb = true_mean + torch.randn(bsz, feats)
    y_train = bn1(xb).detach()
    bn1.eval()
    y_eval = bn1(xb).detach()
    bn1.train()
    ctx.value("rs_train_eval_diff", maxdiff(y_train, y_eval))
    ctx.value("rs_eval_mean", y_eval.mean(0))
    ctx.value("rs_train_mean", y_train.mean(0))

    # Running mean over many batches, for the figure.
    torch.manual_seed(0)
    bn_long = nn.BatchNorm1d(1)
    long_steps, long_mu, long_bsz = 60, 3.0, 16
    batch_means, run_means = [], []
    for _ in range(long_steps):
        xb1 = long_mu + torch.randn(long_bsz, 1)
        bn_long(xb1)
        batch_means.append(xb1.mean().item())
        run_means.append(bn_long.running_mean.item())

    # Train mode: a sample's output depends on the rest of its batch; eval mode: it does not.
    torch.manual_seed(0)
    bn_dep = nn.BatchNorm1d(feats)
    probe = true_mean + torch.randn(1, feats)
    other1, other2 = (true_mean + torch.randn(7, feats) for _ in range(2))
    out1 = bn_dep(torch.cat([probe, other1]))[0]
    out2 = bn_dep(torch.cat([probe, other2]))[0]
    ctx.value("dep_train_diff", maxdiff(out1, out2))
    bn_dep.eval()
    ctx.value("dep_eval_diff", maxdiff(bn_dep(torch.cat([probe, other1]))[0], bn_dep(torch.cat([probe, other2]))[0]))

    # ------------------------------------------------------------------ small batches
    bn_small = nn.BatchNorm1d(feats)
    try:
        bn_small(torch.randn(1, feats))
        ctx.value("bs1_error", "none")
    except ValueError as err:
        ctx.value("bs1_error", str(err).split(",")[0])  # "Expected more than 1 value per channel when training"
    two = torch.tensor([[1.0, 10.0, -3.0], [4.0, 10.5, 100.0]])
    out_two = bn_small(two).detach()
    ctx.value("bs2_row1", two[0])
    ctx.value("bs2_row2", two[1])
    ctx.value("bs2_out1", out_two[0])
    ctx.value("bs2_out2", out_two[1])
    # Noise: the normalized value of one fixed sample, over many random batch companions.
    torch.manual_seed(0)
    fixed = torch.tensor([1.0])
    spread = {}
    for b in (4, 64):
        outs = []
        for _ in range(200):
            batch = torch.cat([fixed, torch.randn(b - 1)]).unsqueeze(1)
            outs.append(normalize(batch, (0,), eps)[0, 0].item())
        spread[b] = float(np.std(outs))
    ctx.value("noise_small_b", 4)
    ctx.value("noise_big_b", 64)
    ctx.value("noise_small", spread[4])
    ctx.value("noise_big", spread[64])

    # ------------------------------------------------------------------ why it helps
    torch.manual_seed(0)
    lin = nn.Linear(10, 5, bias=False)
    xs = torch.randn(32, 10)
    bn_s = nn.BatchNorm1d(5)
    scale = 10.0
    ctx.value("scale", scale)
    out_a = bn_s(xs @ lin.weight.T)
    out_b = bn_s(xs @ (scale * lin.weight).T)
    ctx.value("scale_inv_diff", maxdiff(out_a.detach(), out_b.detach()))
    w1 = lin.weight.detach().clone().requires_grad_(True)
    w2 = (scale * lin.weight.detach()).requires_grad_(True)
    target = torch.randn(32, 5)
    F.mse_loss(bn_s(xs @ w1.T), target).backward()
    F.mse_loss(bn_s(xs @ w2.T), target).backward()
    ctx.value("scale_grad_ratio", (w1.grad.norm() / w2.grad.norm()).item())
    # A bias before BatchNorm is cancelled by the mean subtraction.
    bias = torch.randn(5)
    ctx.value("bias_cancel_diff", maxdiff(bn_s(xs @ lin.weight.T + bias).detach(), out_a.detach()))

    # Higher learning rates: a 6-layer He-initialized ReLU MLP with and without BatchNorm.
    torch.manual_seed(0)
    xd = torch.randn(512, 20)
    yd = (xd @ torch.randn(20, 3) + 0.5 * torch.randn(512, 3)).argmax(1)
    depth, width, steps, batch = 6, 64, 100, 64
    lr_low, lr_high = 0.1, 1.5
    ctx.value("lr_depth", depth)
    ctx.value("lr_steps", steps)
    ctx.value("lr_low", lr_low)
    ctx.value("lr_high", lr_high)
    curves = {}
    for bn_on in (False, True):
        for lr in (lr_low, lr_high):
            curves[bn_on, lr] = train_losses(mlp(bn_on, depth, width, 20, 3), xd, yd, lr, steps, batch)
            finite = [v for v in curves[bn_on, lr] if math.isfinite(v)]
            tag = ("bn" if bn_on else "plain") + ("_high" if lr == lr_high else "_low")
            diverged = len(finite) < steps
            ctx.value(f"{tag}_diverged", diverged)
            if diverged:
                ctx.value(f"{tag}_nan_step", len(finite) + 1)
            else:
                ctx.value(f"{tag}_final", float(np.mean(curves[bn_on, lr][-10:])))

    # ------------------------------------------------------------------ LayerNorm in sequence models
    torch.manual_seed(0)
    bsz_t, seq, d_model = 2, 5, 8
    ctx.value("ln_tokens_shape", [bsz_t, seq, d_model])
    tokens = torch.randn(bsz_t, seq, d_model)
    ln_t = nn.LayerNorm(d_model)
    full = ln_t(tokens).detach()
    ctx.value("ln_token_alone_diff", maxdiff(ln_t(tokens[1, 3]).detach(), full[1, 3]))
    ln_t.eval()
    ctx.value("ln_train_eval_diff", maxdiff(ln_t(tokens).detach(), full))
    ctx.value("ln_buffers", sum(b.numel() for b in ln_t.buffers()))
    # Padding: append 3 zero tokens to each sequence; does a real token's output change?
    pad = 3
    ctx.value("pad", pad)
    padded = torch.cat([tokens, torch.zeros(bsz_t, pad, d_model)], dim=1)
    ctx.value("ln_pad_diff", maxdiff(ln_t(padded)[:, :seq].detach(), full))
    bn_t = nn.BatchNorm1d(d_model)  # expects (N, C, L): normalizes each feature over batch and time
    bn_plain = bn_t(tokens.transpose(1, 2)).transpose(1, 2)
    bn_pad = bn_t(padded.transpose(1, 2)).transpose(1, 2)[:, :seq]
    ctx.value("bn_pad_diff", maxdiff(bn_pad.detach(), bn_plain.detach()))

    # ------------------------------------------------------------------ NumPy implementation
    rng = np.random.default_rng(0)
    xn = rng.normal(2.0, 3.0, size=(16, 4))
    g_np, b_np = rng.uniform(0.5, 1.5, 4), rng.normal(size=4)
    y_np, (x_hat, var) = batchnorm(xn, g_np, b_np)
    ref = nn.BatchNorm1d(4).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(g_np))
        ref.bias.copy_(torch.from_numpy(b_np))
    xt = torch.from_numpy(xn).requires_grad_(True)
    y_ref = ref(xt)
    ctx.value("np_shape", list(xn.shape))
    ctx.value("np_forward_diff", float(np.abs(y_np - y_ref.detach().numpy()).max()))
    dy = rng.normal(size=xn.shape)
    y_ref.backward(torch.from_numpy(dy))
    dx, dg, db = bn_backward(dy, x_hat, var, g_np)
    ctx.value("np_dx_diff", float(np.abs(dx - xt.grad.numpy()).max()))
    ctx.value("np_dgamma_diff", float(np.abs(dg - ref.weight.grad.numpy()).max()))
    ctx.value("np_dbeta_diff", float(np.abs(db - ref.bias.grad.numpy()).max()))
    ctx.value("np_dx_colsum", float(np.abs(dx.sum(0)).max()))  # BN's input gradient sums to 0 per feature

    # ------------------------------------------------------------------ parameter counts
    def n_buffers(mod):
        return sum(b.numel() for b in mod.buffers())

    ctx.value("pc_c", 64)
    ctx.value("pc_d", 768)
    ctx.value("pc_groups", 32)
    ctx.value("pc_bn2d", n_params(nn.BatchNorm2d(64)))
    ctx.value("pc_bn2d_buffers", n_buffers(nn.BatchNorm2d(64)))
    ctx.value("pc_ln", n_params(nn.LayerNorm(768)))
    ctx.value("pc_gn", n_params(nn.GroupNorm(32, 64)))
    ctx.value("pc_in", n_params(nn.InstanceNorm2d(64)))
    ctx.value("pc_ln_chw", n_params(nn.LayerNorm([64, 8, 8])))

    # ------------------------------------------------------------------ figures
    def set_ids(kind):
        """For an (N, C) grid: which normalization set each cell belongs to (H, W always included)."""
        ids = np.zeros((n, c), dtype=int)
        for i in range(n):
            for j in range(c):
                ids[i, j] = {
                    "BatchNorm": j,
                    "LayerNorm": i,
                    "InstanceNorm": i * c + j,
                    "GroupNorm": i * groups + j // (c // groups),
                }[kind]
        return ids

    # tab20 without its two grey entries (grey would vanish in the night-mode rendering).
    tab20 = matplotlib.colormaps["tab20"]
    no_grey = ListedColormap([tab20(i) for i in range(20) if i not in (14, 15)])

    def draw_axes(fig):
        axes = fig.subplots(2, 2)
        for ax, kind in zip(axes.flat, ["BatchNorm", "LayerNorm", "InstanceNorm", "GroupNorm"], strict=True):
            ids = set_ids(kind)
            # Shuffle colours so that neighbouring sets look different.
            perm = np.random.default_rng(3).permutation(ids.max() + 1)
            ax.imshow(perm[ids], cmap=no_grey if ids.max() < no_grey.N else "viridis", aspect="auto")
            ax.set_xticks(np.arange(c + 1) - 0.5, minor=True)
            ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
            ax.grid(which="major", visible=False)
            ax.grid(which="minor", color="C7", linewidth=0.8)
            ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
            ax.set_title(kind if kind != "GroupNorm" else f"GroupNorm ({groups} groups)", fontsize="medium")
            ax.set_xlabel("channel C")
            ax.set_ylabel("sample N")
        fig.suptitle("Same colour: one mean and variance (over all H×W)", fontsize="small")

    ctx.figure("norm_axes", draw_axes, height=3.6)

    def draw_running(fig):
        ax = fig.subplots()
        t = list(range(1, long_steps + 1))
        ax.plot(t, batch_means, ".", ms=4, label="batch mean")
        ax.plot(t, run_means, label="running_mean")
        ax.axhline(long_mu, ls="--", color="C2", label="true mean")
        ax.set_xlabel("training batch")
        ax.set_title(f"BatchNorm running_mean, momentum {m:g}")
        ax.legend(loc="lower right")

    ctx.figure("running_mean", draw_running)

    def draw_lr(fig):
        ax = fig.subplots()
        t = list(range(1, steps + 1))
        top = 2.5
        for (bn_on, lr), ls in zip(curves, ["--", "-", "--", "-"], strict=True):
            color = "C1" if bn_on else "C0"
            ax.plot(t, curves[bn_on, lr], ls=ls, color=color, lw=1.2, label=f"{'BN' if bn_on else 'no BN'}, lr {lr:g}")
        blown = [i for i, v in enumerate(curves[False, lr_high]) if not math.isfinite(v)]
        if blown:  # mark where the plain network's loss became NaN
            ax.plot([blown[0] + 1], [top * 0.95], "x", color="C0", ms=9, mew=2)
            ax.annotate(
                f"NaN at step {blown[0] + 1}",
                (blown[0] + 1, top * 0.95),
                xytext=(8, -4),
                textcoords="offset points",
                color="C0",
            )
        ax.set_ylim(0, top)
        ax.set_xlabel("SGD step")
        ax.set_ylabel("training loss")
        ax.set_title(f"{depth}-layer ReLU MLP, He init")
        ax.legend(loc="upper right", fontsize="small")

    ctx.figure("bn_learning_rate", draw_lr)
