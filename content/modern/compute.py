"""Modern practice: pretraining, LLMs and deployment. Every number on the cards is computed here.

Sections (in card order):
  1. Pretraining vs fine-tuning: training compute C = 6 N D for a 7B model.
  2. LoRA: trainable parameters (modules built on the meta device, no memory), zero-initialised B
     (the adapted layer starts identical to the base), merging B A into W, fine-tuning memory.
  3. Knowledge distillation: teacher probabilities at several temperatures, the KD loss, the T^2
     factor checked with autograd, a small teacher -> student run, BERT-base vs DistilBERT sizes.
  4. RLHF: comparisons per prompt, the Bradley-Terry reward-model loss.
  5. Retrieval-augmented generation: top-k retrieval by cosine similarity on toy embeddings.
  6. Federated learning: FedAvg as a data-size-weighted mean; one local step = one global step.
  7. LLM risks: training compute of GPT-3 from its published size.
  8. Quantization: memory per format, fp16 casting vs int8, per-tensor vs per-channel vs group-wise,
     LLM.int8() outlier decomposition, NF4 vs uniform int4, decoding speed bound, QLoRA memory.
"""

import math

import torch
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import n_params
from torch import nn

GB = 1e9  # decimal gigabytes, as model cards and GPU spec sheets use


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def rel_err(approx, exact):
    """Relative error in the Frobenius norm: ||approx - exact|| / ||exact||."""
    return ((approx - exact).norm() / exact.norm()).item()


def fake_quant(w, bits, per="tensor", group=None):
    """Symmetric absmax quantization to signed `bits`-bit integers and back (quantize + dequantize).

    per="tensor": one scale for the whole tensor; per="channel": one scale per row (output channel);
    group=g: one scale per run of g consecutive weights within a row (group-wise).
    """
    qmax = 2 ** (bits - 1) - 1  # 127 for int8, 7 for int4
    if group is not None:
        rows, cols = w.shape
        wg = w.reshape(rows, cols // group, group)
        scale = wg.abs().amax(dim=-1, keepdim=True) / qmax
        return (torch.round(wg / scale).clamp(-qmax, qmax) * scale).reshape(rows, cols)
    amax = w.abs().amax() if per == "tensor" else w.abs().amax(dim=1, keepdim=True)
    scale = amax / qmax
    return torch.round(w / scale).clamp(-qmax, qmax) * scale


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update: y = W x + (alpha / r) B A x."""

    def __init__(self, base, r, alpha, device=None):
        super().__init__()
        self.base, self.scale = base, alpha / r
        base.requires_grad_(False)  # W is frozen
        self.A = nn.Parameter(0.01 * torch.randn(r, base.in_features, device=device))
        self.B = nn.Parameter(torch.zeros(base.out_features, r, device=device))  # zero init

    def forward(self, x):
        return self.base(x) + self.scale * (x @ self.A.T @ self.B.T)


def bert_like(layers, token_types, pooler, vocab=30522, d=768, heads=12, ffn=3072, max_pos=512):
    """A BERT-style encoder built on the meta device, only to count its parameters.
    nn.TransformerEncoderLayer has exactly BERT's per-layer parameters (attention, FFN, 2 LayerNorms)."""
    dev = "meta"
    parts = [nn.Embedding(vocab, d, device=dev), nn.Embedding(max_pos, d, device=dev), nn.LayerNorm(d, device=dev)]
    if token_types:
        parts.append(nn.Embedding(2, d, device=dev))
    parts += [nn.TransformerEncoderLayer(d, heads, ffn, device=dev) for _ in range(layers)]
    if pooler:
        parts.append(nn.Linear(d, d, device=dev))
    return nn.ModuleList(parts)


def mlp(d_in, hidden, depth, d_out):
    """A ReLU MLP with `depth` hidden layers of width `hidden`."""
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, d_out))


def kd_loss(student_logits, teacher_logits, labels, T, alpha):
    """Hinton et al. (2015): alpha * T^2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * CE(student, labels)."""
    soft = F.kl_div(
        F.log_softmax(student_logits / T, dim=-1), F.softmax(teacher_logits / T, dim=-1), reduction="batchmean"
    )
    return alpha * T * T * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def train_classifier(model, x, y, steps, lr, teacher_logits=None, T=4.0, alpha=0.9):
    """Full-batch Adam on cross-entropy, or on the KD loss when teacher logits are given."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    for _ in range(steps):
        out = model(x)
        hard = teacher_logits is None
        loss = F.cross_entropy(out, y) if hard else kd_loss(out, teacher_logits, y, T, alpha)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def compute(ctx):
    # ----------------------------------------------------------------------------------------
    # 1. Pretraining vs fine-tuning compute: C ~ 6 N D FLOPs (forward 2ND + backward 4ND)
    # ----------------------------------------------------------------------------------------
    n_model = 7e9
    pt_tokens = 2e12
    ft_examples, ft_tokens_each = 10_000, 500
    ft_tokens = ft_examples * ft_tokens_each
    ctx.value("c_params_b", n_model / 1e9)
    ctx.value("c_pt_tokens_t", pt_tokens / 1e12)
    ctx.value("c_ft_examples", ft_examples)
    ctx.value("c_ft_tokens_each", ft_tokens_each)
    ctx.value("c_ft_tokens", ft_tokens)
    ctx.value("c_pt_flops", 6 * n_model * pt_tokens)
    ctx.value("c_ft_flops", 6 * n_model * ft_tokens)
    ctx.value("c_pt_over_ft", pt_tokens / ft_tokens)
    # Wall-clock in accelerator time at an assumed sustained 400 TFLOP/s per GPU.
    gpu_flops = 4e14
    ctx.value("c_gpu_tflops", gpu_flops / 1e12)
    ctx.value("c_pt_gpu_days", 6 * n_model * pt_tokens / gpu_flops / 86400)
    ctx.value("c_ft_gpu_min", 6 * n_model * ft_tokens / gpu_flops / 60)

    # ----------------------------------------------------------------------------------------
    # 2. LoRA
    # ----------------------------------------------------------------------------------------
    # Trainable parameters of one d x d projection, counted on real modules (meta device: no memory).
    d, r = 4096, 8
    base = nn.Linear(d, d, bias=False, device="meta")
    full_count = n_params(base)
    lora = LoRALinear(base, r=r, alpha=16, device="meta")
    lora_count = n_params(lora, trainable_only=True)
    ctx.value("lora_d", d)
    ctx.value("lora_r", r)
    ctx.value("lora_full", full_count)
    ctx.value("lora_trainable", lora_count)
    ctx.value("lora_formula", 2 * d * r)
    ctx.value("lora_frac", lora_count / full_count)
    ctx.value("lora_ratio", full_count / lora_count)

    # Whole model: LoRA on W_q and W_v of every layer of a LLaMA-7B-shaped decoder.
    ll_vocab, ll_d, ll_layers, ll_ffn = 32000, 4096, 32, 11008
    per_layer = 4 * ll_d * ll_d + 3 * ll_d * ll_ffn + 2 * ll_d  # q,k,v,o + SwiGLU FFN + 2 RMSNorms
    llama_params = 2 * ll_vocab * ll_d + ll_layers * per_layer + ll_d  # untied embed/unembed + final norm
    llama_lora = ll_layers * 2 * (2 * ll_d * r)  # two adapted matrices per layer
    ctx.value("llama_params_b", llama_params / 1e9)
    ctx.value("llama_layers", ll_layers)
    ctx.value("llama_lora", llama_lora)
    ctx.value("llama_lora_frac", llama_lora / llama_params)

    # Fine-tuning memory (weights, grads, optimizer state; activations excluded).
    # Full fine-tuning with fp32 Adam: 4 (weights) + 4 (grads) + 8 (two moments) = 16 bytes/param.
    # LoRA: frozen fp16 weights (2 bytes/param, no grads, no Adam state) + adapters at 16 bytes/param.
    b32 = torch.float32.itemsize
    b16 = torch.float16.itemsize
    full_bytes_per_param = b32 + b32 + 2 * b32
    ctx.value("mem_full_bpp", full_bytes_per_param)
    ctx.value("mem_full_ft_gb", llama_params * full_bytes_per_param / GB)
    ctx.value("mem_lora_ft_gb", (llama_params * b16 + llama_lora * full_bytes_per_param) / GB)

    # Zero-initialised B: the adapted layer computes exactly the base layer at step 0,
    # and only B gets a gradient on the first backward pass (A's gradient is multiplied by B = 0).
    torch.manual_seed(0)
    d_small, r_small, alpha_small = 64, 4, 8
    base_s = nn.Linear(d_small, d_small)
    lora_s = LoRALinear(base_s, r=r_small, alpha=alpha_small)
    x = torch.randn(32, d_small)
    ctx.value("lz_d", d_small)
    ctx.value("lz_r", r_small)
    ctx.value("lz_alpha", alpha_small)
    ctx.value("lz_scale", alpha_small / r_small)
    ctx.value("lz_diff", (lora_s(x) - base_s(x)).abs().max().detach())
    target = torch.randn(32, d_small)
    F.mse_loss(lora_s(x), target).backward()
    ctx.value("lz_grad_a", lora_s.A.grad.norm())
    ctx.value("lz_grad_b", lora_s.B.grad.norm())
    ctx.value("lz_base_grad_none", base_s.weight.grad is None)

    # Train the adapter briefly, then merge: W' = W + (alpha / r) B A gives the same outputs.
    opt = torch.optim.SGD([lora_s.A, lora_s.B], lr=0.1)
    for _ in range(50):
        opt.zero_grad()
        F.mse_loss(lora_s(x), target).backward()
        opt.step()
    with torch.no_grad():
        delta = lora_s.scale * lora_s.B @ lora_s.A
        merged = nn.Linear(d_small, d_small)
        merged.weight.copy_(base_s.weight + delta)
        merged.bias.copy_(base_s.bias)
        ctx.value("lm_rank", torch.linalg.matrix_rank(delta))
        ctx.value("lm_diff", (merged(x) - lora_s(x)).abs().max())
        agree(ctx, "lm_tol", (merged(x) - lora_s(x)).abs().max(), 1e-5)
        ctx.value("lm_delta_norm", delta.norm())

    # ----------------------------------------------------------------------------------------
    # 3. Knowledge distillation
    # ----------------------------------------------------------------------------------------
    classes = ["dog", "wolf", "cat", "car", "apple"]
    t_logits = torch.tensor([9.0, 5.0, 3.0, -1.0, -3.0])  # a teacher looking at a photo of a dog
    kd_temps = [1.0, 2.0, 4.0]
    probs = {t: torch.softmax(t_logits / t, dim=0) for t in kd_temps}
    ctx.value("kd_classes", ", ".join(classes))
    ctx.value("kd_logits", t_logits)
    ctx.value("kd_p_t1", probs[1.0])
    ctx.value("kd_p_t4", probs[4.0])
    ctx.value("kd_t_hi", 4.0)
    # "Dark knowledge": wolf vs car, a ratio the one-hot label cannot express.
    ctx.value("kd_wolf_car_ratio", (probs[1.0][1] / probs[1.0][3]).item())
    ctx.value("kd_argmax_same", len({int(p.argmax()) for p in probs.values()}) == 1)

    # The KD loss on one example.
    s_logits = torch.tensor([[4.0, 1.0, 2.5, 0.5, 0.0]])
    label = torch.tensor([0])
    T, alpha = 4.0, 0.9
    soft = F.kl_div(F.log_softmax(s_logits / T, 1), F.softmax(t_logits[None] / T, 1), reduction="batchmean")
    ctx.value("kdl_T", T)
    ctx.value("kdl_alpha", alpha)
    ctx.value("kdl_student", s_logits[0])
    ctx.value("kdl_soft", soft)
    ctx.value("kdl_hard", F.cross_entropy(s_logits, label))
    ctx.value("kdl_total", kd_loss(s_logits, t_logits[None], label, T, alpha))

    # Why T^2: the soft-loss gradient w.r.t. the student logits is (p_s - p_t) / T, which for large T
    # behaves like 1 / T^2. Measured with autograd on random logits over 10 classes.
    torch.manual_seed(0)
    zs, zt = torch.randn(10), 3 * torch.randn(10)
    grad_temps = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    grad_norms = []
    for t in grad_temps:
        z = zs.clone().requires_grad_(True)
        F.kl_div(F.log_softmax(z / t, 0), F.softmax(zt / t, 0), reduction="sum").backward()
        grad_norms.append(z.grad.norm().item())
    scaled = [g * t * t for g, t in zip(grad_norms, grad_temps, strict=True)]
    ctx.value("t2_temps", grad_temps)
    ctx.value("t2_t_mid", grad_temps[3])
    ctx.value("t2_t_a", grad_temps[4])
    ctx.value("t2_t_b", grad_temps[5])
    ctx.value("t2_grad_t1", grad_norms[0])
    ctx.value("t2_grad_t8", grad_norms[3])
    ctx.value("t2_scaled_t8", scaled[3])
    ctx.value("t2_scaled_t16", scaled[4])
    ctx.value("t2_scaled_t32", scaled[5])
    # log-log slope of the gradient norm between T = 16 and T = 32 (-2 means 1/T^2)
    ctx.value("t2_slope", math.log(grad_norms[5] / grad_norms[4]) / math.log(2.0))

    # A small distillation run. Data: labels from a fixed random "ground-truth" network.
    # The teacher (a wider, deeper MLP) learns from plenty of data; the student (one small hidden
    # layer) only sees a small transfer set, once with hard labels and once with the teacher's
    # soft targets (same init, same steps).
    torch.manual_seed(0)
    d_in, n_cls = 10, 5
    truth = mlp(d_in, 64, 1, n_cls).requires_grad_(False)

    def make_data(n):
        xs = torch.randn(n, d_in)
        return xs, truth(xs).argmax(1)

    x_teach, y_teach = make_data(2000)
    x_transfer, y_transfer = make_data(200)
    x_test, y_test = make_data(2000)
    teacher = train_classifier(mlp(d_in, 32, 2, n_cls), x_teach, y_teach, steps=150, lr=1e-2)
    with torch.no_grad():
        teacher_soft = teacher(x_transfer)
    accs_hard, accs_kd = [], []
    for seed in range(3):  # three student inits; each pair shares its init
        torch.manual_seed(100 + seed)
        s_hard = train_classifier(mlp(d_in, 8, 1, n_cls), x_transfer, y_transfer, steps=200, lr=1e-2)
        torch.manual_seed(100 + seed)
        s_kd = train_classifier(
            mlp(d_in, 8, 1, n_cls), x_transfer, y_transfer, steps=200, lr=1e-2, teacher_logits=teacher_soft, T=T
        )
        accs_hard.append(accuracy(s_hard, x_test, y_test))
        accs_kd.append(accuracy(s_kd, x_test, y_test))
    ctx.value("kdr_teacher_n", len(x_teach))
    ctx.value("kdr_transfer_n", len(x_transfer))
    ctx.value("kdr_test_n", len(x_test))
    ctx.value("kdr_classes", n_cls)
    ctx.value("kdr_teacher_params", n_params(teacher))
    ctx.value("kdr_student_params", n_params(s_kd))
    ctx.value("kdr_compression", n_params(teacher) / n_params(s_kd))
    ctx.value("kdr_teacher_acc", accuracy(teacher, x_test, y_test))
    ctx.value("kdr_seeds", len(accs_kd))
    ctx.value("kdr_acc_hard", sum(accs_hard) / len(accs_hard))
    ctx.value("kdr_acc_kd", sum(accs_kd) / len(accs_kd))
    ctx.value("kdr_kd_wins", sum(k > h for k, h in zip(accs_kd, accs_hard, strict=True)))

    # BERT-base vs DistilBERT (half the layers, no token-type embeddings, no pooler).
    bert_layers, distil_layers = 12, 6
    bert = n_params(bert_like(layers=bert_layers, token_types=True, pooler=True))
    distil = n_params(bert_like(layers=distil_layers, token_types=False, pooler=False))
    ctx.value("bert_layers", bert_layers)
    ctx.value("bert_width", 768)
    ctx.value("distil_layers", distil_layers)
    ctx.value("bert_params", bert)
    ctx.value("distil_params", distil)
    ctx.value("distil_ratio", distil / bert)
    ctx.value("distil_smaller", 1 - distil / bert)
    # Reported in the DistilBERT paper (Sanh et al., 2019): share of BERT's GLUE score kept, speed-up.
    ctx.value("distil_paper_retained", 0.97)
    ctx.value("distil_paper_faster", 0.60)

    # ----------------------------------------------------------------------------------------
    # 4. RLHF
    # ----------------------------------------------------------------------------------------
    ctx.value("rl_k_min", 4)
    ctx.value("rl_k_max", 9)
    ctx.value("rl_pairs_min", math.comb(4, 2))
    ctx.value("rl_pairs_max", math.comb(9, 2))
    # Bradley-Terry: P(chosen > rejected) = sigmoid(r_c - r_r); loss = -log sigmoid(r_c - r_r).
    r_c, r_r = torch.tensor(2.0), torch.tensor(0.5)
    ctx.value("bt_rc", r_c)
    ctx.value("bt_rr", r_r)
    ctx.value("bt_diff", r_c - r_r)
    ctx.value("bt_p", torch.sigmoid(r_c - r_r))
    ctx.value("bt_loss", -F.logsigmoid(r_c - r_r))
    ctx.value("bt_loss_swapped", -F.logsigmoid(r_r - r_c))
    ctx.value("bt_loss_tie", -F.logsigmoid(r_c - r_c))
    ctx.value("bt_shift", 10.0)
    ctx.value("bt_shift_diff", (-F.logsigmoid((r_c + 10) - (r_r + 10)) + F.logsigmoid(r_c - r_r)).abs())

    # ----------------------------------------------------------------------------------------
    # 5. RAG: retrieve the top-k chunks by cosine similarity
    # ----------------------------------------------------------------------------------------
    # Toy 4-d embeddings; axes roughly mean (returns, shipping, company, opening hours).
    docs = ["refund policy", "return form", "shipping times", "company history", "opening hours"]
    doc_emb = torch.tensor(
        [
            [0.9, 0.2, 0.1, 0.0],
            [0.8, 0.1, 0.0, 0.2],
            [0.1, 0.9, 0.0, 0.1],
            [1.0, 1.0, 3.0, 0.5],  # long, unfocused document: large norm
            [0.0, 0.1, 0.1, 0.9],
        ]
    )
    query = torch.tensor([1.0, 0.3, 0.0, 0.1])  # "How do I send an item back?"
    cos = F.cosine_similarity(doc_emb, query[None], dim=1)
    dot = doc_emb @ query
    k = 2
    ctx.value("rag_query", query)
    ctx.value("rag_docs", ", ".join(docs))
    ctx.value("rag_k", k)
    ctx.value("rag_cos", cos)
    ctx.value("rag_dot", dot)
    ctx.value("rag_top_cos", ", ".join(docs[i] for i in cos.topk(k).indices.tolist()))
    ctx.value("rag_top_dot", docs[int(dot.argmax())])
    # After L2-normalising the embeddings the dot product equals the cosine (what vector indexes use).
    normed = F.normalize(doc_emb, dim=1) @ F.normalize(query, dim=0)
    ctx.value("rag_norm_dot_err", (normed - cos).abs().max())
    agree(ctx, "rag_norm_dot_tol", (normed - cos).abs().max(), 1e-6)
    ctx.value("rag_norms", doc_emb.norm(dim=1))

    # ----------------------------------------------------------------------------------------
    # 6. Federated learning
    # ----------------------------------------------------------------------------------------
    torch.manual_seed(0)
    n_k = torch.tensor([50.0, 150.0, 800.0])
    w_k = torch.randn(3, 4)
    fedavg = (n_k[:, None] * w_k).sum(0) / n_k.sum()
    # The same as averaging one copy of its client's weights per training example.
    per_example = torch.repeat_interleave(w_k, n_k.long(), dim=0).mean(0)
    ctx.value("fl_n", n_k)
    ctx.value("fl_coef", n_k / n_k.sum())
    ctx.value("fl_first", w_k[:, 0])
    ctx.value("fl_avg_first", fedavg[0])
    ctx.value("fl_plain_first", w_k[:, 0].mean())
    ctx.value("fl_check_err", (fedavg - per_example).abs().max())
    agree(ctx, "fl_check_tol", (fedavg - per_example).abs().max(), 1e-5)

    # One FedAvg round with ONE local full-batch GD step per client equals one centralised GD step
    # on the pooled data (FedSGD). With several local steps on non-IID clients, they drift apart.
    g = torch.Generator().manual_seed(1)
    w_true = torch.tensor([2.0, -1.0])
    clients = []
    for n, shift in zip([50, 150, 800], [-2.0, 0.0, 2.0], strict=True):  # non-IID: each client sees other inputs
        xc = torch.randn(n, 2, generator=g) + shift
        yc = xc @ w_true + torch.sign(xc[:, 0]) * 1.5 + 0.1 * torch.randn(n, generator=g)  # non-linear bit
        clients.append((xc, yc))
    x_all = torch.cat([c[0] for c in clients])
    y_all = torch.cat([c[1] for c in clients])
    lr_fl = 0.02

    def gd(w, xs, ys, steps):
        """Full-batch gradient descent on the MSE of a linear model."""
        for _ in range(steps):
            w = w - lr_fl * 2 * xs.T @ (xs @ w - ys) / len(ys)
        return w

    def fedavg_round(w, local_steps):
        local = [gd(w, xc, yc, local_steps) for xc, yc in clients]
        sizes = torch.tensor([float(len(yc)) for _, yc in clients])
        return sum(s * wl for s, wl in zip(sizes, local, strict=True)) / sizes.sum()

    w0 = torch.zeros(2, dtype=torch.float32)
    ctx.value("fl_local_steps", 10)
    ctx.value("fl_one_step_diff", (fedavg_round(w0, 1) - gd(w0, x_all, y_all, 1)).abs().max())
    agree(ctx, "fl_one_step_tol", (fedavg_round(w0, 1) - gd(w0, x_all, y_all, 1)).abs().max(), 1e-5)
    ctx.value("fl_many_step_diff", (fedavg_round(w0, 10) - gd(w0, x_all, y_all, 10)).abs().max())
    # The one-step equality needs every condition: all clients, n_k / n weights, the same step size.
    one_central = gd(w0, x_all, y_all, 1)
    local1 = [gd(w0, xc, yc, 1) for xc, yc in clients]
    ctx.value("fl_unweighted_diff", (sum(local1) / len(local1) - one_central).abs().max())
    sizes01 = torch.tensor([float(len(clients[0][1])), float(len(clients[1][1]))])
    partial = (sizes01[0] * local1[0] + sizes01[1] * local1[1]) / sizes01.sum()
    ctx.value("fl_partial_diff", (partial - one_central).abs().max())
    # The last client (800 examples) with half the step size.
    half = w0 - 0.5 * lr_fl * 2 * clients[2][0].T @ (clients[2][0] @ w0 - clients[2][1]) / len(clients[2][1])
    sizes = torch.tensor([float(len(yc)) for _, yc in clients])
    mixed_lr = (sizes[0] * local1[0] + sizes[1] * local1[1] + sizes[2] * half) / sizes.sum()
    ctx.value("fl_lr_diff", (mixed_lr - one_central).abs().max())

    # ----------------------------------------------------------------------------------------
    # 7. LLM risks: training compute of GPT-3 (175B parameters, 300B tokens) by C = 6 N D
    # ----------------------------------------------------------------------------------------
    gpt3_n, gpt3_d = 175e9, 300e9
    ctx.value("gpt3_n_b", gpt3_n / 1e9)
    ctx.value("gpt3_d_b", gpt3_d / 1e9)
    ctx.value("gpt3_flops", 6 * gpt3_n * gpt3_d)
    ctx.value("gpt3_reported_flops", 3.14e23)  # as reported in the GPT-3 paper (Brown et al., 2020)

    # ----------------------------------------------------------------------------------------
    # 8. Quantization
    # ----------------------------------------------------------------------------------------
    # Weight memory of a 7e9-parameter model per format. Bytes per element from torch dtypes;
    # int4 packs two weights per byte. Group-wise int4 also stores one fp16 scale per group.
    bits = {
        "fp32": 8 * torch.float32.itemsize,
        "fp16": 8 * torch.float16.itemsize,
        "int8": 8 * torch.int8.itemsize,
        "int4": 4,
    }
    q_group = 128
    bits["int4 g128"] = 4 + 8 * torch.float16.itemsize / q_group
    mem_gb = {k: n_model * b / 8 / GB for k, b in bits.items()}
    ctx.value("qm_params_b", n_model / 1e9)
    ctx.value("qm_fp32", mem_gb["fp32"])
    ctx.value("qm_fp16", mem_gb["fp16"])
    ctx.value("qm_int8", mem_gb["int8"])
    ctx.value("qm_int4", mem_gb["int4"])
    ctx.value("qm_group", q_group)
    ctx.value("qm_g128_bits", bits["int4 g128"])
    ctx.value("qm_int4_g128", mem_gb["int4 g128"])

    # Decoding at batch size 1 reads every weight once per token: tokens/s <= bandwidth / weight bytes.
    bandwidth = 1e12  # bytes/s, a GPU with 1 TB/s of memory bandwidth
    ctx.value("bw_tbs", bandwidth / 1e12)
    ctx.value("bw_tok_fp16", bandwidth / (mem_gb["fp16"] * GB))
    ctx.value("bw_tok_int4", bandwidth / (mem_gb["int4"] * GB))

    # fp16 casting vs int8 quantization of the same weights.
    torch.manual_seed(0)
    w = 0.02 * torch.randn(256, 256)
    ctx.value("cast_err_fp16", rel_err(w.half().float(), w))
    ctx.value("cast_err_int8", rel_err(fake_quant(w, 8, per="channel"), w))
    ctx.value("cast_int8_compression", torch.float32.itemsize / torch.int8.itemsize)
    ctx.value("cast_fp16_max", torch.finfo(torch.float16).max)
    # A low-bit float format with scales is quantization too: FP8 (E4M3) with one scale per row.
    f8 = torch.float8_e4m3fn
    s8 = w.abs().amax(dim=1, keepdim=True) / torch.finfo(f8).max
    ctx.value("cast_err_fp8", rel_err((w / s8).to(f8).float() * s8, w))
    ctx.value("cast_int8_levels", torch.iinfo(torch.int8).max - torch.iinfo(torch.int8).min + 1)

    # Per-tensor vs per-channel int8 with one outlier output channel.
    torch.manual_seed(0)
    rows, cols, outlier_row, outlier_factor = 32, 256, 5, 50.0
    wq = 0.02 * torch.randn(rows, cols)
    wq[outlier_row] *= outlier_factor
    w_tensor = fake_quant(wq, 8, per="tensor")
    w_channel = fake_quant(wq, 8, per="channel")
    normal = torch.arange(rows) != outlier_row
    row_err_tensor = ((w_tensor - wq).norm(dim=1) / wq.norm(dim=1)).tolist()
    row_err_channel = ((w_channel - wq).norm(dim=1) / wq.norm(dim=1)).tolist()
    ctx.value("pc_shape", list(wq.shape))
    ctx.value("pc_factor", outlier_factor)
    ctx.value("pc_err_tensor", rel_err(w_tensor[normal], wq[normal]))
    ctx.value("pc_err_channel", rel_err(w_channel[normal], wq[normal]))
    ctx.value("pc_zero_frac", (w_tensor[normal] == 0).float().mean())
    ctx.value("pc_gain", rel_err(w_tensor[normal], wq[normal]) / rel_err(w_channel[normal], wq[normal]))

    # Group-wise int4: a few large weights scattered inside rows (heavy-tailed weights).
    torch.manual_seed(0)
    wg = torch.randn(64, 1024)
    spikes = torch.rand(wg.shape) < 0.002
    spike_factor = 20.0
    wg[spikes] *= spike_factor
    g_big, g_small = 128, 32
    ctx.value("gw_spike_frac", spikes.float().mean())
    ctx.value("gw_spike_factor", spike_factor)
    ctx.value("gw_g_big", g_big)
    ctx.value("gw_g_small", g_small)
    ctx.value("int4_levels", 2 * (2 ** (4 - 1) - 1) + 1)  # symmetric: -7 ... 7
    ctx.value("gw_err_channel", rel_err(fake_quant(wg, 4, per="channel"), wg))
    ctx.value("gw_err_g_big", rel_err(fake_quant(wg, 4, group=g_big), wg))
    ctx.value("gw_err_g_small", rel_err(fake_quant(wg, 4, group=g_small), wg))

    # LLM.int8(): activations with one outlier hidden dimension. Vector-wise int8 matmul
    # (per-token scales for X, per-output-channel scales for W) vs keeping outlier dims in float.
    torch.manual_seed(0)
    tokens, hidden, d_out = 16, 256, 64
    xa = torch.randn(tokens, hidden)
    xa[:, 7] *= 60.0  # an emergent outlier feature, large in every token
    wa = 0.05 * torch.randn(d_out, hidden)
    y_ref = xa @ wa.T
    y_int8 = fake_quant(xa, 8, per="channel") @ fake_quant(wa, 8, per="channel").T
    threshold = 6.0
    out_cols = (xa.abs() > threshold).any(dim=0)
    y_mixed = (
        xa[:, out_cols] @ wa[:, out_cols].T  # outlier dimensions in 16-bit float (here: float)
        + fake_quant(xa[:, ~out_cols], 8, per="channel") @ fake_quant(wa[:, ~out_cols], 8, per="channel").T
    )
    ctx.value("li_threshold", threshold)
    ctx.value("li_paper_emerge_b", 6.7)  # model size where outlier features emerge (Dettmers et al., 2022)
    ctx.value("li_n_outlier_dims", int(out_cols.sum()))
    ctx.value("li_hidden", hidden)
    ctx.value("li_err_int8", rel_err(y_int8, y_ref))
    ctx.value("li_err_mixed", rel_err(y_mixed, y_ref))

    # NF4 (QLoRA): 16 levels at quantiles of a standard normal, scaled to [-1, 1], with an exact 0;
    # compared with uniform int4 levels, both with absmax scaling per block of 64 weights.
    normal01 = torch.distributions.Normal(0.0, 1.0)
    offset = 0.9677  # as in the QLoRA reference implementation
    pos = normal01.icdf(torch.linspace(offset, 0.5, 9)[:-1])  # 8 positive levels
    neg = -normal01.icdf(torch.linspace(offset, 0.5, 8)[:-1])  # 7 negative levels
    nf4 = torch.cat([neg, torch.zeros(1), pos]).sort().values
    nf4 = nf4 / nf4.abs().max()
    uni4 = torch.arange(-7, 8) / 7.0  # symmetric int4 levels

    def block_quant(wflat, levels, block=64):
        """Absmax-scale each block to [-1, 1], snap to the nearest level, scale back."""
        wb = wflat.reshape(-1, block)
        scale = wb.abs().amax(dim=1, keepdim=True)
        idx = ((wb / scale)[..., None] - levels).abs().argmin(dim=-1)
        return (levels[idx] * scale).reshape(wflat.shape)

    torch.manual_seed(0)
    wn = torch.randn(64 * 512)
    ctx.value("nf4_n_levels", len(nf4))
    ctx.value("nf4_block", 64)
    ctx.value("nf4_err", rel_err(block_quant(wn, nf4), wn))
    ctx.value("uni4_err", rel_err(block_quant(wn, uni4), wn))

    # QLoRA memory: a 65e9-parameter base model in 4-bit vs 16-bit.
    q_n = 65e9
    ctx.value("ql_params_b", q_n / 1e9)
    ctx.value("ql_gb_4bit", q_n * 0.5 / GB)
    ctx.value("ql_gb_16bit", q_n * b16 / GB)
    ctx.value("ql_paper_gpu_gb", 48)  # the QLoRA paper's single-GPU setting (Dettmers et al., 2023)

    # ----------------------------------------------------------------------------------------
    # Figures
    # ----------------------------------------------------------------------------------------
    def draw_kd_temps(fig):
        ax = fig.subplots()
        wbar = 0.8 / len(kd_temps)
        for i, t in enumerate(kd_temps):
            xs = [c + (i - (len(kd_temps) - 1) / 2) * wbar for c in range(len(classes))]
            ax.bar(xs, probs[t].tolist(), width=wbar, label=f"T = {t:g}", color=f"C{i}")
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yscale("log")
        ax.set_ylim(1e-6, 60)  # room above 1 for the legend
        ax.set_yticks([1e-6, 1e-4, 1e-2, 1.0])
        ax.minorticks_off()
        ax.set_ylabel("teacher probability")
        ax.set_title("softmax(teacher logits / T)")
        ax.legend(loc="upper center", ncol=len(kd_temps), fontsize="small")

    ctx.figure("kd_temperature", draw_kd_temps)

    def draw_t2(fig):
        ax = fig.subplots()
        ax.loglog(grad_temps, grad_norms, "o-", label="soft-loss gradient")
        ax.loglog(grad_temps, scaled, "s-", label="gradient x T²")
        ax.set_xticks(grad_temps, [f"{t:g}" for t in grad_temps])
        ax.set_xlabel("temperature T")
        ax.set_ylabel("gradient norm")
        ax.set_title("KD gradient vs temperature")
        ax.legend(loc="lower left")

    ctx.figure("kd_grad_scale", draw_t2)

    def draw_memory(fig):
        ax = fig.subplots()
        names = ["fp32", "fp16", "int8", "int4"]
        bars = ax.bar(names, [mem_gb[k] for k in names], color=[f"C{i}" for i in range(len(names))])
        ax.bar_label(bars, fmt="%.1f GB")
        ax.set_ylabel("weights (GB)")
        ax.set_ylim(0, mem_gb["fp32"] * 1.15)
        ax.set_title(f"A {n_model / 1e9:g}B-parameter model")
        ax.xaxis.grid(False)

    ctx.figure("quant_memory", draw_memory)

    def draw_channel(fig):
        ax = fig.subplots()
        idx = list(range(rows))
        ax.semilogy(idx, row_err_tensor, "o", ms=4, label="per-tensor scale")
        ax.semilogy(idx, row_err_channel, "s", ms=4, label="per-channel scales")
        ax.annotate(
            "outlier row", (outlier_row, row_err_tensor[outlier_row]), xytext=(1, 0.04), arrowprops={"arrowstyle": "->"}
        )
        ax.set_xlabel("output channel (row of W)")
        ax.set_ylabel("relative error")
        ax.set_title("int8 round trip, one outlier row")
        ax.legend(loc="center right", fontsize="small")

    ctx.figure("quant_per_channel", draw_channel)
