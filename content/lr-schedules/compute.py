"""Learning-rate schedules: every learning rate on the cards is read from a real
torch.optim.lr_scheduler object stepped on a real optimizer (optimizer.step() first, then
scheduler.step(), as PyTorch requires)."""

import math
import warnings

import torch
from matplotlib.ticker import NullLocator
from torch.optim import lr_scheduler as lrs


def make_opt(lr=0.1, momentum=0.0):
    """A real SGD optimizer over one dummy parameter (the schedule does not depend on the model)."""
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=momentum)


def lr_trace(opt, sched, n):
    """The lr in force during each of n epochs (or batches), stepping in the correct order."""
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def compute(ctx):
    # ------------------------------------------------------------------ the source's worked example: StepLR
    opt = make_opt(0.1)
    sched = lrs.StepLR(opt, step_size=5, gamma=0.5)
    step_lrs = lr_trace(opt, sched, 20)
    ctx.value("step_lr0", 0.1)
    ctx.value("step_size", sched.step_size)
    ctx.value("step_gamma", sched.gamma)
    ctx.value("step_epochs", len(step_lrs))
    ctx.value("step_block_lrs", step_lrs[::5])  # the lr of epochs 0, 5, 10, 15
    ctx.value("step_last_used", step_lrs[-1])  # lr of the last (20th) epoch
    ctx.value("step_after_last", sched.get_last_lr()[0])  # after the 20th scheduler.step()
    ctx.value("step_after_last_group", opt.param_groups[0]["lr"])
    ctx.value("step_distinct", len(set(step_lrs)))
    ctx.value("step_first_drop_epoch", next(i for i, v in enumerate(step_lrs) if v < 0.1))
    # Closed form lr_0 * gamma ** (epoch // step_size):
    ctx.value(
        "step_formula_err", max(abs(v - 0.1 * sched.gamma ** (e // sched.step_size)) for e, v in enumerate(step_lrs))
    )

    # ------------------------------------------------------------------ wrong order: scheduler.step() first
    opt = make_opt(0.1)
    sched = lrs.StepLR(opt, step_size=5, gamma=0.5)
    wrong = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(10):
            sched.step()  # the bug: before any optimizer.step() of this epoch
            wrong.append(opt.param_groups[0]["lr"])
            opt.step()
    msgs = [str(w.message) for w in caught if "lr_scheduler.step()" in str(w.message)]
    ctx.value("wrong_warns", bool(msgs))
    ctx.value("wrong_warning", msgs[0].split(". In PyTorch")[0] if msgs else "")
    ctx.value("wrong_first_drop_epoch", next(i for i, v in enumerate(wrong) if v < 0.1))

    # ------------------------------------------------------------------ MultiStepLR and ExponentialLR
    n_ep = 100
    ctx.value("n_ep", n_ep)
    opt = make_opt(0.1)
    milestones = [30, 80]
    multi = lr_trace(opt, lrs.MultiStepLR(opt, milestones=milestones, gamma=0.1), n_ep)
    ctx.value("ms_milestones", milestones)
    ctx.value("ms_gamma", 0.1)
    ctx.value("ms_lrs", [multi[0], multi[milestones[0]], multi[milestones[1]]])
    ctx.value("ms_before", multi[milestones[0] - 1])

    opt = make_opt(0.1)
    exp_gamma = 0.95
    expo = lr_trace(opt, lrs.ExponentialLR(opt, gamma=exp_gamma), n_ep)
    ctx.value("exp_gamma", exp_gamma)
    ctx.value("exp_at", 10)
    ctx.value("exp_lr10", expo[10])
    ctx.value("exp_lr10_formula", 0.1 * exp_gamma**10)
    ctx.value("exp_half_life", next(i for i, v in enumerate(expo) if v <= 0.05))

    # ------------------------------------------------------------------ cosine annealing
    opt = make_opt(0.1)
    t_max, eta_min = n_ep, 0.001
    cosine = lr_trace(opt, lrs.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min), n_ep)
    ctx.value("cos_tmax", t_max)
    ctx.value("cos_eta_min", eta_min)
    ctx.value("cos_mid", cosine[t_max // 2])
    ctx.value("cos_mid_formula", eta_min + (0.1 - eta_min) / 2)
    ctx.value("cos_quarter", cosine[t_max // 4])
    ctx.value("cos_three_quarter", cosine[3 * t_max // 4])

    # Past T_max the closed form keeps going: the lr climbs back up.
    opt = make_opt(0.1)
    short_t = 10
    over = lr_trace(opt, lrs.CosineAnnealingLR(opt, T_max=short_t), 2 * short_t + 1)
    ctx.value("cos_short_t", short_t)
    ctx.value("cos_at_tmax", over[short_t])
    ctx.value("cos_at_2tmax", over[2 * short_t])
    ctx.value("cos_2tmax", 2 * short_t)

    opt = make_opt(0.1)
    t0, t_mult = 10, 2
    restarts = lr_trace(opt, lrs.CosineAnnealingWarmRestarts(opt, T_0=t0, T_mult=t_mult, eta_min=eta_min), n_ep)
    ctx.value("wr_t0", t0)
    ctx.value("wr_tmult", t_mult)
    ctx.value("wr_restarts", [i for i in range(1, n_ep) if restarts[i] > restarts[i - 1]])

    # ------------------------------------------------------------------ linear warm-up, then cosine (SequentialLR)
    warm = 5
    opt = make_opt(0.1)
    lin = lrs.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=warm)
    warm_lrs = lr_trace(opt, lin, warm + 2)
    ctx.value("warm_iters", warm)
    ctx.value("warm_start_factor", 0.1)
    ctx.value("warm_lrs", warm_lrs)

    opt = make_opt(0.1)
    seq = lrs.SequentialLR(
        opt,
        schedulers=[
            lrs.LinearLR(opt, start_factor=0.1, total_iters=warm),
            lrs.CosineAnnealingLR(opt, T_max=n_ep - warm, eta_min=eta_min),
        ],
        milestones=[warm],
    )
    seq_lrs = lr_trace(opt, seq, n_ep)
    ctx.value("seq_first", seq_lrs[: warm + 2])
    ctx.value("seq_peak_epoch", max(range(n_ep), key=lambda i: seq_lrs[i]))
    ctx.value("seq_last", seq_lrs[-1])

    # The original Transformer schedule ("Noam"): lr = d^-0.5 * min(s^-0.5, s * w^-1.5), s = step + 1.
    d_model, w_steps = 512, 4000
    n_steps = 2 * w_steps
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)  # LambdaLR multiplies this lr
    noam = lrs.LambdaLR(opt, lambda s: d_model**-0.5 * min((s + 1) ** -0.5, (s + 1) * w_steps**-1.5))
    opt.step()  # one real update first; the lr only depends on how often the scheduler was stepped
    noam_lrs = []
    for _ in range(n_steps):
        noam_lrs.append(opt.param_groups[0]["lr"])
        noam.step()
    ctx.value("noam_d", d_model)
    ctx.value("noam_warmup", w_steps)
    ctx.value("noam_peak", max(noam_lrs))
    ctx.value("noam_peak_step", noam_lrs.index(max(noam_lrs)) + 1)
    ctx.value("noam_2w", 2 * w_steps)
    ctx.value("noam_at_2w", noam_lrs[2 * w_steps - 1])
    ctx.value("noam_ratio_2w", max(noam_lrs) / noam_lrs[2 * w_steps - 1])

    # ------------------------------------------------------------------ OneCycleLR (per batch)
    epochs, steps_per_epoch = 10, 20
    opt = make_opt(0.1, momentum=0.9)
    one = lrs.OneCycleLR(opt, max_lr=0.1, epochs=epochs, steps_per_epoch=steps_per_epoch)
    one_lrs, one_mom = [], []
    for _ in range(epochs * steps_per_epoch):
        one_lrs.append(opt.param_groups[0]["lr"])
        one_mom.append(opt.param_groups[0]["momentum"])
        opt.step()
        one.step()
    ctx.value("oc_epochs", epochs)
    ctx.value("oc_spe", steps_per_epoch)
    ctx.value("oc_total", one.total_steps)
    ctx.value("oc_max", 0.1)
    ctx.value("oc_start", one_lrs[0])
    ctx.value("oc_div", 0.1 / one_lrs[0])
    ctx.value("oc_peak_step", one_lrs.index(max(one_lrs)))
    ctx.value("oc_peak_frac", (one_lrs.index(max(one_lrs)) + 1) / len(one_lrs))
    ctx.value("oc_end", one_lrs[-1])
    ctx.value("oc_lr_if_per_epoch", one_lrs[epochs - 1])  # lr in the last epoch if stepped once per epoch
    ctx.value("oc_lr_after_per_epoch", one_lrs[epochs])  # ... and after that epoch's step()
    ctx.value("oc_mom_start", one_mom[0])
    ctx.value("oc_mom_at_peak", min(one_mom))
    ctx.value("oc_mom_end", one_mom[-1])
    try:
        opt.step()
        one.step()  # one step too many
        ctx.value("oc_overstep_error", "none")
    except ValueError as e:
        ctx.value("oc_overstep_error", f"ValueError: {e}".split(". ")[0])

    # ------------------------------------------------------------------ ReduceLROnPlateau
    val = [1.00, 0.80, 0.70, 0.69, 0.70, 0.71, 0.72, 0.60, 0.61, 0.62, 0.63]  # synthetic validation losses
    val += [0.55, 0.55, 0.56, 0.56, 0.57, 0.54, 0.545, 0.547, 0.549, 0.55]
    opt = make_opt(0.1)
    plateau = lrs.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
    plat_lrs, cuts = [], []
    for epoch, v in enumerate(val):
        before = opt.param_groups[0]["lr"]
        opt.step()
        plateau.step(v)  # it needs the metric
        plat_lrs.append(opt.param_groups[0]["lr"])
        if plat_lrs[-1] < before:
            cuts.append(epoch)
    ctx.value("pl_factor", plateau.factor)
    ctx.value("pl_patience", plateau.patience)
    ctx.value("pl_threshold", plateau.threshold)
    ctx.value("pl_cuts", cuts)
    ctx.value("pl_first_cut", cuts[0])
    best_epoch = min(range(cuts[0] + 1), key=lambda i: val[i])  # best value before the first cut
    ctx.value("pl_best_epoch", best_epoch)
    ctx.value("pl_best_val", val[best_epoch])
    ctx.value("pl_bad_epochs", list(range(best_epoch + 1, cuts[0] + 1)))
    ctx.value("pl_lr_after_first", plat_lrs[cuts[0]])
    # Epoch 11 sets a new best and epoch 12 ties it. The third cut comes exactly patience + 1 epochs after
    # epoch 11, so the tie counted as a bad epoch, not as an improvement.
    tie = 12
    ctx.value("pl_tie_epoch", tie)
    ctx.value("pl_tie_is_bad", val[tie] == val[tie - 1] and cuts[2] == tie - 1 + plateau.patience + 1)
    ctx.value("pl_val", val[:8])
    ctx.value("pl_final_lr", plat_lrs[-1])
    defaults = lrs.ReduceLROnPlateau(make_opt(0.1))
    ctx.value("pl_default_factor", defaults.factor)
    ctx.value("pl_default_patience", defaults.patience)
    # 0.55 after a best of 0.55 is not an improvement (needs < best * (1 - threshold)).

    # ------------------------------------------------------------------ checkpointing the scheduler
    def resume(load_opt, load_sched, ck_at=12, more=4):
        """Train ck_at epochs, 'restart' into fresh objects, load what is asked, train `more` epochs."""
        opt = make_opt(0.1)
        sched = lrs.StepLR(opt, step_size=5, gamma=0.5)
        lr_trace(opt, sched, ck_at)
        ck = {"opt": opt.state_dict(), "sched": sched.state_dict()}
        opt2 = make_opt(0.1)
        sched2 = lrs.StepLR(opt2, step_size=5, gamma=0.5)
        if load_opt:
            opt2.load_state_dict(ck["opt"])
        if load_sched:
            sched2.load_state_dict(ck["sched"])
        return lr_trace(opt2, sched2, more)

    ctx.value("ck_epochs", 12)
    ctx.value("ck_true", step_lrs[12:16])  # the uninterrupted run
    ctx.value("ck_both", resume(True, True))
    ctx.value("ck_none", resume(False, False))
    ctx.value("ck_sched_only", resume(False, True))
    ctx.value("ck_both_ok", resume(True, True) == step_lrs[12:16])

    # ------------------------------------------------------------------ why schedules: noisy SGD
    torch.manual_seed(0)
    n, d, bs, steps = 512, 10, 8, 300
    X = torch.randn(n, d)
    y = X @ torch.randn(d) + 0.5 * torch.randn(n)
    w_best = torch.linalg.lstsq(X, y[:, None]).solution.squeeze(1)
    best = ((X @ w_best - y) ** 2).mean()

    def run(lr, make_sched=None):
        """Mini-batch SGD on least squares; returns the excess full-data loss after each step."""
        g = torch.Generator().manual_seed(1)  # same batches for every run
        w = torch.zeros(d, requires_grad=True)
        o = torch.optim.SGD([w], lr=lr)
        s = make_sched(o) if make_sched else None
        hist = []
        for _ in range(steps):
            idx = torch.randint(0, n, (bs,), generator=g)
            xb, yb = X[idx], y[idx]
            w.grad = 2 / bs * xb.T @ (xb @ w.detach() - yb)  # gradient of the batch MSE
            o.step()
            if s:
                s.step()
            hist.append((((X @ w.detach() - y) ** 2).mean() - best).item())
        return hist

    hi, lo = 0.05, 0.005
    runs = {
        f"constant {hi:g}": run(hi),
        f"constant {lo:g}": run(lo),
        f"cosine {hi:g} → 0": run(hi, lambda o: lrs.CosineAnnealingLR(o, T_max=steps)),
    }
    tail = 50
    finals = {k: sum(v[-tail:]) / tail for k, v in runs.items()}
    ctx.value("why_hi", hi)
    ctx.value("why_lo", lo)
    ctx.value("why_steps", steps)
    ctx.value("why_bs", bs)
    ctx.value("why_tail", tail)
    hist_hi, hist_lo, _ = runs.values()
    ctx.value("why_final_hi", finals[f"constant {hi:g}"])
    ctx.value("why_final_lo", finals[f"constant {lo:g}"])
    ctx.value("why_final_cos", finals[f"cosine {hi:g} → 0"])
    ctx.value("why_early_step", 50)
    ctx.value("why_early_hi", hist_hi[49])
    ctx.value("why_early_lo", hist_lo[49])

    # ------------------------------------------------------------------ figures
    ep = list(range(n_ep))

    def draw_decay(fig):
        ax = fig.subplots()
        ax.plot(ep, step_lrs_100, label=f"StepLR({step_fig}, {gamma_fig:g})", drawstyle="steps-post")
        ax.plot(ep, multi, label=f"MultiStepLR({milestones})", drawstyle="steps-post")
        ax.plot(ep, expo, label=f"ExponentialLR({exp_gamma:g})")
        ax.plot(ep, cosine, label="CosineAnnealingLR")
        ax.set_xlabel("epoch")
        ax.set_ylabel("learning rate")
        ax.set_title(f"Decay schedules, lr₀ = {lr0:g}")
        ax.legend(fontsize="small", loc="upper right")

    lr0, step_fig, gamma_fig = 0.1, 20, 0.5  # differs from the MultiStepLR curve so both stay visible
    opt = make_opt(lr0)
    step_lrs_100 = lr_trace(opt, lrs.StepLR(opt, step_size=step_fig, gamma=gamma_fig), n_ep)
    ctx.figure("decay_schedules", draw_decay, height=3.2)

    oc_x = [i / steps_per_epoch * n_ep / epochs for i in range(len(one_lrs))]  # batches rescaled to 0..100

    def draw_warm(fig):
        ax = fig.subplots()
        ax.plot(ep, seq_lrs, label=f"warm-up {warm} + cosine")
        ax.plot(oc_x, one_lrs, label="OneCycleLR")
        ax.plot(ep, restarts, label=f"warm restarts ({t0}, ×{t_mult})", alpha=0.8)
        ax.set_xlabel("% of training")
        ax.set_ylabel("learning rate")
        ax.set_title("Warm-up, one-cycle, restarts")
        ax.set_ylim(0, 0.16)  # headroom for the legend
        ax.set_yticks([0, 0.025, 0.05, 0.075, 0.1])
        ax.legend(fontsize="small", loc="upper right", ncol=1)

    ctx.figure("warmup_schedules", draw_warm, height=3.2)

    def draw_plateau(fig):
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
        xs = list(range(len(val)))
        ax1.plot(xs, val, marker="o", ms=3, color="C0")
        ax1.set_ylabel("val loss")
        ax2.step(xs, plat_lrs, where="post", color="C1")
        ax2.set_ylabel("lr after step")
        ax2.set_xlabel("epoch")
        for c in cuts:
            for ax in (ax1, ax2):
                ax.axvline(c, ls="--", color="C3", alpha=0.6)
        ax1.set_title(f"Plateau: factor {plateau.factor:g}, patience {plateau.patience}")

    ctx.figure("plateau", draw_plateau, height=3.6)

    def draw_why(fig):
        ax = fig.subplots()
        for label, h in runs.items():
            ax.semilogy(range(1, steps + 1), h, label=label, lw=1.3)
        ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks are slow to render and add nothing here
        ax.set_xlabel("SGD step")
        ax.set_ylabel("excess loss")
        ax.set_title(f"Noisy mini-batch SGD (batch {bs})")
        ax.legend(fontsize="small", loc="upper right")

    ctx.figure("why_schedule", draw_why, height=3.2)


# --------------------------------------------------------------------------------------------
# Drill: the lr at step t of linear warm-up (from 0) followed by cosine decay
# --------------------------------------------------------------------------------------------
def warmup_cosine_closed(warmup, total, peak, floor, t):
    """Closed form: peak * t / warmup while t < warmup, then cosine from peak to floor at t = total."""
    if t < warmup:
        return peak * t / warmup
    progress = (t - warmup) / (total - warmup)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(warmup, total, peak, floor, t):
    """The lr after t scheduler.step() calls (the lr of update t + 1), from a real SequentialLR."""
    opt = make_opt(peak)
    sched = lrs.SequentialLR(
        opt,
        schedulers=[
            lrs.LambdaLR(opt, lambda s: s / warmup),
            lrs.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=floor),
        ],
        milestones=[warmup],
    )
    for _ in range(t):
        opt.step()
        sched.step()
    lr = opt.param_groups[0]["lr"]
    closed = warmup_cosine_closed(warmup, total, peak, floor, t)
    assert math.isclose(lr, closed, rel_tol=1e-9, abs_tol=1e-15), (lr, closed)
    in_warmup = t < warmup
    return {
        "lr": lr,
        "phase": "warm-up" if in_warmup else "cosine",
        "progress": t / warmup if in_warmup else (t - warmup) / (total - warmup),
    }
