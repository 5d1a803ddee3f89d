"""Scaling laws and compute: FLOP counts, compute-optimal allocation, fitting a scaling law.

Sections (in card order):
  1. FLOPs per token: a small decoder-only Transformer measured with FlopCounterMode, forward and
     forward + backward, against 2N and 6N; the attention term; decoding at long context for the
     published Llama 2 70B configuration; model FLOPs utilisation.
  2. Fitting a scaling law: a family of models of growing size trained (least squares) on the same
     noisy data; L(N) = E + A N^-alpha fitted in log space; extrapolation with and without E.
  3. Kaplan vs Chinchilla: compute-optimal N and D for stated budgets; the rounded parametric fit.
  4. Past Chinchilla: lifetime (training + inference) compute at a fixed target loss.
  5. Emergence as a metric effect: exact match on L-token answers from smoothly improving
     per-token accuracy.
"""

import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# Chinchilla's parametric fit, as printed in the paper (Hoffmann et al., 2022, Approach 3).
E_CH, A_CH, B_CH, ALPHA_CH, BETA_CH = 1.69, 406.4, 410.7, 0.34, 0.28


# --------------------------------------------------------------------------------------------
# 1. FLOPs per token
# --------------------------------------------------------------------------------------------
class Block(nn.Module):
    """Pre-LN decoder block with causal attention written as matmuls (so every FLOP is counted)."""

    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        s = q @ k.transpose(-2, -1) / math.sqrt(d // self.h)
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(a)
        return x + self.ff(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab, d, h, n_layers, n_ctx):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(n_ctx, d)
        self.blocks = nn.Sequential(*[Block(d, h) for _ in range(n_layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))
        return self.head(self.ln(self.blocks(x)))


def flops_per_token(ctx):
    vocab, d, h, n_layers, n_ctx, batch = 512, 128, 4, 4, 64, 4
    torch.manual_seed(0)
    model = TinyGPT(vocab, d, h, n_layers, n_ctx)
    ids = torch.randint(0, vocab, (batch, n_ctx))
    tokens = batch * n_ctx
    # N: parameters used in matrix multiplies (Kaplan et al. count non-embedding parameters; the
    # output head is a matmul, so it is included; embedding lookups cost no FLOPs).
    n_matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    n_total = sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as fc:
        logits = model(ids)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc2:
        loss = nn.functional.cross_entropy(logits.view(-1, vocab), ids.view(-1))
        loss.backward()
    bwd = fc2.get_total_flops()
    attn = 4 * n_layers * n_ctx * d  # per token: q.k over n_ctx keys and the weighted sum of values
    ctx.value("ft_config", f"{n_layers} layers, d = {d}, {h} heads, context {n_ctx}, vocabulary {vocab}")
    ctx.value("ft_n", n_matmul)
    ctx.value("ft_n_total", n_total)
    ctx.value("ft_tokens", tokens)
    ctx.value("ft_fwd_per_token", fwd / tokens)
    ctx.value("ft_bwd_per_token", bwd / tokens)
    ctx.value("ft_fwd_ratio", fwd / tokens / n_matmul)
    ctx.value("ft_bwd_ratio", bwd / tokens / n_matmul)
    ctx.value("ft_train_ratio", (fwd + bwd) / tokens / n_matmul)
    ctx.value("ft_bwd_over_fwd", bwd / fwd)
    ctx.value("ft_attn_per_token", attn)
    ctx.value("ft_fwd_minus_2n", fwd / tokens - 2 * n_matmul)
    ctx.value("ft_attn_err", abs(fwd / tokens - 2 * n_matmul - attn))
    assert fwd / tokens - 2 * n_matmul == attn  # the forward pass is exactly 2N + attention per token
    ctx.value("ft_attn_share_fwd", attn / (fwd / tokens))

    # Decoding one token with Llama 2 70B (Touvron et al., 2023): 80 layers, d_model 8192.
    n_70b, layers_70b, d_70b = 70e9, 80, 8192
    ctx.value("l70_layers", layers_70b)
    ctx.value("l70_d", d_70b)
    ctx.value("l70_2n", 2 * n_70b)
    lengths = [4096, 32768, 131072]
    ctx.value("l70_ctx", lengths)
    att = [4 * layers_70b * t * d_70b for t in lengths]
    ctx.value("l70_attn", att)
    ctx.value("l70_attn_share", [a / (a + 2 * n_70b) for a in att])
    ctx.value("l70_share_last", att[-1] / (att[-1] + 2 * n_70b))
    ctx.value("l70_crossover", 2 * n_70b / (4 * layers_70b * d_70b))
    ctx.value("l70_tokens_1000_flops", 1000 * 2 * n_70b)

    # Model FLOPs utilisation: a stated run.
    n_mfu, tps, peak = 7e9, 9000, 989e12
    ctx.value("mfu_n_b", n_mfu / 1e9)
    ctx.value("mfu_tps", tps)
    ctx.value("mfu_peak_tflops", peak / 1e12)
    ctx.value("mfu_achieved_tflops", 6 * n_mfu * tps / 1e12)
    ctx.value("mfu", 6 * n_mfu * tps / peak)

    # Break-even of inference against training: 2 N D_inf = 6 N D  <=>  D_inf = 3 D.
    n_be, d_be = 8e9, 15e12
    ctx.value("be_n_b", n_be / 1e9)
    ctx.value("be_d_t", d_be / 1e12)
    ctx.value("be_train", 6 * n_be * d_be)
    ctx.value("be_serve_t", 3 * d_be / 1e12)
    ctx.value("be_per_token", 2 * n_be)


# --------------------------------------------------------------------------------------------
# 2. Fitting a scaling law
# --------------------------------------------------------------------------------------------
def fit_power_law(n, loss, with_floor=True):
    """Fit log L = log(E + A N^-alpha) by least squares in log space (L-BFGS from a grid of E).
    Returns (E, A, alpha). Without the floor, E = 0 and the fit is a straight line in log-log."""
    ln, ll = torch.log(n), torch.log(loss)
    if not with_floor:
        x = torch.stack([torch.ones_like(ln), -ln], 1)
        sol = torch.linalg.lstsq(x, ll[:, None]).solution.squeeze(1)
        return 0.0, math.exp(sol[0].item()), sol[1].item()
    best = None
    for frac in torch.linspace(0.0, 0.98, 50, dtype=torch.float64):
        e0 = frac * loss.min()
        x = torch.stack([torch.ones_like(ln), -ln], 1)
        sol = torch.linalg.lstsq(x, torch.log(loss - e0)[:, None]).solution.squeeze(1)
        err = ((torch.log(e0 + torch.exp(sol[0] - sol[1] * ln)) - ll) ** 2).sum().item()
        if best is None or err < best[0]:
            best = (err, e0.item(), sol[0].item(), sol[1].item())
    _, e0, la0, al0 = best
    p = torch.tensor([math.log(max(e0, 1e-6)), la0, al0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([p], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        pred = torch.log(torch.exp(p[0]) + torch.exp(p[1] - p[2] * ln))
        err = ((pred - ll) ** 2).sum()
        err.backward()
        return err

    opt.step(closure)
    e, la, al = p.detach().tolist()
    return math.exp(e), math.exp(la), al


def scaling_fit(ctx):
    sigma, k_max, n_train, n_test, n_targets = 0.1, 512, 8192, 4096, 4
    k = torch.arange(1, k_max + 1, dtype=torch.float64)
    data = []
    for seed in range(n_targets):
        g = torch.Generator().manual_seed(seed)
        phase = torch.rand(k_max, dtype=torch.float64, generator=g) * 2 * math.pi

        def target(x, phase=phase):  # a rough periodic function: amplitudes 1/k, random phases
            return (torch.sin(x[:, None] * k + phase) / k).sum(1)

        x_tr = torch.rand(n_train, dtype=torch.float64, generator=g) * 2 * math.pi
        y_tr = target(x_tr) + sigma * torch.randn(n_train, dtype=torch.float64, generator=g)
        x_te = torch.rand(n_test, dtype=torch.float64, generator=g) * 2 * math.pi
        y_te = target(x_te) + sigma * torch.randn(n_test, dtype=torch.float64, generator=g)
        data.append((x_tr, y_tr, x_te, y_te))

    def test_loss(n, x_tr, y_tr, x_te, y_te):
        """Width-n one-hidden-layer ReLU net with its hidden units fixed at n evenly spaced knots (a
        piecewise-linear function with n pieces); output layer trained by least squares (normal
        equations, accumulated sparsely: each input touches two hat functions)."""
        h = 2 * math.pi / n

        def split(x):
            u = x / h
            i = u.floor().long().clamp(max=n - 1)
            return i, u - i

        i, fr = split(x_tr)
        w0, w1 = 1 - fr, fr
        a = torch.zeros(n + 1, n + 1, dtype=torch.float64)
        a.index_put_((i, i), w0 * w0, accumulate=True)
        a.index_put_((i + 1, i + 1), w1 * w1, accumulate=True)
        a.index_put_((i, i + 1), w0 * w1, accumulate=True)
        a.index_put_((i + 1, i), w0 * w1, accumulate=True)
        b = torch.zeros(n + 1, dtype=torch.float64)
        b.index_add_(0, i, w0 * y_tr)
        b.index_add_(0, i + 1, w1 * y_tr)
        c = torch.linalg.solve(a + 1e-9 * torch.eye(n + 1, dtype=torch.float64), b)
        i, fr = split(x_te)
        return ((1 - fr) * c[i] + fr * c[i + 1] - y_te).pow(2).mean().item()

    sizes = [8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512]
    losses = [sum(test_loss(n, *dt) for dt in data) / n_targets for n in sizes]
    n_t = torch.tensor(sizes, dtype=torch.float64)
    l_t = torch.tensor(losses, dtype=torch.float64)
    n_fit = 7  # fit on sizes up to 64, extrapolate to 512
    e, a, al = fit_power_law(n_t[:n_fit], l_t[:n_fit])
    _, a0, al0 = fit_power_law(n_t[:n_fit], l_t[:n_fit], with_floor=False)
    e_all, _a_all, al_all = fit_power_law(n_t, l_t)
    pred_floor = e + a * n_t[-1].item() ** -al
    pred_pure = a0 * n_t[-1].item() ** -al0
    ctx.value("sf_sigma2", sigma**2)
    ctx.value("sf_n_train", n_train)
    ctx.value("sf_n_targets", n_targets)
    ctx.value("sf_sizes_fit", sizes[:n_fit])
    ctx.value("sf_min", sizes[0])
    ctx.value("sf_fit_max", sizes[n_fit - 1])
    ctx.value("sf_max", sizes[-1])
    ctx.value("sf_losses", losses)
    ctx.value("sf_e", e)
    ctx.value("sf_a", a)
    ctx.value("sf_alpha", al)
    ctx.value("sf_alpha_pure", al0)
    ctx.value("sf_e_all", e_all)
    ctx.value("sf_alpha_all", al_all)
    ctx.value("sf_true_last", losses[-1])
    ctx.value("sf_pred_floor", pred_floor)
    ctx.value("sf_pred_pure", pred_pure)
    ctx.value("sf_err_floor", abs(pred_floor - losses[-1]) / losses[-1])
    ctx.value("sf_err_pure", abs(pred_pure - losses[-1]) / losses[-1])
    ctx.value("sf_pure_at_1e6", a0 * 1e6**-al0)
    grid = torch.logspace(math.log10(sizes[0]), math.log10(4 * sizes[-1]), 100, dtype=torch.float64)
    curve_floor = (e + a * grid**-al).tolist()
    curve_pure = (a0 * grid**-al0).tolist()
    grid_l = grid.tolist()

    def draw(fig):
        ax = fig.subplots()
        ax.loglog(sizes[:n_fit], losses[:n_fit], "o", color="C0", label="fitted points")
        ax.loglog(sizes[n_fit:], losses[n_fit:], "o", mfc="none", color="C0", label="held out")
        ax.loglog(grid_l, curve_floor, "-", color="C1", label=r"$E + A N^{-\alpha}$")
        ax.loglog(grid_l, curve_pure, "--", color="C2", label=r"$A N^{-\alpha}$ (no $E$)")
        ax.axhline(e, ls=":", color="C1", lw=1)
        ax.set_xlabel("model size N (hidden units)")
        ax.set_ylabel("test loss (MSE)")
        ax.set_title(f"Fit on N ≤ {sizes[n_fit - 1]}, extrapolate to {sizes[-1]}", fontsize=10)
        ax.legend(fontsize=8)

    ctx.figure("scaling_fit", draw)


# --------------------------------------------------------------------------------------------
# 3. Kaplan vs Chinchilla
# --------------------------------------------------------------------------------------------
def chinchilla_optimum(c, tokens_per_param=20):
    """C = 6 N D with D = r N  =>  N = sqrt(C / (6 r)), D = r N."""
    n = math.sqrt(c / (6 * tokens_per_param))
    return n, tokens_per_param * n


def allocation(ctx):
    # Chinchilla itself: 70B parameters, 1.4T tokens (Hoffmann et al., 2022).
    ctx.value("ch_n_b", 70)
    ctx.value("ch_d_t", 1.4)
    ctx.value("ch_flops", 6 * 70e9 * 1.4e12)
    ctx.value("ch_ratio", 1.4e12 / 70e9)
    # Gopher: 280B parameters, 300B tokens (Rae et al., 2021).
    ctx.value("go_n_b", 280)
    ctx.value("go_d_b", 300)
    ctx.value("go_flops", 6 * 280e9 * 300e9)
    ctx.value("go_ratio", 300e9 / 280e9)
    # GPT-3: 175B parameters, 300B tokens (Brown et al., 2020).
    ctx.value("gpt3_ratio", 300e9 / 175e9)
    # Llama 3 8B: about 15T tokens (Dubey et al., 2024); 8.03B parameters from its configuration.
    ctx.value("l3_n_b", 8.03)
    ctx.value("l3_d_t", 15)
    ctx.value("l3_ratio", 15e12 / 8.03e9)
    ctx.value("l3_over_ch", 15e12 / 8.03e9 / 20)

    budget = 1e24
    n, d = chinchilla_optimum(budget)
    ctx.value("co_budget", budget)
    ctx.value("co_n_b", n / 1e9)
    ctx.value("co_d_t", d / 1e12)
    ctx.value("co_check", 6 * n * d)
    # Same budget spent Kaplan-style on a larger model: N from Chinchilla scaled by the Kaplan exponent
    # is not defined without its constant, so the card compares growth factors instead.
    for name, a_n in (("kaplan", 0.73), ("chin", 0.5)):
        ctx.value(f"g10_{name}_n", 10**a_n)
        ctx.value(f"g10_{name}_d", 10 ** (1 - a_n))
    ctx.value("g100_kaplan_n", 100**0.73)
    ctx.value("g100_kaplan_d", 100**0.27)
    ctx.value("g100_tpp_factor", 100**0.73 / 100**0.27)

    # The printed (rounded) Approach-3 constants put the optimum elsewhere.
    gfac = (ALPHA_CH * A_CH / (BETA_CH * B_CH)) ** (1 / (ALPHA_CH + BETA_CH))
    c_go = 5.76e23  # Gopher's training budget, used for Chinchilla
    n3 = gfac * (c_go / 6) ** (BETA_CH / (ALPHA_CH + BETA_CH))
    d3 = c_go / 6 / n3
    ctx.value("a3_budget", c_go)
    ctx.value("a3_n_b", n3 / 1e9)
    ctx.value("a3_d_t", d3 / 1e12)
    ctx.value("a3_ratio", d3 / n3)
    ctx.value("a3_exp_n", BETA_CH / (ALPHA_CH + BETA_CH))
    ctx.value("a3_exp_d", ALPHA_CH / (ALPHA_CH + BETA_CH))
    ctx.value("kp_alpha_n", 0.076)
    ctx.value("kp_10x_drop", 1 - 10**-0.076)
    ctx.value("ch_E", E_CH)
    ctx.value("ch_A", A_CH)
    ctx.value("ch_B", B_CH)
    ctx.value("ch_alpha", ALPHA_CH)
    ctx.value("ch_beta", BETA_CH)
    # Loss split of Chinchilla itself under the fit.
    ctx.value("ch_term_n", A_CH / 70e9**ALPHA_CH)
    ctx.value("ch_term_d", B_CH / 1.4e12**BETA_CH)
    ctx.value("ch_loss", E_CH + A_CH / 70e9**ALPHA_CH + B_CH / 1.4e12**BETA_CH)


# --------------------------------------------------------------------------------------------
# 4. Past Chinchilla: training + inference at a fixed target loss
# --------------------------------------------------------------------------------------------
def loss_ch(n, d):
    return E_CH + A_CH / n**ALPHA_CH + B_CH / d**BETA_CH


def tokens_for_loss(n, target):
    """D such that L(N, D) = target under the Chinchilla fit (inf if N alone cannot reach it)."""
    gap = target - E_CH - A_CH / n**ALPHA_CH
    return (B_CH / gap) ** (1 / BETA_CH) if gap > 0 else float("inf")


def past_chinchilla(ctx):
    # Target: the loss of a 70B model trained on 1.4T tokens, under the fit.
    target = loss_ch(70e9, 1.4e12)
    ctx.value("pc_target", target)
    ns = torch.logspace(math.log10(4e9), math.log10(3e11), 400, dtype=torch.float64).tolist()
    serve = [0.0, 2e12, 2e13]
    ctx.value("pc_serve_t", [s / 1e12 for s in serve])
    ctx.value("pc_serve_big_t", serve[2] / 1e12)
    curves, best = [], []
    for s in serve:
        tot = []
        for n in ns:
            d = tokens_for_loss(n, target)
            tot.append(6 * n * d + 2 * n * s)
        i = min(range(len(ns)), key=lambda j: tot[j])
        curves.append(tot)
        best.append((ns[i], tokens_for_loss(ns[i], target), tot[i]))
    for name, (n, d, tot) in zip(("s0", "s1", "s2"), best, strict=False):
        ctx.value(f"pc_{name}_n_b", n / 1e9)
        ctx.value(f"pc_{name}_d_t", d / 1e12)
        ctx.value(f"pc_{name}_ratio", d / n)
        ctx.value(f"pc_{name}_total", tot)
    # Serving 2e13 tokens: lifetime compute of the training-optimal model vs the serving-aware one.
    n0, d0, _ = best[0]
    life0 = 6 * n0 * d0 + 2 * n0 * serve[2]
    n2, d2, life2 = best[2]
    ctx.value("pc_life_train_opt", life0)
    ctx.value("pc_life_serve_opt", life2)
    ctx.value("pc_saving", 1 - life2 / life0)
    ctx.value("pc_train_extra", (6 * n2 * d2) / (6 * n0 * d0) - 1)
    ctx.value("pc_size_ratio", n0 / n2)

    def draw(fig):
        ax = fig.subplots()
        labels = ["training only", "+ serve 2T tokens", "+ serve 20T tokens"]
        for j, (tot, (n, _, t)) in enumerate(zip(curves, best, strict=False)):
            ax.semilogx([x / 1e9 for x in ns], [v / 1e24 for v in tot], color=f"C{j}", label=labels[j])
            ax.plot([n / 1e9], [t / 1e24], "o", color=f"C{j}")
        ax.set_xlabel("parameters N (billions)")
        ax.set_ylabel(r"lifetime FLOPs ($10^{24}$)")
        ax.set_title(f"Every model reaches loss {target:.3f} (Chinchilla fit)", fontsize=10)
        ax.set_ylim(0, 3.5)
        ax.legend(fontsize=8, loc="upper right")

    ctx.figure("past_chinchilla", draw)


# --------------------------------------------------------------------------------------------
# 5. Emergence as a metric effect
# --------------------------------------------------------------------------------------------
def emergence(ctx):
    # Per-token error falls as a power law in compute: err = 0.5 (C / 1e18)^-0.15 (a stated assumption).
    c = torch.logspace(18, 26, 200, dtype=torch.float64)
    err = 0.5 * (c / 1e18) ** -0.15
    p = 1 - err
    lengths = [1, 10, 40]
    ctx.value("em_lengths", lengths)
    ctx.value("em_len_mid", lengths[1])
    ctx.value("em_len_long", lengths[2])
    em = {L: (p**L).tolist() for L in lengths}
    ctx.value("em_err0", 0.5)
    ctx.value("em_gamma", 0.15)
    for L in lengths:
        v = torch.tensor(em[L])
        ctx.value(f"em_at20_{L}", v[c.log10().sub(20).abs().argmin()].item())
        ctx.value(f"em_at24_{L}", v[c.log10().sub(24).abs().argmin()].item())
    ctx.value("em_p20", p[c.log10().sub(20).abs().argmin()].item())
    ctx.value("em_p24", p[c.log10().sub(24).abs().argmin()].item())
    cl = c.tolist()

    def draw(fig):
        ax = fig.subplots()
        for j, L in enumerate(lengths):
            lab = "per token" if L == 1 else f"exact match, {L} tok."
            ax.semilogx(cl, em[L], color=f"C{j}", label=lab)
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.0, 0.47))

    ctx.figure("emergence", draw)


def compute(ctx):
    flops_per_token(ctx)
    scaling_fit(ctx)
    allocation(ctx)
    past_chinchilla(ctx)
    emergence(ctx)
