"""Attention and Transformers: every number, shape and figure on the cards comes from PyTorch.

Sections (in card order):
  1. Scaled dot-product attention by hand on tiny tensors, checked against
     F.scaled_dot_product_attention.
  2. Why divide by sqrt(d_k): the spread of q.k and the resulting softmax saturation.
  3. Causal masking and the attention heat map.
  4. Multi-head attention: parameter count, head split, a from-scratch version; cross-attention shapes.
  5. Permutation equivariance of self-attention without positions.
  6. Positions: sinusoidal encodings, learned absolute embeddings, RoPE, ALiBi, how they combine.
  7. The Transformer block and the full encoder-decoder (parameter counts on the meta device).
  8. Cost: the n^2 attention matrix vs the rest of a layer.
"""

import math

import matplotlib
import torch
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import n_params
from torch import nn


def attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v written out; returns (output, weights). mask: True = blocked."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    w = torch.softmax(scores, dim=-1)
    return w @ v, w


def causal_mask(n):
    """Boolean (n, n) mask, True above the diagonal: position i may not look at j > i."""
    return torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)


def sinusoidal_pe(n_pos, d):
    """The sinusoidal table of 'Attention Is All You Need' (same code as on the card)."""
    pos = torch.arange(n_pos, dtype=torch.float64).unsqueeze(1)
    i2 = torch.arange(0, d, 2, dtype=torch.float64)
    ang = pos / 10000 ** (i2 / d)
    pe = torch.zeros(n_pos, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang)
    return pe


def rope(x, pos, base=10000.0):
    """Rotary embedding: rotate each pair (x[2i], x[2i+1]) by the angle pos * base^(-2i/d)."""
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=x.dtype) / d)
    ang = pos * theta
    cos, sin = torch.cos(ang), torch.sin(ang)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out


def meta_embedding(num, dim):
    """An nn.Embedding whose table lives on the meta device (shape only; nothing allocated or initialised)."""
    return nn.Embedding(num, dim, _weight=torch.empty(num, dim, device="meta"))



def mha_from_scratch(x_q, x_kv, mha):
    """Multi-head attention written out with the weights of an nn.MultiheadAttention (batch_first)."""
    d, h = mha.embed_dim, mha.num_heads
    wq, wk, wv = mha.in_proj_weight.chunk(3)
    bq, bk, bv = mha.in_proj_bias.chunk(3)

    def split(t):  # (B, L, d) -> (B, h, L, d/h)
        b, n, _ = t.shape
        return t.view(b, n, h, d // h).transpose(1, 2)

    q, k, v = split(x_q @ wq.T + bq), split(x_kv @ wk.T + bk), split(x_kv @ wv.T + bv)
    out, w = attention(q, k, v)
    b, _, n, _ = out.shape
    out = out.transpose(1, 2).reshape(b, n, d)  # concatenate the heads
    return mha.out_proj(out), w


# --------------------------------------------------------------------------------------------
# 1. Scaled dot-product attention on tiny tensors
# --------------------------------------------------------------------------------------------
def sdpa_worked(ctx):
    q = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0]])
    k = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    out, w = attention(q, k, v)
    ref = F.scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0)).squeeze(0)
    ctx.value("w_q0", q[0])
    ctx.value("w_k", k)
    ctx.value("w_v", v)
    ctx.value("w_dk", q.shape[-1])
    ctx.value("w_sqrt_dk", math.sqrt(q.shape[-1]))
    ctx.value("w_q_shape", q.shape)
    ctx.value("w_k_shape", k.shape)
    ctx.value("w_v_shape", v.shape)
    ctx.value("w_raw_scores_row0", (q @ k.T)[0])
    ctx.value("w_scores", q @ k.T / math.sqrt(q.shape[-1]))
    ctx.value("w_scores_row0", (q @ k.T / math.sqrt(q.shape[-1]))[0])
    ctx.value("w_weights", w)
    ctx.value("w_weights_row0", w[0])
    ctx.value("w_weight_00", w[0, 0])
    ctx.value("w_weights_shape", w.shape)
    ctx.value("w_out", out)
    ctx.value("w_out_row0", out[0])
    ctx.value("w_out_shape", out.shape)
    ctx.value("w_vs_sdpa_err", (out - ref).abs().max())
    agree(ctx, "w_vs_sdpa_tol", (out - ref).abs().max(), 1e-6)


# --------------------------------------------------------------------------------------------
# 2. Why divide by sqrt(d_k)
# --------------------------------------------------------------------------------------------
def scaling(ctx):
    n_pairs, n_keys, n_trials = 10_000, 16, 500
    ctx.value("sc_n_pairs", n_pairs)
    ctx.value("sc_n_keys", n_keys)
    ctx.value("sc_n_trials", n_trials)
    ctx.value("sc_uniform", 1 / n_keys)

    def softmax_jacobian(s):
        """d softmax(s) / d s = diag(p) - p p^T for each row of s (checked against autograd below)."""
        p = torch.softmax(s, -1)
        return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)

    s0 = torch.randn(n_keys)
    auto = torch.autograd.functional.jacobian(lambda s: torch.softmax(s, -1), s0)
    ctx.value("sc_jac_formula_err", (auto - softmax_jacobian(s0)).abs().max())
    agree(ctx, "sc_jac_formula_tol", (auto - softmax_jacobian(s0)).abs().max(), 1e-6)

    def stats(d_k):
        """One query against n_keys random keys, n_trials times. For unscaled and scaled scores:
        the mean largest softmax weight and the mean norm of the softmax Jacobian."""
        q = torch.randn(n_trials, 1, d_k)
        k = torch.randn(n_trials, n_keys, d_k)
        raw = (q @ k.transpose(1, 2)).squeeze(1)
        res = {}
        for name, s in (("raw", raw), ("scaled", raw / math.sqrt(d_k))):
            p = torch.softmax(s, -1)
            jac = softmax_jacobian(s)
            res[name] = (p.max(-1).values.mean().item(), jac.flatten(1).norm(dim=1).mean().item())
        return res

    dks = [4, 64, 512]
    ctx.value("sc_dks", dks)
    ctx.value("sc_dk_mid", dks[1])
    ctx.value("sc_dk_big", dks[-1])
    for d_k in dks:
        q, k = torch.randn(n_pairs, d_k), torch.randn(n_pairs, d_k)
        dots = (q * k).sum(-1)
        ctx.value(f"sc_std_{d_k}", dots.std())
        ctx.value(f"sc_sqrt_{d_k}", math.sqrt(d_k))
        ctx.value(f"sc_std_scaled_{d_k}", (dots / math.sqrt(d_k)).std())
        res = stats(d_k)
        ctx.value(f"sc_pmax_raw_{d_k}", res["raw"][0])
        ctx.value(f"sc_pmax_scaled_{d_k}", res["scaled"][0])
        ctx.value(f"sc_jac_raw_{d_k}", res["raw"][1])
        ctx.value(f"sc_jac_scaled_{d_k}", res["scaled"][1])

    grid = [2**i for i in range(1, 11)]
    curves = [stats(d) for d in grid]
    curve_raw = [c["raw"][0] for c in curves]
    curve_sc = [c["scaled"][0] for c in curves]

    def draw(fig):
        ax = fig.subplots()
        ax.plot(grid, curve_raw, "o-", label=r"$q\cdot k$ (unscaled)")
        ax.plot(grid, curve_sc, "s-", label=r"$q\cdot k/\sqrt{d_k}$")
        ax.axhline(1 / n_keys, ls=":", color="C2", label="uniform")
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("$d_k$")
        ax.set_ylabel("mean largest weight")
        ax.set_title(f"Softmax over {n_keys} random keys")
        ax.legend(loc="center right", fontsize=8)

    ctx.figure("scaling_saturation", draw)


# --------------------------------------------------------------------------------------------
# 3. Causal mask and heat map
# --------------------------------------------------------------------------------------------
def causal(ctx):
    tokens = ["the", "cat", "sat", "on", "the", "mat"]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    ids = torch.tensor([vocab[t] for t in tokens])
    d = 16
    torch.manual_seed(0)
    emb = nn.Embedding(len(vocab), d)
    wq, wk, wv = (nn.Linear(d, d, bias=False) for _ in range(3))
    with torch.no_grad():
        x = emb(ids)
        q, k, v = wq(x), wk(x), wv(x)
        n = len(tokens)
        mask = causal_mask(n)
        out, w = attention(q, k, v, mask)
        ref = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
        _, w_full = attention(q, k, v)
        # The common bug: softmax first, then zero the future. Rows no longer sum to 1.
        w_bug = w_full.masked_fill(mask, 0.0)
        # F.scaled_dot_product_attention's boolean attn_mask means True = MAY attend: the opposite of
        # nn.MultiheadAttention's attn_mask and of masked_fill. Passing the "True = hide" mask as is
        # attends to the future only; ~mask or is_causal=True is right.
        sdpa_inv = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=~mask)[0]
        sdpa_same = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask)[0]
        future_only, w_future = attention(q, k, v, ~mask)  # what "True = may attend" does with this mask
        mha1 = nn.MultiheadAttention(d, 1, batch_first=True, bias=False)
        mha1.in_proj_weight.copy_(torch.cat([torch.eye(d)] * 3))
        mha1.out_proj.weight.copy_(torch.eye(d))
        mha_out, _ = mha1(q[None], k[None], v[None], attn_mask=mask)
    ctx.value("cm_n", n)
    ctx.value("cm_tokens", " ".join(tokens))
    ctx.value("cm_mask_text", "\n".join(" ".join(str(int(a)) for a in row) for row in ~mask))
    ctx.value("cm_vs_sdpa_err", (out - ref).abs().max())
    agree(ctx, "cm_vs_sdpa_tol", (out - ref).abs().max(), 1e-6)
    agree(ctx, "cm_sdpa_inv_tol", (out - sdpa_inv).abs().max(), 1e-6)
    agree(ctx, "cm_mha_mask_tol", (out - mha_out[0]).abs().max(), 1e-5)
    agree(ctx, "cm_sdpa_same_future_tol", (sdpa_same[:-1] - future_only[:-1]).abs().max(), 1e-6)
    ctx.value("cm_sdpa_same_diff", (sdpa_same - out).abs().max())
    ctx.value("cm_sdpa_same_row0_keys", [j for j in range(n) if w_future[0, j] > 0])
    ctx.value("cm_sdpa_same_last_zero", bool((sdpa_same[-1] == 0).all()))
    ctx.value("cm_future_max", w.masked_select(mask).abs().max())
    ctx.value("cm_row0", w[0])
    ctx.value("cm_first_self", w[0, 0])
    ctx.value("cm_row_sums_min", w.sum(-1).min())
    ctx.value("cm_row_sums_max", w.sum(-1).max())
    ctx.value("cm_bug_row_sums", w_bug.sum(-1))
    ctx.value("cm_bug_rows_below_one", int((w_bug.sum(-1) < 1 - 1e-6).sum()))
    ctx.value("cm_n_allowed", int((~mask).sum()))
    ctx.value("cm_d", d)
    weights = w.tolist()

    def draw(fig):
        ax = fig.subplots()
        cmap = matplotlib.colormaps["viridis"]
        im = ax.imshow(weights, cmap=cmap, vmin=0, vmax=1)
        ax.grid(False)
        for i in range(n):
            for j in range(n):
                if j <= i:
                    val = weights[i][j]
                    # Text in the colormap's opposite end: readable on dark and bright cells.
                    ax.text(
                        j, i, f"{val:.2f}", ha="center", va="center", fontsize=9, color=cmap(1.0 if val < 0.5 else 0.0)
                    )
        ax.set_xticks(range(n), tokens, rotation=45)
        ax.set_yticks(range(n), tokens)
        ax.set_xlabel("key (attended to)")
        ax.set_ylabel("query")
        ax.set_title("Causal self-attention weights")
        fig.colorbar(im, ax=ax, fraction=0.046)

    ctx.figure("causal_heatmap", draw, height=3.6)


# --------------------------------------------------------------------------------------------
# 4. Multi-head attention
# --------------------------------------------------------------------------------------------
def multihead(ctx):
    d, h = 512, 8
    mha = nn.MultiheadAttention(d, h, device="meta")
    ctx.value("mh_d", d)
    ctx.value("mh_h", h)
    ctx.value("mh_dhead", d // h)
    ctx.value("mh_params", n_params(mha))
    ctx.value("mh_formula", 4 * d * d + 4 * d)
    ctx.value("mh_params_h1", n_params(nn.MultiheadAttention(d, 1, device="meta")))
    ctx.value("mh_in_proj_shape", mha.in_proj_weight.shape)
    ctx.value("mh_out_proj_shape", mha.out_proj.weight.shape)

    # Score computation: h heads of size d/h cost the same as one head of size d.
    n = 1024
    ctx.value("mh_n", n)
    ctx.value("mh_score_macs_multi", h * n * n * (d // h))
    ctx.value("mh_score_macs_single", n * n * d)

    # From-scratch multi-head attention matches nn.MultiheadAttention.
    torch.manual_seed(0)
    ds, hs, b, n_t, n_s = 16, 4, 2, 5, 7
    small = nn.MultiheadAttention(ds, hs, batch_first=True)
    x = torch.randn(b, n_t, ds)
    mem = torch.randn(b, n_s, ds)
    with torch.no_grad():
        ref, _ = small(x, x, x)
        mine, _ = mha_from_scratch(x, x, small)
        ctx.value("mh_scratch_err", (ref - mine).abs().max())
        agree(ctx, "mh_scratch_tol", (ref - mine).abs().max(), 1e-5)
        # Self- vs cross-attention shapes.
        self_out, self_w = small(x, x, x)
        cross_out, cross_w = small(x, mem, mem)
        _, cross_w_heads = small(x, mem, mem, average_attn_weights=False)
    ctx.value("mh_small_d", ds)
    ctx.value("mh_small_h", hs)
    ctx.value("mh_split_shape", [b, hs, n_t, ds // hs])
    ctx.value("x_shape", x.shape)
    ctx.value("mem_shape", mem.shape)
    ctx.value("self_out_shape", self_out.shape)
    ctx.value("self_w_shape", self_w.shape)
    ctx.value("cross_out_shape", cross_out.shape)
    ctx.value("cross_w_shape", cross_w.shape)
    ctx.value("cross_w_heads_shape", cross_w_heads.shape)


# --------------------------------------------------------------------------------------------
# 5. Permutation equivariance
# --------------------------------------------------------------------------------------------
def permutation(ctx):
    torch.manual_seed(0)
    n, d = 5, 16
    layer = nn.MultiheadAttention(d, 4, batch_first=True)
    x = torch.randn(1, n, d)
    perm = torch.tensor([3, 0, 4, 1, 2])
    pe = sinusoidal_pe(n, d).float().unsqueeze(0)
    with torch.no_grad():
        out, _ = layer(x, x, x)
        out_p, _ = layer(x[:, perm], x[:, perm], x[:, perm])
        xp = x + pe  # positions added: permuting the tokens no longer just permutes the output
        xpp = x[:, perm] + pe
        out_pe, _ = layer(xp, xp, xp)
        out_pe_p, _ = layer(xpp, xpp, xpp)
    ctx.value("perm_n", n)
    ctx.value("perm", perm)
    ctx.value("perm_equiv_err", (out_p - out[:, perm]).abs().max())
    ctx.value("perm_pe_err", (out_pe_p - out_pe[:, perm]).abs().max())
    ctx.value("perm_out_scale", out.abs().mean())
    # Mean-pooled outputs: identical for any word order without positions.
    ctx.value("perm_pool_err", (out.mean(1) - out_p.mean(1)).abs().max())
    agree(ctx, "perm_equiv_tol", (out_p - out[:, perm]).abs().max(), 1e-5)
    agree(ctx, "perm_pool_tol", (out.mean(1) - out_p.mean(1)).abs().max(), 1e-5)
    # A causal mask breaks the symmetry even without positions: position i sees i + 1 tokens.
    cmask = causal_mask(n)
    with torch.no_grad():
        out_c, _ = layer(x, x, x, attn_mask=cmask)
        out_cp, _ = layer(x[:, perm], x[:, perm], x[:, perm], attn_mask=cmask)
    ctx.value("perm_causal_err", (out_cp - out_c[:, perm]).abs().max())
    # The same token repeated: unmasked, every position gets the same vector; the first-token
    # attention weight under the causal mask is 1/(i+1), a position signal.
    ctx.value("perm_causal_first_w", [1 / (i + 1) for i in range(n)])


# --------------------------------------------------------------------------------------------
# 6. Positions
# --------------------------------------------------------------------------------------------
def positions(ctx):
    # Sinusoidal table and its properties.
    n_pos, d = 100, 64
    pe = sinusoidal_pe(n_pos, d)
    ctx.value("pe_n", n_pos)
    ctx.value("pe_d", d)
    ctx.value("pe_shape", pe.shape)
    ctx.value("pe_min", pe.min())
    ctx.value("pe_max", pe.max())
    ctx.value("pe_base", 10000)
    ctx.value("pe_wavelen_min", 2 * math.pi)
    ctx.value("pe_wavelen_max", 2 * math.pi * 10000 ** ((d - 2) / d))
    ctx.value("pe_row0", pe[0, :4])

    # PE(p + k) = R_k PE(p), with R_k a block-diagonal rotation that depends on k only.
    off = 5
    ctx.value("pe_offset", off)
    theta = 10000 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.zeros(d, d, dtype=torch.float64)
    for i, t in enumerate(theta):
        c, s = math.cos(off * t), math.sin(off * t)
        rot[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    shifted = pe[:-off] @ rot.T
    ctx.value("pe_rot_err", (shifted - pe[off:]).abs().max())
    agree(ctx, "pe_rot_tol", (shifted - pe[off:]).abs().max(), 1e-10)
    dots = (pe[:-off] * pe[off:]).sum(-1)
    ctx.value("pe_dot_spread", dots.max() - dots.min())
    agree(ctx, "pe_dot_tol", dots.max() - dots.min(), 1e-10)
    ctx.value("pe_dot_off", dots[0])
    ctx.value("pe_dot_self", (pe[0] * pe[0]).sum())
    pe_list = pe.T.tolist()  # (d, n_pos) for the figure

    def draw(fig):
        ax = fig.subplots()
        im = ax.imshow(pe_list, cmap="coolwarm", aspect="auto", vmin=-1, vmax=1, origin="lower")
        ax.grid(False)
        ax.set_xlabel("position")
        ax.set_ylabel("dimension")
        ax.set_title("Sinusoidal positional encoding")
        fig.colorbar(im, ax=ax, fraction=0.046)

    ctx.figure("sinusoidal_pe", draw)

    # Learned absolute positions: a lookup table with a hard maximum length.
    max_len, d_l = 512, 32
    table = nn.Embedding(max_len, d_l)
    ctx.value("lp_max_len", max_len)
    ctx.value("lp_params", n_params(table))
    try:
        table(torch.tensor([max_len]))
        beyond_fails = False
    except IndexError:
        beyond_fails = True
    ctx.value("lp_beyond_fails", beyond_fails)

    # Token + position embeddings.
    vocab, d_m, b, n = 1000, 64, 2, 8
    torch.manual_seed(0)
    tok = nn.Embedding(vocab, d_m)
    pos = nn.Embedding(max_len, d_m)
    ids = torch.randint(0, vocab, (b, n))
    t_e = tok(ids)
    p_e = pos(torch.arange(n))
    ctx.value("emb_vocab", vocab)
    ctx.value("emb_d", d_m)
    ctx.value("emb_ids_shape", ids.shape)
    ctx.value("emb_tok_shape", t_e.shape)
    ctx.value("emb_pos_shape", p_e.shape)
    ctx.value("emb_sum_shape", (t_e + p_e).shape)
    ctx.value("emb_concat_width", 2 * d_m)
    ctx.value("emb_tok_params", n_params(tok))
    ctx.value("emb_pos_params", n_params(pos))

    # GPT-2 small's embedding tables (published config sizes).
    gpt2 = {"vocab": 50257, "n_positions": 1024, "d": 768}
    ctx.value("gpt2_vocab", gpt2["vocab"])
    ctx.value("gpt2_npos", gpt2["n_positions"])
    ctx.value("gpt2_d", gpt2["d"])
    ctx.value("gpt2_wte", n_params(meta_embedding(gpt2["vocab"], gpt2["d"])))
    ctx.value("gpt2_wpe", n_params(meta_embedding(gpt2["n_positions"], gpt2["d"])))
    ctx.value("bert_npos", 512)

    # RoPE: the score between a rotated query at m and a rotated key at n depends on m - n only.
    torch.manual_seed(0)
    d_r = 16
    q = torch.randn(d_r, dtype=torch.float64)
    k = torch.randn(d_r, dtype=torch.float64)

    def score(m, n_):
        return float(rope(q, m) @ rope(k, n_))

    rel, top = 3, 300
    same_offset = [score(m, m - rel) for m in range(rel, top)]
    ctx.value("rope_max_pos", top - 1)
    ctx.value("rope_d", d_r)
    ctx.value("rope_rel", rel)
    pairs = [(rel, 0), (50, 50 - rel), (top - 1, top - 1 - rel)]
    ctx.value("rope_pairs", [list(p) for p in pairs])
    ctx.value("rope_scores_same", [score(m, n_) for m, n_ in pairs])
    ctx.value("rope_spread", max(same_offset) - min(same_offset))
    agree(ctx, "rope_spread_tol", max(same_offset) - min(same_offset), 1e-9)
    ctx.value("rope_other_offsets", [score(m, 0) for m in (0, 1, 10)])
    ctx.value("rope_norm_err", abs(rope(q, 123.0).norm() - q.norm()))
    agree(ctx, "rope_norm_tol", abs(rope(q, 123.0).norm() - q.norm()), 1e-12)
    # Contrast: absolute sinusoidal encodings added to the same vectors.
    pe_r = sinusoidal_pe(top, d_r)
    abs_same = [float((q + pe_r[m]) @ (k + pe_r[m - rel])) for m in range(rel, top)]
    ctx.value("abs_spread", max(abs_same) - min(abs_same))
    grid = 32
    rope_grid = [[score(m, n_) for n_ in range(grid)] for m in range(grid)]

    def draw_rope(fig):
        ax = fig.subplots()
        im = ax.imshow(rope_grid, cmap="coolwarm", origin="lower")
        ax.grid(False)
        ax.set_xlabel("key position n")
        ax.set_ylabel("query position m")
        ax.set_title("RoPE score: constant along diagonals")
        fig.colorbar(im, ax=ax, fraction=0.046)

    ctx.figure("rope_scores", draw_rope, height=3.4)

    # ALiBi: per-head linear distance penalty, geometric slopes.
    heads = 8
    slopes = [2 ** (-8 * (i + 1) / heads) for i in range(heads)]
    ctx.value("alibi_heads", heads)
    ctx.value("alibi_slopes", slopes)
    ctx.value("alibi_slope0", slopes[0])
    n_a = 5
    dist = torch.arange(n_a).unsqueeze(1) - torch.arange(n_a).unsqueeze(0)  # i - j
    bias = -slopes[0] * dist.clamp(min=0).double() + 0.0  # + 0.0 turns -0.0 into 0.0
    ctx.value("alibi_n", n_a)
    ctx.value("alibi_last_row", bias[-1])


# --------------------------------------------------------------------------------------------
# 7. Transformer block and full model
# --------------------------------------------------------------------------------------------
def blocks(ctx):
    d, h, ff = 512, 8, 2048
    layer = nn.TransformerEncoderLayer(d, h, ff, device="meta")
    mha_p = n_params(layer.self_attn)
    ffn_p = n_params(layer.linear1) + n_params(layer.linear2)
    ln_p = n_params(layer.norm1) + n_params(layer.norm2)
    ctx.value("blk_d", d)
    ctx.value("blk_h", h)
    ctx.value("blk_ff", ff)
    ctx.value("blk_ff_ratio", ff // d)
    ctx.value("blk_params", n_params(layer))
    ctx.value("blk_mha", mha_p)
    ctx.value("blk_ffn", ffn_p)
    ctx.value("blk_ln", ln_p)
    ctx.value("blk_ffn_share", ffn_p / n_params(layer))
    ctx.value("blk_act", layer.activation.__name__ if hasattr(layer.activation, "__name__") else "relu")
    ctx.value("blk_norm_first_default", layer.norm_first)
    dec = nn.TransformerDecoderLayer(d, h, ff, device="meta")
    ctx.value("dec_params", n_params(dec))
    ctx.value("dec_extra", n_params(dec) - n_params(layer))

    full = nn.Transformer(batch_first=True, device="meta")
    ctx.value("tf_d", full.d_model)
    ctx.value("tf_h", full.nhead)
    ctx.value("tf_enc_layers", len(full.encoder.layers))
    ctx.value("tf_dec_layers", len(full.decoder.layers))
    ctx.value("tf_ff", full.encoder.layers[0].linear1.out_features)
    ctx.value("tf_params", n_params(full))

    # Position-wise FFN: applying it to a whole sequence = applying it to each token alone.
    torch.manual_seed(0)
    small = nn.TransformerEncoderLayer(16, 4, 64, dropout=0.0, batch_first=True)
    x = torch.randn(1, 6, 16)
    with torch.no_grad():
        ffn = lambda t: small.linear2(small.activation(small.linear1(t)))  # noqa: E731
        whole = ffn(x)
        per_tok = torch.cat([ffn(x[:, i : i + 1]) for i in range(x.shape[1])], dim=1)
    ctx.value("ffn_pos_err", (whole - per_tok).abs().max())
    agree(ctx, "ffn_pos_tol", (whole - per_tok).abs().max(), 1e-5)

    # Post-LN keeps every token's hidden vector at norm sqrt(d) (LayerNorm at init); Pre-LN lets
    # the residual stream grow with depth.
    depth, ds = 12, 64
    stream = {}
    for nf in (False, True):
        torch.manual_seed(0)
        stack = [
            nn.TransformerEncoderLayer(ds, 4, 4 * ds, dropout=0.0, batch_first=True, norm_first=nf)
            for _ in range(depth)
        ]
        hdn = torch.randn(4, 16, ds)
        with torch.no_grad():
            for lyr in stack:
                hdn = lyr(hdn)
        stream[nf] = hdn.norm(dim=-1).mean().item()
    ctx.value("ln_depth", depth)
    ctx.value("ln_d", ds)
    ctx.value("ln_sqrt_d", math.sqrt(ds))
    ctx.value("ln_post_norm", stream[False])
    ctx.value("ln_pre_norm", stream[True])


# --------------------------------------------------------------------------------------------
# 8. Cost
# --------------------------------------------------------------------------------------------
def cost(ctx):
    lengths = [512, 2048, 8192, 32768]
    ctx.value("cost_lengths", lengths)
    ctx.value("cost_entries", [n * n for n in lengths])
    # One fp16 attention matrix, one head, one layer, one sequence, in MiB.
    ctx.value("cost_mib_fp16", [n * n * 2 / 2**20 for n in lengths])
    ctx.value("cost_len_ratio", lengths[-1] // lengths[0])
    ctx.value("cost_growth", (lengths[-1] / lengths[0]) ** 2)
    # Multiply-accumulates per layer: projections 4 n d^2, FFN 8 n d^2, scores + weighted sum 2 n^2 d.
    d = 768
    ctx.value("cost_d", d)
    ctx.value("cost_crossover", 12 * d * d / (2 * d))  # 2 n^2 d = 12 n d^2  <=>  n = 6 d
    ctx.value("cost_attn_share", [2 * n * n * d / (2 * n * n * d + 12 * n * d * d) for n in lengths])


def compute(ctx):
    ctx.value("torch_version", torch.__version__.split("+")[0])
    sdpa_worked(ctx)
    scaling(ctx)
    causal(ctx)
    multihead(ctx)
    permutation(ctx)
    positions(ctx)
    blocks(ctx)
    cost(ctx)


# --------------------------------------------------------------------------------------------
# Drills: parameters of a grouped-query attention layer; KV-cache memory
# --------------------------------------------------------------------------------------------
# Published configurations named on drill instances: (d_model, heads, kv_heads) or
# (layers, kv_heads, head_dim) -> (name, citation).
GPT2 = "Radford et al., 2019, *Language Models are Unsupervised Multitask Learners*"
LLAMA2 = "Touvron et al., 2023, *Llama 2: Open Foundation and Fine-Tuned Chat Models*"
MISTRAL = "Jiang et al., 2023, *Mistral 7B*"
ATTN_CONFIGS = {
    (768, 12, 12): ("GPT-2 small", GPT2),
    (4096, 32, 32): ("Llama 2 7B", LLAMA2),
    (8192, 64, 8): ("Llama 2 70B", LLAMA2),
    (4096, 32, 8): ("Mistral 7B", MISTRAL),
}
KV_CONFIGS = {
    (12, 12, 64): ("GPT-2 small", GPT2),
    (32, 32, 128): ("Llama 2 7B", LLAMA2),
    (80, 8, 128): ("Llama 2 70B", LLAMA2),
    (32, 8, 128): ("Mistral 7B", MISTRAL),
}


def _cite(configs, key, anonymous):
    """The instance's subject (a published model's name, or `anonymous`) and the citation for it."""
    name, source = configs.get(key, ("", ""))
    return (name or anonymous), (f"Configuration: {source}." if name else "")


def _heads(n):
    return f"{n} KV head" + ("" if n == 1 else "s")


def gqa_params(d, h, kv, bias):
    """q, k, v, o projections of an attention layer with h query heads and kv KV heads of size d/h."""
    assert d % h == 0 and h % kv == 0, (d, h, kv)
    hd = d // h
    proj = {
        "q": nn.Linear(d, h * hd, bias=bias, device="meta"),
        "k": nn.Linear(d, kv * hd, bias=bias, device="meta"),
        "v": nn.Linear(d, kv * hd, bias=bias, device="meta"),
        "o": nn.Linear(h * hd, d, bias=bias, device="meta"),
    }
    counts = {name: sum(p.numel() for p in lin.parameters()) for name, lin in proj.items()}
    total = sum(counts.values())
    formula = 2 * d * d + 2 * d * kv * hd + (2 * d + 2 * kv * hd if bias else 0)
    assert total == formula, (total, formula)
    model, cite = _cite(ATTN_CONFIGS, (d, h, kv), "An attention layer")
    kind = "MHA" if kv == h else ("MQA" if kv == 1 else "GQA")
    return {
        "params": total,
        "hd": hd,
        "kv_width": kv * hd,
        "q_params": counts["q"],
        "kv_params": counts["k"],
        "o_params": counts["o"],
        "kind": kind,
        "model": model,
        "cite": cite,
        "bias_text": "with biases" if bias else "no biases",
        "kv_text": _heads(kv),
    }


KV_UNITS = {"MiB": 2**20, "GiB": 2**30}


def kv_cache(layers, kv, hd, seq, batch, dtype, unit):
    """KV-cache size: formula, checked against a small real cache and the full cache's shape on meta."""
    dt = getattr(torch, dtype)
    nbytes = torch.empty((), dtype=dt).element_size()

    def formula(n_layers, n_seq, n_batch):
        return 2 * n_layers * n_batch * n_seq * kv * hd * nbytes

    # A real cache for a tiny configuration with the instance's heads, head dim and dtype:
    # per layer one K and one V tensor of shape (batch, kv_heads, tokens, head_dim).
    small = [torch.zeros(2, kv, 3, hd, dtype=dt) for _ in range(2 * 2)]  # 2 layers x (K, V)
    real = sum(t.nbytes for t in small)
    assert real == formula(2, 3, 2), (real, formula(2, 3, 2))
    # The full cache as one meta tensor (layers, K/V, batch, kv_heads, tokens, head_dim): no memory.
    full = torch.empty(layers, 2, batch, kv, seq, hd, dtype=dt, device="meta").nbytes
    total = formula(layers, seq, batch)
    assert full == total, (full, total)
    model, cite = _cite(KV_CONFIGS, (layers, kv, hd), "A decoder")
    return {
        "size": total / KV_UNITS[unit],
        "total_bytes": total,
        "per_token": formula(layers, 1, 1),
        "nbytes": nbytes,
        "kv_text": _heads(kv),
        "batch_text": f"a batch of {batch} sequences" if batch > 1 else "one sequence",
        "model": model,
        "cite": cite,
    }
