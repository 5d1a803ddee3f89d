"""Training stability at scale: every number and curve on the cards is computed here.

Sections (in card order):
  1. z-loss: log Z on toy logits, shift invariance of cross-entropy, the gradient, bf16 round-off of big logits.
  2. Attention logits: growth with the weight scale, entropy collapse, the QK-norm bound; tanh soft-capping.
  3. muP: how big a one-step Adam update of a hidden layer is, as the width grows (SP vs muP).
  4. Warmup-stable-decay vs cosine on noisy least squares, with a decay branched off mid-run.
  5. Adam's beta2: the EMA's memory, the update after a rare large gradient, torch.optim.Adam as the check.
  6. Transformer initialisation: 0.02, residual projections scaled by 1/sqrt(2 n_layers), zero-init branches.
  7. Numerics: the float16/bfloat16/float32 limits the output cards' explanations quote.
"""

import math

import torch
from matplotlib.ticker import NullLocator
from torch import nn
from torch.nn import functional as F
from torch.optim import lr_scheduler

F64 = torch.float64


# --------------------------------------------------------------------------------------------
# 1. z-loss
# --------------------------------------------------------------------------------------------
def z_loss(ctx):
    coef = 1e-4  # PaLM's coefficient
    logits = torch.tensor([3.0, 1.0, -2.0, 0.5], dtype=F64)
    target = torch.tensor([0])
    ctx.value("z_coef", coef)
    ctx.value("z_logits", logits)
    shifts = (0.0, 20.0)
    ce, log_z = {}, {}
    for c in shifts:
        z = (logits + c).unsqueeze(0)
        ce[c] = F.cross_entropy(z, target).item()
        log_z[c] = torch.logsumexp(z, dim=1).item()
    ctx.value("z_shift", shifts[1])
    ctx.value("z_shifted_logits", logits + shifts[1])
    ctx.value("z_ce", ce[0.0])
    ctx.value("z_ce_shifted", ce[shifts[1]])
    ctx.value("z_ce_equal", abs(ce[0.0] - ce[shifts[1]]) < 1e-12)
    ctx.value("z_logz", log_z[0.0])
    ctx.value("z_logz_shifted", log_z[shifts[1]])
    ctx.value("z_zloss", coef * log_z[0.0] ** 2)
    ctx.value("z_zloss_shifted", coef * log_z[shifts[1]] ** 2)
    ctx.value("z_log_z_shift_diff", log_z[shifts[1]] - log_z[0.0])

    # Gradient of coef * logZ^2 with respect to the logits: 2 coef logZ softmax(z). Autograd agrees.
    z = (logits + shifts[1]).clone().requires_grad_(True)
    (coef * torch.logsumexp(z, 0) ** 2).backward()
    formula = 2 * coef * torch.logsumexp(z.detach(), 0) * torch.softmax(z.detach(), 0)
    z_tol = 1e-12
    diff = (z.grad - formula).abs().max().item()
    assert diff < z_tol, diff
    ctx.value("z_grad_tol", z_tol)
    ctx.value("z_grad", z.grad)
    ctx.value("z_grad_sum", z.grad.sum().item())

    # bf16 keeps 8 significant bits: near 300 neighbouring values are 2 apart, so logits 300 and 301
    # become 300 and 302 and their probability ratio e^1 becomes e^2.
    pair = torch.tensor([300.0, 301.0])
    pair_bf = pair.bfloat16().float()
    ctx.value("z_bf_in", pair)
    ctx.value("z_bf_out", pair_bf)
    big = torch.tensor(300.0, dtype=torch.bfloat16)
    ctx.value("z_bf_spacing_300", (torch.nextafter(big, torch.tensor(1e9, dtype=torch.bfloat16)) - big).item())
    small = torch.tensor(3.0, dtype=torch.bfloat16)
    ctx.value("z_bf_spacing_3", (torch.nextafter(small, torch.tensor(1e9, dtype=torch.bfloat16)) - small).item())
    ctx.value("z_bf_ratio_exact", math.exp(1.0))
    ctx.value("z_bf_ratio_bf16", math.exp((pair_bf[1] - pair_bf[0]).item()))


# --------------------------------------------------------------------------------------------
# 2. Attention logits: growth, entropy collapse, QK-norm, soft-capping
# --------------------------------------------------------------------------------------------
def attention_logits(ctx):
    torch.manual_seed(0)
    d, seq = 64, 32
    x = F.layer_norm(torch.randn(8, seq, d), (d,))  # 8 sequences of LayerNormed token vectors
    w_q, w_k = torch.randn(d, d) / d**0.5, torch.randn(d, d) / d**0.5

    def stats(scale, qk_norm):
        q, k = x @ (scale * w_q), x @ (scale * w_k)
        if qk_norm:  # LayerNorm without gain on every query and key vector
            q, k = F.layer_norm(q, (d,)), F.layer_norm(k, (d,))
        logits = q @ k.transpose(1, 2) / d**0.5
        p = torch.softmax(logits, dim=-1)
        entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(-1).mean().item()
        return logits.abs().max().item(), entropy, p.max(-1).values.mean().item()

    scales = torch.logspace(0, math.log10(8), 16).tolist()
    plain = [stats(s, False) for s in scales]
    normed = [stats(s, True) for s in scales]
    ctx.value("qk_d", d)
    ctx.value("qk_seq", seq)
    ctx.value("qk_uniform_entropy", math.log(seq))
    i2 = min(range(len(scales)), key=lambda i: abs(scales[i] - 2.0))
    ctx.value("qk_logit_growth_2x", plain[i2][0] / plain[0][0])  # weights x2 -> logits about x4
    ctx.value("qk_scale_last", scales[-1])
    ctx.value("qk_entropy_s1", plain[0][1])
    ctx.value("qk_entropy_last", plain[-1][1])
    ctx.value("qk_maxp_last", plain[-1][2])
    ctx.value("qk_norm_entropy_last", normed[-1][1])
    ctx.value("qk_norm_maxlogit_max", max(n[0] for n in normed))
    ctx.value("qk_bound", d**0.5)  # |q.k|/sqrt(d) <= ||q|| ||k|| / sqrt(d) = d / sqrt(d) with ||q|| = ||k|| = sqrt(d)
    assert max(n[0] for n in normed) <= d**0.5 + 1e-4

    def draw_entropy(fig):
        ax = fig.subplots()
        ax.plot(scales, [p[1] for p in plain], color="C0", marker="o", ms=3, label="plain q·k/√d")
        ax.plot(scales, [n[1] for n in normed], color="C1", marker="o", ms=3, label="with QK-norm")
        ax.axhline(math.log(seq), color="0.5", lw=0.8, ls="--")
        ax.text(scales[-1], math.log(seq) + 0.08, f"uniform over {seq} keys: ln {seq}", fontsize=8, color="0.4",
                va="bottom", ha="right")
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks([1, 2, 4, 8], labels=["1", "2", "4", "8"])
        ax.set_ylim(0, math.log(seq) + 0.6)
        ax.set_xlabel("scale s of W_q and W_k")
        ax.set_ylabel("attention entropy (nats)")
        ax.set_title(f"Attention collapses as its weights grow (d = {d})", fontsize=10)
        ax.legend(fontsize=9, loc="lower left")

    ctx.figure("stab_qk_entropy", draw_entropy)

    # Soft-capping: z -> c tanh(z / c).
    cap = 30.0
    zs = torch.tensor([10.0, 30.0, 100.0, 1000.0], dtype=F64, requires_grad=True)
    capped = cap * torch.tanh(zs / cap)
    capped.sum().backward()
    ctx.value("cap", cap)
    ctx.value("cap_in", zs.detach())
    ctx.value("cap_out", capped.detach())
    ctx.value("cap_slope", zs.grad)


# --------------------------------------------------------------------------------------------
# 3. muP: one Adam step on a hidden layer, SP vs muP, as the width grows
# --------------------------------------------------------------------------------------------
def mup(ctx):
    torch.manual_seed(0)
    widths = [64, 128, 256, 512, 1024, 2048]
    base, lr, batch = 64, 1e-3, 8
    rows = {"SP": [], "muP": []}
    init_rms = []
    for n in widths:
        w = torch.randn(n, n) / n**0.5  # init variance 1/fan_in in both parametrisations
        x = torch.randn(batch, n)  # the layer's inputs: entries of size O(1)
        h = x @ w.T
        delta = torch.randn(batch, n)  # dL/dh from above
        g = delta.T @ x  # dL/dW: a sum of outer products, aligned with the inputs
        step = torch.sign(g)  # Adam's first (bias-corrected) step is lr * sign(g), per entry
        init_rms.append(h.pow(2).mean().sqrt().item())
        for name, lr_n in (("SP", lr), ("muP", lr * base / n)):  # muP (Adam): hidden lr scaled by 1/width
            dh = x @ (lr_n * step).T
            rows[name].append(dh.pow(2).mean().sqrt().item())
    ctx.value("mup_widths", widths)
    ctx.value("mup_base", base)
    ctx.value("mup_lr", lr)
    ctx.value("mup_init_rms", init_rms)
    ctx.value("mup_sp_dh", rows["SP"])
    ctx.value("mup_mup_dh", rows["muP"])
    ctx.value("mup_sp_growth", rows["SP"][-1] / rows["SP"][0])
    ctx.value("mup_width_ratio", widths[-1] // widths[0])
    ctx.value("mup_mup_growth", rows["muP"][-1] / rows["muP"][0])
    # The same entry size in a random matrix (no alignment) only grows like sqrt(n).
    rand_dh = []
    for n in (widths[0], widths[-1]):
        x = torch.randn(batch, n)
        rand_dh.append((x @ (lr * torch.sign(torch.randn(n, n))).T).pow(2).mean().sqrt().item())
    ctx.value("mup_rand_growth", rand_dh[1] / rand_dh[0])
    # Attention logits q.k: independent q, k grow like sqrt(d); correlated ones (as after training) like d.
    dots = {}
    for d in (64, 1024):
        q = torch.randn(4096, d)
        k_ind, k_cor = torch.randn(4096, d), 0.5 * q + 0.5 * torch.randn(4096, d)
        dots[d] = ((q * k_ind).sum(1).abs().mean().item(), (q * k_cor).sum(1).abs().mean().item())
    ctx.value("mup_dot_d_small", 64)
    ctx.value("mup_dot_d_big", 1024)
    ctx.value("mup_dot_growth_ind", dots[1024][0] / dots[64][0])
    ctx.value("mup_dot_growth_cor", dots[1024][1] / dots[64][1])

    def draw_mup(fig):
        ax = fig.subplots()
        ax.plot(widths, rows["SP"], color="C0", marker="o", ms=4, label=f"SP: lr {lr:g} at every width")
        ax.plot(widths, rows["muP"], color="C1", marker="o", ms=4, label=f"μP: lr {lr:g} × {base}/width")
        ax.plot(widths, init_rms, color="0.5", ls="--", lw=1, label="activation itself (init)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, labels=[str(n) for n in widths])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yscale("log")
        ax.set_ylim(0.008, 12)
        ax.set_xlabel("width n")
        ax.set_ylabel("RMS of Wx, or of its change")
        ax.set_title("One Adam step on a hidden n × n layer", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")

    ctx.figure("stab_mup_update", draw_mup)


# --------------------------------------------------------------------------------------------
# 4. Warmup-stable-decay vs cosine
# --------------------------------------------------------------------------------------------
def least_squares(n, d, lowest_scale, noise):
    """Features with scales 1 ... lowest_scale (curvatures 1 ... lowest_scale^2), a noisy linear target."""
    x = torch.randn(n, d) * torch.logspace(0, math.log10(lowest_scale), d)
    y = x @ torch.randn(d) + noise * torch.randn(n)
    w_best = torch.linalg.lstsq(x, y[:, None]).solution.squeeze(1)
    return x, y, ((x @ w_best - y) ** 2).mean().item()


def wsd(ctx):
    torch.manual_seed(0)
    n, d, bs, chains = 1024, 16, 8, 16
    # Far from converged after the run: flat directions (curvature down to 0.001) still need many high-lr steps.
    flat_scale, noisy_scale = 10 ** -1.5, 0.1
    x, y, best = least_squares(n, d, flat_scale, 0.5)
    total, warm, peak = 800, 40, 0.25
    decay_frac = 0.1

    def cosine(total_steps):
        def f(s):
            if s < warm:
                return (s + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / (total_steps - warm))))
        return f

    def wsd_sched(end):
        decay = int(decay_frac * end)  # decay over the last 10% of this run's steps, linearly to 0

        def f(s):
            if s < warm:
                return (s + 1) / warm
            if s < end - decay:
                return 1.0
            return max(0.0, (end - s) / decay)
        return f

    x_main, y_main, best_main = x, y, best
    gen = torch.Generator().manual_seed(1)
    idx_all = torch.randint(0, n, (total, chains, bs), generator=gen)  # the same batches for every schedule

    def run(factor, steps, start=None, data=None):
        """`chains` independent mini-batch SGD runs at once (one row of w each; their losses add, so each row
        gets its own gradient), from `start` = (weights, step). Returns the lrs, the mean excess loss, snapshots."""
        x, y, best = data or (x_main, y_main, best_main)
        w0, first = (torch.zeros(chains, d), 0) if start is None else start
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.SGD([w], lr=peak)
        sched = lr_scheduler.LambdaLR(opt, lambda s: factor(s + first))
        lrs, losses, snaps = [], [], {}
        for s in range(first, steps):
            lrs.append(opt.param_groups[0]["lr"])
            xb, yb = x[idx_all[s]], y[idx_all[s]]  # (chains, bs, d), (chains, bs)
            opt.zero_grad()
            ((torch.einsum("cbd,cd->cb", xb, w) - yb) ** 2).mean(1).sum().backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                losses.append(((w @ x.T - y) ** 2).mean().item() - best)
            snaps[s + 1] = w.detach().clone()
        return lrs, losses, snaps

    cos_lrs, cos_loss, _ = run(cosine(total), total)
    wsd_lrs, wsd_loss, wsd_snaps = run(wsd_sched(total), total)
    half = total // 2
    # A branch: take the stable-phase weights at step `half - decay`, and decay over the 10% to `half`.
    branch_start = half - int(decay_frac * half)
    br_lrs, br_loss, _ = run(wsd_sched(half), half, start=(wsd_snaps[branch_start], branch_start))
    _, cos_half_loss, _ = run(cosine(half), half)
    # The counter-case: curvatures only down to 0.01, so the run ends near its noise floor; there the lr
    # that decays early (cosine) wins.
    noisy = least_squares(n, d, noisy_scale, 0.5)
    _, cos_noisy, _ = run(cosine(total), total, data=noisy)
    _, wsd_noisy, _ = run(wsd_sched(total), total, data=noisy)
    ctx.value("wsd_flat_curv", flat_scale**2)
    # Compute for finished models at 25%, 50% and 100% of a budget of T steps.
    budget_t, fracs = 100_000, (0.25, 0.5, 1.0)
    ctx.value("wsd_budget_t", budget_t)
    ctx.value("wsd_budget_steps", [int(f * budget_t) for f in fracs])
    ctx.value("wsd_budget_cos", sum(int(f * budget_t) for f in fracs))  # one cosine run per budget
    # WSD: one run to T (its own decay included) plus a decay branch of 10% of each shorter budget.
    ctx.value("wsd_budget_wsd", budget_t + sum(int(decay_frac * f * budget_t) for f in fracs[:-1]))
    ctx.value("wsd_noisy_curv", noisy_scale**2)
    tail = 10
    ctx.value("wsd_chains", chains)
    ctx.value("wsd_bs", bs)
    ctx.value("wsd_total", total)
    ctx.value("wsd_warm", warm)
    ctx.value("wsd_peak", peak)
    ctx.value("wsd_decay_frac", decay_frac)
    ctx.value("wsd_half", half)
    ctx.value("wsd_branch_start", branch_start)
    ctx.value("wsd_final_cos", sum(cos_loss[-tail:]) / tail)
    ctx.value("wsd_final_wsd", sum(wsd_loss[-tail:]) / tail)
    ctx.value("wsd_final_branch", sum(br_loss[-tail:]) / tail)
    ctx.value("wsd_final_cos_half", sum(cos_half_loss[-tail:]) / tail)
    stable_end = total - int(decay_frac * total)
    ctx.value("wsd_before_decay", sum(wsd_loss[stable_end - tail:stable_end]) / tail)
    ctx.value("wsd_cos_at_stable_end", sum(cos_loss[stable_end - tail:stable_end]) / tail)
    ctx.value("wsd_tail", tail)
    ctx.value("wsd_noisy_final_cos", sum(cos_noisy[-tail:]) / tail)
    ctx.value("wsd_noisy_final_wsd", sum(wsd_noisy[-tail:]) / tail)

    def draw_wsd(fig):
        ax_lr, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
        steps = range(1, total + 1)
        ax_lr.plot(steps, cos_lrs, color="C0", label="cosine")
        ax_lr.plot(steps, wsd_lrs, color="C1", label="WSD")
        ax_lr.plot(range(branch_start + 1, half + 1), br_lrs, color="C2", ls="--", label="WSD branch")
        ax_lr.set_ylabel("lr")
        ax_lr.legend(fontsize=7, ncol=3, loc="lower left")
        ax.plot(steps, cos_loss, color="C0", lw=1.3)
        ax.plot(steps, wsd_loss, color="C1", lw=1.3)
        ax.plot(range(branch_start + 1, half + 1), br_loss, color="C2", lw=1.5, ls="--")
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylabel("excess loss")
        ax.set_xlabel("SGD step")
        ax_lr.set_title(f"Noisy least squares, mean of {chains} runs", fontsize=10)

    ctx.figure("stab_wsd_vs_cosine", draw_wsd, height=3.4)


# --------------------------------------------------------------------------------------------
# 5. Adam's beta2: memory of the second-moment EMA, and the update after a rare large gradient
# --------------------------------------------------------------------------------------------
def adam_updates(grads, beta1, beta2, eps=1e-8):
    """Adam's per-step update in units of lr (bias-corrected), for a stream of scalar gradients."""
    m = v = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        out.append((m / (1 - beta1**t)) / (math.sqrt(v / (1 - beta2**t)) + eps))
    return out


def beta2(ctx):
    b1 = 0.9
    ctx.value("b2_beta1", b1)
    for name, b2 in (("slow", 0.999), ("fast", 0.95)):
        ctx.value(f"b2_{name}", b2)
        ctx.value(f"b2_{name}_memory", 1 / (1 - b2))
    ctx.value("b2_weight_ratio", (1 - 0.95) / (1 - 0.999))  # weight of the newest gradient's square in v
    ctx.value("b2_weight_at_memory", 0.999 ** (1 / (1 - 0.999)))  # weight of a gradient 1/(1-beta2) steps old

    # The check: the hand-written recurrence against torch.optim.Adam on a short stream with a spike.
    stream = [1e-3] * 200 + [1.0] + [1e-3] * 50
    b2_tol = 1e-9
    for b2 in (0.999, 0.95):
        p = torch.zeros(1, dtype=F64, requires_grad=True)
        opt = torch.optim.Adam([p], lr=1.0, betas=(b1, b2))
        torch_steps = []
        for g in stream:
            p.grad = torch.tensor([g], dtype=F64)
            before = p.item()
            opt.step()
            torch_steps.append(before - p.item())
        diff = max(abs(a - b) for a, b in zip(torch_steps, adam_updates(stream, b1, b2), strict=True))
        assert diff < b2_tol, diff
    ctx.value("b2_tol", b2_tol)

    # A coordinate whose gradient is 1e-3 for a long time, then one gradient of 1, then 1e-3 again.
    small, big, before, after = 1e-3, 1.0, 6000, 9000
    stream = [small] * before + [big] + [small] * after
    ups = {name: adam_updates(stream, b1, b2) for name, b2 in (("slow", 0.999), ("fast", 0.95))}
    ctx.value("b2_small", small)
    ctx.value("b2_big", big)
    ctx.value("b2_before", before)
    for name, u in ups.items():
        ctx.value(f"b2_spike_{name}", u[before])  # the update at the spike, in units of lr
        # After the spike the steps on the small gradients collapse (v is huge); count the steps until they
        # are back to half their old size.
        after_spike = u[before + 1:]
        low = next(i for i, val in enumerate(after_spike) if val < 0.5 * u[before - 1])
        back = next(i for i, val in enumerate(after_spike[low:], low) if val > 0.5 * u[before - 1])
        ctx.value(f"b2_recover_{name}", back + 1)
        ctx.value(f"b2_low_{name}", min(after_spike))
    for name, b2 in (("slow", 0.999), ("fast", 0.95)):
        ctx.value(f"b2_bound_{name}", (1 - b1) / math.sqrt(1 - b2))  # Kingma & Ba's bound when 1-b1 > sqrt(1-b2)

    def draw_spike(fig):
        ax = fig.subplots()
        lo, hi = before - 100, before + 3000
        xs = range(lo - before, hi - before)
        for (_name, u), color, b2 in zip(ups.items(), ("C0", "C1"), (0.999, 0.95), strict=True):
            ax.plot(xs, [abs(val) for val in u[lo:hi]], color=color, lw=1.5, label=f"β2 = {b2:g}")
            ax.plot(0, abs(u[before]), marker="o", color=color, ms=6)
            ax.annotate(f"{abs(u[before]):.2f} at the spike", (0, abs(u[before])), xytext=(12, 0),
                        textcoords="offset points", fontsize=8, color=color, va="center")
        ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(f"steps after one gradient of {big:g} (others {small:g})")
        ax.set_ylabel("|Adam update| / lr")
        ax.set_title(f"β1 = {b1:g}: the step at the spike, and after", fontsize=10)
        ax.legend(fontsize=9)

    ctx.figure("stab_beta2_spike", draw_spike)


# --------------------------------------------------------------------------------------------
# 6. Transformer initialisation
# --------------------------------------------------------------------------------------------
class Block(nn.Module):
    """A pre-LN Transformer block (bidirectional attention, GELU MLP) with explicit weights."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(a)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x))))


def init_stack(blocks, std, out_std):
    with torch.no_grad():
        for blk in blocks:
            for lin in (blk.qkv, blk.proj, blk.fc, blk.fc_proj):
                nn.init.zeros_(lin.bias)
                nn.init.normal_(lin.weight, 0.0, std)
            for lin in (blk.proj, blk.fc_proj):  # the projections that write into the residual stream
                if out_std == 0:
                    nn.init.zeros_(lin.weight)
                else:
                    nn.init.normal_(lin.weight, 0.0, out_std)


def initialisation(ctx):
    std = 0.02
    ctx.value("init_std", std)
    for d in (768, 1600):  # GPT-2 small and GPT-2 XL widths
        ctx.value(f"init_inv_sqrt_{d}", 1 / math.sqrt(d))
    ctx.value("init_torch_default_768", nn.Linear(768, 768).weight.std().item())  # kaiming_uniform(a=sqrt(5))
    ctx.value("init_torch_default_768_formula", 1 / math.sqrt(3 * 768))
    n_layer_xl = 48
    ctx.value("init_xl_layers", n_layer_xl)
    ctx.value("init_xl_branches", 2 * n_layer_xl)
    ctx.value("init_xl_proj_std", std / math.sqrt(2 * n_layer_xl))

    # Residual-stream variance over depth, three initialisations of the same pre-LN stack.
    torch.manual_seed(0)
    d, heads, n_layer, batch, seq = 256, 4, 48, 1, 32
    blocks = nn.ModuleList(Block(d, heads) for _ in range(n_layer))
    x0 = std * torch.randn(batch, seq, d)  # token embeddings, N(0, 0.02^2)
    variants = {
        f"all weights std {std:g}": std,
        f"projections std {std:g}/√(2L)": std / math.sqrt(2 * n_layer),
        "projections zero": 0.0,
    }
    curves = {}
    with torch.no_grad():
        for name, out_std in variants.items():
            init_stack(blocks, std, out_std)
            x, var = x0, [x0.var().item()]
            for blk in blocks:
                x = blk(x)
                var.append(x.var().item())
            curves[name] = var
    plain, scaled, zero = curves.values()
    ctx.value("init_toy_d", d)
    ctx.value("init_toy_layers", n_layer)
    ctx.value("init_toy_branches", 2 * n_layer)
    ctx.value("init_var_embed", plain[0])
    ctx.value("init_var_plain_mid", plain[n_layer // 2])
    ctx.value("init_var_plain_last", plain[-1])
    ctx.value("init_var_scaled_last", scaled[-1])
    ctx.value("init_var_zero_last", zero[-1])
    ctx.value("init_plain_growth", (plain[-1] - plain[0]) / (plain[n_layer // 2] - plain[0]))  # linear: about 2

    def draw_var(fig):
        ax = fig.subplots()
        for (name, var), color in zip(curves.items(), ("C0", "C1", "C2"), strict=True):
            ax.plot(range(n_layer + 1), var, color=color, lw=1.8, label=name)
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylim(1e-4, 20)
        ax.set_xlabel("block")
        ax.set_ylabel("residual-stream variance (log)")
        ax.set_title(f"Pre-LN stack, d = {d}, L = {n_layer} blocks", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")

    ctx.figure("stab_init_residual_var", draw_var)

    # Zero-initialised branches still learn: with W2 = 0 the last layer gets a gradient (the first does not);
    # with both layers zero nothing does.
    torch.manual_seed(1)
    xin, target = torch.randn(16, 8), torch.randn(16, 8)
    grads = {}
    for name, zero_first in (("last_zero", False), ("both_zero", True)):
        w1 = (torch.zeros(8, 8) if zero_first else torch.randn(8, 8) / 8**0.5).requires_grad_(True)
        w2 = torch.zeros(8, 8, requires_grad=True)
        out = xin + torch.relu(xin @ w1.T) @ w2.T  # a residual block whose branch ends in W2
        ((out - target) ** 2).mean().backward()
        grads[name] = (w1.grad.norm().item(), w2.grad.norm().item())
        ctx.value(f"zi_{name}_identity", bool(torch.equal(out.detach(), xin)))
    ctx.value("zi_last_zero_g1", grads["last_zero"][0])
    ctx.value("zi_last_zero_g2", grads["last_zero"][1])
    ctx.value("zi_both_zero_g", max(grads["both_zero"]))

    # ReZero: x + alpha * F(x) with alpha = 0. The block is the identity, and alpha gets a gradient.
    branch = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 8))
    alpha = torch.zeros(1, requires_grad=True)
    out = xin + alpha * branch(xin)
    ((out - target) ** 2).mean().backward()
    ctx.value("rz_identity", bool(torch.equal(out.detach(), xin)))
    ctx.value("rz_alpha_grad", alpha.grad.abs().item())
    ctx.value("rz_branch_grad", max(p.grad.abs().max().item() for p in branch.parameters()))


# --------------------------------------------------------------------------------------------
# 7. Numerics behind the output cards: the format limits their explanations quote
# --------------------------------------------------------------------------------------------
def numerics(ctx):
    f16, bf16 = torch.finfo(torch.float16), torch.finfo(torch.bfloat16)
    ctx.value("num_fp16_max", f16.max)
    ctx.value("num_bf16_max", bf16.max)
    limit = 2**24  # the last integer run that float32 holds exactly
    assert torch.tensor(limit + 1, dtype=torch.float32).item() == limit
    assert torch.tensor(limit - 1, dtype=torch.float32).item() == limit - 1
    ctx.value("num_f32_int_limit", limit)
    # fp16 norm of four 200s: the squares and their sum, the sum above the fp16 maximum.
    v, n = 200.0, 4
    ctx.value("num_norm_sq", v**2)
    ctx.value("num_norm_sumsq", n * v**2)
    assert n * v**2 > f16.max and v**2 < f16.max


def compute(ctx):
    z_loss(ctx)
    attention_logits(ctx)
    mup(ctx)
    wsd(ctx)
    beta2(ctx)
    initialisation(ctx)
    numerics(ctx)
