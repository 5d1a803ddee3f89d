"""Inference and serving: every number, shape and figure on the cards comes from PyTorch.

Sections (in card order):
  1. Prefill vs decode: arithmetic intensity of a linear layer and of a Llama 2 7B forward pass,
     against an A100's ridge point (roofline figure).
  2. Batching: static vs continuous batching simulated on stated output lengths (figure).
  3. PagedAttention: KV memory reserved contiguously vs in blocks; a block allocator and its block
     tables; prompt sharing between parallel samples.
  4. Speculative decoding: the accept/reject rule simulated on a small vocabulary (figure), and
     the expected tokens per target pass from the formula and by simulation (figure).
  5. FP8: E4M3 and E5M2 from torch.finfo and from all 256 bit patterns; casting and scaling
     (figure).
  6. Weight-only int4 with group scales: error vs group size (figure), packing, asymmetric
     quantization; GPTQ and AWQ on toy layers against round-to-nearest.
  7. Eval mode: batch norm's default momentum, quoted by the output cards.
"""

import itertools
import math

import torch

GIB = 2**30

# NVIDIA A100 80GB SXM datasheet: 312 TFLOP/s dense fp16/bf16 tensor-core, 2,039 GB/s HBM2e.
A100_FLOPS = 312e12
A100_BW = 2039e9
# Llama 2 7B (Touvron et al., 2023): 32 layers, d = 4096, 32 heads, SwiGLU hidden 11008.
L7_PARAMS = 6_738_415_616
L7_LAYERS, L7_D = 32, 4096


# --------------------------------------------------------------------------------------------
# 1. Prefill vs decode
# --------------------------------------------------------------------------------------------
def roofline(ctx):
    ridge = A100_FLOPS / A100_BW
    ctx.value("rf_peak_tflops", A100_FLOPS / 1e12)
    ctx.value("rf_bw_gbs", A100_BW / 1e9)
    ctx.value("rf_ridge", ridge)

    # One d x d fp16 linear layer applied to T tokens: FLOPs 2 T d^2; bytes: weights + inputs + outputs.
    d = 4096
    tokens = [1, 16, 128, 512, 4096]

    def linear_intensity(t):
        w = torch.empty(d, d, dtype=torch.float16, device="meta")
        x = torch.empty(t, d, dtype=torch.float16, device="meta")
        y = torch.empty(t, d, dtype=torch.float16, device="meta")
        flops = 2 * t * d * d
        nbytes = sum(a.numel() * a.element_size() for a in (w, x, y))
        return flops / nbytes

    ctx.value("li_d", d)
    ctx.value("li_tokens", tokens)
    ctx.value("li_intensity", [linear_intensity(t) for t in tokens])

    # Llama 2 7B, fp16: ~2N FLOPs per token for the weights; each step reads the weights once.
    n = L7_PARAMS
    w_bytes = 2 * n
    ctx.value("l7_params_b", n / 1e9)
    ctx.value("l7_weight_gb", w_bytes / 1e9)
    ctx.value("l7_flops_per_tok_g", 2 * n / 1e9)
    t_mem = w_bytes / A100_BW
    t_cmp1 = 2 * n / A100_FLOPS
    ctx.value("dec_t_mem_ms", 1e3 * t_mem)
    ctx.value("dec_t_cmp_ms", 1e3 * t_cmp1)
    ctx.value("dec_mem_over_cmp", t_mem / t_cmp1)
    # Batch at which decoding turns compute-bound (weights only, no KV cache): B = ridge.
    ctx.value("dec_b_cross", t_mem / t_cmp1)
    ctx.value("dec_tok_s_b1", 1 / t_mem)

    # Prefill of a 2048-token prompt: one pass, weights read once, 2N FLOPs per token.
    p = 2048
    ctx.value("pf_tokens", p)
    ctx.value("pf_t_cmp_ms", 1e3 * 2 * n * p / A100_FLOPS)
    ctx.value("pf_t_mem_ms", 1e3 * t_mem)
    ctx.value("pf_intensity", 2 * n * p / w_bytes)

    # Decoding with a KV cache: every sequence also reads its own cache every step.
    kv_per_tok = 2 * L7_LAYERS * L7_D * 2
    ctx_len, batch = 4096, 32
    kv_read = batch * ctx_len * kv_per_tok
    attn_flops = batch * 4 * ctx_len * L7_D * L7_LAYERS  # q.k and p.v for one new token per sequence
    ctx.value("kvd_ctx", ctx_len)
    ctx.value("kvd_batch", batch)
    ctx.value("kvd_kv_gib", kv_read / GIB)
    ctx.value("kvd_w_gib", w_bytes / GIB)
    ctx.value("kvd_intensity_no_kv", 2 * n * batch / w_bytes)
    ctx.value("kvd_intensity", (2 * n * batch + attn_flops) / (w_bytes + kv_read))
    ctx.value("kvd_attn_intensity", attn_flops / kv_read)

    points = {
        "decode, batch 1": 2 * n / w_bytes,
        f"decode, batch {batch}, {ctx_len} ctx": (2 * n * batch + attn_flops) / (w_bytes + kv_read),
        "decode, batch 64, no KV": 2 * n * 64 / w_bytes,
        f"prefill, {p} tokens": 2 * n * p / w_bytes,
    }

    def draw(fig):
        ax = fig.subplots()
        xs = sorted([2**e for e in range(-2, 13)] + [ridge])
        ax.plot(xs, [min(A100_FLOPS, A100_BW * x) / 1e12 for x in xs], color="0.3", lw=2)
        ax.axvline(ridge, color="0.5", ls=":", lw=1)
        ax.text(ridge * 1.15, 0.6, f"ridge\n{ridge:.0f}", fontsize=8, color="0.4")
        for c, (label, x) in enumerate(points.items()):
            ax.plot([x], [min(A100_FLOPS, A100_BW * x) / 1e12], "o", color=f"C{c}", ms=8, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("attainable TFLOP/s")
        ax.set_title("A100 roofline, Llama 2 7B fp16")
        ax.legend(fontsize=7, loc="upper left")

    ctx.figure("roofline", draw, height=3.2)


# --------------------------------------------------------------------------------------------
# 2. Static vs continuous batching
# --------------------------------------------------------------------------------------------
def batching(ctx):
    lengths = [3, 9, 2, 7, 4, 8, 1, 6]  # tokens each request generates, in arrival order
    slots = 4
    # Static: fixed batches in arrival order; a batch runs until its longest request finishes.
    static = []  # (slot, start, length, request)
    t = 0
    for b0 in range(0, len(lengths), slots):
        batch = lengths[b0 : b0 + slots]
        for s, ln in enumerate(batch):
            static.append((s, t, ln, b0 + s))
        t += max(batch)
    static_steps = t
    # Continuous: after every step, a finished request's slot takes the next waiting request.
    cont = []
    free_at = [0] * slots
    for r, ln in enumerate(lengths):
        s = min(range(slots), key=lambda i: (free_at[i], i))
        cont.append((s, free_at[s], ln, r))
        free_at[s] += ln
    cont_steps = max(free_at)
    work = sum(lengths)
    ctx.value("cb_lengths", lengths)
    ctx.value("cb_slots", slots)
    ctx.value("cb_static_steps", static_steps)
    ctx.value("cb_cont_steps", cont_steps)
    ctx.value("cb_static_util", work / (slots * static_steps))
    ctx.value("cb_cont_util", work / (slots * cont_steps))
    # When does request 5 (length 4) finish? Static waits for the first batch to clear.
    fin_static = {r: st + ln for _, st, ln, r in static}
    fin_cont = {r: st + ln for _, st, ln, r in cont}
    ctx.value("cb_mean_finish_static", sum(fin_static.values()) / len(lengths))
    ctx.value("cb_mean_finish_cont", sum(fin_cont.values()) / len(lengths))

    def draw(fig):
        axes = fig.subplots(2, 1, sharex=True)
        for ax, (title, sched, steps) in zip(
            axes, (("static batching", static, static_steps), ("continuous batching", cont, cont_steps)), strict=False
        ):
            for s, st, ln, r in sched:
                ax.barh(s, ln, left=st, color=f"C{r % 10}", edgecolor="white", height=0.8)
                ax.text(st + ln / 2, s, str(r), ha="center", va="center", fontsize=7, color="white")
            ax.set_yticks(range(slots))
            ax.set_ylabel("slot")
            ax.invert_yaxis()
            ax.set_title(f"{title}: {steps} steps", fontsize=9)
        axes[1].set_xlabel("decoding step")
        axes[1].set_xticks(range(0, static_steps + 1, 2))

    ctx.figure("batching_gantt", draw, height=3.4)


# --------------------------------------------------------------------------------------------
# 3. PagedAttention
# --------------------------------------------------------------------------------------------
class BlockAllocator:
    """Physical KV blocks handed out from a free list; each sequence has a block table."""

    def __init__(self, n_blocks, block_size):
        self.free = list(range(n_blocks))
        self.block_size = block_size
        self.tables = {}
        self.lengths = {}

    def append(self, seq, n_tokens=1):
        table = self.tables.setdefault(seq, [])
        for _ in range(n_tokens):
            ln = self.lengths.get(seq, 0)
            if ln % self.block_size == 0:  # last block full (or none yet): take a new one
                table.append(self.free.pop(0))
            self.lengths[seq] = ln + 1

    def where(self, seq, pos):
        return self.tables[seq][pos // self.block_size], pos % self.block_size


def paging(ctx):
    block = 16
    max_len = 2048
    lengths = [130, 700, 45, 1500, 320]  # final prompt + output lengths of five requests
    used = sum(lengths)
    contiguous = max_len * len(lengths)  # reserve the maximum length for every request
    paged = block * sum(math.ceil(n / block) for n in lengths)
    ctx.value("pg_block", block)
    ctx.value("pg_block_m1", block - 1)
    ctx.value("pg_max_len", max_len)
    ctx.value("pg_lengths", lengths)
    ctx.value("pg_used", used)
    ctx.value("pg_contig_slots", contiguous)
    ctx.value("pg_paged_slots", paged)
    ctx.value("pg_contig_util", used / contiguous)
    ctx.value("pg_paged_util", used / paged)
    ctx.value("pg_paged_waste_max", len(lengths) * (block - 1))
    # In bytes for Llama 2 7B (512 KiB of fp16 KV per token).
    kv_tok = 2 * L7_LAYERS * L7_D * 2
    ctx.value("pg_contig_gib", contiguous * kv_tok / GIB)
    # Kwon et al., 2023: 2-4x the throughput of FasterTransformer and Orca at the same latency.
    ctx.value("vllm_lo", 2)
    ctx.value("vllm_hi", 4)
    ctx.value("pg_paged_gib", paged * kv_tok / GIB)

    # Two sequences growing in turns share one pool of physical blocks.
    alloc = BlockAllocator(16, block)
    alloc.append("A", 20)  # prompt of A
    alloc.append("B", 10)  # prompt of B
    while alloc.lengths["A"] < 37 or alloc.lengths["B"] < 25:
        if alloc.lengths["A"] < 37:
            alloc.append("A")
        if alloc.lengths["B"] < 25:
            alloc.append("B")
    ctx.value("bt_a_len", alloc.lengths["A"])
    ctx.value("bt_b_len", alloc.lengths["B"])
    ctx.value("bt_a_table", alloc.tables["A"])
    ctx.value("bt_b_table", alloc.tables["B"])
    pos = 20
    blk, off = alloc.where("A", pos)
    ctx.value("bt_pos", pos)
    ctx.value("bt_logical", pos // block)
    ctx.value("bt_phys", blk)
    ctx.value("bt_off", off)
    # The physical store really is addressed that way: write token ids, read them back.
    store = torch.full((16, block), -1)
    for seq in ("A", "B"):
        for p_ in range(alloc.lengths[seq]):
            b_, o_ = alloc.where(seq, p_)
            store[b_, o_] = p_ if seq == "A" else 1000 + p_
    ctx.value("bt_readback_ok", all(store[alloc.where("A", p_)] == p_ for p_ in range(alloc.lengths["A"])))
    ctx.value("bt_last_fill", alloc.lengths["A"] - block * (len(alloc.tables["A"]) - 1))

    # Parallel sampling: 4 samples of 100 tokens from one 1000-token prompt.
    n_samples, prompt, out = 4, 1000, 100
    full_prompt_blocks = prompt // block
    partial = prompt % block
    no_share = n_samples * math.ceil((prompt + out) / block)
    # Shared: the full prompt blocks once; each sample owns a copy of the partial last prompt block
    # (copy-on-write at its first new token) plus its own output blocks.
    share = full_prompt_blocks + n_samples * math.ceil((partial + out) / block)
    ctx.value("sh_samples", n_samples)
    ctx.value("sh_prompt", prompt)
    ctx.value("sh_out", out)
    ctx.value("sh_blocks_no_share", no_share)
    ctx.value("sh_blocks_share", share)
    ctx.value("sh_saving", 1 - share / no_share)
    ctx.value("sh_partial", partial)
    ctx.value("sh_full_prompt_blocks", full_prompt_blocks)


# --------------------------------------------------------------------------------------------
# 4. Speculative decoding
# --------------------------------------------------------------------------------------------
def speculative(ctx):
    vocab = ["the", "a", "cat", "dog", "sat", "ran"]
    p = torch.tensor([0.40, 0.25, 0.15, 0.10, 0.06, 0.04], dtype=torch.float64)  # target
    q = torch.tensor([0.30, 0.35, 0.10, 0.10, 0.10, 0.05], dtype=torch.float64)  # draft
    alpha = torch.minimum(p, q).sum()
    residual = (p - q).clamp(min=0)
    residual = residual / residual.sum()
    ctx.value("sd_vocab", ", ".join(vocab))
    ctx.value("sd_p", p)
    ctx.value("sd_q", q)
    ctx.value("sd_alpha", alpha)
    ctx.value("sd_tv", 0.5 * (p - q).abs().sum())
    ctx.value("sd_residual", residual)
    ctx.value("sd_accept_probs", torch.minimum(torch.ones_like(p), p / q))

    gen = torch.Generator().manual_seed(0)
    n = 200_000
    x = torch.multinomial(q, n, replacement=True, generator=gen)
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    accept = u < (p[x] / q[x]).clamp(max=1)
    fallback = torch.multinomial(residual, n, replacement=True, generator=gen)
    out = torch.where(accept, x, fallback)
    emp = torch.bincount(out, minlength=len(p)).double() / n
    tol = 4 * math.sqrt(0.25 / n)  # four standard errors of a frequency, at worst (p = 0.5)
    dev = (emp - p).abs().max().item()
    assert dev < tol, dev
    ctx.value("sd_n", n)
    ctx.value("sd_emp", emp)
    ctx.value("sd_tol", tol)
    ctx.value("sd_dev_ok", dev < tol)
    ctx.value("sd_accept_rate", accept.double().mean())
    # Wrong rule for contrast: always keep the draft token -> the draft's distribution.
    naive = torch.bincount(x, minlength=len(p)).double() / n
    ctx.value("sd_naive_dev", (naive - p).abs().max())
    emp_l, p_l, q_l = emp.tolist(), p.tolist(), q.tolist()

    def draw(fig):
        ax = fig.subplots()
        idx = range(len(vocab))
        w = 0.27
        ax.bar([i - w for i in idx], p_l, w, color="C0", label="target p")
        ax.bar(list(idx), q_l, w, color="C1", label="draft q")
        ax.bar([i + w for i in idx], emp_l, w, color="C2", label="speculative output")
        ax.set_xticks(list(idx), vocab)
        ax.set_ylabel("probability")
        ax.set_title(f"Accept/reject over {n:,} samples")
        ax.legend(fontsize=8)

    ctx.figure("spec_distribution", draw)

    # Expected tokens per target pass with gamma drafted tokens and acceptance rate a.
    def expected(a, g):
        return (1 - a ** (g + 1)) / (1 - a)

    a0, g0, c0 = 0.8, 4, 0.05
    ctx.value("sd_a0", a0)
    ctx.value("sd_g0", g0)
    ctx.value("sd_c0", c0)
    ctx.value("sd_e0", expected(a0, g0))
    ctx.value("sd_speedup0", expected(a0, g0) / (g0 * c0 + 1))
    ctx.value("sd_speedup_den", g0 * c0 + 1)
    gammas = list(range(1, 16))
    speedups = [expected(a0, g) / (g * c0 + 1) for g in gammas]
    best = max(range(len(gammas)), key=lambda i: speedups[i])
    ctx.value("sd_best_gamma", gammas[best])
    ctx.value("sd_best_speedup", speedups[best])

    gen = torch.Generator().manual_seed(1)
    alphas = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9]
    sims = {}
    steps = 20_000
    worst = 0.0
    for g in (2, 4, 8):
        row = []
        for a in alphas:
            ok = torch.rand(steps, g, generator=gen) < a
            accepted = ok.int().cumprod(1).sum(1)  # drafts accepted before the first rejection
            tokens = (accepted + 1).double().mean().item()  # + the corrected or bonus token
            row.append(tokens)
            worst = max(worst, abs(tokens - expected(a, g)))
        sims[g] = row
    sim_tol = 0.05
    assert worst < sim_tol, worst
    ctx.value("sd_sim_steps", steps)
    ctx.value("sd_sim_tol", sim_tol)
    ctx.value("sd_sim_g4_a08", sims[4][alphas.index(0.8)])

    def draw_tokens(fig):
        ax = fig.subplots()
        grid = [i / 100 for i in range(0, 96)]
        for c, g in enumerate((2, 4, 8)):
            ax.plot(grid, [expected(a, g) for a in grid], color=f"C{c}", lw=2, label=f"γ = {g}")
            ax.plot(alphas, sims[g], "o", color=f"C{c}", ms=5)
        ax.set_xlabel("acceptance rate α")
        ax.set_ylabel("tokens per target pass")
        ax.set_title("Formula (lines) vs simulation (dots)")
        ax.legend(fontsize=8)

    ctx.figure("spec_tokens", draw_tokens)


# --------------------------------------------------------------------------------------------
# 5. FP8
# --------------------------------------------------------------------------------------------
def fp8(ctx):
    fmts = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}
    grids = {}
    for key, dt in fmts.items():
        fi = torch.finfo(dt)
        allv = torch.arange(256, dtype=torch.uint8).view(dt).float()  # every bit pattern
        fin = allv[torch.isfinite(allv)]
        pos = fin[fin > 0].unique()
        ctx.value(f"{key}_max", fi.max)
        ctx.value(f"{key}_tiny", fi.tiny)  # smallest normal
        ctx.value(f"{key}_eps", fi.eps)
        ctx.value(f"{key}_sub", pos.min())  # smallest subnormal, found by enumeration
        ctx.value(f"{key}_max_enum", pos.max())
        ctx.value(f"{key}_nan", int(torch.isnan(allv).sum()))
        ctx.value(f"{key}_inf", int(torch.isinf(allv).sum()))
        ctx.value(f"{key}_distinct", int(fin.unique().numel()))
        ctx.value(f"{key}_binades", math.log2(pos.max().item() / pos.min().item()))
        # Largest relative rounding error over normal values, measured by casting.
        gen = torch.Generator().manual_seed(0)
        x = torch.exp(torch.empty(100_000).uniform_(math.log(fi.tiny) + 0.5, math.log(fi.max) - 0.5, generator=gen))
        rel = ((x.to(dt).float() - x).abs() / x).max()
        ctx.value(f"{key}_max_rel_err", rel)
        assert rel <= fi.eps / 2 + 1e-7
        grids[key] = pos.tolist()
    assert torch.finfo(torch.float8_e4m3fn).max == 448 and torch.finfo(torch.float8_e5m2).max == 57344
    # E4M3 with IEEE-style specials (exponent 1111 reserved) would stop at 1.875 * 2^7.
    ctx.value("e4m3_ieee_max", 1.875 * 2**7)
    ctx.value("e4m3_bits_nan", "S.1111.111")

    # Casting out of range and below range in this PyTorch version.
    big = torch.tensor([1000.0, 1e6])
    ctx.value("cast_big_a", big[0])
    ctx.value("cast_big_b", big[1])
    ctx.value("cast_e4m3_big_b", big[1:].to(torch.float8_e4m3fn).float())
    ctx.value("cast_e4m3_big", big.to(torch.float8_e4m3fn).float())
    ctx.value("cast_e5m2_big", big[1:].to(torch.float8_e5m2).float().isinf().item())
    ctx.value("torch_version", torch.__version__.split("+")[0])
    ctx.value("cast_small", 2**-11)
    ctx.value("cast_small_e4m3", torch.tensor(2**-11).to(torch.float8_e4m3fn).float())
    ctx.value("cast_small_e5m2", torch.tensor(2**-11).to(torch.float8_e5m2).float())

    # Per-tensor scaling: gradient-sized values cast straight to E4M3 lose most of themselves.
    torch.manual_seed(0)
    g = torch.randn(4096) * 1e-3
    direct = g.to(torch.float8_e4m3fn).float()
    scale = 448 / g.abs().max()
    scaled = (g * scale).to(torch.float8_e4m3fn).float() / scale
    ctx.value("sc_std", 1e-3)
    ctx.value("sc_zero_frac", (direct == 0).float().mean())
    ctx.value("sc_err_direct", (direct - g).norm() / g.norm())
    ctx.value("sc_err_scaled", (scaled - g).norm() / g.norm())
    ctx.value("sc_scale", scale)

    def draw(fig):
        ax = fig.subplots()
        for c, (key, label) in enumerate((("e4m3", "E4M3"), ("e5m2", "E5M2"))):
            v = grids[key]
            gaps = [(b - a) / a for a, b in itertools.pairwise(v)]
            ax.step(v[:-1], gaps, where="post", color=f"C{c}", lw=2, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("value (positive)")
        ax.set_ylabel("gap to next value / value")
        ax.set_title("FP8 grids: range vs precision")
        ax.legend(fontsize=8)

    ctx.figure("fp8_grids", draw)


# --------------------------------------------------------------------------------------------
# 6. Weight-only int4
# --------------------------------------------------------------------------------------------
def quant_sym(w, bits=4, group=None):
    """Symmetric round-to-nearest: one scale per `group` consecutive weights of a row (None: per row)."""
    out_f, in_f = w.shape
    g = group or in_f
    wg = w.reshape(out_f, in_f // g, g)
    qmax = 2 ** (bits - 1) - 1
    s = wg.abs().amax(-1, keepdim=True) / qmax
    q = (wg / s).round().clamp(-qmax - 1, qmax)
    return (q * s).reshape(out_f, in_f)


def quant_asym(w, bits=4, group=None):
    """Asymmetric: scale and zero point per group, all 2^bits levels between the group's min and max."""
    out_f, in_f = w.shape
    g = group or in_f
    wg = w.reshape(out_f, in_f // g, g)
    lo, hi = wg.amin(-1, keepdim=True), wg.amax(-1, keepdim=True)
    s = (hi - lo) / (2**bits - 1)
    z = (-lo / s).round()
    q = (wg / s + z).round().clamp(0, 2**bits - 1)
    return ((q - z) * s).reshape(out_f, in_f)


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def gptq(w, x, bits=4, damp=0.01):
    """GPTQ without lazy batching: quantize column by column, push each error onto later columns."""
    w = w.clone().double()
    h = 2 * x.double().T @ x.double() / x.shape[0]
    h += damp * h.diag().mean() * torch.eye(h.shape[0], dtype=h.dtype)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    qmax = 2 ** (bits - 1) - 1
    s = w.abs().amax(1) / qmax  # one scale per output row, from the original weights
    out = torch.zeros_like(w)
    for i in range(w.shape[1]):
        qi = (w[:, i] / s).round().clamp(-qmax - 1, qmax) * s
        out[:, i] = qi
        err = (w[:, i] - qi) / hinv[i, i]
        w[:, i + 1 :] -= err[:, None] * hinv[i, i + 1 :][None, :]
    return out.float()


def int4(ctx):
    torch.manual_seed(0)
    n = 1024
    mats = {
        "Gaussian": torch.randn(n, n) / math.sqrt(n),
        "heavy-tailed (Student t, 3 dof)": torch.distributions.StudentT(3.0).sample((n, n)) / math.sqrt(n),
    }
    groups = [16, 32, 64, 128, 256, n]
    errs = {k: [rel(quant_sym(w, 4, g), w) for g in groups] for k, w in mats.items()}
    bits = [4 + 16 / g for g in groups]  # one fp16 scale per group
    ctx.value("i4_n", n)
    ctx.value("i4_groups", groups[:-1])
    ctx.value("i4_bits", bits[:-1])
    ctx.value("i4_err_gauss", errs["Gaussian"][:-1])
    ctx.value("i4_err_gauss_row", errs["Gaussian"][-1])
    ctx.value("i4_err_t", errs["heavy-tailed (Student t, 3 dof)"][:-1])
    ctx.value("i4_err_t_row", errs["heavy-tailed (Student t, 3 dof)"][-1])
    i128 = groups.index(128)
    ctx.value("i4_err_gauss_128", errs["Gaussian"][i128])
    ctx.value("i4_err_t_128", errs["heavy-tailed (Student t, 3 dof)"][i128])
    ctx.value("i4_bits_128", bits[i128])
    ctx.value("i4_int8_err_gauss", rel(quant_sym(mats["Gaussian"], 8, None), mats["Gaussian"]))

    def draw(fig):
        ax = fig.subplots()
        labels = [str(g) for g in groups[:-1]] + ["row"]
        for c, (k, e) in enumerate(errs.items()):
            ax.plot(range(len(groups)), e, "o-", color=f"C{c}", lw=2, label=k)
        ax.set_xticks(range(len(groups)), labels)
        ax.set_xlabel("group size (weights per fp16 scale)")
        ax.set_ylabel("relative error ‖Ŵ − W‖ / ‖W‖")
        ax.set_title(f"Symmetric int4, {n}×{n} weights")
        ax.legend(fontsize=8)

    ctx.figure("int4_groups", draw)

    # Asymmetric vs symmetric at group 128, on centred and on shifted (all-positive-ish) weights.
    wg = mats["Gaussian"]
    shifted = wg + 2 * wg.std()
    ctx.value("as_sym_gauss", rel(quant_sym(wg, 4, 128), wg))
    ctx.value("as_asym_gauss", rel(quant_asym(wg, 4, 128), wg))
    ctx.value("as_sym_shift", rel(quant_sym(shifted, 4, 128), shifted))
    ctx.value("as_asym_shift", rel(quant_asym(shifted, 4, 128), shifted))
    ctx.value("as_bits_128", 4 + 32 / 128)

    # Packing: two 4-bit codes per byte, plus one fp16 scale per group of 128.
    d, g = 4096, 128
    w = torch.randn(d, d) / math.sqrt(d)
    wq = w.reshape(d, d // g, g)
    s = (wq.abs().amax(-1, keepdim=True) / 7).half()
    codes = (wq / s.float()).round().clamp(-8, 7).reshape(d, d)
    u = (codes + 8).to(torch.uint8)  # 0..15
    packed = u[:, 0::2] | (u[:, 1::2] << 4)
    lo, hi = packed & 15, packed >> 4
    unpacked = torch.stack([lo, hi], -1).reshape(d, d).to(torch.int16) - 8
    ctx.value("pk_roundtrip_ok", bool((unpacked == codes.to(torch.int16)).all()))
    ctx.value("pk_d", d)
    ctx.value("pk_g", g)
    ctx.value("pk_packed_shape", packed.shape)
    ctx.value("pk_scales_shape", s.squeeze(-1).shape)
    ctx.value("pk_fp16_mib", d * d * 2 / 2**20)
    ctx.value("pk_int4_mib", (packed.numel() + s.numel() * 2) / 2**20)
    ctx.value("pk_ratio", d * d * 2 / (packed.numel() + s.numel() * 2))

    # GPTQ vs round-to-nearest on a layer with correlated calibration inputs.
    torch.manual_seed(0)
    out_f, in_f, m = 128, 256, 1024
    mix = torch.randn(in_f, in_f) / math.sqrt(in_f) + 0.3 * torch.eye(in_f)
    colscale = torch.logspace(0, 1, in_f)[torch.randperm(in_f)]

    def inputs(k):
        return (torch.randn(k, in_f) @ mix) * colscale

    x_cal, x_eval = inputs(m), inputs(m)
    w = torch.randn(out_f, in_f) / math.sqrt(in_f)
    q_rtn = quant_sym(w, 4, None)
    q_gptq = gptq(w, x_cal)
    ref = x_eval @ w.T
    ctx.value("gq_out", out_f)
    ctx.value("gq_in", in_f)
    ctx.value("gq_cal", m)
    ctx.value("gq_rtn_out", rel(x_eval @ q_rtn.T, ref))
    ctx.value("gq_gptq_out", rel(x_eval @ q_gptq.T, ref))
    ctx.value("gq_rtn_w", rel(q_rtn, w))
    ctx.value("gq_gptq_w", rel(q_gptq, w))

    # AWQ vs round-to-nearest when 1% of input channels carry large activations.
    torch.manual_seed(0)
    out_f, in_f = 256, 512
    act_scale = torch.ones(in_f)
    salient = torch.randperm(in_f)[: in_f // 100]
    act_scale[salient] = 20.0

    def acts(k):
        return torch.randn(k, in_f) * act_scale

    x_cal, x_eval = acts(1024), acts(1024)
    w = torch.randn(out_f, in_f) / math.sqrt(in_f)
    ref = x_eval @ w.T
    mag = x_cal.abs().mean(0)
    best = None
    for a in [i / 10 for i in range(11)]:
        s_ = mag**a
        s_ = s_ / (s_.max() * s_.min()).sqrt()
        qw = quant_sym(w * s_, 4, 128) / s_  # scale input channel j of W by s_j, activations by 1/s_j
        e = rel(x_cal @ qw.T, x_cal @ w.T)
        if best is None or e < best[0]:
            best = (e, a, qw)
    _, a_best, q_awq = best
    q_rtn = quant_sym(w, 4, 128)
    q_mixed = q_rtn.clone()
    q_mixed[:, salient] = w[:, salient]  # keep the salient input channels in 16 bits
    ctx.value("aw_in", in_f)
    ctx.value("aw_salient", len(salient))
    ctx.value("aw_salient_scale", 20)
    ctx.value("aw_alpha", a_best)
    ctx.value("aw_paper_frac", 0.01)  # Lin et al., 2024: about 1% salient weight channels
    ctx.value("aw_rtn", rel(x_eval @ q_rtn.T, ref))
    ctx.value("aw_awq", rel(x_eval @ q_awq.T, ref))
    ctx.value("aw_mixed", rel(x_eval @ q_mixed.T, ref))


# --------------------------------------------------------------------------------------------
# 7. Eval mode: the running-statistics update that train mode makes, gradients or not
# --------------------------------------------------------------------------------------------
def eval_mode(ctx):
    bn = torch.nn.BatchNorm1d(1)
    m = bn.momentum
    with torch.no_grad():
        bn(torch.full((4, 1), 10.0))
    assert abs(bn.running_mean.item() - ((1 - m) * 0 + m * 10)) < 1e-6
    ctx.value("inf_bn_momentum", m)


def compute(ctx):
    roofline(ctx)
    batching(ctx)
    paging(ctx)
    speculative(ctx)
    fp8(ctx)
    int4(ctx)
    eval_mode(ctx)
