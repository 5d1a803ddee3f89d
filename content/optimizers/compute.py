"""Optimizers: every number and curve on the cards comes from torch.optim running on real tensors.

Sections (in card order):
  1. Gradient descent: one worked step, the learning-rate stability limit, local minima.
  2. Backpropagation vs gradient descent: backward() fills .grad, step() uses it.
  3. Batch vs mini-batch vs stochastic: updates per epoch, gradient noise vs batch size, training curves.
  4. Momentum, RMSProp, Adam (with and without bias correction), AdamW vs Adam + L2.
  5. The torch.optim API: param groups, state, zero_grad, memory per optimizer.
  6. Trajectories of SGD / momentum / RMSProp / Adam on an elongated bowl and on Rosenbrock.
"""

import torch
from _lib.nets import mlp
from torch import nn
from torch.func import grad, vmap
from torch.utils.data import DataLoader, TensorDataset

# Colours shared by every figure that compares the four optimizers.
COLORS = {"SGD": "tab:blue", "Momentum": "tab:orange", "RMSProp": "tab:green", "Adam": "tab:red"}


def scalar(v):
    """A 0-d / one-element tensor as a plain float."""
    return float(v.detach().reshape(-1)[0])


def step_once(opt, loss_fn, p):
    """One full optimizer step on loss_fn(p); returns the update p_new - p_old."""
    before = p.detach().clone()
    opt.zero_grad()
    loss_fn(p).backward()
    opt.step()
    return p.detach() - before


def run_path(make_opt, loss_fn, start, steps):
    """Run an optimizer from `start` for `steps` steps; return visited points and the loss at each of them."""
    p = torch.tensor(start, requires_grad=True)
    opt = make_opt([p])
    points, losses = [p.detach().clone()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(p)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        points.append(p.detach().clone())
    losses.append(loss_fn(p).item())
    return torch.stack(points), losses


# --------------------------------------------------------------------------------------------
# 1. Gradient descent
# --------------------------------------------------------------------------------------------
def gradient_descent(ctx):
    # One worked step of w <- w - lr * dL/dw on L(w) = (w - target)^2, done by torch.optim.SGD.
    target, w0, lr = 3.0, 0.0, 0.1
    w = torch.tensor(w0, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr)
    loss = (w - target) ** 2
    loss.backward()
    g = w.grad.item()  # dL/dw at w0, from autograd
    opt.step()
    ctx.value("gd_target", target)
    ctx.value("gd_w0", w0)
    ctx.value("gd_lr", lr)
    ctx.value("gd_loss0", loss.item())
    ctx.value("gd_grad", g)
    ctx.value("gd_w1", w.item())
    ctx.value("gd_loss1", ((w - target) ** 2).item())

    # Learning-rate stability on L(w) = (a/2) w^2. GD multiplies w by (1 - lr*a) each step,
    # so it converges only if lr < 2/a. The curvature a is measured with autograd (2nd derivative).
    a = 4.0
    w = torch.tensor(1.0, requires_grad=True)
    (d1,) = torch.autograd.grad(0.5 * a * w**2, w, create_graph=True)
    (d2,) = torch.autograd.grad(d1, w)
    curv = d2.item()
    lr_max = 2.0 / curv
    ctx.value("lr_curv", curv)
    ctx.value("lr_max", lr_max)

    # Four learning rates: slow, fast, oscillating but converging, and diverging (lr > lr_max).
    lr_runs = {"slow": 0.05, "fast": 0.2, "oscillating": 0.45, "diverging": 0.55}
    steps = 10
    paths = {}
    for label, lr in lr_runs.items():
        pts, _ = run_path(lambda ps, lr=lr: torch.optim.SGD(ps, lr=lr), lambda p: 0.5 * a * p**2, 1.0, steps)
        paths[label] = pts
    ctx.value("lr_steps", steps)
    for label, lr in lr_runs.items():
        ctx.value(f"lr_{label}", lr)
        ctx.value(f"lr_w_{label}", paths[label][-1].item())  # w after `steps` steps, from w0 = 1
        ctx.value(f"lr_factor_{label}", 1 - lr * curv)  # w is multiplied by this every step

    def draw_lr(fig):
        ax = fig.subplots()
        for label, lr in lr_runs.items():
            ax.plot(paths[label], marker="o", ms=3, lw=1.5, label=f"lr = {lr:g}")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylim(-7, 7)
        ax.set_xlabel("step")
        ax.set_ylabel("w (minimum at 0)")
        ax.set_title(f"GD on (a/2)w², a = {curv:g}: stable only for lr < {lr_max:g}")
        ax.legend(ncol=2, fontsize=9, loc="upper left")

    ctx.figure("opt_lr_effect", draw_lr, width=6.0, height=3.6)

    # Non-convex: f(w) = w^4 - 3 w^2 + w has two minima; plain GD ends in whichever basin it starts in.
    def f(p):
        return p**4 - 3 * p**2 + p

    nc_lr, nc_steps = 0.01, 500
    ctx.value("nc_lr", nc_lr)
    ctx.value("nc_steps", nc_steps)
    for side, start in (("left", -2.0), ("right", 2.0)):
        pts, losses = run_path(lambda ps: torch.optim.SGD(ps, lr=nc_lr), f, start, nc_steps)
        ctx.value(f"nc_start_{side}", start)
        ctx.value(f"nc_end_{side}", pts[-1].item())
        ctx.value(f"nc_loss_{side}", losses[-1])


# --------------------------------------------------------------------------------------------
# 2. Backpropagation fills .grad; the optimizer's step() is the gradient-descent update
# --------------------------------------------------------------------------------------------
def backprop_and_step(ctx):
    model = mlp(3, 4, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    lr = 0.1
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    grads_before = [p.grad is None for p in model.parameters()]
    loss = nn.functional.mse_loss(model(x), y)
    loss.backward()  # backpropagation: fills p.grad for every parameter
    manual = [p.detach() - lr * p.grad for p in model.parameters()]  # gradient descent by hand
    opt.step()  # gradient descent by torch.optim
    same = all(torch.allclose(p.detach(), m) for p, m in zip(model.parameters(), manual, strict=True))
    ctx.value("bp_grads_none_before", all(grads_before))
    ctx.value("bp_step_equals_manual", same)
    ctx.value("bp_lr", lr)


# --------------------------------------------------------------------------------------------
# 3. Batch, mini-batch and stochastic gradient descent
# --------------------------------------------------------------------------------------------
def batch_variants(ctx):
    n, d, b = 1000, 5, 32
    x = torch.randn(n, d)
    w_true = torch.randn(d, 1)
    y = x @ w_true + 0.5 * torch.randn(n, 1)
    data = TensorDataset(x, y)

    # Updates per epoch = number of batches a DataLoader yields.
    ctx.value("data_n", n)
    ctx.value("mb_size", b)
    ctx.value("updates_full", len(DataLoader(data, batch_size=n)))
    ctx.value("updates_sgd", len(DataLoader(data, batch_size=1)))
    ctx.value("updates_mb", len(DataLoader(data, batch_size=b)))
    ctx.value("updates_mb_droplast", len(DataLoader(data, batch_size=b, drop_last=True)))

    # Gradient noise: per-example gradients of the squared error (torch.func), then the mini-batch
    # gradient of many random batches (drawn without replacement, like a shuffled DataLoader).
    w = torch.zeros(d, 1)

    def example_loss(wv, xi, yi):
        return ((xi @ wv - yi) ** 2).sum()

    per_example = vmap(grad(example_loss), in_dims=(None, 0, 0))(w, x, y).squeeze(-1)  # (n, d)
    full = per_example.mean(0)
    draws = 2000
    perms = torch.rand(draws, n).argsort(dim=1)  # each row: a random order of the examples
    noise = {}
    for bs in (1, 4, 16, 64):
        idx = perms[:, :bs]  # each row: one random batch of bs distinct examples
        est = per_example[idx].mean(1)  # (draws, d) mini-batch gradients
        noise[bs] = (est - full).norm(dim=1).pow(2).mean().sqrt().item()  # RMS error vs full gradient
    ctx.value("noise_b1", noise[1])
    ctx.value("noise_b4", noise[4])
    ctx.value("noise_b16", noise[16])
    ctx.value("noise_b64", noise[64])
    ctx.value("noise_ratio_16_64", noise[16] / noise[64])  # 4x the batch: expect ~sqrt(4) = 2x less noise
    ctx.value("noise_bs_a", 16)
    ctx.value("noise_bs_b", 64)
    ctx.value("noise_bs_factor", 64 // 16)
    ctx.value("noise_draws", draws)

    # Training curves: the same linear model, MSE, lr; only the batch size differs.
    lr, epochs = 0.05, 3
    runs = {f"batch (B = {n})": n, f"mini-batch (B = {b})": b, "stochastic (B = 1)": 1}
    curves, finals = {}, {}
    for label, bs in runs.items():
        torch.manual_seed(0)
        model = nn.Linear(d, 1)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        loader = DataLoader(data, batch_size=bs, shuffle=True, generator=torch.Generator().manual_seed(0))
        every = max(1, len(loader) // 50)  # log the full-data loss ~50 times per epoch
        xs, ls = [0.0], [nn.functional.mse_loss(model(x), y).item()]
        step = 0
        for _ in range(epochs):
            for xb, yb in loader:
                opt.zero_grad()
                nn.functional.mse_loss(model(xb), yb).backward()
                opt.step()
                step += 1
                if step % every == 0:
                    with torch.no_grad():
                        xs.append(step * bs / n)
                        ls.append(nn.functional.mse_loss(model(x), y).item())
        curves[label] = (xs, ls)
        finals[bs] = ls[-1]
    ctx.value("bv_lr", lr)
    ctx.value("bv_epochs", epochs)
    ctx.value("bv_loss_full", finals[n])
    ctx.value("bv_loss_mb", finals[b])
    ctx.value("bv_loss_sgd", finals[1])
    # Full-batch GD on this MSE could use any lr below 2 / (largest Hessian eigenvalue), H = 2 X1^T X1 / n.
    # (x1 is x with a column of ones for the bias, like nn.Linear.)
    x1 = torch.cat([x, torch.ones(n, 1)], dim=1)
    hess = 2 * x1.T @ x1 / n
    ctx.value("bv_full_lr_max", 2 / torch.linalg.eigvalsh(hess).max().item())
    # The best any optimizer can reach: the least-squares fit (with a bias column, like nn.Linear).
    w_ls = torch.linalg.lstsq(x1, y).solution
    ctx.value("bv_loss_opt", nn.functional.mse_loss(x1 @ w_ls, y).item())

    def draw_batch(fig):
        ax = fig.subplots()
        for label, (xs, ls) in curves.items():
            ax.plot(xs, ls, label=label, marker="o" if len(xs) < 10 else None, lw=1.5)
        ax.set_yscale("log")
        ax.set_xlabel("epochs (passes over the data)")
        ax.set_ylabel("training MSE (log)")
        ax.set_title(f"Same lr = {lr:g}, n = {n}: only the batch size differs")
        ax.legend()

    ctx.figure("opt_batch_variants", draw_batch, width=6.0, height=3.6)


# --------------------------------------------------------------------------------------------
# 4. Momentum, RMSProp, Adam, AdamW
# --------------------------------------------------------------------------------------------
def momentum(ctx):
    # Constant gradient g (loss g*w): with momentum mu the step grows to lr*g/(1-mu).
    lr, mu, g, steps = 0.1, 0.9, 1.0, 100
    w = torch.tensor(0.0, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=mu)
    first = scalar(step_once(opt, lambda p: g * p, w))
    for _ in range(steps - 2):
        step_once(opt, lambda p: g * p, w)
    last = scalar(step_once(opt, lambda p: g * p, w))
    ctx.value("mom_lr", lr)
    ctx.value("mom_g", g)
    ctx.value("mom_mu", mu)
    ctx.value("mom_steps", steps)
    ctx.value("mom_first_step", abs(first))
    ctx.value("mom_last_step", abs(last))
    ctx.value("mom_speedup", abs(last) / (lr * g))


def rmsprop(ctx):
    p = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = torch.optim.RMSprop([p])  # PyTorch defaults
    lr, alpha = opt.defaults["lr"], opt.defaults["alpha"]
    step = step_once(opt, lambda q: (q**2).sum(), p)  # gradient 2p = (2, -4)
    ctx.value("rms_grad", p.grad)
    ctx.value("rms_lr", lr)
    ctx.value("rms_alpha", alpha)
    ctx.value("rms_first_step", step.abs().tolist())
    ctx.value("rms_first_ratio", step.abs()[0].item() / lr)  # = 1/sqrt(1 - alpha): no bias correction


def adam(ctx):
    # First Adam step on L = sum(w^2) from w = (1, -2): gradient g = (2, -4).
    # float64 so the tiny update (p_new - p_old) is not blurred by float32 rounding of p.
    w0 = [1.0, -2.0]
    p = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p])  # defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8
    lr, (b1, b2), eps = opt.defaults["lr"], opt.defaults["betas"], opt.defaults["eps"]
    loss = (p**2).sum()
    loss.backward()
    g = p.grad.clone()
    before = p.detach().clone()
    opt.step()
    step_torch = p.detach() - before

    # The same step by hand, in torch, with and without bias correction (t = 1, m0 = v0 = 0).
    m = (1 - b1) * g
    v = (1 - b2) * g**2
    step_bc = -lr * (m / (1 - b1)) / ((v / (1 - b2)).sqrt() + eps)
    step_nobc = -lr * m / (v.sqrt() + eps)
    ctx.value("adam_w0", w0)
    ctx.value("adam_grad", g)
    ctx.value("adam_lr", lr)
    ctx.value("adam_beta1", b1)
    ctx.value("adam_beta2", b2)
    ctx.value("adam_eps", eps)
    ctx.value("adam_step_torch", step_torch)
    ctx.value("adam_step1", step_torch[0].item())
    ctx.value("adam_hand_matches_torch", bool(torch.allclose(step_bc, step_torch)))
    ctx.value("adam_step_nobc", step_nobc)
    ctx.value("adam_step1_nobc", step_nobc[0].item())
    ctx.value("adam_nobc_ratio", (step_nobc / step_torch)[0].item())
    ctx.value("adam_m1", m)
    ctx.value("adam_v1", v)

    # How long the v correction matters: 1 / (1 - beta2^t).
    ctx.value("adam_t_small", 10)
    ctx.value("adam_t_big", 1000)
    ctx.value("adam_vcorr_t10", 1 / (1 - b2**10))
    ctx.value("adam_vcorr_t1000", 1 / (1 - b2**1000))

    # Gradient-scale invariance: multiply the loss by 1000. Adam's step stays; SGD's grows 1000x.
    scale = 1000.0
    steps = {}
    makers = {"adam": lambda ps: torch.optim.Adam(ps, lr=lr), "sgd": lambda ps: torch.optim.SGD(ps, lr=lr)}
    for name, make in makers.items():
        for s in (1.0, scale):
            q = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
            steps[name, s] = step_once(make([q]), lambda r, s=s: s * (r**2).sum(), q)
    ctx.value("scale", scale)
    ctx.value("adam_step_scaled", steps["adam", scale][0].item())
    ctx.value("sgd_step_unscaled", steps["sgd", 1.0][0].item())
    ctx.value("sgd_step_scaled", steps["sgd", scale][0].item())


def adamw(ctx):
    # A weight whose loss gradient is zero (the loss uses only w[0]); only weight decay acts on w[1].
    # Adam(weight_decay) adds lam*w to the gradient, and then divides it by sqrt(v): the decay is
    # normalised away and w[1] shrinks by about lr per step whatever lam is.
    # AdamW multiplies w by (1 - lr*lam) each step, separately from the adaptive update.
    lr, steps, w_start = 0.01, 20, 1.0
    lams = (0.01, 0.1)
    end = {}
    for name, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        for lam in lams:
            w = torch.tensor([0.0, w_start], requires_grad=True)
            opt = cls([w], lr=lr, weight_decay=lam)
            for _ in range(steps):
                step_once(opt, lambda p: (p[0] - 2.0) ** 2, w)
            end[name, lam] = w[1].item()
    ctx.value("aw_lr", lr)
    ctx.value("aw_w0", w_start)
    ctx.value("aw_steps", steps)
    ctx.value("aw_lam_small", lams[0])
    ctx.value("aw_lam_big", lams[1])
    ctx.value("aw_adam_small", end["adam", lams[0]])
    ctx.value("aw_adam_big", end["adam", lams[1]])
    ctx.value("aw_adamw_small", end["adamw", lams[0]])
    ctx.value("aw_adamw_big", end["adamw", lams[1]])
    ctx.value("aw_adamw_closed_big", w_start * (1 - lr * lams[1]) ** steps)  # AdamW: pure geometric decay

    # AdamW's update = Adam(weight_decay=0) update  - lr*lam*w   (checked on random data).
    lam = 0.1
    w_init, g = torch.randn(5), torch.randn(5)
    outs = {}
    for name, cls, wd in (("adamw", torch.optim.AdamW, lam), ("adam0", torch.optim.Adam, 0.0)):
        q = w_init.clone().requires_grad_(True)
        outs[name] = step_once(cls([q], lr=lr, weight_decay=wd), lambda r: (g * r).sum(), q)
    ctx.value("aw_decoupled_identity", bool(torch.allclose(outs["adamw"], outs["adam0"] - lr * lam * w_init)))
    ctx.value("adamw_default_wd", torch.optim.AdamW([torch.zeros(1, requires_grad=True)]).defaults["weight_decay"])
    ctx.value("adam_default_wd", torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults["weight_decay"])


# --------------------------------------------------------------------------------------------
# 5. torch.optim API
# --------------------------------------------------------------------------------------------
def optim_api(ctx):
    model = mlp(4, 8, 2)
    body_lr, head_lr = 1e-4, 1e-2
    opt = torch.optim.Adam(
        [{"params": model[0].parameters(), "lr": body_lr}, {"params": model[2].parameters()}],
        lr=head_lr,
    )
    ctx.value("pg_body_lr", body_lr)
    ctx.value("pg_head_lr", head_lr)
    ctx.value("pg_count", len(opt.param_groups))
    ctx.value("pg_lrs", [g["lr"] for g in opt.param_groups])
    ctx.value("pg_lrs_repr", repr([g["lr"] for g in opt.param_groups]))
    ctx.value("pg_group0_tensors", len(opt.param_groups[0]["params"]))
    ctx.value("state_len_before", len(opt.state))

    x = torch.randn(16, 4)
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
    first = model[0].weight
    ctx.value("state_len_after", len(opt.state))
    ctx.value("adam_state_keys", ", ".join(opt.state[first].keys()))
    ctx.value("adam_state_step", opt.state[first]["step"].item())
    ctx.value("adam_state_shape", list(opt.state[first]["exp_avg"].shape))
    ctx.value("weight_shape", list(first.shape))

    # zero_grad() sets .grad to None by default (set_to_none=True).
    opt.zero_grad()
    ctx.value("grad_none_after_zero_grad", first.grad is None)

    # None vs zeros matters: step() skips a parameter whose .grad is None, while a zero gradient
    # still lets the momentum buffer move it.
    for set_to_none in (False, True):
        w = torch.tensor(1.0, requires_grad=True)
        o = torch.optim.SGD([w], lr=0.1, momentum=0.9)
        step_once(o, lambda p: p**2, w)  # one real step fills the momentum buffer
        o.zero_grad(set_to_none=set_to_none)
        before = w.item()
        o.step()  # a step with no new gradient
        ctx.value("zg_moves_with_none" if set_to_none else "zg_moves_with_zeros", w.item() != before)

    # Without zero_grad, gradients accumulate: a second backward() adds to .grad.
    w = torch.tensor(1.5, requires_grad=True)
    (w**2).backward()
    g1 = w.grad.item()
    (w**2).backward()
    g2 = w.grad.item()
    ctx.value("acc_w", 1.5)
    ctx.value("acc_grad1", g1)
    ctx.value("acc_grad2", g2)

    # Memory: optimizer state (excluding the scalar step counter) per optimizer, for one nn.Linear.
    fan_in, fan_out = 100, 10
    makers = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
        "momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        "rmsprop": lambda ps: torch.optim.RMSprop(ps),
        "adam": lambda ps: torch.optim.Adam(ps),
    }
    for name, make in makers.items():
        lin = nn.Linear(fan_in, fan_out)
        o = make(lin.parameters())
        lin(torch.randn(2, fan_in)).sum().backward()
        o.step()
        n_state = sum(t.numel() for s in o.state.values() for k, t in s.items()
                      if k != "step" and isinstance(t, torch.Tensor))
        ctx.value(f"mem_{name}", n_state)
    ctx.value("mem_fan_in", fan_in)
    ctx.value("mem_fan_out", fan_out)
    n_params = sum(p.numel() for p in nn.Linear(fan_in, fan_out).parameters())
    ctx.value("mem_params", n_params)
    # Training memory with Adam, in units of the model size: weights + gradients + Adam state.
    ctx.value("mem_adam_total_factor", (n_params + n_params + ctx.values["mem_adam"]) / n_params)


# --------------------------------------------------------------------------------------------
# 6. Trajectories on 2-D test functions
# --------------------------------------------------------------------------------------------
def trajectories(ctx):
    import numpy as np

    # Elongated bowl: f(x, y) = (x^2 + K y^2) / 2, curvature 1 along x and K along y.
    k = 100.0

    def bowl(p):
        return 0.5 * (p[0] ** 2 + k * p[1] ** 2)

    # Learning rates picked by hand so each optimizer behaves typically (SGD just under its limit 2/K).
    start, steps = [-4.0, 0.5], 50
    bowl_lrs = {"SGD": 0.019, "Momentum": 0.004, "RMSProp": 0.05, "Adam": 0.1}
    mom = 0.9
    def four_optimizers(lrs):
        """The four optimizers compared in the path figures, each with its own hand-picked lr."""
        return {
            "SGD": lambda ps: torch.optim.SGD(ps, lr=lrs["SGD"]),
            "Momentum": lambda ps: torch.optim.SGD(ps, lr=lrs["Momentum"], momentum=mom),
            "RMSProp": lambda ps: torch.optim.RMSprop(ps, lr=lrs["RMSProp"]),
            "Adam": lambda ps: torch.optim.Adam(ps, lr=lrs["Adam"]),
        }

    runs = {name: run_path(make, bowl, start, steps) for name, make in four_optimizers(bowl_lrs).items()}
    ctx.value("bowl_k", k)
    ctx.value("bowl_start", start)
    ctx.value("bowl_steps", steps)
    ctx.value("bowl_mom", mom)
    ctx.value("bowl_sgd_lr_max", 2 / k)  # GD is stable only for lr < 2 / (largest curvature)
    for name, lr in bowl_lrs.items():
        key = name.lower()
        ctx.value(f"bowl_lr_{key}", lr)
        ctx.value(f"bowl_loss_{key}", runs[name][1][-1])
    # Plain GD along the flat x axis: x shrinks by (1 - lr * 1) per step.
    ctx.value("bowl_sgd_x_factor", 1 - bowl_lrs["SGD"] * 1.0)
    ctx.value("bowl_sgd_y_factor", 1 - bowl_lrs["SGD"] * k)

    def contour(ax, f_np, xlim, ylim, levels):
        gx, gy = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300))
        ax.contour(gx, gy, f_np(gx, gy), levels=levels, colors="0.75", linewidths=0.8)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.grid(False)

    def draw_paths(fig):
        ax = fig.subplots()
        contour(ax, lambda x, y: 0.5 * (x**2 + k * y**2), (-4.5, 1.0), (-0.75, 0.75), np.geomspace(0.05, 60, 12))
        for name, (pts, _) in runs.items():
            ax.plot(pts[:, 0], pts[:, 1], marker="o", ms=2.5, lw=1.3, color=COLORS[name],
                    label=f"{name} (lr {bowl_lrs[name]:g})", zorder=3 if name == "SGD" else 2)
        ax.plot(0, 0, marker="*", color="black", ms=12, ls="none")
        ax.set_xlabel("x (flat direction)")
        ax.set_ylabel("y (steep direction)")
        ax.set_title(f"f = (x² + {k:g}y²)/2, {steps} steps each")
        ax.legend(loc="lower right", fontsize=9)

    ctx.figure("opt_paths_bowl", draw_paths, width=6.0, height=3.6)

    def draw_losses(fig):
        ax = fig.subplots()
        for name, (_, losses) in runs.items():
            ax.plot(losses, color=COLORS[name], label=name)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (log scale)")
        ax.set_title(f"Loss on the elongated bowl (K = {k:g})")
        ax.legend()

    ctx.figure("opt_loss_bowl", draw_losses, width=6.0, height=3.6)

    # Rosenbrock: f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum at (1, 1) at the end of a curved valley.
    def rosen(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    r_start, r_steps = [-1.5, 2.0], 1000
    r_lrs = {"SGD": 1.5e-3, "Momentum": 1.5e-3, "RMSProp": 1e-2, "Adam": 5e-2}
    r_runs = {name: run_path(make, rosen, r_start, r_steps) for name, make in four_optimizers(r_lrs).items()}
    ctx.value("rosen_start", r_start)
    ctx.value("rosen_steps", r_steps)
    for name, lr in r_lrs.items():
        key = name.lower()
        ctx.value(f"rosen_lr_{key}", lr)
        ctx.value(f"rosen_loss_{key}", r_runs[name][1][-1])
        ctx.value(f"rosen_end_{key}", r_runs[name][0][-1].tolist())

    def draw_rosen(fig):
        axes = fig.subplots(2, 2, sharex=True, sharey=True)
        for ax, (name, (pts, losses)) in zip(axes.flat, r_runs.items(), strict=True):
            contour(ax, lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2, (-2.0, 2.0), (-0.5, 3.0),
                    np.geomspace(0.1, 2000, 10))
            ax.plot(pts[:, 0], pts[:, 1], lw=1.3, color=COLORS[name])
            ax.plot(pts[-1, 0], pts[-1, 1], marker="o", color=COLORS[name], ms=6)
            ax.plot(1, 1, marker="*", color="black", ms=11, ls="none")
            ax.set_title(f"{name} (lr {r_lrs[name]:g}): loss {losses[-1]:.2g}", fontsize=10)
        for ax in axes[1]:
            ax.set_xlabel("x")
        for ax in axes[:, 0]:
            ax.set_ylabel("y")

    ctx.figure("opt_paths_rosenbrock", draw_rosen, width=6.0, height=4.4)


def compute(ctx):
    gradient_descent(ctx)
    backprop_and_step(ctx)
    batch_variants(ctx)
    momentum(ctx)
    rmsprop(ctx)
    adam(ctx)
    adamw(ctx)
    optim_api(ctx)
    trajectories(ctx)
