"""Optimizers: every number and curve on the cards comes from torch.optim running on real tensors.

Sections (in card order):
  1. Gradient descent: one worked step, the learning-rate stability limit, local minima.
  2. Backpropagation vs gradient descent: backward() fills .grad, step() uses it.
  3. Batch vs mini-batch vs stochastic: updates per epoch, gradient noise vs batch size, training curves.
  4. Momentum, RMSProp, Adam (with and without bias correction), AdamW vs Adam + L2.
  5. The torch.optim API: param groups, state, zero_grad, memory per optimizer.
  6. Trajectories of SGD / momentum / RMSProp / Adam on an elongated bowl and on Rosenbrock.
  7. Beyond Adam: Nesterov, Adafactor, 8-bit optimizer states, Muon, Lion, LARS and LAMB.
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


# --------------------------------------------------------------------------------------------
# 7. Beyond Adam: Nesterov, Adafactor, 8-bit states, Muon, Lion, LARS / LAMB
# --------------------------------------------------------------------------------------------
NS_QUINTIC = (3.4445, -4.7750, 2.0315)  # Keller Jordan's Muon coefficients (also torch.optim.Muon's defaults)
NS_CUBIC = (1.5, -0.5, 0.0)  # the classic Newton-Schulz iteration X <- 1.5 X - 0.5 X X^T X


def ns_iterate(x, coeffs, steps):
    """Odd-polynomial Newton-Schulz steps X <- aX + b(XX^T)X + c(XX^T)^2 X (no normalisation)."""
    a, b, c = coeffs
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x


def newton_schulz(g, coeffs=NS_QUINTIC, steps=5, eps=1e-7):
    """Muon's orthogonalisation in float32: scale to Frobenius norm 1 (so every singular value is <= 1),
    work on the wide orientation (the Gram matrix is the smaller one), iterate."""
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = ns_iterate(x / (x.norm() + eps), coeffs, steps)
    return x.T if tall else x


def dynamic_map_unsigned():
    """An unsigned 8-bit 'dynamic tree' code in the spirit of Dettmers et al. (2022): decade k = 0..6 covers
    [0.1, 1] x 10^(k-6) with 2^(k+1) evenly spaced levels, plus 0 and 1 (256 levels, 7 orders of magnitude)."""
    levels = [0.0, 1.0]
    for k in range(7):
        edges = torch.linspace(0.1, 1.0, 2 ** (k + 1) + 1, dtype=torch.float64)
        levels += ((edges[:-1] + edges[1:]) / 2 * 10.0 ** (k - 6)).tolist()
    return torch.tensor(sorted(levels), dtype=torch.float64)


def quantize_blocks(x, block, code=None):
    """Block-wise absmax quantization of a non-negative tensor: each block is divided by its max, rounded to
    the nearest of 256 levels (linear uint8 when code is None, else the given code), and scaled back."""
    xb = x.reshape(-1, block)
    scale = xb.max(dim=1, keepdim=True).values
    u = xb / scale
    if code is None:
        q = torch.round(u * 255) / 255
    else:
        idx = torch.searchsorted(code, u.clamp(0, 1)).clamp(1, len(code) - 1)
        lo, hi = code[idx - 1], code[idx]
        q = torch.where(u - lo < hi - u, lo, hi)
    return (q * scale).reshape(x.shape)


def beyond_adam(ctx):
    f64 = torch.float64
    torch.manual_seed(0)  # this section's random data do not depend on how much the others drew

    # ---- Nesterov: PyTorch's rule by hand, torch.optim.SGD(nesterov=True), and Sutskever's look-ahead form.
    a_mat, b_vec = torch.randn(32, 6, dtype=f64), torch.randn(32, dtype=f64)

    def grad_ls(w):  # gradient of the mean squared error ||A w - b||^2 / n
        return 2 * a_mat.T @ (a_mat @ w - b_vec) / len(b_vec)

    lr, mu, steps = 0.05, 0.9, 40
    w = torch.zeros(6, dtype=f64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=mu, nesterov=True)
    w_hand, buf = torch.zeros(6, dtype=f64), torch.zeros(6, dtype=f64)
    theta, vel = torch.zeros(6, dtype=f64), torch.zeros(6, dtype=f64)
    diff_hand = diff_sutskever = 0.0
    for _ in range(steps):
        opt.zero_grad()
        w.grad = grad_ls(w.detach())
        opt.step()
        g = grad_ls(w_hand)  # PyTorch's form: v = mu v + g, then step along g + mu v
        buf = mu * buf + g
        w_hand = w_hand - lr * (g + mu * buf)
        vel = mu * vel - lr * grad_ls(theta + mu * vel)  # Sutskever et al.: gradient at the look-ahead point
        theta = theta + vel
        diff_hand = max(diff_hand, (w.detach() - w_hand).abs().max().item())
        diff_sutskever = max(diff_sutskever, (w.detach() - (theta + mu * vel)).abs().max().item())
    nes_tol = 1e-12
    assert diff_hand < nes_tol and diff_sutskever < nes_tol, (diff_hand, diff_sutskever)
    ctx.value("nes_tol", nes_tol)
    ctx.value("nes_lr", lr)
    ctx.value("nes_mu", mu)
    ctx.value("nes_steps", steps)
    ctx.value("nes_agree", True)

    # Heavy ball vs Nesterov on f = (x^2 + K y^2)/2: same lr and momentum, only the rule differs.
    k_curv, nes_fig_lr, nes_fig_steps = 100.0, 0.005, 40
    runs = {}
    for name, kw in (("heavy ball", {"momentum": mu}), ("Nesterov", {"momentum": mu, "nesterov": True})):
        pts, _losses = run_path(lambda ps, kw=kw: torch.optim.SGD(ps, lr=nes_fig_lr, **kw),
                               lambda p: 0.5 * (p[0] ** 2 + k_curv * p[1] ** 2), [1.0, 1.0], nes_fig_steps)
        runs[name] = pts[:, 1]  # the coordinate along the steep axis
    ctx.value("nes_k", k_curv)
    ctx.value("nes_fig_lr", nes_fig_lr)
    ctx.value("nes_fig_steps", nes_fig_steps)
    ctx.value("nes_y_hb", runs["heavy ball"][-1].abs().item())
    ctx.value("nes_y_nag", runs["Nesterov"][-1].abs().item())
    # Per-step contraction along a direction of curvature lam: the spectral radius of the linear map
    # (x, v) -> (x', v') of each rule. Heavy ball: det = mu, so complex roots have |z| = sqrt(mu) whatever lam;
    # Nesterov: det = mu (1 - lr lam), so steep directions are damped faster.
    def radius(lam, nesterov):
        e = nes_fig_lr
        if nesterov:
            mat = torch.tensor([[1 - e * lam * (1 + mu), -e * mu * mu], [lam, mu]], dtype=f64)
        else:
            mat = torch.tensor([[1 - e * lam, -e * mu], [lam, mu]], dtype=f64)
        return torch.linalg.eigvals(mat).abs().max().item()

    ctx.value("nes_rate_hb_steep", radius(k_curv, False))
    ctx.value("nes_rate_nag_steep", radius(k_curv, True))
    ctx.value("nes_rate_hb_flat", radius(1.0, False))
    ctx.value("nes_rate_nag_flat", radius(1.0, True))

    def draw_nesterov(fig):
        ax = fig.subplots()
        for (name, ys), color in zip(runs.items(), ("C1", "C2"), strict=True):
            ax.plot(ys, color=color, label=name, lw=1.5, marker="o", ms=2.5)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel("y (steep axis, minimum at 0)")
        ax.set_title(f"(x² + {k_curv:g}y²)/2, lr {nes_fig_lr:g}, momentum {mu:g}", fontsize=10)
        ax.legend(fontsize=9)

    ctx.figure("opt_nesterov_vs_heavy_ball", draw_nesterov)

    # ---- Adafactor: factored second moment. Memory for a stated matrix; state shapes from torch.optim.Adafactor.
    rows, cols = 4096, 16384
    ctx.value("af_rows", rows)
    ctx.value("af_cols", cols)
    ctx.value("af_adam_v", rows * cols)
    ctx.value("af_factored", rows + cols)
    ctx.value("af_ratio", rows * cols / (rows + cols))
    small = torch.randn(64, 256, requires_grad=True)
    af_opt = torch.optim.Adafactor([small])
    (small ** 2).sum().backward()
    af_opt.step()
    st = af_opt.state[small]
    ctx.value("af_small_shape", list(small.shape))
    ctx.value("af_row_shape", list(st["row_var"].shape))
    ctx.value("af_col_shape", list(st["col_var"].shape))
    ctx.value("af_small_state", st["row_var"].numel() + st["col_var"].numel())
    ctx.value("af_small_full", small.numel())
    ctx.value("af_state_keys", ", ".join(k for k in st if st[k] is not None))
    af_defaults = af_opt.defaults
    ctx.value("af_default_lr", af_defaults["lr"])
    ctx.value("af_default_d", af_defaults["d"])
    ctx.value("af_default_beta2_decay", af_defaults["beta2_decay"])
    # The rank-1 estimate V_hat = R C / sum(R) keeps every row and column sum of V; exact when V is rank 1.
    v_rand = torch.rand(6, 8, dtype=f64) ** 4  # a positive, far-from-rank-1 matrix
    r_sum, c_sum = v_rand.sum(1, keepdim=True), v_rand.sum(0, keepdim=True)
    v_hat = r_sum @ c_sum / r_sum.sum()
    af_tol = 1e-12
    sums_err = max((v_hat.sum(1) - v_rand.sum(1)).abs().max().item(), (v_hat.sum(0) - v_rand.sum(0)).abs().max().item())
    v_rank1 = torch.rand(6, 1, dtype=f64) @ torch.rand(1, 8, dtype=f64)
    r1, c1 = v_rank1.sum(1, keepdim=True), v_rank1.sum(0, keepdim=True)
    rank1_err = (r1 @ c1 / r1.sum() - v_rank1).abs().max().item()
    assert sums_err < af_tol and rank1_err < af_tol, (sums_err, rank1_err)
    ctx.value("af_tol", af_tol)
    ctx.value("af_rand_rel_err", ((v_hat - v_rand).abs().sum() / v_rand.sum()).item())

    # ---- 8-bit optimizer states: memory for a stated parameter count, and why v needs a non-linear code.
    n_params, block = 7_000_000_000, 2048
    gib = 2 ** 30
    ctx.value("q8_params_b", n_params / 1e9)
    ctx.value("q8_block", block)
    ctx.value("q8_adam32_gib", 8 * n_params / gib)  # two fp32 moments
    scales_bytes = 2 * (n_params // block) * 4  # one fp32 absmax per block, per state
    ctx.value("q8_adam8_gib", (2 * n_params + scales_bytes) / gib)
    ctx.value("q8_scales_mib", scales_bytes / 2**20)
    ctx.value("q8_saving", 1 - (2 * n_params + scales_bytes) / (8 * n_params))
    # Adam's v spans orders of magnitude: per-coordinate gradient scales log-normal (sigma 1 in ln).
    count = 2 ** 18
    g_scale = 1e-3 * torch.exp(torch.randn(count, dtype=f64))
    v = g_scale ** 2
    m = g_scale * torch.randn(count, dtype=f64) * 0.3
    eps = 1e-8
    v_lin_block = quantize_blocks(v, block)
    v_lin_global = quantize_blocks(v, count)
    v_dyn = quantize_blocks(v, block, dynamic_map_unsigned())
    ctx.value("q8_v_orders", torch.log10(v.max() / v.min()).item())
    ctx.value("q8_zero_global", (v_lin_global == 0).double().mean().item())
    ctx.value("q8_zero_block", (v_lin_block == 0).double().mean().item())
    ctx.value("q8_zero_dyn", (v_dyn == 0).double().mean().item())
    ctx.value("q8_zero_dyn_count", int((v_dyn == 0).sum()))
    ctx.value("q8_zero_block_count", int((v_lin_block == 0).sum()))
    u_true = (m / (v.sqrt() + eps)).abs()
    ctx.value("q8_upd_true_max", u_true.max().item())
    ctx.value("q8_upd_lin_max", (m / (v_lin_block.sqrt() + eps)).abs().max().item())
    ctx.value("q8_upd_dyn_max", (m / (v_dyn.sqrt() + eps)).abs().max().item())
    ctx.value("q8_count", count)
    ctx.value("q8_eps", eps)

    # ---- Muon: Newton-Schulz on a real gradient; singular values before and after; torch.optim.Muon agrees.
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    xb, yb = torch.randn(256, 32), torch.randint(0, 10, (256,))
    nn.functional.cross_entropy(mlp(xb), yb).backward()
    g_mat = mlp[2].weight.grad.detach().clone()  # (64, 128)
    s_in = torch.linalg.svdvals(g_mat)
    o = newton_schulz(g_mat)
    s_out = torch.linalg.svdvals(o)
    ctx.value("mu_shape", list(g_mat.shape))
    ctx.value("mu_sv_ratio_in", (s_in[0] / s_in[-1]).item())
    ctx.value("mu_top_share_in", (s_in[0] ** 2 / (s_in ** 2).sum()).item())  # energy in the top direction
    ctx.value("mu_sv_min_out", s_out.min().item())
    ctx.value("mu_sv_max_out", s_out.max().item())
    u_svd, _, vh_svd = torch.linalg.svd(g_mat, full_matrices=False)
    ctx.value("mu_dist_to_uvt", ((o - u_svd @ vh_svd).norm() / (u_svd @ vh_svd).norm()).item())
    ctx.value("mu_coeffs", list(NS_QUINTIC))
    p_muon = torch.zeros_like(g_mat, requires_grad=True)
    muon = torch.optim.Muon([p_muon], lr=1.0, momentum=0.0, weight_decay=0.0)  # step = -NS(grad), in bf16
    p_muon.grad = g_mat.clone()
    muon.step()
    mu_tol = 0.02
    mu_diff = (-p_muon.detach() - o).abs().max().item()
    assert mu_diff < mu_tol, mu_diff
    ctx.value("mu_tol", mu_tol)
    ctx.value("mu_entry_rms", o.pow(2).mean().sqrt().item())
    muon_defaults = torch.optim.Muon([torch.zeros(2, 2, requires_grad=True)]).defaults
    ctx.value("mu_default_momentum", muon_defaults["momentum"])
    ctx.value("mu_default_steps", muon_defaults["ns_steps"])
    ctx.value("mu_default_nesterov", muon_defaults["nesterov"])
    # The scalar map each singular value goes through (the matrix iteration on a diagonal matrix).
    sig = torch.logspace(-3, 0, 121, dtype=f64)
    ctx.value("mu_map_from", sig[0].item())
    maps = {name: torch.diagonal(ns_iterate(torch.diag(sig), coeffs, 5))
            for name, coeffs in (("Muon quintic, 5 steps", NS_QUINTIC), ("classic cubic, 5 steps", NS_CUBIC))}
    # Without the Frobenius scaling a singular value above 1 is thrown far off (the polynomial grows like x^5).
    big_sv = 1.5
    ctx.value("mu_big_sv", big_sv)
    ctx.value("mu_big_sv_1", ns_iterate(torch.tensor([[big_sv]], dtype=f64), NS_QUINTIC, 1).item())
    # An exactly orthogonal A x B matrix (all singular values 1) has entries of RMS 1 / sqrt(max(A, B)).
    ctx.value("mu_rms_exact", (u_svd @ vh_svd).pow(2).mean().sqrt().item())
    ctx.value("mu_rms_formula", 1 / max(g_mat.shape) ** 0.5)
    try:
        torch.optim.Muon([torch.zeros(8, requires_grad=True)])
        ctx.value("mu_1d_error", "none")
    except ValueError as exc:
        ctx.value("mu_1d_error", f"ValueError: {exc}".split(" whereas")[0])
    # FLOPs of 5 Newton-Schulz steps on an m x m matrix (each: X X^T, A @ A, B @ X = 6 m^3) vs forward + backward
    # through the same matrix for T tokens (6 m^2 T): overhead 5 m / T.
    width, tokens = 768, 524_288
    ctx.value("mu_ovh_width", width)
    ctx.value("mu_ovh_tokens", tokens)
    ctx.value("mu_ovh", 5 * 6 * width**3 / (6 * width**2 * tokens))
    band = sig >= 3e-3  # inputs from 0.003 to 1 (after scaling) all land in a band around 1
    ctx.value("mu_band_from", 3e-3)
    ctx.value("mu_band_min", maps["Muon quintic, 5 steps"][band].min().item())
    ctx.value("mu_band_max", maps["Muon quintic, 5 steps"][band].max().item())
    small_sv = 0.01
    ctx.value("mu_small_sv", small_sv)
    i_small = int(torch.argmin((sig - small_sv).abs()))
    ctx.value("mu_small_sv_quintic", maps["Muon quintic, 5 steps"][i_small].item())
    ctx.value("mu_small_sv_cubic", maps["classic cubic, 5 steps"][i_small].item())

    def draw_ns(fig):
        ax = fig.subplots()
        for (name, out), color in zip(maps.items(), ("C0", "C1"), strict=True):
            ax.plot(sig, out, color=color, label=name, lw=1.8)
        ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("singular value in (after scaling to ‖G‖_F = 1)")
        ax.set_ylabel("singular value out")
        ax.set_title("5 Newton–Schulz steps, per singular value", fontsize=10)
        ax.legend(fontsize=9, loc="lower right")

    ctx.figure("opt_muon_ns_map", draw_ns)

    # ---- Lion: sign update (every coordinate moves by exactly lr) vs Adam's smaller RMS update.
    torch.manual_seed(1)
    x_lin, w_star = torch.randn(512, 20), torch.randn(20)
    y_lin = x_lin @ w_star + 0.5 * torch.randn(512)
    w_adam = torch.zeros(20, requires_grad=True)
    adam_opt = torch.optim.Adam([w_adam], lr=1e-2)
    for _ in range(200):
        idx = torch.randint(0, 512, (16,))
        adam_opt.zero_grad()
        ((x_lin[idx] @ w_adam - y_lin[idx]) ** 2).mean().backward()
        before = w_adam.detach().clone()
        adam_opt.step()
    adam_rms = ((w_adam.detach() - before) / 1e-2).pow(2).mean().sqrt().item()
    ctx.value("lion_adam_rms", adam_rms)  # RMS of Adam's last step, in units of lr

    def lion_step(p, g, m_state, lr, beta1=0.9, beta2=0.99, wd=0.0):
        """Chen et al. (2023): step along sign(beta1 m + (1 - beta1) g), then update m with beta2."""
        update = torch.sign(beta1 * m_state + (1 - beta1) * g) + wd * p
        m_state.mul_(beta2).add_(g, alpha=1 - beta2)
        return p - lr * update

    # Lion's step is lr * sign(...): with no weight decay every nonzero coordinate moves by exactly lr.
    p_l, m_l = torch.zeros(20, dtype=f64), torch.zeros(20, dtype=f64)
    x64, y64 = x_lin.double(), y_lin.double()
    lion_lr = 1e-3
    for _ in range(200):
        idx = torch.randint(0, 512, (16,))
        g = 2 * x64[idx].T @ (x64[idx] @ p_l - y64[idx]) / 16
        new = lion_step(p_l, g, m_l, lr=lion_lr)
        lion_rms = ((new - p_l) / lion_lr).pow(2).mean().sqrt().item()
        p_l = new
    ctx.value("lion_rms", lion_rms)
    ctx.value("lion_adam_ratio", lion_rms / adam_rms)

    # ---- LARS and LAMB trust ratios.
    # A stated layer: ||w|| and ||g|| on the card; the tensors are scaled to exactly those norms.
    w_norm, g_norm, trust, wd = 13.0, 0.05, 1e-3, 5e-4
    w_l = torch.randn(512, 512, dtype=f64)
    w_l *= w_norm / w_l.norm()
    g_l = torch.randn(512, 512, dtype=f64)
    g_l *= g_norm / g_l.norm()
    local_lr = trust * w_l.norm() / (g_l.norm() + wd * w_l.norm())
    ctx.value("lars_w_norm", w_norm)
    ctx.value("lars_g_norm", g_norm)
    ctx.value("lars_trust", trust)
    ctx.value("lars_wd", wd)
    ctx.value("lars_local_lr", local_lr.item())
    # ||w|| / ||g|| per weight matrix of a small real CNN at initialisation: it differs a lot between layers.
    torch.manual_seed(2)
    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 10))
    nn.functional.cross_entropy(cnn(torch.randn(32, 3, 16, 16)), torch.randint(0, 10, (32,))).backward()
    names = ["conv1", "conv2", "fc1", "fc2"]
    weights = [cnn[0].weight, cnn[2].weight, cnn[6].weight, cnn[8].weight]
    ratios = [(wt.norm() / wt.grad.norm()).item() for wt in weights]
    ctx.value("lars_layer_names", ", ".join(names))
    ctx.value("lars_layer_ratios", ratios)
    ctx.value("lars_ratio_spread", max(ratios) / min(ratios))
    # LAMB's first step: r = Adam's update = sign(g) (bias-corrected, eps negligible), so ||r|| = sqrt(n);
    # scaled by ||w|| / ||r|| every layer's weights change by the same relative amount, lr.
    lamb_lr = 1e-3
    rel_changes = []
    for wt in weights:
        r = torch.sign(wt.grad)
        step = lamb_lr * (wt.detach().norm() / r.norm()) * r
        rel_changes.append((step.norm() / wt.detach().norm()).item())
    ctx.value("lamb_lr", lamb_lr)
    ctx.value("lamb_rel_changes", rel_changes)
    adam_rel = [(lamb_lr * torch.sign(wt.grad)).norm().item() / wt.detach().norm().item() for wt in weights]
    ctx.value("lamb_adam_rel_changes", adam_rel)

    # ---- Optimizer state memory per parameter (fp32 states; 8-bit with fp32 block scales).
    ctx.value("mem_bytes_adam", 8)
    ctx.value("mem_bytes_lion", 4)
    ctx.value("mem_bytes_adam8", 2 + 2 * 4 / block)
    ctx.value("mem_bytes_adafactor", 4 * (rows + cols) / (rows * cols))


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
    beyond_adam(ctx)


# ---- Drill: training memory per parameter (weights + gradients + optimizer states).
# Bytes per parameter are measured on a tiny real model after one optimizer step, then
# multiplied by the stated model size. Mixed precision follows ZeRO's accounting: bf16 weights
# and gradients, fp32 master weights and Adam moments (the fp32 gradient copy is transient).
SETUPS = {
    "sgd": "fp32 SGD without momentum",
    "momentum": "fp32 SGD with momentum",
    "adam": "fp32 Adam",
    "mixed_adam": "mixed-precision Adam (bf16 weights and gradients, fp32 master weights and moments)",
}
# The closed form: (weights, gradients, optimizer state) bytes per parameter.
SETUP_BYTES = {"sgd": (4, 4, 0), "momentum": (4, 4, 4), "adam": (4, 4, 8), "mixed_adam": (2, 2, 12)}


def nbytes(tensors):
    return sum(t.numel() * t.element_size() for t in tensors)


def bytes_per_param(setup):
    torch.manual_seed(0)
    model = nn.Linear(8, 4)
    mixed = setup == "mixed_adam"
    if mixed:
        model = model.to(torch.bfloat16)
        master = [p.detach().float().clone().requires_grad_() for p in model.parameters()]
        opt = torch.optim.Adam(master)
    elif setup == "adam":
        opt = torch.optim.Adam(model.parameters())
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9 if setup == "momentum" else 0.0)
    params = list(model.parameters())
    model(torch.ones(2, 8, dtype=params[0].dtype)).sum().backward()
    if mixed:
        for m, p in zip(master, params, strict=True):
            m.grad = p.grad.float()
    opt.step()
    n = sum(p.numel() for p in params)
    # Optimizer state: every tensor shaped like its parameter (Adam's scalar `step` is per tensor).
    states = [t for group in opt.param_groups for p in group["params"] for t in opt.state[p].values()
              if torch.is_tensor(t) and t.shape == p.shape]
    if setup == "adam" or mixed:
        assert all(sorted(opt.state[p]) == ["exp_avg", "exp_avg_sq", "step"] for p in opt.state), opt.state
    weights = nbytes(params)
    grads = nbytes(p.grad for p in params)
    state = nbytes(states) + (nbytes(master) if mixed else 0)
    return weights / n, grads / n, state / n


def train_memory(n_b, setup):
    w, g, s = bytes_per_param(setup)
    assert (w, g, s) == SETUP_BYTES[setup], (setup, (w, g, s))
    bpp = w + g + s
    parts = {
        "sgd": f"{w:g} (weights) + {g:g} (gradients), no state",
        "momentum": f"{w:g} (weights) + {g:g} (gradients) + {s:g} (momentum buffer)",
        "adam": f"{w:g} (weights) + {g:g} (gradients) + {s:g} (`exp_avg`, `exp_avg_sq`)",
        "mixed_adam": f"{w:g} (bf16 weights) + {g:g} (bf16 gradients) + {s:g} (fp32 master weights and two moments)",
    }[setup]
    return {"setup_text": SETUPS[setup], "gb": n_b * bpp, "bpp": bpp, "breakdown": parts}
