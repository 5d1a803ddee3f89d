"""Mixture of Experts: every number, shape and figure on the cards comes from PyTorch.

Sections (in card order):
  1. Top-k routing on a toy router: logits, chosen experts, gate weights; a sparse MoE layer
     checked equal to a dense reference; the router's gradient through the gates.
  2. The Switch Transformer load-balancing loss N * sum f_i P_i: balanced vs collapsed routers,
     and what gradient descent on it alone does to a skewed router (figure).
  3. Expert capacity and dropped tokens for stated numbers, and vs the capacity factor (figure).
  4. Total vs active parameters of Mixtral 8x7B, counted on meta-device modules; how many
     experts a decoding batch touches; the router z-loss.
"""

import math

import torch
import torch.nn.functional as F
from _lib.nets import n_params
from torch import nn

# Mixtral 8x7B: Jiang et al., 2024, *Mixtral of Experts*, Table 1.
MIXTRAL = dict(layers=32, d=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000, experts=8, top_k=2)


class Expert(nn.Module):
    """A SwiGLU feed-forward network, as in Mixtral."""

    def __init__(self, d, hidden, device=None):
        super().__init__()
        self.w1 = nn.Linear(d, hidden, bias=False, device=device)
        self.w3 = nn.Linear(d, hidden, bias=False, device=device)
        self.w2 = nn.Linear(hidden, d, bias=False, device=device)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MoE(nn.Module):
    """Top-k MoE layer: gates = softmax over the k largest router logits (Mixtral's choice)."""

    def __init__(self, d, hidden, n_experts, k, device=None):
        super().__init__()
        self.k = k
        self.router = nn.Linear(d, n_experts, bias=False, device=device)
        self.experts = nn.ModuleList(Expert(d, hidden, device=device) for _ in range(n_experts))

    def forward(self, x):  # x: (T, d)
        logits = self.router(x)  # (T, E)
        top_v, top_i = logits.topk(self.k, dim=-1)  # (T, k)
        gates = top_v.softmax(dim=-1)  # (T, k)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            tok, slot = (top_i == e).nonzero(as_tuple=True)  # tokens routed to e
            if tok.numel():
                out.index_add_(0, tok, gates[tok, slot, None] * expert(x[tok]))
        return out, top_i, gates


class Attention(nn.Module):
    def __init__(self, d, heads, kv_heads, device=None):
        super().__init__()
        dh = d // heads
        self.q = nn.Linear(d, heads * dh, bias=False, device=device)
        self.k = nn.Linear(d, kv_heads * dh, bias=False, device=device)
        self.v = nn.Linear(d, kv_heads * dh, bias=False, device=device)
        self.o = nn.Linear(heads * dh, d, bias=False, device=device)


# --------------------------------------------------------------------------------------------
# 1. Top-k routing
# --------------------------------------------------------------------------------------------
def routing(ctx):
    # A stated example: router logits of 4 tokens over 4 experts, top-2.
    logits = torch.tensor(
        [
            [2.0, 1.0, 0.5, -1.0],
            [0.0, 3.0, 0.0, 2.0],
            [1.0, 1.5, 2.5, 0.0],
            [-0.5, 0.0, 1.0, 1.0 + math.log(3)],
        ]
    )
    top_v, top_i = logits.topk(2, dim=-1)
    gates = top_v.softmax(-1)
    ctx.value("rt_logits", logits)
    ctx.value("rt_logits_text", "\n".join(" ".join(f"{v:5.2f}" for v in row) for row in logits.tolist()))
    ctx.value("rt_top_i", top_i)
    ctx.value("rt_gates", gates)
    ctx.value("rt_t0_experts", top_i[0])
    ctx.value("rt_t0_gates", gates[0])
    ctx.value("rt_t3_experts", top_i[3])
    ctx.value("rt_t3_gates", gates[3])
    load = torch.bincount(top_i.flatten(), minlength=4)
    ctx.value("rt_load", load)
    # Softmax over all four, then pick: the Switch/GShard-style weights for comparison.
    full = logits.softmax(-1)
    ctx.value("rt_t0_full_probs", full[0])

    # A sparse MoE layer on random tokens, checked against a dense reference.
    torch.manual_seed(0)
    T, d, hidden, E, k = 6, 16, 32, 8, 2
    moe = MoE(d, hidden, E, k)
    x = torch.randn(T, d)
    with torch.no_grad():
        out, top_i, gates = moe(x)
        logits = moe.router(x)
        # Dense reference: run every expert on every token, zero the gates of unchosen experts.
        masked = torch.full_like(logits, float("-inf")).scatter(1, top_i, logits.gather(1, top_i))
        dense_gates = masked.softmax(-1)  # (T, E), zero outside the top-k
        all_out = torch.stack([e(x) for e in moe.experts], dim=1)  # (T, E, d)
        ref = (dense_gates[..., None] * all_out).sum(1)
    tol = 1e-5
    err = (out - ref).abs().max().item()
    assert err < tol, err
    ctx.value("mo_tol", tol)
    ctx.value("mo_T", T)
    ctx.value("mo_d", d)
    ctx.value("mo_E", E)
    ctx.value("mo_k", k)
    ctx.value("mo_x_shape", x.shape)
    ctx.value("mo_logits_shape", logits.shape)
    ctx.value("mo_top_i_shape", top_i.shape)
    ctx.value("mo_gates_shape", gates.shape)
    ctx.value("mo_out_shape", out.shape)
    ctx.value("mo_top_i", top_i)
    counts = torch.bincount(top_i.flatten(), minlength=E)
    ctx.value("mo_counts", counts)
    ctx.value("mo_counts_sum", int(counts.sum()))
    ctx.value("mo_gate_rowsum_min", gates.sum(-1).min())
    # Dense compute would run E experts per token, the sparse layer runs k.
    ctx.value("mo_expert_calls_sparse", int(counts.sum()))
    ctx.value("mo_expert_calls_dense", T * E)

    # The router learns only through the gate values: drop them and it gets no gradient.
    torch.manual_seed(0)
    moe_g = MoE(d, hidden, E, k)
    out_g, _, _ = moe_g(x)
    out_g.pow(2).sum().backward()
    ctx.value("mo_router_grad_norm", moe_g.router.weight.grad.norm())
    moe_h = MoE(d, hidden, E, k)
    logits_h = moe_h.router(x)
    idx = logits_h.topk(k, -1).indices
    hard = torch.zeros(T, d)
    for e, expert in enumerate(moe_h.experts):
        tok = (idx == e).any(-1).nonzero(as_tuple=True)[0]
        if tok.numel():
            hard = hard.index_add(0, tok, expert(x[tok]) / k)  # fixed weights 1/k: no gate
    hard.pow(2).sum().backward()
    ctx.value("mo_router_grad_none", moe_h.router.weight.grad is None)


# --------------------------------------------------------------------------------------------
# 2. Load-balancing loss (Fedus et al., Switch Transformer)
# --------------------------------------------------------------------------------------------
def switch_aux(logits):
    """N * sum_i f_i P_i with top-1 dispatch: f_i fraction of tokens sent to i, P_i mean probability."""
    n = logits.shape[-1]
    p = logits.softmax(-1)
    f = torch.bincount(p.argmax(-1), minlength=n).float() / logits.shape[0]
    P = p.mean(0)
    return n * (f * P).sum(), f, P


def balancing(ctx):
    torch.manual_seed(0)
    T, d, E = 1024, 16, 8
    x = torch.randn(T, d)
    ctx.value("lb_T", T)
    ctx.value("lb_E", E)
    w = torch.randn(d, E)
    bal, f_bal, _P_bal = switch_aux(x @ w)
    skew = torch.zeros(E)
    skew[0] = 8.0
    col, f_col, P_col = switch_aux(0.1 * x @ w + skew)  # every token prefers expert 0
    ctx.value("lb_balanced", bal)
    ctx.value("lb_collapsed", col)
    ctx.value("lb_bal_f_min", f_bal.min())
    ctx.value("lb_bal_f_max", f_bal.max())
    ctx.value("lb_col_f0", f_col[0])
    ctx.value("lb_col_P0", P_col[0])
    ctx.value("lb_alpha", 1e-2)  # Fedus et al.: alpha = 10^-2 throughout
    # Ideal values: uniform f and P give N * N * (1/N)^2 = 1; everything on one expert gives N.
    ctx.value("lb_ideal_balanced", E * E * (1 / E) ** 2)
    ctx.value("lb_ideal_collapsed", E * 1.0 * 1.0)

    # f is a count: no gradient. P carries it.
    logits = (0.1 * x @ w + skew).requires_grad_(True)
    loss, f, _P = switch_aux(logits)
    loss.backward()
    p = logits.softmax(-1)
    # Mean gradient on each expert's logit: positive for the overloaded expert (pushed down).
    g = logits.grad.mean(0)
    ctx.value("lb_grad_overloaded", g[0])
    ctx.value("lb_grad_others_max", g[1:].max())
    ctx.value("lb_f_requires_grad", f.requires_grad)
    del p

    # Gradient descent on the auxiliary loss alone, from a skewed router.
    torch.manual_seed(0)
    router = nn.Linear(d, E)
    with torch.no_grad():
        router.bias.copy_(torch.linspace(2.0, -1.5, E))
    opt = torch.optim.SGD(router.parameters(), lr=0.3)
    steps = 150
    with torch.no_grad():
        start, f0, _ = switch_aux(router(x))
    for _ in range(steps):
        loss, _, _ = switch_aux(router(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        end, f1, _ = switch_aux(router(x))
    ctx.value("lb_gd_steps", steps)
    ctx.value("lb_gd_start", start)
    ctx.value("lb_gd_end", end)
    ctx.value("lb_gd_f0_max", f0.max())
    ctx.value("lb_gd_f1_max", f1.max())
    ctx.value("lb_gd_f1_min", f1.min())
    before, after = f0.tolist(), f1.tolist()

    def draw(fig):
        ax = fig.subplots()
        idx = list(range(E))
        wdt = 0.4
        ax.bar([i - wdt / 2 for i in idx], before, wdt, color="C3", label=f"before (loss {start:.2f})")
        ax.bar([i + wdt / 2 for i in idx], after, wdt, color="C0", label=f"after {steps} steps ({end:.2f})")
        ax.axhline(1 / E, color="0.4", ls="--", lw=1)
        ax.text(E - 0.6, 1 / E + 0.02, "1/N", ha="right", fontsize=9, color="0.4")
        ax.set_xticks(idx)
        ax.set_xlabel("expert")
        ax.set_ylabel("fraction of tokens fᵢ")
        ax.set_title("Minimising the balancing loss")
        ax.legend(fontsize=8)

    ctx.figure("balance_bars", draw)


# --------------------------------------------------------------------------------------------
# 3. Capacity factor and dropped tokens
# --------------------------------------------------------------------------------------------
def capacity(ctx):
    # A stated example: 64 tokens, 4 experts, top-1, tokens per expert as below.
    T, E = 64, 4
    counts = torch.tensor([28, 16, 12, 8])
    assert int(counts.sum()) == T
    ctx.value("cap_T", T)
    ctx.value("cap_E", E)
    ctx.value("cap_counts", counts)
    for name, cf in (("1", 1.0), ("15", 1.5)):
        cap = int(cf * T / E)
        dropped = int((counts - cap).clamp(min=0).sum())
        ctx.value(f"cap_cf{name}", cf)
        ctx.value(f"cap_c{name}", cap)
        ctx.value(f"cap_drop{name}", dropped)
        ctx.value(f"cap_drop{name}_frac", dropped / T)
        # Slots reserved but unused (padding) by the under-loaded experts.
        ctx.value(f"cap_pad{name}", int((cap - counts).clamp(min=0).sum()))

    # Dropped fraction vs capacity factor: uniform random routing vs a skewed learned-looking router.
    torch.manual_seed(0)
    T2, E2, trials = 4096, 8, 20
    cfs = [x / 20 for x in range(16, 45)]  # 0.8 .. 2.2
    prefs = {"uniform routing": torch.full((E2,), 1 / E2),
             "skewed routing": torch.softmax(torch.linspace(0.6, -0.6, E2), 0)}
    curves = {}
    for label, pr in prefs.items():
        draws = torch.multinomial(pr, T2 * trials, replacement=True).view(trials, T2)
        cnt = torch.stack([torch.bincount(row, minlength=E2) for row in draws]).float()  # (trials, E)
        curves[label] = [((cnt - int(cf * T2 / E2)).clamp(min=0).sum(1) / T2).mean().item() for cf in cfs]
    ctx.value("capf_T", T2)
    ctx.value("capf_E", E2)
    ctx.value("capf_skew_top", prefs["skewed routing"].max())
    i1 = cfs.index(1.0)
    i125 = cfs.index(1.25)
    ctx.value("capf_a", 1.0)
    ctx.value("capf_b", 1.25)
    ctx.value("capf_uniform_cf1", curves["uniform routing"][i1])
    ctx.value("capf_skew_cf1", curves["skewed routing"][i1])
    ctx.value("capf_uniform_cf125", curves["uniform routing"][i125])
    ctx.value("capf_skew_cf125", curves["skewed routing"][i125])

    def draw(fig):
        ax = fig.subplots()
        for c, (label, ys) in enumerate(curves.items()):
            ax.plot(cfs, [100 * y for y in ys], color=f"C{c}", lw=2, label=label)
        ax.set_xlabel("capacity factor")
        ax.set_ylabel("tokens dropped (%)")
        ax.set_title(f"{T2} tokens, {E2} experts, top-1")
        ax.legend(fontsize=8)

    ctx.figure("capacity_drops", draw)


# --------------------------------------------------------------------------------------------
# 4. Mixtral: total vs active parameters; serving
# --------------------------------------------------------------------------------------------
def mixtral(ctx):
    c = MIXTRAL
    attn = Attention(c["d"], c["heads"], c["kv_heads"], device="meta")
    moe = MoE(c["d"], c["ffn"], c["experts"], c["top_k"], device="meta")
    expert = n_params(moe.experts[0])
    norms = 2 * c["d"]
    layer_total = n_params(attn) + n_params(moe) + norms
    layer_active = n_params(attn) + n_params(moe.router) + c["top_k"] * expert + norms
    emb = n_params(nn.Embedding(c["vocab"], c["d"], device="meta"))
    head = n_params(nn.Linear(c["d"], c["vocab"], bias=False, device="meta"))
    rest = emb + head + c["d"]  # embeddings, output layer, final norm
    total = c["layers"] * layer_total + rest
    active = c["layers"] * layer_active + rest
    for key in ("layers", "d", "heads", "kv_heads", "ffn", "experts", "top_k"):
        ctx.value(f"mx_{key}", c[key])
    ctx.value("mx_expert", expert)
    ctx.value("mx_attn", n_params(attn))
    ctx.value("mx_router", n_params(moe.router))
    ctx.value("mx_total", total)
    ctx.value("mx_active", active)
    ctx.value("mx_total_b", total / 1e9)
    ctx.value("mx_active_b", active / 1e9)
    ctx.value("mx_expert_share", c["layers"] * c["experts"] * expert / total)
    ctx.value("mx_fp16_gib", 2 * total / 2**30)
    ctx.value("mx_active_fp16_gib", 2 * active / 2**30)
    # Why not "8 x 7B = 56B": only the FFNs are replicated.
    ctx.value("mx_naive_b", c["experts"] * 7)
    ctx.value("mx_paper_total_b", 47)
    ctx.value("mx_paper_active_b", 13)
    # Fedus et al., 2021: up to 7x pre-training speed-up over T5-Base at equal FLOPs per token.
    ctx.value("sw_speedup", 7)

    # How many of the experts a decoding batch touches (per layer), top-2 of 8, uniform routing.
    E, k = c["experts"], c["top_k"]
    p_unused_one = math.comb(E - 1, k) / math.comb(E, k)  # one token avoids a given expert
    batches = [1, 2, 4, 8, 16, 32]
    formula = [1 - p_unused_one**b for b in batches]
    torch.manual_seed(0)
    trials = 2000
    sims = []
    for b in batches:
        choice = torch.rand(trials, b, E).argsort(-1)[..., :k]  # k distinct experts per token
        used = torch.zeros(trials, E, dtype=torch.bool)
        used.scatter_(1, choice.reshape(trials, -1), True)
        sims.append(used.float().mean().item())
    err = max(abs(a - b) for a, b in zip(formula, sims, strict=False))
    tol = 0.02
    assert err < tol, err
    ctx.value("ex_batches", batches)
    ctx.value("ex_p_unused_one", p_unused_one)
    ctx.value("ex_formula", formula)
    ctx.value("ex_sim", sims)
    ctx.value("ex_trials", trials)
    ctx.value("ex_tol", tol)

    # Router z-loss (Zoph et al., 2022, ST-MoE): mean squared log-sum-exp of the router logits.
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    ctx.value("z_small", torch.logsumexp(z, -1).pow(2).mean())
    ctx.value("z_big", torch.logsumexp(10 * z, -1).pow(2).mean())
    # Softmax is shift-invariant, so the loss can shrink the logits without changing the routing.
    ctx.value("z_shift_same", bool(torch.allclose(z.softmax(-1), (z - 5).softmax(-1), atol=1e-6)))
    ctx.value("z_shift_loss", torch.logsumexp(z - 5, -1).pow(2).mean())


def compute(ctx):
    routing(ctx)
    balancing(ctx)
    capacity(ctx)
    mixtral(ctx)
