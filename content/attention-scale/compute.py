"""Attention at scale: every number, shape and figure on the cards comes from PyTorch.

Sections (in card order):
  1. KV-cache bytes for published configurations (Llama 2 7B / 70B, Mistral 7B), computed from
     the cache tensors' shapes on the meta device and from the formula.
  2. Multi-query and grouped-query attention: a from-scratch GQA checked against
     F.scaled_dot_product_attention(enable_gqa=True), parameter and intensity arithmetic.
  3. FlashAttention: a blockwise attention with the online softmax, checked equal to softmax
     attention; the log-sum-exp that the backward pass recomputes the weights from.
  4. RoPE context extension: rotation frequencies under position interpolation, NTK-aware
     scaling and YaRN.
  5. Sliding-window attention: how far information travels through a stack of layers, and a
     rolling-buffer KV cache checked equal to the masked computation.
  6. The LLaMA-style block (RMSNorm, SwiGLU, RoPE, pre-norm): parameter counts from real modules
     on the meta device and from the formula.
"""

import math

import torch
import torch.nn.functional as F
from _lib.nets import n_params
from torch import nn

GIB = 2**30

# Published configurations (cited on the cards).
# Llama 2: Touvron et al., 2023 (the 70B model uses grouped-query attention with 8 KV heads).
# Mistral 7B: Jiang et al., 2023, Table 1.
LLAMA2_7B = dict(layers=32, d=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000, ctx=4096)
LLAMA2_70B = dict(layers=80, d=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000, ctx=4096)
MISTRAL_7B = dict(layers=32, d=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000, ctx=8192, window=4096)


def kv_bytes_per_token(cfg, bytes_per=2):
    """K and V, every layer, every KV head, head dim: the formula on the cards."""
    d_head = cfg["d"] // cfg["heads"]
    return 2 * cfg["layers"] * cfg["kv_heads"] * d_head * bytes_per


def kv_cache_tensor(cfg, batch, ctx_len, dtype=torch.float16):
    """The whole cache as one tensor on the meta device: (layers, K/V, batch, kv_heads, tokens, d_head)."""
    d_head = cfg["d"] // cfg["heads"]
    return torch.empty(cfg["layers"], 2, batch, cfg["kv_heads"], ctx_len, d_head, dtype=dtype, device="meta")


# --------------------------------------------------------------------------------------------
# Modules: a LLaMA-style block with grouped-query attention, RoPE, RMSNorm and SwiGLU
# --------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6, device=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d, device=device))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_angles(n, d_head, base=10000.0, scale=None):
    """Angles (n, d_head/2): position m times theta_i; `scale` multiplies each theta_i."""
    theta = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    if scale is not None:
        theta = theta * scale
    return torch.arange(n, dtype=torch.float64)[:, None] * theta[None, :]


def apply_rope(x, ang):
    """Rotate each pair (x[2i], x[2i+1]) of x (..., n, d_head) by ang (n, d_head/2)."""
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out


class GQAttention(nn.Module):
    def __init__(self, d, heads, kv_heads, device=None):
        super().__init__()
        self.h, self.g, self.dh = heads, kv_heads, d // heads
        self.q_proj = nn.Linear(d, heads * self.dh, bias=False, device=device)
        self.k_proj = nn.Linear(d, kv_heads * self.dh, bias=False, device=device)
        self.v_proj = nn.Linear(d, kv_heads * self.dh, bias=False, device=device)
        self.o_proj = nn.Linear(heads * self.dh, d, bias=False, device=device)

    def forward(self, x, cache=None):
        b, n, _ = x.shape
        start = 0 if cache is None else cache[0].shape[2]
        q = self.q_proj(x).view(b, n, self.h, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.g, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.g, self.dh).transpose(1, 2)
        ang = rope_angles(start + n, self.dh)[start:]
        q, k = apply_rope(q, ang), apply_rope(k, ang)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        # Each KV head serves h/g query heads.
        kr = k.repeat_interleave(self.h // self.g, dim=1)
        vr = v.repeat_interleave(self.h // self.g, dim=1)
        out = F.scaled_dot_product_attention(q, kr, vr, is_causal=cache is None)
        return self.o_proj(out.transpose(1, 2).reshape(b, n, -1)), (k, v)


class SwiGLU(nn.Module):
    def __init__(self, d, hidden, device=None):
        super().__init__()
        self.gate_proj = nn.Linear(d, hidden, bias=False, device=device)
        self.up_proj = nn.Linear(d, hidden, bias=False, device=device)
        self.down_proj = nn.Linear(hidden, d, bias=False, device=device)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    """Pre-norm: x + Attn(RMSNorm(x)), then x + FFN(RMSNorm(x))."""

    def __init__(self, d, heads, kv_heads, ffn, device=None):
        super().__init__()
        self.attn_norm = RMSNorm(d, device=device)
        self.attn = GQAttention(d, heads, kv_heads, device=device)
        self.ffn_norm = RMSNorm(d, device=device)
        self.ffn = SwiGLU(d, ffn, device=device)

    def forward(self, x, cache=None):
        a, cache = self.attn(self.attn_norm(x), cache)
        x = x + a
        return x + self.ffn(self.ffn_norm(x)), cache


def llama_model_params(cfg):
    """Embedding + blocks + final norm + untied output layer, counted on meta modules."""
    block = LlamaBlock(cfg["d"], cfg["heads"], cfg["kv_heads"], cfg["ffn"], device="meta")
    emb = nn.Embedding(cfg["vocab"], cfg["d"], device="meta")
    head = nn.Linear(cfg["d"], cfg["vocab"], bias=False, device="meta")
    final_norm = RMSNorm(cfg["d"], device="meta")
    return n_params(block), cfg["layers"] * n_params(block) + n_params(emb) + n_params(head) + n_params(final_norm)


# --------------------------------------------------------------------------------------------
# 1. KV cache of published configurations
# --------------------------------------------------------------------------------------------
def kv_cache(ctx):
    cfgs = {"l7": LLAMA2_7B, "l70": LLAMA2_70B, "m7": MISTRAL_7B}
    for key, cfg in cfgs.items():
        per_tok = kv_bytes_per_token(cfg)
        t = kv_cache_tensor(cfg, 1, 1)
        assert t.numel() * t.element_size() == per_tok
        ctx.value(f"kv_{key}_layers", cfg["layers"])
        ctx.value(f"kv_{key}_d", cfg["d"])
        ctx.value(f"kv_{key}_heads", cfg["heads"])
        ctx.value(f"kv_{key}_kv_heads", cfg["kv_heads"])
        ctx.value(f"kv_{key}_dhead", cfg["d"] // cfg["heads"])
        ctx.value(f"kv_{key}_per_tok", per_tok)
        ctx.value(f"kv_{key}_per_tok_kib", per_tok / 1024)

    # Llama 2 7B at its full context, batch 1 and batch 8.
    ctx_len = LLAMA2_7B["ctx"]
    ctx.value("kv_ctx", ctx_len)
    one = kv_cache_tensor(LLAMA2_7B, 1, ctx_len)
    ctx.value("kv_l7_shape", one.shape)
    ctx.value("kv_l7_seq_bytes", one.numel() * one.element_size())
    ctx.value("kv_l7_seq_gib", one.numel() * one.element_size() / GIB)
    batch = 8
    many = kv_cache_tensor(LLAMA2_7B, batch, ctx_len)
    ctx.value("kv_batch", batch)
    ctx.value("kv_l7_batch_gib", many.numel() * many.element_size() / GIB)

    _, l7_params = llama_model_params(LLAMA2_7B)
    l7_weight_bytes = 2 * l7_params
    ctx.value("kv_l7_params", l7_params)
    ctx.value("kv_l7_weights_gib", l7_weight_bytes / GIB)
    # Tokens of cache that weigh as much as the fp16 weights.
    ctx.value("kv_l7_tokens_eq_weights", l7_weight_bytes / kv_bytes_per_token(LLAMA2_7B))

    # How many full-context sequences fit next to the weights on an 80 GiB accelerator.
    gpu = 80
    free = gpu * GIB - l7_weight_bytes
    ctx.value("kv_gpu_gib", gpu)
    ctx.value("kv_free_gib", free / GIB)
    ctx.value("kv_l7_max_seqs", free // (kv_bytes_per_token(LLAMA2_7B) * ctx_len))

    # Llama 2 70B: grouped-query attention (8 KV heads) vs what multi-head attention would store.
    mha70 = dict(LLAMA2_70B, kv_heads=LLAMA2_70B["heads"])
    ctx.value("kv_l70_mha_per_tok", kv_bytes_per_token(mha70))
    ctx.value("kv_l70_mha_per_tok_mib", kv_bytes_per_token(mha70) / 2**20)
    ctx.value("kv_l70_gqa_saving", kv_bytes_per_token(mha70) / kv_bytes_per_token(LLAMA2_70B))
    ctx.value("kv_l70_seq_gib", kv_bytes_per_token(LLAMA2_70B) * ctx_len / GIB)
    ctx.value("kv_l70_mha_seq_gib", kv_bytes_per_token(mha70) * ctx_len / GIB)
    ctx.value("kv_l7_over_m7", kv_bytes_per_token(LLAMA2_7B) / kv_bytes_per_token(MISTRAL_7B))


# --------------------------------------------------------------------------------------------
# 2. Multi-query and grouped-query attention
# --------------------------------------------------------------------------------------------
def gqa(ctx):
    torch.manual_seed(0)
    b, n, h, g, dh = 2, 6, 8, 2, 16
    q = torch.randn(b, h, n, dh)
    k = torch.randn(b, g, n, dh)
    v = torch.randn(b, g, n, dh)
    # By hand: every KV head is repeated for the h/g query heads of its group.
    kr = k.repeat_interleave(h // g, dim=1)
    vr = v.repeat_interleave(h // g, dim=1)
    w = torch.softmax(q @ kr.transpose(-2, -1) / math.sqrt(dh), dim=-1)
    mine = w @ vr
    ref = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    tol = 1e-5
    err = (mine - ref).abs().max().item()
    assert err < tol, err
    ctx.value("gqa_tol", tol)
    ctx.value("gqa_b", b)
    ctx.value("gqa_n", n)
    ctx.value("gqa_h", h)
    ctx.value("gqa_g", g)
    ctx.value("gqa_dh", dh)
    ctx.value("gqa_q_shape", q.shape)
    ctx.value("gqa_k_shape", k.shape)
    ctx.value("gqa_kr_shape", kr.shape)
    ctx.value("gqa_out_shape", mine.shape)
    # Which query heads share KV head 0.
    ctx.value("gqa_group0", [i for i in range(h) if i // (h // g) == 0])

    # A real layer with a cache: Llama-2-70B-shaped head counts (64 query, 8 KV heads), small width.
    torch.manual_seed(0)
    heads, kv_heads, dh_s = 64, 8, 4
    layer = GQAttention(heads * dh_s, heads, kv_heads)
    x = torch.randn(2, 10, heads * dh_s)
    with torch.no_grad():
        full, _ = layer(x)
        _, cache = layer(x[:, :9])
        step, cache = layer(x[:, 9:], cache)
    ctx.value("gqa_cache_heads", heads)
    ctx.value("gqa_cache_kv_heads", kv_heads)
    ctx.value("gqa_cache_dh", dh_s)
    ctx.value("gqa_cache_k_shape", cache[0].shape)
    ctx.value("gqa_cache_tokens", cache[0].shape[2])
    step_err = (step[:, 0] - full[:, 9]).abs().max().item()
    assert step_err < tol, step_err
    ctx.value("gqa_cache_step_ok", step_err < tol)

    # Parameters of one attention layer of Llama 2 70B: GQA vs the MHA it replaces.
    c = LLAMA2_70B
    att_gqa = GQAttention(c["d"], c["heads"], c["kv_heads"], device="meta")
    att_mha = GQAttention(c["d"], c["heads"], c["heads"], device="meta")
    ctx.value("gqa_l70_attn_params", n_params(att_gqa))
    ctx.value("gqa_l70_mha_params", n_params(att_mha))
    ctx.value("gqa_l70_kv_proj_shape", att_gqa.k_proj.weight.shape)
    _, l70_total = llama_model_params(LLAMA2_70B)
    _, l70_mha_total = llama_model_params(dict(LLAMA2_70B, kv_heads=LLAMA2_70B["heads"]))
    ctx.value("gqa_l70_total_saving_frac", (l70_mha_total - l70_total) / l70_mha_total)
    # FLOPs per token of one layer's projections scale the same way as the parameters;
    # the score and weighted-sum FLOPs do not change at all (every query head still attends).
    ctx.value("gqa_l70_attn_param_frac", n_params(att_gqa) / n_params(att_mha))

    # Arithmetic intensity of attention during decoding: FLOPs per byte of K/V read (fp16).
    # One new token, context n: scores 2 h n dh + weighted sum 2 h n dh; reads K and V: 2 g n dh * 2 B.
    def intensity(h_, g_, n_=4096, dh_=128):
        return (4 * h_ * n_ * dh_) / (2 * g_ * n_ * dh_ * 2)

    ctx.value("gqa_intensity_mha", intensity(64, 64))
    ctx.value("gqa_intensity_gqa", intensity(64, 8))
    ctx.value("gqa_intensity_mqa", intensity(64, 1))

    # Ainslie et al.'s conversion: mean-pool the K (and V) projection heads of each group.
    torch.manual_seed(0)
    d_c, h_c, g_c = 32, 8, 2
    mha = GQAttention(d_c, h_c, h_c)
    conv = GQAttention(d_c, h_c, g_c)
    with torch.no_grad():
        for src, dst in ((mha.k_proj, conv.k_proj), (mha.v_proj, conv.v_proj)):
            wk = src.weight.view(g_c, h_c // g_c, d_c // h_c, d_c)  # (group, head in group, dh, d)
            dst.weight.copy_(wk.mean(1).reshape(-1, d_c))
        conv.q_proj.weight.copy_(mha.q_proj.weight)
        conv.o_proj.weight.copy_(mha.o_proj.weight)
    ctx.value("gqa_conv_k_before", mha.k_proj.weight.shape)
    ctx.value("gqa_conv_k_after", conv.k_proj.weight.shape)
    ctx.value("gqa_conv_h", h_c)
    ctx.value("gqa_conv_g", g_c)
    ctx.value("gqa_conv_d", d_c)
    ctx.value("gqa_uptrain_frac", 0.05)  # Ainslie et al., 2023: uptraining with 5% of pretraining compute


# --------------------------------------------------------------------------------------------
# 3. FlashAttention: blockwise attention with the online softmax
# --------------------------------------------------------------------------------------------
def flash_attention(q, k, v, block_q, block_k, causal=False):
    """Exact attention, one (block_q x block_k) tile at a time; returns (output, logsumexp, tiles)."""
    n, d = q.shape
    out = torch.empty_like(q)
    lse = torch.empty(n, dtype=q.dtype)
    tiles = 0
    for i0 in range(0, n, block_q):
        qi = q[i0 : i0 + block_q] / math.sqrt(d)
        rows = torch.arange(i0, i0 + qi.shape[0])
        m = torch.full((qi.shape[0],), float("-inf"), dtype=q.dtype)
        total = torch.zeros(qi.shape[0], dtype=q.dtype)
        acc = torch.zeros(qi.shape[0], d, dtype=q.dtype)
        for j0 in range(0, n, block_k):
            if causal and j0 > rows[-1]:
                break  # every key of this tile and later ones is in the future
            tiles += 1
            s = qi @ k[j0 : j0 + block_k].T
            if causal:
                cols = torch.arange(j0, j0 + s.shape[1])
                s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
            m_new = torch.maximum(m, s.amax(-1))
            p = torch.exp(s - m_new[:, None])
            corr = torch.exp(m - m_new)  # rescale what was accumulated under the old max
            total = corr * total + p.sum(-1)
            acc = corr[:, None] * acc + p @ v[j0 : j0 + block_k]
            m = m_new
        out[i0 : i0 + block_q] = acc / total[:, None]
        lse[i0 : i0 + block_q] = m + torch.log(total)
    return out, lse, tiles


def flash(ctx):
    tol = 1e-5
    ctx.value("fa_tol", tol)

    # Online softmax over a stream of chunks: running max and running sum.
    x = torch.tensor([1.0, 3.0, -2.0, 5.0, 0.5, 4.0])
    chunks = [x[:2], x[2:4], x[4:]]
    m, total = float("-inf"), 0.0
    trace = []
    for c in chunks:
        m_new = max(m, c.max().item())
        total = total * math.exp(m - m_new) + torch.exp(c - m_new).sum().item()
        m = m_new
        trace.append([m, total])
    ctx.value("os_x", x)
    ctx.value("os_chunks", [c.tolist() for c in chunks])
    ctx.value("os_m_final", m)
    ctx.value("os_l_final", total)
    ctx.value("os_trace_m", [t[0] for t in trace])
    ctx.value("os_trace_l", [t[1] for t in trace])
    ctx.value("os_lse", m + math.log(total))
    ctx.value("os_lse_ref", torch.logsumexp(x, 0))
    assert abs(m + math.log(total) - torch.logsumexp(x, 0).item()) < tol

    # Blockwise attention vs softmax attention.
    torch.manual_seed(0)
    n, d, bq, bk = 256, 64, 64, 32
    q, k, v = (torch.randn(n, d) for _ in range(3))
    ref = torch.softmax(q @ k.T / math.sqrt(d), dim=-1) @ v
    out, lse, tiles = flash_attention(q, k, v, bq, bk)
    err = (out - ref).abs().max().item()
    assert err < tol, err
    ctx.value("fa_n", n)
    ctx.value("fa_d", d)
    ctx.value("fa_bq", bq)
    ctx.value("fa_bk", bk)
    ctx.value("fa_tiles", tiles)
    ctx.value("fa_tiles_full", (n // bq) * (n // bk))
    ctx.value("fa_match", err < tol)

    # Causal: tiles wholly in the future are skipped.
    ref_c = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
    out_c, _, tiles_c = flash_attention(q, k, v, bq, bk, causal=True)
    err_c = (out_c - ref_c).abs().max().item()
    assert err_c < tol, err_c
    ctx.value("fa_causal_match", err_c < tol)
    ctx.value("fa_tiles_causal", tiles_c)

    # Backward recomputation: the weights come back exactly from the stored log-sum-exp.
    p_ref = torch.softmax(q @ k.T / math.sqrt(d), dim=-1)
    p_re = torch.exp(q @ k.T / math.sqrt(d) - lse[:, None])
    err_p = (p_re - p_ref).abs().max().item()
    assert err_p < tol, err_p
    ctx.value("fa_recompute_match", err_p < tol)

    # What the backward pass keeps per head: the n x n weights (standard) vs one number per row.
    n_big = 8192
    ctx.value("fa_big_n", n_big)
    ctx.value("fa_big_p_mib", n_big * n_big * 2 / 2**20)  # fp16 weights
    ctx.value("fa_big_lse_kib", n_big * 4 / 1024)  # fp32 log-sum-exp

    # Published A100 figures quoted in Dao et al., 2022, section 2.1.
    ctx.value("fa_a100_hbm_lo", 1.5)
    ctx.value("fa_a100_hbm_hi", 2.0)
    ctx.value("fa_a100_sram_kb", 192)
    ctx.value("fa_a100_sms", 108)
    ctx.value("fa_a100_sram_tbs", 19)


# --------------------------------------------------------------------------------------------
# 4. RoPE context extension
# --------------------------------------------------------------------------------------------
def rope_extension(ctx):
    d, base, L = 128, 10000.0, 4096  # Llama 2: head dim 128, RoPE base 10000, 4096-token context
    s = 4.0
    L_new = int(s * L)
    i = torch.arange(d // 2, dtype=torch.float64)
    theta = base ** (-2 * i / d)
    wavelen = 2 * math.pi / theta
    ctx.value("re_d", d)
    ctx.value("re_base", base)
    ctx.value("re_L", L)
    ctx.value("re_s", s)
    ctx.value("re_L_new", L_new)
    ctx.value("re_L_new_last", L_new - 1)
    ctx.value("re_pairs", d // 2)
    ctx.value("re_wavelen_min", wavelen[0])
    ctx.value("re_wavelen_max", wavelen[-1])
    # Pairs that never complete a full turn within the training context.
    ctx.value("re_pairs_long", int((wavelen > L).sum()))
    # The slowest pair: largest angle seen in training vs at the extended length.
    ctx.value("re_slow_angle_train", (L - 1) * theta[-1])
    ctx.value("re_slow_angle_new", (L_new - 1) * theta[-1])

    # Position interpolation: every frequency divided by s.
    pi_scale = torch.full_like(theta, 1 / s)
    ctx.value("re_pi_fast_step", theta[0] / s)  # angle between neighbouring tokens, fastest pair
    ctx.value("re_fast_step", theta[0])
    # Interpolated positions stay inside the trained range.
    ctx.value("re_pi_slow_angle_new", (L_new - 1) * theta[-1] / s)
    # Chen et al., 2023: LLaMA extended to 32768 tokens with about 1000 fine-tuning steps.
    ctx.value("re_pi_paper_ctx", 32768)
    ctx.value("re_pi_paper_steps", 1000)

    # NTK-aware scaling: change the base so that the slowest pair is interpolated by exactly s.
    base_ntk = base * s ** (d / (d - 2))
    theta_ntk = base_ntk ** (-2 * i / d)
    ntk_scale = theta_ntk / theta
    ctx.value("re_ntk_base", base_ntk)
    ctx.value("re_ntk_scale_first", ntk_scale[0])
    ctx.value("re_ntk_scale_second", ntk_scale[1])
    ctx.value("re_ntk_scale_last", ntk_scale[-1])
    assert abs(ntk_scale[-1].item() - 1 / s) < 1e-12

    # YaRN ("NTK-by-parts" + temperature), alpha = 1, beta = 32 as in Peng et al., 2023 for LLaMA.
    alpha, beta = 1.0, 32.0
    r = L / wavelen  # full turns within the training context
    gamma = ((r - alpha) / (beta - alpha)).clamp(0, 1)
    yarn_scale = (1 - gamma) / s + gamma
    ctx.value("re_yarn_alpha", alpha)
    ctx.value("re_yarn_beta", beta)
    ctx.value("re_yarn_untouched", int((gamma == 1).sum()))
    ctx.value("re_yarn_interp", int((gamma == 0).sum()))
    ctx.value("re_yarn_ramp", int(((gamma > 0) & (gamma < 1)).sum()))
    coef = 0.1
    sqrt_inv_t = coef * math.log(s) + 1
    ctx.value("re_yarn_coef", coef)
    ctx.value("re_yarn_sqrt_inv_t", sqrt_inv_t)
    ctx.value("re_yarn_inv_t", sqrt_inv_t**2)

    curves = {
        "position interpolation": pi_scale.tolist(),
        "NTK-aware": ntk_scale.tolist(),
        "YaRN": yarn_scale.tolist(),
    }
    xs = i.tolist()

    def draw(fig):
        ax = fig.subplots()
        for c, (label, ys) in enumerate(curves.items()):
            ax.plot(xs, ys, color=f"C{c}", label=label, lw=2)
        ax.set_yscale("log", base=2)
        ax.set_xlabel("rotation pair i (fast → slow)")
        ax.set_ylabel("new θᵢ / old θᵢ")
        ax.set_title(f"RoPE frequencies, context ×{s:g}")
        ax.legend(fontsize=8)

    ctx.figure("rope_extension", draw)


# --------------------------------------------------------------------------------------------
# 5. Sliding-window attention
# --------------------------------------------------------------------------------------------
def sliding_window(ctx):
    n, W, layers = 20, 4, 4
    pos = torch.arange(n)
    diff = pos[:, None] - pos[None, :]
    allowed = (diff >= 0) & (diff < W)  # itself and the W - 1 previous tokens
    # reach[k][i, j]: token j's information can reach position i after k layers.
    reach = allowed.clone()
    first_layer = torch.where(allowed, 1, 0)
    spans = [int(reach[-1].sum())]
    for layer in range(2, layers + 1):
        # i hears j after `layer` layers if i attends to some m that heard j one layer earlier.
        reach = (allowed.float() @ reach.float()) > 0
        newly = reach & (first_layer == 0)
        first_layer[newly] = layer
        spans.append(int(reach[-1].sum()))
    formula = [k * (W - 1) + 1 for k in range(1, layers + 1)]
    assert spans == formula, (spans, formula)
    ctx.value("sw_n", n)
    ctx.value("sw_W", W)
    ctx.value("sw_layers", layers)
    ctx.value("sw_spans", spans)
    grid = first_layer.tolist()

    def draw(fig):
        import matplotlib

        ax = fig.subplots()
        cmap = matplotlib.colors.ListedColormap([f"C{c}" for c in range(layers)])
        shown = [[(v if v > 0 else float("nan")) for v in row] for row in grid]
        im = ax.imshow(shown, cmap=cmap, vmin=0.5, vmax=layers + 0.5)
        ax.grid(False)
        ax.set_xticks(range(0, n, 5))
        ax.set_yticks(range(0, n, 5))
        ax.set_xlabel("key position j")
        ax.set_ylabel("query position i")
        ax.set_title(f"Layers until j reaches i (window {W})")
        cb = fig.colorbar(im, ax=ax, fraction=0.046, ticks=range(1, layers + 1))
        cb.set_label("layers")

    ctx.figure("sliding_reach", draw, height=3.4)

    # Mistral 7B: window 4096, 32 layers.
    m = MISTRAL_7B
    ctx.value("sw_m7_window", m["window"])
    ctx.value("sw_m7_layers", m["layers"])
    ctx.value("sw_m7_span", m["layers"] * m["window"])
    ctx.value("sw_m7_span_exact", m["layers"] * (m["window"] - 1) + 1)
    long_ctx = 32768
    ctx.value("sw_long_ctx", long_ctx)
    ctx.value("sw_m7_full_gib", kv_bytes_per_token(m) * long_ctx / GIB)
    ctx.value("sw_m7_rolling_gib", kv_bytes_per_token(m) * m["window"] / GIB)
    ctx.value("sw_m7_rolling_saving", long_ctx / m["window"])

    # Rolling buffer: token t's key and value live in slot t % W, overwriting token t - W.
    torch.manual_seed(0)
    n_r, W_r, d_r = 13, 5, 8
    q, k, v = (torch.randn(n_r, d_r) for _ in range(3))
    dpos = torch.arange(n_r)[:, None] - torch.arange(n_r)[None, :]
    mask = (dpos >= 0) & (dpos < W_r)
    scores = (q @ k.T / math.sqrt(d_r)).masked_fill(~mask, float("-inf"))
    ref = torch.softmax(scores, -1) @ v
    buf_k = torch.zeros(W_r, d_r)
    buf_v = torch.zeros(W_r, d_r)
    outs = []
    for t in range(n_r):
        buf_k[t % W_r], buf_v[t % W_r] = k[t], v[t]
        filled = min(t + 1, W_r)
        w = torch.softmax(q[t] @ buf_k[:filled].T / math.sqrt(d_r), -1)
        outs.append(w @ buf_v[:filled])
    err = (torch.stack(outs) - ref).abs().max().item()
    tol = 1e-5
    assert err < tol, err
    ctx.value("sw_roll_n", n_r)
    ctx.value("sw_roll_W", W_r)
    ctx.value("sw_roll_tol", tol)
    ctx.value("sw_roll_slot_of_last", (n_r - 1) % W_r)


# --------------------------------------------------------------------------------------------
# 6. The LLaMA-style block
# --------------------------------------------------------------------------------------------
def llama_block(ctx):
    c = LLAMA2_7B
    d, ffn = c["d"], c["ffn"]
    block = LlamaBlock(d, c["heads"], c["kv_heads"], ffn, device="meta")
    attn_p = n_params(block.attn)
    ffn_p = n_params(block.ffn)
    norm_p = n_params(block.attn_norm) + n_params(block.ffn_norm)
    formula = 4 * d * d + 3 * d * ffn + 2 * d
    assert n_params(block) == formula
    ctx.value("lb_d", d)
    ctx.value("lb_heads", c["heads"])
    ctx.value("lb_ffn", ffn)
    ctx.value("lb_layers", c["layers"])
    ctx.value("lb_vocab", c["vocab"])
    ctx.value("lb_block", n_params(block))
    ctx.value("lb_formula", formula)
    ctx.value("lb_attn", attn_p)
    ctx.value("lb_ffn_params", ffn_p)
    ctx.value("lb_norm", norm_p)
    ctx.value("lb_ffn_share", ffn_p / n_params(block))
    _, total = llama_model_params(c)
    ctx.value("lb_total", total)
    ctx.value("lb_total_b", total / 1e9)
    ctx.value("lb_emb", c["vocab"] * d)

    # SwiGLU hidden size: 2/3 of 4d, rounded up to a multiple of 256 (LLaMA reference code).
    raw = 2 * 4 * d / 3
    mult = 256
    rounded = mult * math.ceil(int(raw) / mult)
    assert rounded == ffn
    ctx.value("lb_ffn_raw", raw)
    ctx.value("lb_ffn_mult", mult)
    ctx.value("lb_ffn_rounded", rounded)
    # Same parameters as a 4d GELU MLP: 3 * d * (8d/3) = 8 d^2.
    ctx.value("lb_gelu_mlp", n_params(nn.Sequential(nn.Linear(d, 4 * d, bias=False, device="meta"),
                                                    nn.Linear(4 * d, d, bias=False, device="meta"))))
    ctx.value("lb_swiglu_exact", 3 * d * raw)

    # Llama 2 70B: the same block with grouped-query attention.
    c70 = LLAMA2_70B
    block70, total70 = llama_model_params(c70)
    b70 = LlamaBlock(c70["d"], c70["heads"], c70["kv_heads"], c70["ffn"], device="meta")
    ctx.value("lb70_ffn_hidden", c70["ffn"])
    ctx.value("lb70_block", block70)
    ctx.value("lb70_attn", n_params(b70.attn))
    ctx.value("lb70_ffn", n_params(b70.ffn))
    ctx.value("lb70_total", total70)
    ctx.value("lb70_total_b", total70 / 1e9)

    # RMSNorm by hand vs torch.nn.RMSNorm; and what it does not remove (the mean).
    torch.manual_seed(0)
    x = torch.randn(4, 16) * 3 + 2
    mine = RMSNorm(16, eps=1e-6)
    ref = nn.RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        y = mine(x)
        err = (y - ref(x)).abs().max().item()
    tol = 1e-5
    assert err < tol, err
    ctx.value("rms_tol", tol)
    ctx.value("rms_out_rms", y.pow(2).mean(-1).sqrt().mean())
    ctx.value("rms_out_mean", y.mean(-1).abs().mean())
    ln = nn.LayerNorm(16, elementwise_affine=False)
    ctx.value("rms_ln_mean", ln(x).mean(-1).abs().max())
    ctx.value("rms_params", n_params(mine))
    ctx.value("ln_params", n_params(nn.LayerNorm(16)))
    ctx.value("rms_d", 16)

    # A small real block runs: shapes in and out, cache shape.
    torch.manual_seed(0)
    small = LlamaBlock(64, 8, 2, 172)
    xs = torch.randn(2, 7, 64)
    with torch.no_grad():
        ys, cache = small(xs)
    ctx.value("lb_small_in", xs.shape)
    ctx.value("lb_small_out", ys.shape)
    ctx.value("lb_small_cache", cache[0].shape)


def compute(ctx):
    kv_cache(ctx)
    gqa(ctx)
    flash(ctx)
    rope_extension(ctx)
    sliding_window(ctx)
    llama_block(ctx)
