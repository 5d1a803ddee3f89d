"""Normalization layers: BatchNorm, LayerNorm, GroupNorm, InstanceNorm, reproduced by hand.

Every "which axes" claim on the cards is checked by recomputing the layer's output from the mean
and variance over those axes and comparing with the PyTorch module.
"""

import copy
import inspect
import math

import matplotlib
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import n_params
from matplotlib.colors import ListedColormap


def normalize(x, dims, eps):
    """(x - mean) / sqrt(var + eps), statistics over `dims` (biased variance, as every norm layer uses)."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def maxdiff(a, b):
    return (a - b).abs().max().item()


# ---------------------------------------------------------------------------------------------
# Code shown on cards verbatim (inspect.getsource), so it fits 38 columns.
# BatchNorm forward (training mode) and backward in NumPy, for x of shape (N, D).
# ---------------------------------------------------------------------------------------------
def batchnorm(x, gamma, beta,
              eps=1e-5):
    mu = x.mean(axis=0)
    var = x.var(axis=0)  # biased, 1/N
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    y = gamma * x_hat + beta
    return y, (x_hat, var)  # cache


def bn_backward(dy, x_hat, var, gamma,
                eps=1e-5):
    n = dy.shape[0]
    dxh = dy * gamma
    s1 = dxh.sum(0)
    s2 = (dxh * x_hat).sum(0)
    dx = n * dxh - s1 - x_hat * s2
    dx /= n * np.sqrt(var + eps)
    dgamma = (dy * x_hat).sum(0)
    return dx, dgamma, dy.sum(0)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(
            torch.ones(d))

    def forward(self, x):
        ms = (x * x).mean(-1, True)
        r = torch.rsqrt(ms + self.eps)
        return x * r * self.weight


@torch.no_grad()
def fold_bn(conv, bn):
    var = bn.running_var + bn.eps
    s = bn.weight / var.sqrt()
    mu = bn.running_mean
    f = copy.deepcopy(conv)
    f.weight.mul_(s.view(-1, 1, 1, 1))
    b = 0 if conv.bias is None \
        else conv.bias
    f.bias = nn.Parameter(
        (b - mu) * s + bn.bias)
    return f


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
    agree(ctx, "bn_hand_tol", maxdiff(bn(x).detach(), by_hand), 1e-5)

    # gamma = batch std, beta = batch mean undoes the normalization: BN can represent the identity.
    bn_id = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn_id.weight.copy_(torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False) + eps))
        bn_id.bias.copy_(x.mean(dim=(0, 2, 3)))
    agree(ctx, "bn_identity_tol", maxdiff(bn_id(x).detach(), x), 1e-5)

    ln = nn.LayerNorm([c, h, w])
    agree(ctx, "ln_hand_tol", maxdiff(ln(x).detach(), normalize(x, (1, 2, 3), ln.eps)), 1e-5)
    inorm = nn.InstanceNorm2d(c)
    agree(ctx, "in_hand_tol", maxdiff(inorm(x), normalize(x, (2, 3), inorm.eps)), 1e-5)
    gn = nn.GroupNorm(groups, c)
    grouped = normalize(x.view(n, groups, c // groups, h, w), (2, 3, 4), gn.eps).view(n, c, h, w)
    agree(ctx, "gn_hand_tol", maxdiff(gn(x).detach(), grouped), 1e-5)
    ctx.value("c_per_group", c // groups)

    # How many separate (mean, variance) pairs each layer computes on this tensor.
    ctx.value("stats_bn", c)
    ctx.value("stats_ln", n)
    ctx.value("stats_in", n * c)
    ctx.value("stats_gn", n * groups)
    ctx.value("values_per_bn_stat", n * h * w)
    ctx.value("values_per_ln_stat", c * h * w)

    # GroupNorm's two extremes.
    agree(ctx, "gn1_vs_ln_tol", maxdiff(nn.GroupNorm(1, c)(x).detach(), ln(x).detach()), 1e-5)
    agree(ctx, "gnc_vs_in_tol", maxdiff(nn.GroupNorm(c, c)(x).detach(), inorm(x)), 1e-5)

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
        noise = torch.randn(bsz, feats)
        xb = true_mean + (noise - noise.mean(0))  # every batch has mean (2, -1, 5), up to rounding
        bn1(xb)
        r_mean = (1 - m) * r_mean + m * xb.mean(0)
        r_var = (1 - m) * r_var + m * xb.var(0, unbiased=True)  # running_var uses the unbiased variance
    ctx.value("rs_running_mean", bn1.running_mean)
    agree(ctx, "rs_mean_hand_tol", maxdiff(bn1.running_mean, r_mean), 1e-5)
    agree(ctx, "rs_var_hand_tol", maxdiff(bn1.running_var, r_var), 1e-5)
    # It follows from the front alone: running_mean = (1 - (1 - m)^3) * mean.
    agree(ctx, "rs_formula_tol", maxdiff(bn1.running_mean, (1 - (1 - m) ** n_batches) * true_mean), 1e-5)
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

    # The same setup over many batches, for the figure: running_mean of each feature after every batch.
    torch.manual_seed(0)
    bn_long = nn.BatchNorm1d(feats)
    long_steps = 60
    run_means = [bn_long.running_mean.clone()]
    for _ in range(long_steps):
        noise = torch.randn(bsz, feats)
        bn_long(true_mean + (noise - noise.mean(0)))
        run_means.append(bn_long.running_mean.clone())
    run_means = torch.stack(run_means)  # (long_steps + 1, feats)
    ctx.value("rs_long_steps", long_steps)

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
    agree(ctx, "scale_inv_tol", maxdiff(out_a.detach(), out_b.detach()), 1e-3)
    w1 = lin.weight.detach().clone().requires_grad_(True)
    w2 = (scale * lin.weight.detach()).requires_grad_(True)
    target = torch.randn(32, 5)
    F.mse_loss(bn_s(xs @ w1.T), target).backward()
    F.mse_loss(bn_s(xs @ w2.T), target).backward()
    ctx.value("scale_grad_ratio", (w1.grad.norm() / w2.grad.norm()).item())
    # A bias before BatchNorm is cancelled by the mean subtraction.
    bias = torch.randn(5)
    agree(ctx, "bias_cancel_tol", maxdiff(bn_s(xs @ lin.weight.T + bias).detach(), out_a.detach()), 1e-5)

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
    ctx.value("np_forward_src", inspect.getsource(batchnorm).strip())
    ctx.value("np_backward_src", inspect.getsource(bn_backward).strip())
    agree(ctx, "np_forward_tol", np.abs(y_np - y_ref.detach().numpy()).max(), 1e-12)
    dy = rng.normal(size=xn.shape)
    y_ref.backward(torch.from_numpy(dy))
    dx, dg, db = bn_backward(dy, x_hat, var, g_np)
    agree(ctx, "np_dx_tol", np.abs(dx - xt.grad.numpy()).max(), 1e-12)
    agree(ctx, "np_dgamma_tol", np.abs(dg - ref.weight.grad.numpy()).max(), 1e-12)
    agree(ctx, "np_dbeta_tol", np.abs(db - ref.bias.grad.numpy()).max(), 1e-12)
    agree(ctx, "np_dx_colsum_tol", np.abs(dx.sum(0)).max(), 1e-12)  # BN's input gradient sums to 0 per feature

    # ------------------------------------------------------------------ RMSNorm (Zhang & Sennrich, 2019)
    # y = x / sqrt(mean(x^2) + eps) * g: LayerNorm without the mean subtraction and without the bias.
    torch.manual_seed(0)
    d_rms = 16
    xr = 2.0 + 3.0 * torch.randn(4, 8, d_rms)  # (batch, tokens, features), deliberately not zero-mean
    ctx.value("rms_x_shape", xr.shape)
    mine = RMSNorm(d_rms, eps=1e-6)
    ref_rms = nn.RMSNorm(d_rms, eps=1e-6)
    with torch.no_grad():
        g_rms = torch.rand(d_rms) + 0.5
        mine.weight.copy_(g_rms)
        ref_rms.weight.copy_(g_rms)
        agree(ctx, "rms_vs_torch_tol", maxdiff(mine(xr), ref_rms(xr)), 1e-5)
        # nn.RMSNorm's default eps (None) is the dtype's machine epsilon.
        default = nn.RMSNorm(d_rms)
        ctx.value("rms_default_eps_is_none", default.eps is None)
        ctx.value("rms_f32_eps", torch.finfo(torch.float32).eps)
        # Tiny inputs (mean square ~1e-7), where eps matters: the default matches eps = finfo(float32).eps
        # and clearly differs from a fixed 1e-5.
        tiny = 1e-4 * xr
        f32_eps = torch.finfo(torch.float32).eps
        agree(ctx, "rms_default_eps_tol", maxdiff(default(tiny), RMSNorm(d_rms, eps=f32_eps)(tiny)), 1e-4)
        assert maxdiff(default(tiny), RMSNorm(d_rms, eps=1e-5)(tiny)) > 0.1
        # Invariances: rescaling the input changes nothing; shifting it does (LayerNorm ignores both).
        ln_r = nn.LayerNorm(d_rms, elementwise_affine=False)
        rms_plain = RMSNorm(d_rms, eps=1e-6)
        scale_r, shift_r = 5.0, 1.0
        ctx.value("rms_scale", scale_r)
        ctx.value("rms_shift", shift_r)
        agree(ctx, "rms_scale_inv_tol", maxdiff(rms_plain(scale_r * xr), rms_plain(xr)), 1e-5)
        ctx.value("rms_shift_change", maxdiff(rms_plain(xr + shift_r), rms_plain(xr)))
        agree(ctx, "ln_shift_inv_tol", maxdiff(ln_r(xr + shift_r), ln_r(xr)), 1e-4)
        # On zero-mean inputs RMS = standard deviation, so RMSNorm equals LayerNorm (same eps, no affine).
        centred = xr - xr.mean(-1, keepdim=True)
        ln_same_eps = nn.LayerNorm(d_rms, eps=1e-6, elementwise_affine=False)
        agree(ctx, "rms_ln_centred_tol", maxdiff(rms_plain(centred), ln_same_eps(xr)), 1e-5)
        ctx.value("rms_ln_uncentred_diff", maxdiff(rms_plain(xr), ln_same_eps(xr)))
    ctx.value("rms_src", inspect.getsource(RMSNorm).strip())
    d_llm = 4096  # LLaMA-7B's hidden size (Touvron et al., 2023)
    ctx.value("rms_d_llm", d_llm)
    ctx.value("rms_params_llm", sum(p.numel() for p in nn.RMSNorm(d_llm).parameters()))
    ctx.value("ln_params_llm", sum(p.numel() for p in nn.LayerNorm(d_llm).parameters()))

    # ------------------------------------------------------------------ folding BatchNorm into a conv
    # Conv2d -> BatchNorm2d in eval mode is one affine map per output channel after a linear op: one conv.
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    bn_f = nn.BatchNorm2d(8)
    with torch.no_grad():
        bn_f.weight.uniform_(0.5, 1.5)
        bn_f.bias.normal_()
    pair = nn.Sequential(conv, bn_f)
    for _ in range(20):  # a few training batches, so running_mean and running_var are not the defaults
        pair(1.0 + 2.0 * torch.randn(16, 3, 12, 12))
    pair.eval()
    xf = 1.0 + 2.0 * torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        fused = fold_bn(conv, bn_f)
        ref_fused = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn_f)
        y_pair = pair(xf)
        agree(ctx, "fold_tol", maxdiff(fused(xf), y_pair), 1e-4)
        agree(ctx, "fold_vs_torch_tol", maxdiff(fused(xf), ref_fused(xf)), 1e-5)
        ctx.value("fold_pair_params", sum(p.numel() for p in pair.parameters()))
        ctx.value("fold_fused_params", sum(p.numel() for p in fused.parameters()))
        ctx.value("fold_bn_buffers", bn_f.running_mean.numel() + bn_f.running_var.numel())
        # In training mode BN uses the batch's own statistics: the fold (running statistics) no longer matches.
        pair.train()
        y_train = pair(xf)
        pair.eval()
        ctx.value("fold_train_diff", maxdiff(fused(xf), y_train))
    ctx.value("fold_src", inspect.getsource(fold_bn).strip())
    ctx.value("fold_x_shape", xf.shape)
    ctx.value("fold_conv", [conv.in_channels, conv.out_channels, conv.kernel_size[0]])

    # BN after the activation (conv -> ReLU -> BN -> linear) cannot go into the previous layer, but it folds
    # into the next one's input side: W' = W diag(s), b' = b + W t.
    torch.manual_seed(0)
    lin_a, bn_n, lin_b = nn.Linear(6, 5), nn.BatchNorm1d(5), nn.Linear(5, 3)
    with torch.no_grad():
        bn_n.weight.uniform_(0.5, 1.5)
        bn_n.bias.normal_()
    net_n = nn.Sequential(lin_a, nn.ReLU(), bn_n, lin_b)
    for _ in range(20):
        net_n(torch.randn(32, 6))
    net_n.eval()
    with torch.no_grad():
        s_n = bn_n.weight / torch.sqrt(bn_n.running_var + bn_n.eps)
        t_n = bn_n.bias - bn_n.running_mean * s_n
        next_f = nn.Linear(5, 3)
        next_f.weight.copy_(lin_b.weight * s_n)
        next_f.bias.copy_(lin_b.bias + lin_b.weight @ t_n)
        xn2 = torch.randn(8, 6)
        agree(ctx, "fold_next_tol", maxdiff(next_f(torch.relu(lin_a(xn2))), net_n(xn2)), 1e-5)
        # The same trick into a *padded* conv is inexact at the border: padding adds zeros after BN's shift.
        bn_c = nn.BatchNorm2d(4)
        bn_c.weight.uniform_(0.5, 1.5)
        bn_c.bias.normal_()
        bn_c.running_mean.normal_()
        bn_c.running_var.uniform_(0.5, 2.0)
        bn_c.eval()
        conv_n = nn.Conv2d(4, 2, 3, padding=1)
        s_c = bn_c.weight / torch.sqrt(bn_c.running_var + bn_c.eps)
        t_c = bn_c.bias - bn_c.running_mean * s_c
        conv_f = nn.Conv2d(4, 2, 3, padding=1)
        conv_f.weight.copy_(conv_n.weight * s_c.view(1, -1, 1, 1))
        conv_f.bias.copy_(conv_n.bias + (conv_n.weight * t_c.view(1, -1, 1, 1)).sum((1, 2, 3)))
        xc = torch.randn(2, 4, 8, 8)
        err = (conv_f(xc) - conv_n(bn_c(xc))).abs()
        agree(ctx, "fold_pad_interior_tol", err[..., 1:-1, 1:-1].max(), 1e-5)
        ctx.value("fold_pad_border_diff", err.max())

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
            ax.set_xticks([])  # no ticks, so the style draws no grid over the image
            ax.set_yticks([])
            for pos in np.arange(1, c) - 0.5:  # cell borders
                ax.axvline(pos, color="C7", linewidth=0.8)
            for pos in np.arange(1, n) - 0.5:
                ax.axhline(pos, color="C7", linewidth=0.8)
            ax.set_title(kind if kind != "GroupNorm" else f"GroupNorm ({groups} groups)", fontsize="medium")
            ax.set_xlabel("channel C")
            ax.set_ylabel("sample N")
        fig.suptitle("Same colour: one mean and variance (over all H×W)", fontsize="small")

    ctx.figure("norm_axes", draw_axes, height=3.6)

    def draw_running(fig):
        ax = fig.subplots()
        t = list(range(long_steps + 1))
        for j in range(feats):
            mu_j = true_mean[j].item()
            ax.plot(t, run_means[:, j].tolist(), color=f"C{j}", label=f"feature {j + 1}: mean {mu_j:g}")
            ax.axhline(mu_j, ls="--", lw=1, color=f"C{j}")
            ax.plot([n_batches], [run_means[n_batches, j].item()], "o", color=f"C{j}", ms=5)
        ax.axvline(n_batches, ls=":", color="C7", lw=1)
        ax.annotate(
            f"after {n_batches} batches:\n{1 - (1 - m) ** n_batches:.1%} of the way",
            (n_batches, run_means[n_batches, 2].item()),
            xytext=(18, 0.4),
            fontsize="small",
            arrowprops={"arrowstyle": "->"},
        )
        ax.set_xlabel("training batches seen")
        ax.set_ylabel("running_mean")
        ax.set_title(f"running_mean, momentum {m:g}")
        ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.66), fontsize="small")

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


# --------------------------------------------------------------------------------------------
# Drill: parameters of a linear or convolution layer, with groups and bias on or off (bias=False is
# what a layer followed by BatchNorm uses). Real modules on the meta device, counted with p.numel().
# --------------------------------------------------------------------------------------------
def layer_params(cin, cout, k=None, g=1, bias=True):
    with torch.device("meta"):
        if k is None:
            layer = nn.Linear(cin, cout, bias=bias)
            code = f"nn.Linear({cin}, {cout}" + ("" if bias else ", bias=False") + ")"
        else:
            layer = nn.Conv2d(cin, cout, k, groups=g, bias=bias)
            code = (f"nn.Conv2d({cin}, {cout}, {k}" + (f", groups={g}" if g != 1 else "")
                    + ("" if bias else ", bias=False") + ")")
    n = n_params(layer)
    kk = 1 if k is None else k
    formula = cout * (cin // g) * kk * kk + (cout if bias else 0)
    assert n == formula, (n, formula)
    return {"layer": code, "n": n}
