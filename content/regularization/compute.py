"""Regularization and overfitting: every number and curve on the cards comes from code below.

Sections (in card order):
  1. Overfitting in a real run: an over-parameterised MLP on a small two-moons set with flipped labels,
     train vs validation curves, early stopping with patience, and the same MLP with dropout.
  2. Bias and variance: polynomial fits of increasing degree on many resampled noisy datasets.
  3. L1 vs L2: one-weight worked numbers, a sparse linear model fitted with each penalty, and
     L2 == weight decay for plain SGD.
  4. Dropout: nn.Dropout's inverted scaling, eval mode, the ensemble view and MC dropout.
  5. Data augmentation on a synthetic image with plain tensor ops (no torchvision).
  6. Deep-learning regularization: gradient descent's implicit bias towards the minimum-norm solution.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def two_moons(n, flip, noise=0.2):
    """n points of the two-moons problem; each label is flipped with probability `flip`.

    Returns inputs (n, 2), the noisy labels and a mask of which labels were flipped.
    """
    y = torch.randint(0, 2, (n,))
    t = torch.rand(n) * math.pi
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where((y == 1).unsqueeze(1), lower, upper) + noise * torch.randn(n, 2)
    flipped = torch.rand(n) < flip
    return x, torch.where(flipped, 1 - y, y), flipped


def mlp(width, p):
    """2 -> width -> width -> 2 ReLU MLP with dropout probability p after each hidden layer."""
    return nn.Sequential(
        nn.Linear(2, width), nn.ReLU(), nn.Dropout(p),
        nn.Linear(width, width), nn.ReLU(), nn.Dropout(p),
        nn.Linear(width, 2),
    )  # fmt: skip


def evaluate(net, x, y):
    """(cross-entropy loss, accuracy) of net on (x, y) in eval mode."""
    net.eval()
    with torch.no_grad():
        out = net(x)
    return F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()


def train_full_batch(net, xtr, ytr, xva, yva, epochs, lr):
    """Full-batch Adam (one step = one epoch). Records train/val loss and accuracy after every epoch."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    hist = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    for _ in range(epochs):
        net.train()
        loss = F.cross_entropy(net(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for split, (x, y) in (("train", (xtr, ytr)), ("val", (xva, yva))):
            lo, acc = evaluate(net, x, y)
            hist[f"{split}_loss"].append(lo)
            hist[f"{split}_acc"].append(acc)
    return hist


def early_stopping(val_losses, patience):
    """Epoch (1-based) of the best validation loss, and the epoch at which training stops:
    the first epoch with `patience` epochs in a row without a new best."""
    best, best_epoch, waited = float("inf"), 0, 0
    for epoch, v in enumerate(val_losses, start=1):
        if v < best:
            best, best_epoch, waited = v, epoch, 0
        else:
            waited += 1
            if waited == patience:
                return best_epoch, epoch
    return best_epoch, len(val_losses)


def soft_threshold(w, t):
    """Proximal operator of t * |w|: shrink towards 0 by t, and set to exactly 0 inside [-t, t]."""
    return torch.sign(w) * torch.clamp(w.abs() - t, min=0.0)


# --------------------------------------------------------------------------------------------
# 1. Overfitting, early stopping, dropout in a real run
# --------------------------------------------------------------------------------------------
def overfitting_run(ctx):
    n_train, n_val, flip = 60, 1000, 0.15
    width, epochs, lr, p_drop, patience = 64, 120, 1e-2, 0.5, 10
    torch.manual_seed(0)
    xtr, ytr, _ = two_moons(n_train, flip)
    xva, yva, _ = two_moons(n_val, flip)

    torch.manual_seed(1)
    net = mlp(width, 0.0)
    plain = train_full_batch(net, xtr, ytr, xva, yva, epochs, lr)
    torch.manual_seed(1)
    drop_net = mlp(width, p_drop)
    drop = train_full_batch(drop_net, xtr, ytr, xva, yva, epochs, lr)

    ctx.value("ovf_n_train", n_train)
    ctx.value("ovf_n_val", n_val)
    ctx.value("ovf_flip", flip)
    ctx.value("ovf_width", width)
    n_params = sum(p.numel() for p in net.parameters())
    ctx.value("ovf_params", n_params)
    ctx.value("ovf_epochs", epochs)
    ctx.value("ovf_lr", lr)

    best, stop = early_stopping(plain["val_loss"], patience)
    ctx.value("ovf_best_epoch", best)
    ctx.value("ovf_best_val_loss", plain["val_loss"][best - 1])
    ctx.value("ovf_best_val_acc", plain["val_acc"][best - 1])
    ctx.value("ovf_best_train_loss", plain["train_loss"][best - 1])
    ctx.value("ovf_best_train_acc", plain["train_acc"][best - 1])
    ctx.value("ovf_final_train_loss", plain["train_loss"][-1])
    ctx.value("ovf_final_train_acc", plain["train_acc"][-1])
    ctx.value("ovf_final_val_loss", plain["val_loss"][-1])
    ctx.value("ovf_final_val_acc", plain["val_acc"][-1])
    ctx.value("ovf_val_loss_ratio", plain["val_loss"][-1] / plain["val_loss"][best - 1])
    ctx.value("es_patience", patience)
    ctx.value("es_stop_epoch", stop)
    ctx.value("es_argmin_epoch", min(range(epochs), key=plain["val_loss"].__getitem__) + 1)

    d_best, _ = early_stopping(drop["val_loss"], patience)
    ctx.value("drop_p_run", p_drop)
    ctx.value("drop_best_epoch", d_best)
    ctx.value("drop_best_val_loss", drop["val_loss"][d_best - 1])
    ctx.value("drop_final_val_loss", drop["val_loss"][-1])
    ctx.value("drop_final_val_acc", drop["val_acc"][-1])
    ctx.value("drop_final_train_acc", drop["train_acc"][-1])

    # MC dropout on the trained dropout net: dropout stays on, T stochastic passes per input.
    mc_t = 200
    drop_net.train()  # keeps dropout active (no batch norm in this net, so nothing else changes)
    probe = torch.tensor([[0.5, 0.25], [4.0, 4.0]])  # between the moons; far outside the data
    with torch.no_grad():
        # Repeat each probe point mc_t times in one batch: every row gets its own dropout mask.
        probs = torch.softmax(drop_net(probe.repeat(mc_t, 1)), 1)[:, 1].view(mc_t, len(probe))
        drop_net.eval()
        p_eval = torch.softmax(drop_net(probe), 1)[:, 1]
    ctx.value("mc_t", mc_t)
    for i, tag in enumerate(("mid", "far")):
        ctx.value(f"mc_{tag}_point", probe[i])
        ctx.value(f"mc_{tag}_mean", probs[:, i].mean())
        ctx.value(f"mc_{tag}_std", probs[:, i].std())
        ctx.value(f"mc_{tag}_eval_p", p_eval[i])

    def draw(fig):
        ax = fig.subplots()
        ep = list(range(1, epochs + 1))
        ax.plot(ep, plain["train_loss"], label="train")
        ax.plot(ep, plain["val_loss"], label="validation")
        ax.plot(ep, drop["val_loss"], "--", label=f"validation, dropout {p_drop:g}")
        ax.axvline(best, color="C3", lw=1, ls=":", label=f"min val loss (epoch {best})")
        ax.set_xlabel("epoch (full batch)")
        ax.set_ylabel("cross-entropy")
        ax.set_title(f"{n_params:,}-parameter MLP, {n_train} points")
        ax.legend(loc="upper left", fontsize=9)

    ctx.figure("overfit_curves", draw)


# --------------------------------------------------------------------------------------------
# 2. Bias and variance of polynomial fits
# --------------------------------------------------------------------------------------------
def bias_variance(ctx):
    n, sigma, n_sets = 15, 0.3, 300
    degrees = list(range(0, 13))
    torch.manual_seed(0)
    xgrid = torch.linspace(-1, 1, 200, dtype=torch.float64)

    def f(x):
        return torch.sin(math.pi * x)

    x = torch.linspace(-1, 1, n, dtype=torch.float64).expand(n_sets, n)  # same inputs, fresh noise
    y = f(x) + sigma * torch.randn(n_sets, n, dtype=torch.float64)
    stats = {}
    for deg in degrees:
        A = torch.stack([x**k for k in range(deg + 1)], -1)  # (sets, n, deg+1) Vandermonde
        coef = torch.linalg.lstsq(A, y.unsqueeze(-1), driver="gelsd").solution  # least squares, every set
        G = torch.stack([xgrid**k for k in range(deg + 1)], -1)
        pred = (G @ coef).squeeze(-1)  # (sets, grid): each dataset's fitted curve
        train_mse = ((A @ coef).squeeze(-1) - y).pow(2).mean()
        bias2 = (pred.mean(0) - f(xgrid)).pow(2).mean()
        var = pred.var(0, unbiased=False).mean()
        y_new = f(xgrid) + sigma * torch.randn(n_sets, len(xgrid), dtype=torch.float64)  # fresh test targets
        test_mse = (pred - y_new).pow(2).mean()
        stats[deg] = (train_mse.item(), test_mse.item(), bias2.item(), var.item())

    ctx.value("bv_n", n)
    ctx.value("bv_sigma", sigma)
    ctx.value("bv_noise_var", sigma**2)
    ctx.value("bv_sets", n_sets)
    lo, mid, hi = 1, 3, 12
    # Check the decomposition: measured test MSE vs bias^2 + variance + noise variance, every degree.
    ctx.value("bv_decomp_err_max", max(abs(te - (b2 + v + sigma**2)) for _, te, b2, v in stats.values()))
    best_deg = min(degrees, key=lambda d: stats[d][1])
    ctx.value("bv_best_deg", best_deg)
    for tag, deg in (("lo", lo), ("mid", mid), ("hi", hi)):
        tr, te, b2, v = stats[deg]
        ctx.value(f"bv_deg_{tag}", deg)
        ctx.value(f"bv_train_{tag}", tr)
        ctx.value(f"bv_test_{tag}", te)
        ctx.value(f"bv_bias2_{tag}", b2)
        ctx.value(f"bv_var_{tag}", v)

    def draw(fig):
        ax = fig.subplots()
        ax.plot(degrees, [stats[d][0] for d in degrees], "o-", ms=3, label="train MSE")
        ax.plot(degrees, [stats[d][1] for d in degrees], "o-", ms=3, label="test MSE")
        ax.plot(degrees, [stats[d][2] for d in degrees], "--", label="bias²")
        ax.plot(degrees, [stats[d][3] for d in degrees], "--", label="variance")
        ax.set_xlabel("polynomial degree (capacity)")
        ax.set_title(f"Fits to {n} noisy points, mean of {n_sets} datasets", fontsize=10)
        ax.set_ylim(0, 0.7)
        ax.legend(fontsize=8, loc="upper center", ncol=2)

    ctx.figure("bias_variance", draw)


# --------------------------------------------------------------------------------------------
# 3. L1 vs L2
# --------------------------------------------------------------------------------------------
def l1_l2(ctx):
    # One weight: minimise 1/2 (w - w_ols)^2 + penalty, by brute force on a fine grid, for two starting values.
    lam = 0.5
    w_ols = torch.tensor([2.0, 0.3], dtype=torch.float64)
    grid = torch.arange(-300_000, 300_001, dtype=torch.float64) * 1e-5  # step 1e-5, contains 0 exactly

    def argmin(penalty):
        obj = 0.5 * (grid.unsqueeze(0) - w_ols.unsqueeze(1)) ** 2 + penalty(grid).unsqueeze(0)
        return grid[obj.argmin(1)]

    w_l2 = argmin(lambda w: 0.5 * lam * w**2)
    w_l1 = argmin(lambda w: lam * w.abs())
    ctx.value("sc_lam", lam)
    ctx.value("sc_w_ols", w_ols)
    ctx.value("sc_w_l2", w_l2)
    ctx.value("sc_w_l1", w_l1)
    ctx.value("sc_l2_formula_err", (w_l2 - w_ols / (1 + lam)).abs().max())
    ctx.value("sc_l1_formula_err", (w_l1 - soft_threshold(w_ols, lam)).abs().max())

    # A linear model with d features of which only k matter, fitted with each penalty.
    n, d, k, noise = 50, 20, 3, 0.5
    torch.manual_seed(0)
    X = torch.randn(n, d)
    w_true = torch.zeros(d)
    w_true[:k] = torch.tensor([3.0, -2.0, 1.5])
    y = X @ w_true + noise * torch.randn(n)
    lam_l1, lam_l2 = 0.2, 1.0

    def data_loss(w):
        return 0.5 * (X @ w - y).pow(2).mean()

    # L2 (ridge): gradient descent on data loss + lam/2 ||w||^2 through autograd.
    # L1 (lasso): proximal gradient (ISTA): a gradient step on the data loss, then soft-thresholding.
    # L1 by plain (sub)gradient descent on data loss + lam ||w||_1, the way an autograd user would add it.
    lr, steps = 0.5, 150  # lr below 2 / (largest eigenvalue of X^T X / n): stable for the smooth part
    lr_sub = 0.1  # plain subgradient descent oscillates by lr_sub * lam_l1 around 0, so keep it smaller
    w2 = torch.zeros(d, requires_grad=True)
    w1 = torch.zeros(d, requires_grad=True)
    ws = torch.zeros(d, requires_grad=True)
    for _ in range(steps):
        (g2,) = torch.autograd.grad(data_loss(w2) + 0.5 * lam_l2 * w2.pow(2).sum(), w2)
        (g1,) = torch.autograd.grad(data_loss(w1), w1)
        (gs,) = torch.autograd.grad(data_loss(ws) + lam_l1 * ws.abs().sum(), ws)
        with torch.no_grad():
            w2 -= lr * g2
            w1.copy_(soft_threshold(w1 - lr * g1, lr * lam_l1))
            ws -= lr_sub * gs
    w_ols = torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1)
    w2, w1, ws = w2.detach(), w1.detach(), ws.detach()
    near = 1e-3
    ctx.value("lin_n", n)
    ctx.value("lin_d", d)
    ctx.value("lin_k", k)
    ctx.value("lin_lam_l1", lam_l1)
    ctx.value("lin_lam_l2", lam_l2)
    ctx.value("lin_near", near)
    ctx.value("lin_l1_zeros", int((w1 == 0).sum()))
    ctx.value("lin_l2_zeros", int((w2 == 0).sum()))
    ctx.value("lin_l2_near_zeros", int((w2.abs() < near).sum()))
    ctx.value("lin_l2_min_abs", w2.abs().min())
    ctx.value("lin_ols_zeros", int((w_ols == 0).sum()))
    ctx.value("lin_l1_support_ok", bool(((w1 != 0) == (w_true != 0)).all()))
    ctx.value("lin_l1_nonzero", int((w1 != 0).sum()))
    ctx.value("lin_sub_zeros", int((ws == 0).sum()))
    ctx.value("lin_sub_near_zeros", int((ws.abs() < near).sum()))
    ctx.value("lin_sub_max_irrelevant", ws[k:].abs().max())
    ctx.value("lin_l2_norm_ratio", w2.norm() / w_ols.norm())
    ctx.value("lin_true_first", w_true[:k])
    ctx.value("lin_l2_first", w2[:k])
    ctx.value("lin_l1_first", w1[:k])

    def draw(fig):
        ax = fig.subplots()
        idx = torch.arange(d).float()
        ax.bar((idx - 0.2).tolist(), w2.tolist(), width=0.4, label=f"L2 (λ = {lam_l2:g})")
        ax.bar((idx + 0.2).tolist(), w1.tolist(), width=0.4, label=f"L1 (λ = {lam_l1:g})")
        ax.plot(idx[:k].tolist(), w_true[:k].tolist(), "_", ms=12, mew=2, color="C3", label="true (rest 0)")
        ax.axhline(0, color="C7", lw=0.8)
        ax.set_xlabel(f"feature (only the first {k} matter)")
        ax.set_ylabel("fitted weight")
        ax.set_title(f"L1: {int((w1 == 0).sum())} exact zeros; L2: {int((w2 == 0).sum())}")
        ax.set_xticks([0, 5, 10, 15, 19])
        ax.legend(fontsize=9, loc="upper right")

    ctx.figure("l1_l2_weights", draw)

    # L2 penalty vs SGD's weight_decay: one step each from the same weights on the same batch.
    lam_wd, lr_wd = 0.01, 0.1
    torch.manual_seed(0)
    a = nn.Linear(5, 1)
    b = nn.Linear(5, 1)
    b.load_state_dict(a.state_dict())
    xb, yb = torch.randn(16, 5), torch.randn(16, 1)
    opt_a = torch.optim.SGD(a.parameters(), lr=lr_wd)  # L2 term written into the loss
    loss_a = F.mse_loss(a(xb), yb) + 0.5 * lam_wd * sum(p.pow(2).sum() for p in a.parameters())
    loss_a.backward()
    opt_a.step()
    opt_b = torch.optim.SGD(b.parameters(), lr=lr_wd, weight_decay=lam_wd)  # built-in weight decay
    F.mse_loss(b(xb), yb).backward()
    opt_b.step()
    diff = max((pa - pb).abs().max().item() for pa, pb in zip(a.parameters(), b.parameters(), strict=True))
    ctx.value("wd_lam", lam_wd)
    ctx.value("wd_lr", lr_wd)
    ctx.value("wd_sgd_diff", diff)
    wd_tol = 1e-7
    assert diff < wd_tol
    ctx.value("wd_tol", wd_tol)
    ctx.value("wd_shrink", 1 - lr_wd * lam_wd)


# --------------------------------------------------------------------------------------------
# 4. Dropout
# --------------------------------------------------------------------------------------------
def dropout(ctx):
    ctx.value("drop_default_p", nn.Dropout().p)
    ctx.value("drop_transformer_p", nn.TransformerEncoderLayer(d_model=8, nhead=2).dropout.p)

    # Inverted dropout: kept values are divided by (1 - p) in training, so the mean is unchanged.
    p = 0.25
    torch.manual_seed(0)
    drop = nn.Dropout(p)
    drop.train()
    x = torch.arange(1.0, 9.0)
    out = drop(x)
    kept = out != 0
    ctx.value("ds_p", p)
    ctx.value("ds_scale", 1 / (1 - p))
    ctx.value("ds_x", x)
    ctx.value("ds_out", out)
    ctx.value("ds_kept_ratio_ok", bool(torch.allclose(out[kept], x[kept] / (1 - p))))

    n = 100_000
    ones = torch.ones(n)
    big = drop(ones)
    ctx.value("ds_n", n)
    ctx.value("ds_zero_frac", (big == 0).float().mean())
    ctx.value("ds_kept_value", big[big != 0].unique())
    ctx.value("ds_mean", big.mean())

    drop.eval()
    ctx.value("ds_eval_identity", torch.equal(drop(x), x))
    drop.train()
    ctx.value("ds_two_passes_equal", torch.equal(drop(x), drop(x)))

    # Ensemble view: each mask is a "thinned" sub-network; a layer of h units has 2^h masks.
    h = 64
    ctx.value("ens_units", h)
    ctx.value("ens_masks", float(2**h))

    # For a single linear layer after dropout, eval mode computes the mask-average exactly (by linearity).
    torch.manual_seed(0)
    lin = nn.Linear(h, 1)
    xin = torch.randn(1, h)
    drop_h = nn.Dropout(0.5)
    masks = 100_000
    with torch.no_grad():
        avg = lin(drop_h(xin.expand(masks, h))).mean()  # one random mask per row
        exact = lin(xin).item()
    ctx.value("ens_n_masks", masks)
    ctx.value("ens_linear_avg", avg)
    ctx.value("ens_linear_eval", exact)


# --------------------------------------------------------------------------------------------
# 5. Data augmentation with plain tensor ops
# --------------------------------------------------------------------------------------------
def synthetic_image(size=32):
    """A 3 x size x size image that is obviously not mirror-symmetric: sky/grass, a sun, a red arrow."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    img = torch.zeros(3, size, size)
    sky = (yy < size * 0.65).float()
    img[0] = 0.35 * sky + 0.15 * (1 - sky)
    img[1] = 0.6 * sky + 0.55 * (1 - sky)
    img[2] = 0.9 * sky + 0.15 * (1 - sky)
    sun = ((yy - 6) ** 2 + (xx - 6) ** 2) < 16
    img[:, sun] = torch.tensor([1.0, 0.85, 0.1]).unsqueeze(1)
    shaft = (yy >= 15) & (yy <= 18) & (xx >= 8) & (xx <= 20)
    head = (xx >= 20) & (xx <= 27) & ((yy - 16.5).abs() <= (27 - xx) * 0.8)
    img[:, shaft | head] = torch.tensor([0.85, 0.1, 0.1]).unsqueeze(1)
    return img


def second_image(size=32):
    """Another 'class' for mixup/cutmix: a blue disc on orange."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    img = torch.tensor([0.95, 0.6, 0.2]).view(3, 1, 1).expand(3, size, size).clone()
    disc = ((yy - 16) ** 2 + (xx - 16) ** 2) < 81
    img[:, disc] = torch.tensor([0.15, 0.3, 0.8]).unsqueeze(1)
    return img


def random_crop(img, pad, gen):
    """Zero-pad by `pad` on every side, then cut a crop of the original size at a random offset."""
    _, h, w = img.shape
    padded = F.pad(img, (pad, pad, pad, pad))
    top, left = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
    return padded[:, top : top + h, left : left + w]


def rotate(img, degrees):
    """Rotate about the centre with an affine sampling grid (bilinear; corners filled with 0)."""
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).unsqueeze(0)
    grid = F.affine_grid(theta, [1, *img.shape], align_corners=False)
    return F.grid_sample(img.unsqueeze(0), grid, align_corners=False).squeeze(0)


def colour_jitter(img, brightness, contrast, saturation):
    """Scale brightness, contrast (around the mean) and saturation (around the grey image)."""
    out = img * brightness
    out = (out - out.mean()) * contrast + out.mean()
    grey = (0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2]).unsqueeze(0)
    out = (out - grey) * saturation + grey
    return out.clamp(0, 1)


def augmentation(ctx):
    img, other = synthetic_image(), second_image()
    size = img.shape[-1]
    gen = torch.Generator().manual_seed(0)

    flipped = img.flip(-1)  # horizontal flip: reverse the width axis
    ctx.value("aug_flip_twice_identity", torch.equal(flipped.flip(-1), img))
    pad = 4
    crop = random_crop(img, pad, gen)
    ctx.value("aug_size", size)
    ctx.value("aug_pad", pad)
    ctx.value("aug_padded_size", size + 2 * pad)
    ctx.value("aug_crop_shape", list(crop.shape))
    ctx.value("aug_crop_offsets", (2 * pad + 1) ** 2)
    angle = 20.0
    rotated = rotate(img, angle)
    ctx.value("aug_angle", angle)
    jit = (1.2, 0.7, 1.6)
    jittered = colour_jitter(img, *jit)
    ctx.value("aug_jitter", list(jit))

    cut = 12
    cy, cx = 10, 14  # top-left corner of the erased square
    cutout = img.clone()
    cutout[:, cy : cy + cut, cx : cx + cut] = 0
    ctx.value("aug_cut", cut)
    ctx.value("aug_cut_frac", cut * cut / size**2)

    # mixup: a convex combination of two images and of their one-hot labels, lambda ~ Beta(alpha, alpha).
    alpha = 0.4
    beta = torch.distributions.Beta(alpha, alpha)
    draws = beta.sample((10_000,))
    edge = 0.1
    ctx.value("mix_edge", edge)
    ctx.value("mix_edge_hi", 1 - edge)
    ctx.value("mix_extreme_frac", ((draws < edge) | (draws > 1 - edge)).float().mean())
    torch.manual_seed(2)  # a draw that shows both images in the figure
    lam = beta.sample().item()
    y_a, y_b = F.one_hot(torch.tensor(0), 2).float(), F.one_hot(torch.tensor(1), 2).float()
    mixed = lam * img + (1 - lam) * other
    ctx.value("mix_alpha", alpha)
    ctx.value("mix_lam", lam)
    ctx.value("mix_label", lam * y_a + (1 - lam) * y_b)

    # CutMix: paste a box of the other image; the label weight is the area actually kept.
    bh, bw, by, bx = 14, 18, 12, 10
    cutmix = img.clone()
    cutmix[:, by : by + bh, bx : bx + bw] = other[:, by : by + bh, bx : bx + bw]
    keep = 1 - bh * bw / size**2
    ctx.value("cm_h", bh)
    ctx.value("cm_w", bw)
    ctx.value("cm_keep", keep)
    ctx.value("cm_b_share", 1 - keep)
    ctx.value("cm_label", keep * y_a + (1 - keep) * y_b)

    panels = [
        ("original", img), ("h-flip", flipped), (f"pad {pad} + crop", crop), (f"rotate {angle:g}°", rotated),
        ("colour jitter", jittered), ("cutout", cutout), (f"mixup λ={lam:.2f}", mixed), ("cutmix", cutmix),
    ]  # fmt: skip

    def draw(fig):
        # One mosaic image in a single axes (much faster to lay out than eight small axes).
        gap, head = 4, 9  # pixels between tiles, and above each tile for its caption
        cell_w, cell_h = size + gap, size + head
        mosaic = torch.zeros(4, 2 * cell_h, 4 * cell_w - gap)  # RGBA; alpha 0 (transparent) between tiles
        ax = fig.subplots()
        for i, (title, im) in enumerate(panels):
            r, c = divmod(i, 4)
            top, left = r * cell_h + head, c * cell_w
            mosaic[:3, top : top + size, left : left + size] = im.clamp(0, 1)
            mosaic[3, top : top + size, left : left + size] = 1.0
            ax.text(left + size / 2, top - 1.5, title, ha="center", va="bottom", fontsize=8)
        ax.imshow(mosaic.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_axis_off()

    ctx.figure("augmentations", draw, height=2.6)


# --------------------------------------------------------------------------------------------
# 6. Implicit regularization: gradient descent finds the minimum-norm interpolating solution
# --------------------------------------------------------------------------------------------
def implicit_bias(ctx):
    n, d = 10, 40
    torch.manual_seed(0)
    X = torch.randn(n, d, dtype=torch.float64)
    y = torch.randn(n, dtype=torch.float64)
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    lr = 1.0 / torch.linalg.matrix_norm(X, 2).item() ** 2  # safe step for the quadratic loss
    steps = 500
    for _ in range(steps):
        (g,) = torch.autograd.grad(0.5 * (X @ w - y).pow(2).sum(), w)
        with torch.no_grad():
            w -= lr * g
    w = w.detach()
    w_min = torch.linalg.pinv(X) @ y  # minimum-norm solution of Xw = y
    null = torch.linalg.svd(X).Vh[n:]  # directions X cannot see: adding them keeps Xw = y
    w_other = w_min + 0.5 * null[0] * w_min.norm() / null[0].norm()
    ctx.value("ib_n", n)
    ctx.value("ib_d", d)
    ctx.value("ib_steps", steps)
    ctx.value("ib_residual", (X @ w - y).abs().max())
    ctx.value("ib_dist_to_minnorm", (w - w_min).norm())
    ib_tol = 1e-8
    assert (w - w_min).norm() < ib_tol
    ctx.value("ib_tol", ib_tol)
    ctx.value("ib_norm_gd", w.norm())
    ctx.value("ib_norm_other", w_other.norm())
    ctx.value("ib_other_residual", (X @ w_other - y).abs().max())


def compute(ctx):
    overfitting_run(ctx)
    bias_variance(ctx)
    l1_l2(ctx)
    dropout(ctx)
    augmentation(ctx)
    implicit_bias(ctx)
