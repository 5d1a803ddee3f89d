"""Vision Transformers, CLIP, masked autoencoders, state-space models and linear attention.

Sections (in card order):
  1. ViT: patch-token counts and patch-embedding parameters from real nn.Conv2d modules (meta device);
     the strided Conv2d checked equal to unfold + Linear; ViT-B/16's parameter count; position-embedding
     interpolation for a higher fine-tuning resolution.
  2. CLIP: the symmetric contrastive loss on a stated 3x3 similarity matrix, checked against a loop.
  3. MAE: random masking by argsort of noise; token and attention savings of the encoder.
  4. State-space models: zero-order-hold discretisation; the LTI recurrence checked equal to its
     convolution kernel; a selective (input-dependent) scan checked equal to its parallel matrix form;
     a selective-memory demo figure.
  5. Linear attention: the causal parallel form checked equal to the recurrent form; FLOPs of softmax vs
     linear attention counted by torch's FlopCounterMode on meta tensors; state vs KV-cache memory.
"""

import math

import torch
import torch.nn.functional as F
from _lib.nets import n_params
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

TOL = 1e-5  # tolerance shown on "checked equal" cards (float32 computations)


# --------------------------------------------------------------------------------------------
# 1. ViT
# --------------------------------------------------------------------------------------------
def vit(ctx):
    # Token counts: a Conv2d with kernel = stride = P on the meta device gives the patch grid.
    def grid(img, p, d=768):
        conv = nn.Conv2d(3, d, p, stride=p, device="meta")
        out = conv(torch.empty(1, 3, img, img, device="meta"))
        return out.shape[-2], out.shape[-1], conv

    gh, gw, conv = grid(224, 16)
    ctx.value("vit_img", 224)
    ctx.value("vit_p", 16)
    ctx.value("vit_grid", gh)
    ctx.value("vit_patches", gh * gw)
    ctx.value("vit_tokens", gh * gw + 1)
    ctx.value("vit_patch_dim", 3 * 16 * 16)
    ctx.value("vit_d", 768)
    ctx.value("vit_pe_params", n_params(conv))
    ctx.value("vit_pe_w_shape", list(conv.weight.shape))
    _, _, conv_l = grid(224, 16, 1024)
    ctx.value("vit_l_d", 1024)
    ctx.value("vit_l_pe_params", n_params(conv_l))
    g14, _, _ = grid(224, 14)
    g8, _, _ = grid(224, 8)
    ctx.value("vit_p_small", 8)
    g32, _, _ = grid(224, 32)
    ctx.value("vit_p14_patches", g14 * g14)
    ctx.value("vit_p8_patches", g8 * g8)
    ctx.value("vit_p32_patches", g32 * g32)
    ctx.value("vit_p8_token_ratio", (g8 * g8) / (gh * gw))
    ctx.value("vit_p8_attn_ratio", ((g8 * g8) / (gh * gw)) ** 2)

    # Higher fine-tuning resolution: same patch size, more patches; 2-D-interpolate the position grid.
    g384, _, _ = grid(384, 16)
    ctx.value("vit_ft_img", 384)
    ctx.value("vit_ft_grid", g384)
    ctx.value("vit_ft_patches", g384 * g384)
    pos = torch.zeros(1, 768, gh, gw)  # the 14x14 grid of learned position embeddings, as an image
    pos_ft = F.interpolate(pos, size=(g384, g384), mode="bicubic", align_corners=False)
    ctx.value("vit_pos_shape", [gh * gw, 768])
    ctx.value("vit_pos_ft_shape", [pos_ft.shape[-2] * pos_ft.shape[-1], 768])

    # Conv2d patch embedding == unfold into flattened patches + Linear with the reshaped kernel.
    torch.manual_seed(0)
    p, d = 8, 16
    x = torch.randn(2, 3, 32, 32)
    conv_s = nn.Conv2d(3, d, p, stride=p)
    lin = nn.Linear(3 * p * p, d)
    with torch.no_grad():
        lin.weight.copy_(conv_s.weight.reshape(d, -1))
        lin.bias.copy_(conv_s.bias)
        a = conv_s(x).flatten(2).transpose(1, 2)  # (B, N, d)
        patches = F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)  # (B, N, 3*p*p)
        b = lin(patches)
    err = float((a - b).abs().max())
    assert err < TOL
    ctx.value("tol", TOL)
    ctx.value("pe_small_x_shape", list(x.shape))
    ctx.value("pe_small_p", p)
    ctx.value("pe_small_d", d)
    ctx.value("pe_small_patches_shape", list(patches.shape))
    ctx.value("pe_small_tokens_shape", list(a.shape))

    # ViT-B/16 (Dosovitskiy et al. 2021: 12 layers, D 768, MLP 3072, 12 heads), built on the meta device.
    layer = nn.TransformerEncoderLayer(768, 12, 3072, activation="gelu", norm_first=True, device="meta")
    enc = 12 * n_params(layer)
    cls_pos = 768 + (gh * gw + 1) * 768
    final_ln = 2 * 768
    body = enc + n_params(conv) + cls_pos + final_ln
    head = 768 * 1000 + 1000
    ctx.value("vitb_layers", 12)
    ctx.value("vitb_mlp", 3072)
    ctx.value("vitb_heads", 12)
    ctx.value("vitb_layer_params", n_params(layer))
    ctx.value("vitb_encoder", enc)
    ctx.value("vitb_cls_pos", cls_pos)
    ctx.value("vitb_body", body)
    ctx.value("vitb_body_m", body / 1e6)
    ctx.value("vitb_head", head)
    ctx.value("vitb_enc_share", enc / body)


# --------------------------------------------------------------------------------------------
# 2. CLIP's symmetric contrastive loss
# --------------------------------------------------------------------------------------------
def clip(ctx):
    # Cosine similarities of N = 3 image embeddings (rows) with their 3 captions (columns).
    s = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.1], [0.0, 0.3, 0.5]], dtype=torch.float64)
    scale = 10.0  # logit scale = 1 / temperature
    logits = scale * s
    target = torch.arange(3)
    loss_i = F.cross_entropy(logits, target)  # each image picks its caption among the N captions
    loss_t = F.cross_entropy(logits.T, target)  # each caption picks its image among the N images
    loss = (loss_i + loss_t) / 2
    # The same by hand, term by term.
    terms_i = [-(logits[i, i] - torch.logsumexp(logits[i], 0)) for i in range(3)]
    terms_t = [-(logits[j, j] - torch.logsumexp(logits[:, j], 0)) for j in range(3)]
    by_hand = (sum(terms_i) / 3 + sum(terms_t) / 3) / 2
    assert abs(float(by_hand - loss)) < TOL
    ctx.value("clip_s", s)
    for i in range(3):
        ctx.value(f"clip_s{i}", s[i])
    ctx.value("clip_scale", scale)
    ctx.value("clip_loss_i", loss_i)
    ctx.value("clip_loss_t", loss_t)
    ctx.value("clip_loss", loss)
    ctx.value("clip_terms_i", torch.stack(terms_i))
    ctx.value("clip_terms_t", torch.stack(terms_t))
    ctx.value("clip_chance", math.log(3))
    ctx.value("clip_term_i3", terms_i[2])
    ctx.value("clip_s33", s[2, 2])
    ctx.value("clip_s32", s[2, 1])

    # Temperature: initialised to 0.07 and clipped so the logit scale is at most 100 (Radford et al. 2021).
    ctx.value("clip_tau0", 0.07)
    ctx.value("clip_scale0", 1 / 0.07)
    ctx.value("clip_scale_max", 100)

    # Batch 32,768 (Radford et al. 2021).
    n = 32_768
    ctx.value("clip_batch", n)
    ctx.value("clip_negatives", n - 1)
    ctx.value("clip_logit_entries", n * n)
    ctx.value("clip_logit_gib_fp32", n * n * 4 / 2**30)


# --------------------------------------------------------------------------------------------
# 3. MAE
# --------------------------------------------------------------------------------------------
def mae(ctx):
    n_patches, ratio = 196, 0.75
    keep = int(n_patches * (1 - ratio))
    torch.manual_seed(0)
    b, d = 4, 8
    tokens = torch.randn(b, n_patches, d)
    noise = torch.rand(b, n_patches)
    ids_keep = noise.argsort(dim=1)[:, :keep]  # a random subset per image
    visible = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, d))
    mask = torch.ones(b, n_patches, dtype=torch.bool)
    mask.scatter_(1, ids_keep, False)  # True = masked (to reconstruct)
    ctx.value("mae_patches", n_patches)
    ctx.value("mae_ratio", ratio)
    ctx.value("mae_keep_ratio", 1 - ratio)
    ctx.value("mae_keep", keep)
    ctx.value("mae_masked", n_patches - keep)
    ctx.value("mae_visible_shape", list(visible.shape))
    ctx.value("mae_masked_per_image", mask.sum(1)[0])
    assert bool((mask.sum(1) == n_patches - keep).all())
    ctx.value("mae_token_ratio", n_patches / keep)
    ctx.value("mae_attn_ratio", (n_patches / keep) ** 2)
    ctx.value("bert_ratio", 0.15)


# --------------------------------------------------------------------------------------------
# 4. State-space models
# --------------------------------------------------------------------------------------------
def zoh(a, delta):
    """Zero-order hold for a diagonal (scalar) A and B = 1: A_bar = exp(delta A), B_bar = (exp(delta A) - 1) / A."""
    a_bar = torch.exp(delta * a)
    return a_bar, (a_bar - 1) / a


def ssm(ctx):
    a = torch.tensor(-1.0, dtype=torch.float64)
    deltas = [0.01, 1.0, 10.0]
    ab, bb = zip(*(zoh(a, torch.tensor(dl, dtype=torch.float64)) for dl in deltas), strict=False)
    ctx.value("zoh_a", a)
    ctx.value("zoh_deltas", deltas)
    ctx.value("zoh_abar", torch.stack(ab))
    ctx.value("zoh_bbar", torch.stack(bb))

    # LTI SSM: recurrence h_t = A_bar h_{t-1} + B_bar x_t, y_t = C h_t  ==  causal convolution with
    # kernel K_k = C A_bar^k B_bar.
    torch.manual_seed(0)
    n_state, length = 4, 64
    a_diag = -torch.rand(n_state, dtype=torch.float64) - 0.1
    delta = 0.5
    a_bar = torch.exp(delta * a_diag)
    b_bar = (a_bar - 1) / a_diag * torch.randn(n_state, dtype=torch.float64)
    c = torch.randn(n_state, dtype=torch.float64)
    x = torch.randn(length, dtype=torch.float64)
    h = torch.zeros(n_state, dtype=torch.float64)
    y_rec = []
    for t in range(length):
        h = a_bar * h + b_bar * x[t]
        y_rec.append(c @ h)
    y_rec = torch.stack(y_rec)
    k = torch.stack([(c * a_bar**j * b_bar).sum() for j in range(length)])
    y_conv = torch.stack([(k[: t + 1].flip(0) * x[: t + 1]).sum() for t in range(length)])
    err = float((y_rec - y_conv).abs().max())
    assert err < TOL
    ctx.value("lti_state", n_state)
    ctx.value("lti_len", length)

    # Selective SSM (Mamba-style): delta_t, B_t, C_t depend on the input. Recurrence vs the parallel
    # "matrix" form y_t = sum_{s <= t} C_t . (prod_{r=s+1..t} A_bar_r) B_bar_s x_s, computed with
    # cumulative sums of log A_bar = delta * A (no sequential loop).
    torch.manual_seed(1)
    length, n_state = 32, 4
    x = torch.randn(length, dtype=torch.float64)
    a_diag = -torch.rand(n_state, dtype=torch.float64) - 0.5
    _w_d, w_b, w_c = (torch.randn(n_state, dtype=torch.float64) for _ in range(3))
    dl = F.softplus(0.5 + 2.0 * x)  # (L,) one step size per token
    b_t = x[:, None] * w_b  # (L, N)
    c_t = x[:, None] * w_c + 1.0  # (L, N)
    a_bar = torch.exp(dl[:, None] * a_diag)  # (L, N)
    b_bar = (a_bar - 1) / a_diag * b_t
    h = torch.zeros(n_state, dtype=torch.float64)
    y_rec = []
    for t in range(length):
        h = a_bar[t] * h + b_bar[t] * x[t]
        y_rec.append(c_t[t] @ h)
    y_rec = torch.stack(y_rec)
    cum = torch.cumsum(dl[:, None] * a_diag, 0)  # (L, N): sum of log A_bar up to t
    decay = torch.exp(cum[:, None, :] - cum[None, :, :])  # (t, s, N): prod_{r=s+1..t} A_bar_r
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool))
    decay = decay * causal[:, :, None]
    m = torch.einsum("tn,tsn,sn->ts", c_t, decay, b_bar)  # (L, L) lower-triangular "attention" matrix
    y_par = m @ x
    err_sel = float((y_rec - y_par).abs().max())
    assert err_sel < TOL
    ctx.value("sel_len", length)

    # Selective memory demo: keep the value of "marked" tokens, ignore the noise in between.
    torch.manual_seed(2)
    length = 120
    marks = [10, 45, 85]
    vals = [1.0, -0.6, 0.5]
    x = 0.3 * torch.randn(length, dtype=torch.float64)
    is_mark = torch.zeros(length, dtype=torch.float64)
    for pos, v in zip(marks, vals, strict=False):
        x[pos] = v
        is_mark[pos] = 1.0
    a1 = torch.tensor(-1.0, dtype=torch.float64)

    def run(deltas):
        h, out = torch.tensor(0.0, dtype=torch.float64), []
        for t in range(length):
            ab_, bb_ = zoh(a1, deltas[t])
            h = ab_ * h + bb_ * x[t]
            out.append(float(h))
        return out

    lti = run(torch.full((length,), 0.1, dtype=torch.float64))
    sel_d = torch.where(is_mark > 0, torch.tensor(10.0, dtype=torch.float64), torch.tensor(1e-3, dtype=torch.float64))
    sel = run(sel_d)
    target = []
    cur = 0.0
    for t in range(length):
        if is_mark[t] > 0:
            cur = float(x[t])
        target.append(cur)
    after = [t for t in range(marks[0], length)]
    ctx.value("sel_demo_err_lti", max(abs(lti[t] - target[t]) for t in after))
    ctx.value("sel_demo_err_sel", max(abs(sel[t] - target[t]) for t in after))
    ctx.value("sel_demo_delta_lti", 0.1)
    ctx.value("sel_demo_delta_mark", 10.0)
    ctx.value("sel_demo_delta_other", 1e-3)
    xs_plot = x.tolist()

    def draw(fig):
        ax = fig.subplots()
        ax.plot(range(length), xs_plot, color="0.7", lw=0.8, label="input x")
        ax.plot(range(length), lti, color="C0", label="fixed Δ (LTI)")
        ax.plot(range(length), sel, color="C1", label="input-dependent Δ")
        ax.scatter(marks, vals, color="C3", zorder=3, s=18, label="marked tokens")
        ax.set_xlabel("position")
        ax.set_ylabel("state h")
        ax.set_ylim(-1.45, 1.15)
        ax.set_title("Remembering the marked tokens")
        ax.legend(fontsize=7, loc="lower center", ncol=2)

    ctx.figure("selective_state", draw)


# --------------------------------------------------------------------------------------------
# 5. Linear attention
# --------------------------------------------------------------------------------------------
def phi(x):
    return F.elu(x) + 1


def linear_attention(ctx):
    torch.manual_seed(0)
    n, d, dv = 10, 4, 3
    q, k, v = torch.randn(n, d), torch.randn(n, d), torch.randn(n, dv)
    fq, fk = phi(q), phi(k)
    # Parallel (quadratic) causal form.
    scores = (fq @ fk.T).tril()
    y_par = (scores @ v) / scores.sum(-1, keepdim=True)
    # Recurrent form: a d x dv state and a d normaliser.
    s = torch.zeros(d, dv)
    z = torch.zeros(d)
    y_rec = []
    for t in range(n):
        s = s + torch.outer(fk[t], v[t])
        z = z + fk[t]
        y_rec.append((fq[t] @ s) / (fq[t] @ z))
    y_rec = torch.stack(y_rec)
    err = float((y_par - y_rec).abs().max())
    assert err < TOL
    # Non-causal: (phi(Q) phi(K)^T) V == phi(Q) (phi(K)^T V), by associativity.
    err_assoc = float(((fq @ fk.T) @ v - fq @ (fk.T @ v)).abs().max())
    assert err_assoc < TOL
    ctx.value("la_n", n)
    ctx.value("la_d", d)
    ctx.value("la_state_shape", [d, dv])

    # FLOPs counted by torch on meta tensors (matmuls only), one head, d = 64.
    dh = 64
    lengths = [256, 1024, 4096, 16384, 65536]

    def flops(fn, length):
        qq = torch.empty(length, dh, device="meta")
        with FlopCounterMode(display=False) as fc:
            fn(qq, qq, qq)
        return fc.get_total_flops()

    soft = lambda q_, k_, v_: (q_ @ k_.T).softmax(-1) @ v_  # noqa: E731
    lin = lambda q_, k_, v_: phi(q_) @ (phi(k_).T @ v_)  # noqa: E731
    f_soft = [flops(soft, L) for L in lengths]
    f_lin = [flops(lin, L) for L in lengths]
    ctx.value("fl_d", dh)
    ctx.value("fl_lengths", lengths)
    ctx.value("fl_n_example", lengths[2])
    ctx.value("fl_soft_4096", f_soft[2])
    ctx.value("fl_lin_4096", f_lin[2])
    ctx.value("fl_ratio_4096", f_soft[2] / f_lin[2])
    assert f_soft[2] == 4 * 4096**2 * dh and f_lin[2] == 4 * 4096 * dh**2

    def draw(fig):
        ax = fig.subplots()
        ax.plot(lengths, f_soft, "o-", color="C0", label="softmax attention")
        ax.plot(lengths, f_lin, "s-", color="C1", label="linear attention")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        ax.set_ylabel("matmul FLOPs (one head)")
        ax.set_title(f"Attention FLOPs, head dim {dh}")
        ax.legend(fontsize=8)

    ctx.figure("attention_flops", draw)

    # Generation memory per layer: KV cache vs a fixed-size state (fp16, 2 bytes per number).
    d_model, heads, ctx_len = 2048, 16, 8192
    hd = d_model // heads
    kv = 2 * ctx_len * d_model
    lin_state = heads * (hd * hd + hd)
    mamba_state = 2 * d_model * 16  # expand 2, state size 16 per channel
    ctx.value("mem_d_model", d_model)
    ctx.value("mem_heads", heads)
    ctx.value("mem_ctx", ctx_len)
    ctx.value("mem_kv", kv)
    ctx.value("mem_kv_mib", kv * 2 / 2**20)
    ctx.value("mem_lin", lin_state)
    ctx.value("mem_lin_kib", lin_state * 2 / 2**10)
    ctx.value("mem_mamba", mamba_state)
    ctx.value("mem_mamba_kib", mamba_state * 2 / 2**10)
    ctx.value("mem_ratio", kv / lin_state)


def compute(ctx):
    vit(ctx)
    clip(ctx)
    mae(ctx)
    ssm(ctx)
    linear_attention(ctx)
