"""Training practice: every number and curve on the cards comes from small, real training runs.

Sections (in card order):
  1. Epochs, batches, iterations: DataLoader counts, the last partial batch, drop_last.
  2. The learning rate: three runs of a small MLP, and a sweep over thirteen learning rates.
  3. Batch size: gradient variance vs B, memory vs B, the linear scaling rule and its limit,
     gradient accumulation.
  4. Hyperparameter search: grid vs random, log-scale sampling, successive halving.
  5. Throughput: the DataLoader defaults.
  6. Unstable training: a NaN in the data, an unscaled feature, gradient clipping, the fp16 range.
  7. Loss curves: overfitting, underfitting and a good fit; the chance-level loss.
  8. Imbalanced data: class weights, WeightedRandomSampler, threshold moving.
  9. Transfer learning: freezing, parameter groups, gradual unfreezing, BatchNorm, a small transfer run.

Wall-clock timings are never registered: they change on every run, and cards must not.
"""

import copy
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from _lib.nets import mlp, n_params
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

BLOWUP = 1e4  # a training loss above this counts as diverged (the runs start near 1)
TOL = 1e-6  # "agree within": float32 gradients computed two ways
TOL_RUN = 1e-5  # the same 150-step run done two ways (batched copies vs torch.optim): float32 drift


# --------------------------------------------------------------------------------------------
# Shared pieces: a small regression task and a small MLP
# --------------------------------------------------------------------------------------------
def regression_data(n, seed, noise=0.1):
    """x uniform on [-2, 2]^2, y = sin(2 x1) + x2^2 / 2 + Gaussian noise: a small non-linear task."""
    g = torch.Generator().manual_seed(seed)
    x = 4 * torch.rand(n, 2, generator=g) - 2
    y = torch.sin(2 * x[:, :1]) + 0.5 * x[:, 1:] ** 2 + noise * torch.randn(n, 1, generator=g)
    return x, y


def small_mlp(hidden=32, seed=0):
    """2 -> hidden -> 1 with tanh; the same seed gives the same initial weights in every run."""
    torch.manual_seed(seed)
    return mlp(2, hidden, 1, act=nn.Tanh)


def train_full_batch(model, x, y, lr, steps, clip=None, warmup=0):
    """Full-batch SGD on the MSE, optionally with gradient-norm clipping and a linear lr warm-up
    over the first `warmup` steps. Returns the loss before every step and after the last one;
    stops early once the loss passes BLOWUP (diverged)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]) or losses[-1] > BLOWUP:
            return losses
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        opt.step()
        sched.step()
    with torch.no_grad():
        losses.append(F.mse_loss(model(x), y).item())
    return losses


def diverged(losses):
    """True if a run stopped because its loss blew up."""
    return not math.isfinite(losses[-1]) or losses[-1] > BLOWUP



# --------------------------------------------------------------------------------------------
# 1. Epochs, batches, iterations
# --------------------------------------------------------------------------------------------
def epochs_batches(ctx):
    # The source's example: 10,000 images, batch size 200. Only the count matters here, so each
    # "image" is a one-element tensor.
    n_images, batch = 10_000, 200
    loader = DataLoader(TensorDataset(torch.zeros(n_images, 1)), batch_size=batch)
    iters = sum(1 for _ in loader)  # iterations per epoch = batches the loader really yields
    epochs = 10
    ctx.value("ep_images", n_images)
    ctx.value("ep_batch", batch)
    ctx.value("ep_iters", iters)
    ctx.value("ep_len_loader", len(loader))
    ctx.value("ep_epochs", epochs)
    ctx.value("ep_total_iters", epochs * iters)
    ctx.value("ep_examples_seen", epochs * n_images)

    # A dataset size that does not divide evenly: the last batch is partial unless drop_last=True.
    n_odd = 1030
    data = TensorDataset(torch.arange(n_odd))
    sizes = [len(xb) for (xb,) in DataLoader(data, batch_size=batch)]
    sizes_drop = [len(xb) for (xb,) in DataLoader(data, batch_size=batch, drop_last=True)]
    ctx.value("pb_n", n_odd)
    ctx.value("pb_sizes", sizes)
    ctx.value("pb_batches", len(sizes))
    ctx.value("pb_ceil", math.ceil(n_odd / batch))
    ctx.value("pb_last", sizes[-1])
    ctx.value("pb_batches_drop", len(sizes_drop))
    ctx.value("pb_dropped", n_odd - sum(sizes_drop))
    # With a mean loss, each example of the short batch weighs batch / last as much in its update.
    ctx.value("pb_weight_ratio", batch / sizes[-1])

    # A last batch of a single example breaks BatchNorm in training mode (it needs a batch variance).
    n_one = 1001
    last = list(DataLoader(TensorDataset(torch.randn(n_one, 4)), batch_size=batch))[-1][0]
    bn = nn.BatchNorm1d(4).train()
    try:
        bn(last)
        bn_error = "none"
    except ValueError as e:
        bn_error = type(e).__name__
    ctx.value("bn_n", n_one)
    ctx.value("bn_last_size", len(last))
    ctx.value("bn_error", bn_error)


# --------------------------------------------------------------------------------------------
# 2. The learning rate: real runs of a small MLP
# --------------------------------------------------------------------------------------------
def lr_sweep(x, y, lrs, steps):
    """Train one copy of small_mlp() per learning rate, all at once: the copies' weights are stacked
    along a leading dimension (batched matmuls) and each copy takes the plain SGD step
    p <- p - lr * grad. Returns final losses and the step at which each copy diverged (None if not)."""
    m = small_mlp()  # identical initial weights for every copy
    k = len(lrs)
    w1 = m[0].weight.detach().T.expand(k, -1, -1).clone().requires_grad_()  # (k, 2, hidden)
    b1 = m[0].bias.detach().expand(k, 1, -1).clone().requires_grad_()  # (k, 1, hidden)
    w2 = m[2].weight.detach().T.expand(k, -1, -1).clone().requires_grad_()  # (k, hidden, 1)
    b2 = m[2].bias.detach().expand(k, 1, -1).clone().requires_grad_()  # (k, 1, 1)
    params = [w1, b1, w2, b2]
    lr_t = torch.tensor(lrs).view(k, 1, 1)

    def losses_now():
        out = torch.tanh(x @ w1 + b1) @ w2 + b2  # (k, n, 1)
        return ((out - y) ** 2).mean(dim=(1, 2))  # one MSE per copy

    blown = [None] * k
    for step in range(steps):
        losses = losses_now()
        for i, loss in enumerate(losses.tolist()):
            if blown[i] is None and (not math.isfinite(loss) or loss > BLOWUP):
                blown[i] = step
        grads = torch.autograd.grad(losses.sum(), params)  # copy i's loss depends only on copy i
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr_t * g
    with torch.no_grad():
        return losses_now().tolist(), blown


def learning_rate(ctx):
    p = [nn.Parameter(torch.zeros(1))]
    ctx.value("sgd_default_lr", torch.optim.SGD(p).defaults["lr"])
    ctx.value("adam_default_lr", torch.optim.Adam(p).defaults["lr"])
    n, steps = 256, 150
    x, y = regression_data(n, seed=1)
    ctx.value("lr_n", n)
    ctx.value("lr_steps", steps)
    ctx.value("lr_hidden", small_mlp()[0].out_features)

    # Three full-batch SGD runs from the same initial weights.
    runs = {"small": 0.01, "good": 0.1, "large": 0.5}
    curves = {}
    for name, lr in runs.items():
        curves[name] = train_full_batch(small_mlp(), x, y, lr, steps)
        ctx.value(f"lr_{name}", lr)
    ctx.value("lr_loss0", curves["good"][0])
    ctx.value("lr_final_small", curves["small"][-1])
    ctx.value("lr_final_good", curves["good"][-1])
    ctx.value("lr_large_diverged", diverged(curves["large"]))
    ctx.value("lr_large_div_step", len(curves["large"]) - 1)
    ctx.value("lr_large_last_loss", curves["large"][-1])
    ctx.value("lr_blowup", BLOWUP)
    # How far the too-small run gets in the whole budget: the good run passed that loss at this step.
    target = curves["small"][-1]
    ctx.value("lr_good_steps_to_small_final", next(i for i, v in enumerate(curves["good"]) if v <= target))
    ctx.value("lr_small_drop", curves["small"][0] - curves["small"][-1])
    ctx.value("lr_good_drop", curves["good"][0] - curves["good"][-1])

    def draw_runs(fig):
        ax = fig.subplots()
        labels = {"small": "too small", "good": "about right", "large": "too large"}
        for name, lr in runs.items():
            ax.plot(curves[name], label=f"lr {lr:g} ({labels[name]})")
        ax.set_yscale("log")
        ax.set_ylim(0.1, 100)
        ax.set_xlabel("step")
        ax.set_ylabel("training MSE (log)")
        ax.set_title("Same MLP, same data: only lr differs")
        ax.legend(loc="upper right")

    ctx.figure("trn_lr_runs", draw_runs)

    # A sweep: 13 learning rates, a quarter-decade apart, same budget.
    lrs = [10 ** (e / 4) for e in range(-12, 1)]  # 1e-3 ... 1
    final, blown = lr_sweep(x, y, lrs, steps)
    ok = [i for i, b in enumerate(blown) if b is None]
    best = min(ok, key=lambda i: final[i])
    ctx.value("sw_lr_min", lrs[0])
    ctx.value("sw_lr_max", lrs[-1])
    ctx.value("sw_count", len(lrs))
    ctx.value("sw_best_lr", lrs[best])
    ctx.value("sw_best_loss", final[best])
    ctx.value("sw_max_stable_lr", lrs[max(ok)])
    ctx.value("sw_first_diverged_lr", lrs[max(ok) + 1])
    ctx.value("sw_worst_stable_loss", final[0])
    # The sweep's batched update is plain SGD: it must reproduce the torch.optim.SGD run at lr 0.1.
    i_good = min(range(len(lrs)), key=lambda i: abs(lrs[i] - runs["good"]))
    ctx.value("sw_matches_optim", abs(final[i_good] - curves["good"][-1]))
    assert abs(final[i_good] - curves["good"][-1]) < TOL_RUN
    ctx.value("tol_run", TOL_RUN)

    def draw_sweep(fig):
        ax = fig.subplots()
        xs = [lrs[i] for i in ok]
        ax.plot(xs, [final[i] for i in ok], marker="o", label="final loss")
        for i, b in enumerate(blown):
            if b is not None:
                ax.axvline(lrs[i], color="C3", alpha=0.25, lw=6)
        ax.plot([], [], color="C3", alpha=0.4, lw=6, label="diverged")
        ax.plot(lrs[best], final[best], marker="*", ms=14, color="C1", ls="none", label="best")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log)")
        ax.set_ylabel(f"MSE after {steps} steps")
        ax.set_title("Learning-rate sweep")
        ax.legend(loc="lower left")

    ctx.figure("trn_lr_sweep", draw_sweep)
    return x, y


# --------------------------------------------------------------------------------------------
# 3. Batch size
# --------------------------------------------------------------------------------------------
def gradient_noise(ctx):
    # Per-example gradients of the MSE for a fixed small MLP (at initialization), via torch.func.
    n = 4096
    x, y = regression_data(n, seed=2)
    model = small_mlp()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def example_loss(p, xi, yi):
        return F.mse_loss(functional_call(model, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    per_ex = vmap(grad(example_loss), in_dims=(None, 0, 0))(params, x, y)
    g = torch.cat([v.reshape(n, -1) for v in per_ex.values()], dim=1)  # (n, n_params)
    full = g.mean(0)
    trace_cov = (g - full).pow(2).sum(1).mean()  # per-example gradient variance, summed over parameters

    # Mini-batch gradients of many random batches, drawn without replacement like a shuffled loader.
    draws = 300
    sizes = [2**k for k in range(9)]  # 1 ... 256
    gen = torch.Generator().manual_seed(0)
    perms = torch.rand(draws, n, generator=gen).argsort(dim=1)
    measured = []
    for b in sizes:
        est = g[perms[:, :b]].mean(1)  # (draws, n_params)
        measured.append((est - full).pow(2).sum(1).mean().item())
    predicted = [(trace_cov * (n - b) / (n - 1) / b).item() for b in sizes]  # sigma^2 / B, finite-n factor
    logb = torch.log(torch.tensor(sizes, dtype=torch.float64))
    logv = torch.log(torch.tensor(measured, dtype=torch.float64))
    slope = ((logb - logb.mean()) * (logv - logv.mean())).sum() / (logb - logb.mean()).pow(2).sum()
    ctx.value("gn_n", n)
    ctx.value("gn_draws", draws)
    ctx.value("gn_params", g.shape[1])
    ctx.value("gn_b_small", sizes[0])
    ctx.value("gn_b_mid", sizes[4])
    ctx.value("gn_b_big", sizes[-1])
    ctx.value("gn_var_small", measured[0])
    ctx.value("gn_var_mid", measured[4])
    ctx.value("gn_var_big", measured[-1])
    ctx.value("gn_ratio", measured[0] / measured[-1])
    ctx.value("gn_slope", slope)

    def draw(fig):
        ax = fig.subplots()
        ax.loglog(sizes, predicted, label=r"$\sigma^2/B$ (theory)")
        ax.loglog(sizes, measured, marker="o", ls="none", ms=7, label=f"measured ({draws} batches)")
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
        ax.set_xlabel("batch size B")
        ax.set_ylabel("gradient variance")
        ax.set_title(f"Mini-batch gradient noise, slope {slope:.2f}")
        ax.legend(loc="upper right")

    ctx.figure("trn_grad_variance", draw)


def saved_activation_bytes(model, x):
    """Bytes of the tensors autograd keeps for backward during one forward pass, not counting the
    parameters themselves (a Linear layer saves a view of its weight)."""
    param_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in param_storages:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        F.cross_entropy(model(x), torch.zeros(len(x), dtype=torch.long))
    return sum(saved.values())


def batch_memory(ctx):
    torch.manual_seed(0)
    model = mlp(64, 256, 256, 10)
    sizes = [32, 64, 128]
    act = {b: saved_activation_bytes(model, torch.randn(b, 64)) for b in sizes}
    p_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    ctx.value("mem_sizes", sizes)
    ctx.value("mem_act_kib", [act[b] / 1024 for b in sizes])
    ctx.value("mem_act_ratio", act[sizes[-1]] / act[sizes[0]])
    ctx.value("mem_batch_ratio", sizes[-1] // sizes[0])
    ctx.value("mem_act_per_example", act[sizes[0]] / sizes[0])
    ctx.value("mem_params", n_params(model))
    # Weights + gradients + Adam's two moments, all float32: independent of the batch size.
    ctx.value("mem_adam_kib", 4 * p_bytes / 1024)


def linear_scaling(ctx):
    # Mini-batch SGD for a fixed number of epochs; the base run uses a small batch.
    n, epochs = 512, 4
    x, y = regression_data(n, seed=3)
    data = TensorDataset(x, y)

    def run(batch, lr):
        model = small_mlp()
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        loader = DataLoader(data, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0))
        steps = 0
        for _ in range(epochs):
            for xb, yb in loader:
                opt.zero_grad()
                loss = F.mse_loss(model(xb), yb)
                if not math.isfinite(loss.item()) or loss.item() > BLOWUP:
                    return None, steps
                loss.backward()
                opt.step()
                steps += 1
        with torch.no_grad():
            return F.mse_loss(model(x), y).item(), steps

    base_b, base_lr, k, k_big = 8, 0.02, 4, 16
    base_loss, base_steps = run(base_b, base_lr)
    unscaled, k_steps = run(k * base_b, base_lr)
    scaled, _ = run(k * base_b, k * base_lr)
    big, big_steps = run(k_big * base_b, k_big * base_lr)
    ctx.value("ls_n", n)
    ctx.value("ls_epochs", epochs)
    ctx.value("ls_base_b", base_b)
    ctx.value("ls_base_lr", base_lr)
    ctx.value("ls_base_loss", base_loss)
    ctx.value("ls_base_steps", base_steps)
    ctx.value("ls_k", k)
    ctx.value("ls_k_b", k * base_b)
    ctx.value("ls_k_lr", k * base_lr)
    ctx.value("ls_k_steps", k_steps)
    ctx.value("ls_unscaled_loss", unscaled)
    ctx.value("ls_scaled_loss", scaled)
    ctx.value("ls_big_k", k_big)
    ctx.value("ls_big_b", k_big * base_b)
    ctx.value("ls_big_lr", k_big * base_lr)
    ctx.value("ls_big_diverged", big is None)
    ctx.value("ls_big_div_step", big_steps)

    # Goyal et al. (2017), ImageNet ResNet-50: lr = 0.1 * B / 256, with gradual warm-up.
    ref_lr, ref_b, big_b = 0.1, 256, 8192
    ctx.value("goyal_ref_lr", ref_lr)
    ctx.value("goyal_ref_b", ref_b)
    ctx.value("goyal_big_b", big_b)
    ctx.value("goyal_big_lr", ref_lr * big_b / ref_b)


def grad_accumulation(ctx):
    # One batch of 64 vs 4 micro-batches of 16 whose losses are divided by 4 and accumulated.
    torch.manual_seed(0)
    model = small_mlp()
    x, y = regression_data(64, seed=4)
    micro, accum = 16, 4
    F.mse_loss(model(x), y).backward()
    full = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for xb, yb in zip(x.split(micro), y.split(micro), strict=True):
        (F.mse_loss(model(xb), yb) / accum).backward()  # .grad adds up across backward calls
    diff = max((p.grad - f).abs().max().item() for p, f in zip(model.parameters(), full, strict=True))
    ctx.value("acc_micro", micro)
    ctx.value("acc_steps", accum)
    ctx.value("acc_effective", micro * accum)
    ctx.value("acc_max_diff", diff)
    assert diff < TOL
    ctx.value("tol", TOL)


# --------------------------------------------------------------------------------------------
# 4. Hyperparameter search
# --------------------------------------------------------------------------------------------
def toy_val_loss(u, v):
    """A toy validation loss over u = log10(lr) and v = a second hyperparameter in [0, 1].
    Only u matters much (narrow valley at u = -2.3); v changes the loss by at most 0.02."""
    return 1 - torch.exp(-(((u + 2.3) / 0.35) ** 2)) + 0.02 * (v - 0.3) ** 2


def search(ctx):
    trials, lo, hi = 9, -4.0, -1.0  # 9 trials, log10(lr) in [-4, -1], v in [0, 1]
    side = math.isqrt(trials)
    gu = torch.linspace(lo, hi, side).repeat_interleave(side)
    gv = torch.linspace(0, 1, side).repeat(side)
    gen = torch.Generator().manual_seed(0)
    ru = lo + (hi - lo) * torch.rand(trials, generator=gen)
    rv = torch.rand(trials, generator=gen)
    ctx.value("hs_trials", trials)
    ctx.value("hs_grid_side", side)
    ctx.value("hs_grid_distinct_lr", len(set(gu.tolist())))
    ctx.value("hs_rand_distinct_lr", len(set(ru.tolist())))
    ctx.value("hs_grid_best", toy_val_loss(gu, gv).min())
    # Over many repeats of random search with the same budget (the grid is always the same).
    repeats = 1000
    rru = lo + (hi - lo) * torch.rand(repeats, trials, generator=gen)
    rrv = torch.rand(repeats, trials, generator=gen)
    rand_best = toy_val_loss(rru, rrv).min(1).values
    ctx.value("hs_repeats", repeats)
    ctx.value("hs_rand_best_median", rand_best.median())
    ctx.value("hs_rand_beats_grid", (rand_best < toy_val_loss(gu, gv).min()).float().mean())
    ctx.value("hs_lr_lo", 10**lo)
    ctx.value("hs_lr_hi", 10**hi)

    def draw(fig):
        axes = fig.subplots(1, 2, sharey=True)
        pad = 0.12
        uu, vv = np.meshgrid(np.linspace(lo - 3 * pad, hi + 3 * pad, 200), np.linspace(-pad, 1 + pad, 100))
        zz = toy_val_loss(torch.from_numpy(uu), torch.from_numpy(vv)).numpy()
        for ax, (us, vs, title) in zip(axes, [(gu, gv, "grid"), (ru, rv, "random")], strict=True):
            ax.contourf(uu, vv, zz, levels=12, cmap="viridis_r")
            ax.plot(us, vs, "o", color="C1", ms=7, mec="C3")
            ax.set_title(f"{title}: {len(set(us.tolist()))} lr values")
            ax.set_xlabel("log10(lr)")
            ax.grid(False)
        axes[0].set_ylabel("other hyperparameter")

    ctx.figure("trn_grid_vs_random", draw, width=4.6, height=2.8)

    # Sampling lr from [1e-5, 1e-1]: uniform vs log-uniform.
    a, b, n = 1e-5, 1e-1, 10_000
    uni = a + (b - a) * torch.rand(n, generator=gen, dtype=torch.float64)
    logu = 10 ** torch.empty(n, dtype=torch.float64).uniform_(math.log10(a), math.log10(b), generator=gen)
    ctx.value("lg_a", a)
    ctx.value("lg_exp_a", round(math.log10(a)))
    ctx.value("lg_exp_b", round(math.log10(b)))
    ctx.value("lg_b", b)
    ctx.value("lg_top", b / 10)
    ctx.value("lg_samples", n)
    ctx.value("lg_uni_top_frac", (uni >= b / 10).double().mean())
    ctx.value("lg_uni_top_exact", (b - b / 10) / (b - a))
    ctx.value("lg_low", 1e-3)
    ctx.value("lg_uni_low_frac", (uni < 1e-3).double().mean())
    ctx.value("lg_log_top_frac", (logu >= b / 10).double().mean())
    ctx.value("lg_uni_low_exact", (1e-3 - a) / (b - a))  # P(uniform sample < 1e-3), exactly
    ctx.value("lg_log_decade_exact", 1 / round(math.log10(b / a)))  # each decade's share, log-uniform
    ctx.value("lg_decades", round(math.log10(b / a)))

    # Successive halving: 27 configurations, keep the best third, give survivors 3x the epochs.
    configs, eta, min_epochs = 27, 3, 1
    rungs, c, e = [], configs, min_epochs
    while c >= 1:
        rungs.append((c, e))
        c, e = c // eta, e * eta
    total = sum(c * e for c, e in rungs)
    full = configs * rungs[-1][1]
    ctx.value("sh_configs", configs)
    ctx.value("sh_eta", eta)
    ctx.value("sh_rungs", " → ".join(f"{c}×{e}" for c, e in rungs))
    ctx.value("sh_max_epochs", rungs[-1][1])
    ctx.value("sh_total", total)
    ctx.value("sh_full", full)
    ctx.value("sh_saving", full / total)


# --------------------------------------------------------------------------------------------
# 5. Throughput
# --------------------------------------------------------------------------------------------
def throughput(ctx):
    data = TensorDataset(torch.zeros(10, 1))
    plain = DataLoader(data)
    with warnings.catch_warnings():  # more workers than this machine's cores is only a warning
        warnings.simplefilter("ignore")
        workers = DataLoader(data, num_workers=4)
    ctx.value("dl_default_workers", plain.num_workers)
    ctx.value("dl_default_pin", plain.pin_memory)
    ctx.value("dl_workers", workers.num_workers)
    ctx.value("dl_prefetch", workers.prefetch_factor)
    ctx.value("dl_in_flight", workers.num_workers * workers.prefetch_factor)


# --------------------------------------------------------------------------------------------
# 6. Unstable training
# --------------------------------------------------------------------------------------------
def instability(ctx, x, y):
    # One NaN in one input value: the loss is NaN and one SGD step turns every weight into NaN.
    model = small_mlp()
    bad = x.clone()
    bad[7, 0] = float("nan")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.mse_loss(model(bad), y)
    loss.backward()
    opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    ctx.value("nan_n", len(x))
    ctx.value("nan_loss_is_nan", bool(torch.isnan(loss)))
    ctx.value("nan_param_frac", torch.isnan(flat).float().mean())
    ctx.value("nan_params", flat.numel())

    # An unscaled feature (x2 in other units, x10): the learning rate that worked now diverges.
    lr, steps, scale = 0.1, 150, 10.0
    unscaled = x.clone()
    unscaled[:, 1] *= scale
    raw = train_full_batch(small_mlp(), unscaled, y, lr, steps)
    z = (unscaled - unscaled.mean(0)) / unscaled.std(0)  # standardize each feature
    std = train_full_batch(small_mlp(), z, y, lr, steps)
    ctx.value("us_scale", scale)
    ctx.value("us_lr", lr)
    ctx.value("us_raw_diverged", diverged(raw))
    ctx.value("us_raw_div_step", len(raw) - 1)
    ctx.value("us_std_final", std[-1])

    # Gradient clipping on the too-large learning rate of section 2.
    big_lr, max_norm = 0.5, 1.0
    plain = train_full_batch(small_mlp(), x, y, big_lr, steps)
    clipped = train_full_batch(small_mlp(), x, y, big_lr, steps, clip=max_norm)
    ctx.value("clip_lr", big_lr)
    ctx.value("clip_steps", steps)
    ctx.value("clip_max_norm", max_norm)
    ctx.value("clip_plain_diverged", diverged(plain))
    ctx.value("clip_final", clipped[-1])
    ctx.value("clip_diverged", diverged(clipped))
    # Warm-up on the same too-large lr: it only postpones the divergence.
    warm = 50
    warmed = train_full_batch(small_mlp(), x, y, big_lr, steps, warmup=warm)
    ctx.value("warm_steps", warm)
    ctx.value("warm_diverged", diverged(warmed))
    ctx.value("warm_div_step", len(warmed) - 1)

    # fp16 range: overflow above 65504, tiny gradients flush to zero; loss scaling shifts them up.
    f16 = torch.finfo(torch.float16)
    tiny_grad = 1e-8
    scale = torch.amp.GradScaler("cpu").get_scale()  # default initial scale
    ctx.value("fp16_max", f16.max)
    ctx.value("fp16_overflow_in", 7e4)
    ctx.value("fp16_overflow_is_inf", bool(torch.isinf(torch.tensor(7e4).half())))
    ctx.value("fp16_tiny_grad", tiny_grad)
    ctx.value("fp16_tiny_to", torch.tensor(tiny_grad).half().float())
    ctx.value("fp16_scale", scale)
    ctx.value("fp16_scaled", torch.tensor(tiny_grad * scale).half().float())
    ctx.value("bf16_max", torch.finfo(torch.bfloat16).max)


# --------------------------------------------------------------------------------------------
# 7. Loss curves
# --------------------------------------------------------------------------------------------
def classification_data(n, seed, flip=0.25):
    """Two classes split by a curved boundary, a quarter of the labels flipped (noise no model can learn)."""
    g = torch.Generator().manual_seed(seed)
    x = 4 * torch.rand(n, 2, generator=g) - 2
    y = ((torch.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2) > 0.7).long()
    flipped = torch.rand(n, generator=g) < flip
    return x, torch.where(flipped, 1 - y, y)


def train_with_val(model, x, y, xv, yv, steps, lr=0.01):
    """Full-batch Adam on cross-entropy; train and validation loss (and val accuracy) every step."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    tr, va, acc = [], [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        tr.append(loss.item())
        with torch.no_grad():
            out = model(xv)
            va.append(F.cross_entropy(out, yv).item())
            acc.append((out.argmax(1) == yv).float().mean().item())
    return tr, va, acc


def loss_curves(ctx):
    steps = 120
    xv, yv = classification_data(1000, seed=10)
    ctx.value("lc_steps", steps)
    ctx.value("lc_val_n", len(xv))

    # Overfitting: a wide 2-hidden-layer MLP on only 100 noisy examples.
    n_small, wide = 100, 64
    xs, ys = classification_data(n_small, seed=11)
    torch.manual_seed(0)
    big = mlp(2, wide, wide, 2, act=nn.Tanh)
    o_tr, o_va, o_acc = train_with_val(big, xs, ys, xv, yv, steps)
    best = min(range(steps), key=lambda i: o_va[i])
    ctx.value("of_n", n_small)
    ctx.value("of_params", n_params(big))
    ctx.value("of_train_final", o_tr[-1])
    ctx.value("of_val_best", o_va[best])
    ctx.value("of_best_step", best + 1)
    ctx.value("of_val_final", o_va[-1])
    ctx.value("of_acc_best", o_acc[best])
    ctx.value("of_acc_final", o_acc[-1])

    # Good fit: a small MLP on 1000 examples. Underfitting: a linear model on the same data.
    xl, yl = classification_data(1000, seed=12)
    torch.manual_seed(0)
    g_tr, g_va, g_acc = train_with_val(
        mlp(2, 32, 2, act=nn.Tanh), xl, yl, xv, yv, steps
    )
    torch.manual_seed(0)
    u_tr, u_va, u_acc = train_with_val(nn.Linear(2, 2), xl, yl, xv, yv, steps)
    ctx.value("gf_n", len(xl))
    ctx.value("gf_train", g_tr[-1])
    ctx.value("gf_val", g_va[-1])
    ctx.value("gf_acc", g_acc[-1])
    ctx.value("uf_train", u_tr[-1])
    ctx.value("uf_val", u_va[-1])
    ctx.value("uf_acc", u_acc[-1])
    ctx.value("ln2", math.log(2))
    ctx.value("flip", 0.25)
    ctx.value("acc_cap", 1 - 0.25)  # flipped labels cannot be predicted
    # The best possible cross-entropy: the entropy of the label noise (binary entropy of 0.25).
    ctx.value("noise_floor", -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))

    steps_x = list(range(1, steps + 1))

    def draw_overfit(fig):
        ax = fig.subplots()
        ax.plot(steps_x, o_tr, label="train")
        ax.plot(steps_x, o_va, label="validation")
        ax.axvline(best + 1, color="C2", ls="--", lw=1.5, label="best val (early stop)")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy")
        ax.set_title(f"Overfitting: {n_small} training examples")
        ax.legend(loc="upper left")

    ctx.figure("trn_overfit_curves", draw_overfit)

    def draw_under_good(fig):
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (tr, va, title) in zip(
            axes, [(u_tr, u_va, "underfit (linear)"), (g_tr, g_va, "good fit (MLP)")], strict=True
        ):
            ax.plot(steps_x, tr, label="train")
            ax.plot(steps_x, va, "--", label="validation")
            ax.set_title(title)
            ax.set_xlabel("step")
        axes[0].set_ylabel("cross-entropy")
        axes[1].legend(loc="upper right")

    ctx.figure("trn_under_good_curves", draw_under_good, width=4.6, height=2.8)

    # The loss of a fresh 10-class classifier: about ln 10, i.e. a uniform guess.
    torch.manual_seed(0)
    classes = 10
    clf = mlp(20, 64, classes)
    xr = torch.randn(512, 20)
    yr = torch.randint(0, classes, (512,))
    with torch.no_grad():
        ctx.value("init_loss_10", F.cross_entropy(clf(xr), yr))
    ctx.value("init_classes", classes)

    # Sanity check: overfit one small batch with random labels; a working setup drives the loss to ~0.
    torch.manual_seed(0)
    tiny_x, tiny_y = torch.randn(8, 20), torch.randint(0, classes, (8,))
    with torch.no_grad():
        ctx.value("ob_loss_start", F.cross_entropy(clf(tiny_x), tiny_y))
    opt = torch.optim.Adam(clf.parameters(), lr=0.01)
    for _ in range(100):
        opt.zero_grad()
        loss = F.cross_entropy(clf(tiny_x), tiny_y)
        loss.backward()
        opt.step()
    ctx.value("ob_n", len(tiny_x))
    ctx.value("ob_steps", 100)
    ctx.value("ob_loss_end", F.cross_entropy(clf(tiny_x), tiny_y).detach())
    ctx.value("ln10", math.log(classes))


# --------------------------------------------------------------------------------------------
# 8. Imbalanced data
# --------------------------------------------------------------------------------------------
def blobs(n_major, n_minor, seed):
    """Class 0 (majority) around (0, 0), class 1 (minority) around (1.5, 1.5), unit variance."""
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.randn(n_major, 2, generator=g), 1.5 + torch.randn(n_minor, 2, generator=g)])
    y = torch.cat([torch.zeros(n_major, dtype=torch.long), torch.ones(n_minor, dtype=torch.long)])
    return x, y


def precision_recall(pred, y):
    tp = ((pred == 1) & (y == 1)).sum().item()
    return tp / max(1, (pred == 1).sum().item()), tp / (y == 1).sum().item()


def imbalance(ctx):
    n_major, n_minor = 950, 50
    x, y = blobs(n_major, n_minor, seed=20)
    counts = torch.bincount(y).double()
    weights = (len(y) / (len(counts) * counts)).float()  # inverse frequency, "balanced"
    ctx.value("im_counts", counts.long())
    ctx.value("im_minor_frac", n_minor / len(y))
    ctx.value("im_weights", weights)
    ctx.value("im_weight_ratio", (weights[1] / weights[0]).item())
    ctx.value("im_majority_acc", n_major / len(y))
    ctx.value("im_default_t", 0.5)

    # A model that ignores the minority: it always predicts the class frequencies.
    prior_logits = counts.float().log().expand(len(y), -1)
    ctx.value("im_prior_loss_plain", F.cross_entropy(prior_logits, y))
    ctx.value("im_prior_loss_weighted", F.cross_entropy(prior_logits, y, weight=weights))
    # What reduction="mean" does with weights: divide by the summed weights of the batch, not by
    # its size. A batch of 16 majority + 4 minority examples (as an oversampling loader might give).
    bidx = torch.cat([torch.arange(16), n_major + torch.arange(4)])
    bl, by = prior_logits[bidx], y[bidx]
    per = F.cross_entropy(bl, by, reduction="none")
    w_i = weights[by]
    weighted_mean = F.cross_entropy(bl, by, weight=weights)
    ctx.value("im_b_major", 16)
    ctx.value("im_b_minor", 4)
    ctx.value("im_b_size", len(by))
    ctx.value("im_b_wsum", w_i.sum())
    ctx.value("im_b_weighted_mean", weighted_mean)
    ctx.value("im_b_formula_err", ((w_i * per).sum() / w_i.sum() - weighted_mean).abs())
    ctx.value("im_b_sum_over_n", (w_i * per).sum() / len(by))

    # Logistic regression trained with and without the weights; evaluated on fresh imbalanced data.
    xt, yt = blobs(9500, 500, seed=21)
    xval, yval = blobs(950, 50, seed=22)
    steps = 200
    ctx.value("im_steps", steps)
    models = {}
    for name, w in [("plain", None), ("weighted", weights)]:
        torch.manual_seed(0)
        m = nn.Linear(2, 2)
        opt = torch.optim.Adam(m.parameters(), lr=0.05)
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(m(x), y, weight=w).backward()
            opt.step()
        models[name] = m
        with torch.no_grad():
            prec, rec = precision_recall(m(xt).argmax(1), yt)
        ctx.value(f"im_{name}_precision", prec)
        ctx.value(f"im_{name}_recall", rec)

    # Threshold moving on the unweighted model: pick the threshold with the best F1 on validation.
    with torch.no_grad():
        p_val = torch.softmax(models["plain"](xval), 1)[:, 1]
        p_test = torch.softmax(models["plain"](xt), 1)[:, 1]
    thresholds = [t / 100 for t in range(5, 96)]

    def f1(p, t, yy):
        prec, rec = precision_recall((p >= t).long(), yy)
        return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)

    t_best = max(thresholds, key=lambda t: f1(p_val, t, yval))
    prec, rec = precision_recall((p_test >= t_best).long(), yt)
    ctx.value("im_threshold", t_best)
    ctx.value("im_moved_precision", prec)
    ctx.value("im_moved_recall", rec)
    ctx.value("im_plain_f1", f1(p_test, 0.5, yt))
    ctx.value("im_moved_f1", f1(p_test, t_best, yt))

    # Oversampling: WeightedRandomSampler with weight 1 / count(label) for every example.
    sample_w = (1.0 / counts)[y]
    sampler = WeightedRandomSampler(
        sample_w, num_samples=len(y), replacement=True, generator=torch.Generator().manual_seed(0)
    )
    batch = 100
    loader = DataLoader(TensorDataset(torch.arange(len(y))), batch_size=batch, sampler=sampler)
    idx = torch.cat([b for (b,) in loader])
    fracs = torch.stack([y[b].float().mean() for (b,) in loader])
    ctx.value("ws_batch", batch)
    ctx.value("ws_batches", len(fracs))
    ctx.value("ws_minor_frac_mean", fracs.mean())
    ctx.value("ws_minor_frac_min", fracs.min())
    ctx.value("ws_minor_frac_max", fracs.max())
    minor_idx, major_idx = idx[y[idx] == 1], idx[y[idx] == 0]
    ctx.value("ws_minor_unique", len(set(minor_idx.tolist())))
    ctx.value("ws_minor_repeats", len(minor_idx) / n_minor)
    ctx.value("ws_major_unique", len(set(major_idx.tolist())))
    ctx.value("ws_major_unique_frac", len(set(major_idx.tolist())) / n_major)


# --------------------------------------------------------------------------------------------
# 9. Transfer learning
# --------------------------------------------------------------------------------------------
def tiny_cnn_backbone():
    """A small stand-in for a pretrained image backbone (no download): two conv blocks and pooling."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def transfer_api(ctx):
    torch.manual_seed(0)
    backbone = tiny_cnn_backbone()
    pretrained = nn.Sequential(backbone, nn.Linear(32, 1000))  # e.g. an ImageNet head, 1000 classes
    ctx.value("tl_old_classes", 1000)
    ctx.value("tl_feat_dim", pretrained[1].in_features)
    ctx.value("tl_old_head_params", n_params(pretrained[1]))
    ctx.value("tl_pretrained_params", n_params(pretrained))

    # Feature extraction: freeze the backbone, swap in a head for the new task.
    new_classes = 5
    model = nn.Sequential(backbone, nn.Linear(32, new_classes))
    for p in backbone.parameters():
        p.requires_grad = False
    ctx.value("tl_new_classes", new_classes)
    ctx.value("tl_total_params", n_params(model))
    ctx.value("tl_trainable_params", n_params(model, trainable_only=True))
    ctx.value("tl_backbone_params", n_params(backbone))

    # One optimizer step: the frozen weights do not move, the head does.
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    xb = torch.randn(8, 3, 16, 16)
    model.eval()  # frozen BatchNorm: keep its running statistics too
    F.cross_entropy(model(xb), torch.randint(0, new_classes, (8,))).backward()
    opt.step()
    moved = [not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True)]
    ctx.value("tl_backbone_moved", any(moved[: len(list(backbone.parameters()))]))
    ctx.value("tl_head_moved", all(moved[len(list(backbone.parameters())) :]))

    # The BatchNorm trap: requires_grad=False does not stop running statistics from updating in train mode.
    bn = backbone[1]
    mean_before = bn.running_mean.clone()
    model.train()
    with torch.no_grad():
        model(xb)
    ctx.value("tl_bn_stats_changed_train", not torch.equal(mean_before, bn.running_mean))
    mean_before = bn.running_mean.clone()
    backbone.eval()
    with torch.no_grad():
        model(xb)
    ctx.value("tl_bn_stats_changed_eval", not torch.equal(mean_before, bn.running_mean))

    # Fine-tuning everything with discriminative learning rates (parameter groups).
    for p in backbone.parameters():
        p.requires_grad = True
    head_lr, body_factor = 1e-3, 10
    opt = torch.optim.AdamW(
        [
            {"params": backbone.parameters(), "lr": head_lr / body_factor},
            {"params": model[1].parameters(), "lr": head_lr},
        ]
    )
    ctx.value("tl_head_lr", head_lr)
    ctx.value("tl_body_lr", head_lr / body_factor)
    ctx.value("tl_group_lrs", [g["lr"] for g in opt.param_groups])
    ctx.value("tl_all_trainable", n_params(model, trainable_only=True))

    # Gradual unfreezing: head only, then the last conv block too, then everything.
    blocks = [backbone[0:3], backbone[3:6]]
    stages = []
    for p in backbone.parameters():
        p.requires_grad = False
    stages.append(n_params(model, trainable_only=True))
    for block in reversed(blocks):
        for p in block.parameters():
            p.requires_grad = True
        stages.append(n_params(model, trainable_only=True))
    ctx.value("tl_unfreeze_stages", stages)
    ctx.value("tl_unfreeze_path", " → ".join(f"{n:,}" for n in stages))


def transfer_demo(ctx):
    """Pretrain on a source task with plenty of labels, then learn a different target task from a
    few labels: from scratch vs frozen pretrained features vs fine-tuning everything."""
    d, z_dim, hidden = 10, 6, 32
    gen = torch.Generator().manual_seed(30)
    mix = 2 * torch.randn(z_dim, d, generator=gen) / d**0.5
    w_src = torch.randn(z_dim, 12, generator=gen)  # 12 source labels
    w_tgt = torch.randn(z_dim, generator=gen)  # 1 binary target label

    def world(x):  # the "low-level features" both tasks depend on
        return torch.tanh(x @ mix.T)

    def source(n):
        x = torch.randn(n, d, generator=gen)
        return x, (world(x) @ w_src > 0).float()

    def target(n):
        x = torch.randn(n, d, generator=gen)
        return x, (world(x) @ w_tgt > 0).long()

    def new_backbone(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())

    def fit(model, groups, x, y, loss_fn, steps):
        opt = torch.optim.Adam(groups)
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

    n_src, n_tgt, n_test = 1000, 20, 2000
    xs, ys = source(n_src)
    body = new_backbone(1)
    pre = nn.Sequential(body, nn.Linear(hidden, ys.shape[1]))
    fit(pre, [{"params": pre.parameters(), "lr": 0.01}], xs, ys, F.binary_cross_entropy_with_logits, 100)

    xt, yt = target(n_tgt)
    xte, yte = target(n_test)
    steps, lr = 80, 0.01

    def head(seed):
        torch.manual_seed(seed)
        return nn.Linear(hidden, 2)

    scratch = nn.Sequential(new_backbone(2), head(3))
    fit(scratch, [{"params": scratch.parameters(), "lr": lr}], xt, yt, F.cross_entropy, steps)
    frozen_body = copy.deepcopy(body).requires_grad_(False)
    probe = nn.Sequential(frozen_body, head(3))
    fit(probe, [{"params": probe[1].parameters(), "lr": lr}], xt, yt, F.cross_entropy, steps)
    tuned = nn.Sequential(copy.deepcopy(body), head(3))
    fit(
        tuned,
        [{"params": tuned[0].parameters(), "lr": lr / 10}, {"params": tuned[1].parameters(), "lr": lr}],
        xt,
        yt,
        F.cross_entropy,
        steps,
    )

    acc = {}
    with torch.no_grad():
        for name, m in [("scratch", scratch), ("frozen", probe), ("finetune", tuned)]:
            acc[name] = (m(xte).argmax(1) == yte).float().mean().item()
            ctx.value(f"td_acc_{name}", acc[name])
    ctx.value("td_src_n", n_src)
    ctx.value("td_src_labels", ys.shape[1])
    ctx.value("td_tgt_n", n_tgt)
    ctx.value("td_test_n", n_test)
    ctx.value("td_steps", steps)
    ctx.value("td_majority", max(yte.float().mean().item(), 1 - yte.float().mean().item()))

    def draw(fig):
        ax = fig.subplots()
        names = ["from\nscratch", "frozen +\nnew head", "fine-tune\nall"]
        vals = [acc["scratch"], acc["frozen"], acc["finetune"]]
        bars = ax.bar(names, vals, color=["C0", "C1", "C2"])
        ax.bar_label(bars, fmt="%.2f")
        ax.set_ylim(0.5, 1.0)
        ax.set_ylabel("test accuracy")
        ax.set_title(f"Target task, {n_tgt} labelled examples")
        ax.grid(axis="x", visible=False)

    ctx.figure("trn_transfer_bars", draw)


def compute(ctx):
    epochs_batches(ctx)
    x, y = learning_rate(ctx)
    gradient_noise(ctx)
    batch_memory(ctx)
    linear_scaling(ctx)
    grad_accumulation(ctx)
    search(ctx)
    throughput(ctx)
    instability(ctx, x, y)
    loss_curves(ctx)
    imbalance(ctx)
    transfer_api(ctx)
    transfer_demo(ctx)
