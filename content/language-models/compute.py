"""Language models and text generation: model families, pretraining objectives and decoding.

Every number, string and figure on the cards comes from the code below.

Sections (in card order):
  1. BERT-base and GPT-2 small built from their published configs on the meta device (no memory):
     parameter counts per part.
  2. Masked vs causal language modelling on a toy token sequence: inputs, labels, the 80/10/10 rule,
     how many positions carry a loss, and what a causal mask hides.
  3. Encoder-decoder: teacher forcing and why one parallel pass equals step-by-step decoding.
  4. Generation: the autoregressive loop, a KV cache checked against recomputation, cache size.
  5. Decoding a fixed toy next-token distribution: greedy, top-k, top-p, temperature.
  6. Beam search vs greedy on a two-step toy model.
  7. Repetition: greedy decoding of a toy bigram model loops; a repetition penalty breaks the loop.
"""

import math

import torch
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import n_params
from torch import nn

BERT_BASE = {"vocab": 30522, "max_pos": 512, "segments": 2, "d": 768, "layers": 12, "heads": 12, "ff": 3072}
TOY_SENTENCE = "the quick brown fox jumps over the lazy dog and the dog sleeps while the fox runs into the woods"
TOY_SOURCE, TOY_TARGET = "le chat dort sur le tapis", "the cat sleeps on the mat"
GPT2_SMALL = {"vocab": 50257, "max_pos": 1024, "d": 768, "layers": 12, "heads": 12, "ff": 3072}



def meta_embedding(num, dim):
    """An nn.Embedding whose table lives on the meta device (shape only; nothing allocated)."""
    return nn.Embedding(num, dim, _weight=torch.empty(num, dim, device="meta"))


def entropy_bits(p):
    """Shannon entropy of a distribution, in bits."""
    p = p[p > 0]
    return float(-(p * p.log2()).sum())


def top_k_filter(logits, k):
    """Keep the k largest logits, set the rest to -inf."""
    kth = torch.topk(logits, k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits, p):
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability sum reaches p."""
    probs, idx = torch.softmax(logits, -1).sort(descending=True)
    before = probs.cumsum(-1) - probs  # mass of the tokens ranked above each token
    drop = before >= p  # the set already reached p without this token
    return logits.masked_fill(drop.scatter(-1, idx, drop), float("-inf"))


def mlm_mask(ids, sel, mask_id, vocab, gen):
    """BERT's corruption of the selected positions: 80% -> [MASK], 10% -> random token, 10% unchanged.
    Returns the model input and the labels (-100 = no loss at that position)."""
    labels = ids.masked_fill(~sel, -100)  # -100: ignored by F.cross_entropy
    r = torch.rand(ids.shape, generator=gen)
    inp = ids.clone()
    inp[sel & (r < 0.8)] = mask_id
    rnd = sel & (r >= 0.8) & (r < 0.9)
    inp[rnd] = torch.randint(2, vocab, ids.shape, generator=gen)[rnd]  # ids 0, 1 are [PAD], [MASK]
    return inp, labels


def mlm_card_code(ids, special, p, MASK_ID, V):
    """The masking code on the lm-mlm-code card, line for line (special: True at [CLS]/[SEP]/[PAD])."""
    sel = torch.rand(ids.shape) < p  # the card writes p = 0.15 inline
    sel &= ~special  # never masked
    labels = ids.masked_fill(~sel, -100)
    r = torch.rand(ids.shape)
    inp = ids.clone()
    inp[sel & (r < 0.8)] = MASK_ID
    rnd = sel & (r >= 0.8) & (r < 0.9)
    noise = torch.randint(V, ids.shape)
    inp[rnd] = noise[rnd]
    return inp, labels


def greedy_card_code(model, prompt, max_new, eos_id):
    """The generation loop on the lm-generation-code card, line for line."""
    model.eval()  # no dropout
    ids = prompt  # (1, n)
    with torch.inference_mode():
        for _ in range(max_new):
            out = model(ids)[:, -1]  # (1, V)
            nxt = out.argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
            if nxt.item() == eos_id:
                break
    return ids


def beam_search(next_probs, steps, width):
    """Beam search over a function prefix -> {token: prob}; returns [(sequence, probability)] best first."""
    beams = [((), 0.0)]  # (tokens, log-probability)
    for _ in range(steps):
        cand = [((*seq, t), lp + math.log(p)) for seq, lp in beams for t, p in next_probs(seq).items()]
        beams = sorted(cand, key=lambda c: c[1], reverse=True)[:width]
    return [(seq, math.exp(lp)) for seq, lp in beams]


# --------------------------------------------------------------------------------------------
# 1. BERT vs GPT sizes
# --------------------------------------------------------------------------------------------
def families(ctx):
    b, g = BERT_BASE, GPT2_SMALL
    # One BERT layer (post-LN) and one GPT-2 block (pre-LN) have the same parameters.
    bert_layer = nn.TransformerEncoderLayer(b["d"], b["heads"], b["ff"], activation="gelu", device="meta")
    gpt_block = nn.TransformerEncoderLayer(
        g["d"], g["heads"], g["ff"], activation="gelu", norm_first=True, device="meta"
    )
    ln = n_params(nn.LayerNorm(b["d"], device="meta"))
    bert_emb = (
        sum(n_params(meta_embedding(n, b["d"])) for n in (b["vocab"], b["max_pos"], b["segments"])) + ln
    )  # token + position + segment, then LayerNorm
    bert_pool = n_params(nn.Linear(b["d"], b["d"], device="meta"))  # [CLS] pooler
    bert_total = bert_emb + b["layers"] * n_params(bert_layer) + bert_pool
    gpt_emb = n_params(meta_embedding(g["vocab"], g["d"])) + n_params(meta_embedding(g["max_pos"], g["d"]))
    gpt_total = gpt_emb + g["layers"] * n_params(gpt_block) + ln  # + final LayerNorm; LM head tied to wte
    for key in ("vocab", "max_pos", "d", "layers", "heads", "ff"):
        ctx.value(f"bert_{key}", b[key])
        ctx.value(f"gpt2_{key}", g[key])
    ctx.value("bert_segments", b["segments"])
    ctx.value("bert_layer_params", n_params(bert_layer))
    ctx.value("gpt2_block_params", n_params(gpt_block))
    ctx.value("bert_emb_params", bert_emb)
    ctx.value("gpt2_emb_params", gpt_emb)
    ctx.value("bert_total", bert_total)
    ctx.value("gpt2_total", gpt_total)
    ctx.value("bert_total_m", bert_total / 1e6)
    ctx.value("gpt2_total_m", gpt_total / 1e6)
    ctx.value("emb_gap_m", (gpt_emb - bert_emb) / 1e6)
    ctx.value("total_gap_m", (gpt_total - bert_total) / 1e6)


# --------------------------------------------------------------------------------------------
# 2. Masked vs causal LM on a toy sequence
# --------------------------------------------------------------------------------------------
def objectives(ctx):
    words = TOY_SENTENCE.split()
    vocab = ["[PAD]", "[MASK]", *sorted(set(words))]
    tok = {w: i for i, w in enumerate(vocab)}
    ids = torch.tensor([tok[w] for w in words])
    n, v = len(words), len(vocab)
    p_mask, split = 0.15, [0.8, 0.1, 0.1]
    ctx.value("mlm_p", p_mask)
    ctx.value("mlm_split_mask", split[0])
    ctx.value("mlm_split_random", split[1])
    ctx.value("mlm_split_keep", split[2])
    ctx.value("toy_n", n)
    ctx.value("toy_words", " ".join(words[:8]) + " ...")

    # Toy sequence: like the original BERT data pipeline, select round(15% of n) positions exactly.
    gen = torch.Generator().manual_seed(0)
    n_sel = round(p_mask * n)
    sel = torch.zeros(n, dtype=torch.bool)
    sel[torch.randperm(n, generator=gen)[:n_sel]] = True
    inp, labels = mlm_mask(ids, sel, tok["[MASK]"], v, gen)
    ctx.value("mlm_toy_input", " ".join(vocab[i] for i in inp))
    ctx.value("mlm_toy_n_selected", n_sel)
    ctx.value("mlm_toy_targets", ", ".join(f"{vocab[ids[i]]} (position {i})" for i in sel.nonzero().flatten().tolist()))
    ctx.value(
        "mlm_toy_outcomes",
        ", ".join(
            "[MASK]" if inp[i] == tok["[MASK]"] else ("unchanged" if inp[i] == ids[i] else f"random: {vocab[inp[i]]}")
            for i in sel.nonzero().flatten().tolist()
        ),
    )

    # Loss only at selected positions: F.cross_entropy skips label -100.
    torch.manual_seed(0)
    logits = torch.randn(n, v)
    loss = F.cross_entropy(logits, labels)
    manual = F.cross_entropy(logits[sel], ids[sel])
    ctx.value("mlm_ignore_err", abs(loss - manual))
    agree(ctx, "mlm_ignore_tol", abs(loss - manual), 1e-6)
    ctx.value("mlm_toy_sentence", TOY_SENTENCE)
    sel_pos = sel.nonzero().flatten().tolist()
    ctx.value("mlm_toy_sel_words", ", ".join(f"{i} ({vocab[ids[i]]})" for i in sel_pos))
    ctx.value("mlm_toy_label_words", ", ".join(vocab[ids[i]] for i in sel_pos))

    # The card's masking code on padded batches: [CLS], [SEP] and [PAD] are never selected.
    torch.manual_seed(0)
    cls_id, sep_id, pad_id, mask_id, big_vocab = 101, 102, 0, 103, BERT_BASE["vocab"]
    lengths = torch.randint(5, 30, (2000,))
    batch = torch.randint(1000, big_vocab, (2000, 32))
    ar = torch.arange(32)
    batch[ar >= lengths[:, None] + 2] = pad_id
    batch[:, 0] = cls_id
    batch[torch.arange(2000), lengths + 1] = sep_id
    special = (batch == cls_id) | (batch == sep_id) | (batch == pad_id)
    _, lab = mlm_card_code(batch, special, 0.15, mask_id, big_vocab)
    ctx.value("mlm_code_n_seqs", batch.shape[0])
    ctx.value("mlm_code_special_selected", int(((lab != -100) & special).sum()))
    ctx.value("mlm_code_sel_frac_real", float((lab != -100).sum() / (~special).sum()))
    naive = torch.rand(batch.shape) < 0.15  # without the special-token exclusion
    ctx.value("mlm_naive_special_frac", float((naive & special).sum() / naive.sum()))

    # The 80/10/10 rule measured on many tokens with a BERT-sized vocabulary (so a "random" token
    # almost never equals the original). Selection per token with probability 15%, as in Hugging Face.
    big_v = BERT_BASE["vocab"]
    big = torch.randint(2, big_v, (200_000,), generator=gen)
    b_sel = torch.rand(big.shape, generator=gen) < p_mask
    b_inp, _ = mlm_mask(big, b_sel, 1, big_v, gen)
    n_b = b_sel.sum()
    ctx.value("mlm_big_n", big.numel())
    ctx.value("mlm_big_sel_frac", n_b / big.numel())
    ctx.value("mlm_big_mask_frac", (b_sel & (b_inp == 1)).sum() / n_b)
    ctx.value("mlm_big_changed_frac", (b_sel & (b_inp != big) & (b_inp != 1)).sum() / n_b)
    ctx.value("mlm_big_same_frac", (b_sel & (b_inp == big)).sum() / n_b)

    # Causal LM: targets are the inputs shifted by one; every position has a target.
    ctx.value("clm_inputs", " ".join(words[:5]) + " ...")
    ctx.value("clm_targets", " ".join(words[1:6]) + " ...")
    ctx.value("clm_n_targets", n - 1)
    ctx.value("clm_frac", (n - 1) / n)
    ctx.value("mlm_frac_toy", int(sel.sum()) / n)
    k = 5
    ctx.value("clm_mask_n", k)
    ctx.value("clm_mask_text", "\n".join(" ".join("1" if j <= i else "0" for j in range(k)) for i in range(k)))

    # Bidirectional vs causal: change one later token and see which outputs move.
    torch.manual_seed(0)
    d = 32
    emb = nn.Embedding(v, d)
    layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True)
    n_layers = 2
    enc = nn.TransformerEncoder(layer, num_layers=n_layers, enable_nested_tensor=False)
    ctx.value("leak_layers", n_layers)
    x = ids[:8].unsqueeze(0)
    x2 = x.clone()
    pos = 5
    x2[0, pos] = tok["woods"]
    causal = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
    with torch.no_grad():
        bi = (enc(emb(x)) - enc(emb(x2)))[0, :pos].abs().max()
        ca = (enc(emb(x), mask=causal, is_causal=True) - enc(emb(x2), mask=causal, is_causal=True))[0, :pos]
    ctx.value("leak_pos", pos)
    ctx.value("leak_bi", bi)
    ctx.value("leak_causal", ca.abs().max())
    ctx.value("leak_n", x.shape[1])


# --------------------------------------------------------------------------------------------
# 3. Encoder-decoder, teacher forcing
# --------------------------------------------------------------------------------------------
def seq2seq(ctx):
    src_words, tgt_words = TOY_SOURCE.split(), TOY_TARGET.split()
    src_vocab = sorted(set(src_words))
    tgt_vocab = ["[BOS]", "[EOS]", *sorted(set(tgt_words) | {"a", "dog", "sits"})]
    src = torch.tensor([[src_vocab.index(w) for w in src_words]])
    tgt = torch.tensor([[tgt_vocab.index(w) for w in [*tgt_words, "[EOS]"]]])
    dec_in = torch.cat([torch.tensor([[0]]), tgt[:, :-1]], dim=1)  # shift right, start with [BOS]
    ctx.value("s2s_src", " ".join(src_words))
    ctx.value("s2s_tgt", " ".join(tgt_words))
    ctx.value("s2s_dec_in", " ".join(tgt_vocab[i] for i in dec_in[0]))
    ctx.value("s2s_targets", " ".join(tgt_vocab[i] for i in tgt[0]))

    torch.manual_seed(0)
    d = 32
    model = nn.Transformer(d, 4, 2, 2, 64, dropout=0.0, batch_first=True)
    s_emb, t_emb = nn.Embedding(len(src_vocab), d), nn.Embedding(len(tgt_vocab), d)
    head = nn.Linear(d, len(tgt_vocab))
    model.eval()
    with torch.no_grad():
        memory = model.encoder(s_emb(src))
        t = dec_in.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        full = model.decoder(t_emb(dec_in), memory, tgt_mask=mask, tgt_is_causal=True)
        logits = head(full)
        # Step by step: feed the prefix up to position i, keep only the last output.
        steps = []
        for i in range(1, t + 1):
            m = nn.Transformer.generate_square_subsequent_mask(i)
            steps.append(model.decoder(t_emb(dec_in[:, :i]), memory, tgt_mask=m, tgt_is_causal=True)[:, -1])
        stepwise = torch.stack(steps, dim=1)
    ctx.value("s2s_src_shape", src.shape)
    ctx.value("s2s_memory_shape", memory.shape)
    ctx.value("s2s_dec_in_shape", dec_in.shape)
    ctx.value("s2s_logits_shape", logits.shape)
    ctx.value("s2s_dec_out_shape", full.shape)
    ctx.value("s2s_tgt_vocab", len(tgt_vocab))
    ctx.value("s2s_parallel_vs_steps", (full - stepwise).abs().max())
    agree(ctx, "s2s_parallel_tol", (full - stepwise).abs().max(), 1e-5)
    ctx.value("s2s_d", d)
    ctx.value("s2s_heads", 4)
    ctx.value("s2s_layers", 2)
    ctx.value("s2s_loss_positions", tgt.numel())


# --------------------------------------------------------------------------------------------
# 4. Generation loop, KV cache
# --------------------------------------------------------------------------------------------
def kv_cache(ctx):
    # One causal self-attention layer: cached incremental decoding vs recomputing the whole prefix.
    torch.manual_seed(0)
    d, n = 16, 10
    wq, wk, wv = (nn.Linear(d, d, bias=False) for _ in range(3))
    x = torch.randn(n, d)
    with torch.no_grad():
        q, k, v = wq(x), wk(x), wv(x)
        full = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
        ks, vs, outs = [], [], []
        for t in range(n):  # a new token arrives: compute only its q, k, v; reuse cached k, v
            ks.append(wk(x[t]))
            vs.append(wv(x[t]))
            w = torch.softmax(torch.stack(ks) @ wq(x[t]) / math.sqrt(d), dim=0)
            outs.append(w @ torch.stack(vs))
        cached = torch.stack(outs)
    ctx.value("kv_err", (full - cached).abs().max())
    agree(ctx, "kv_tol", (full - cached).abs().max(), 1e-5)
    ctx.value("kv_d", d)

    # The card's greedy loop runs on a tiny causal LM (embedding, 1 causal layer, head).
    class TinyLM(nn.Module):
        def __init__(self, vocab, dim):
            super().__init__()
            self.emb = nn.Embedding(vocab, dim)
            self.layer = nn.TransformerEncoderLayer(dim, 2, 2 * dim, batch_first=True)
            self.head = nn.Linear(dim, vocab)

        def forward(self, ids):
            m = nn.Transformer.generate_square_subsequent_mask(ids.shape[1])
            return self.head(self.layer(self.emb(ids), src_mask=m, is_causal=True))

    torch.manual_seed(0)
    lm = TinyLM(20, 16)
    out_ids = greedy_card_code(lm, torch.tensor([[1, 2, 3]]), 8, eos_id=19)
    ctx.value("gen_loop_ran", out_ids.shape[1] > 3)
    ctx.value("gen_loop_training_after", lm.training)
    ctx.value("kv_n", n)

    g = GPT2_SMALL
    bytes_fp16 = 2
    ctx.value("kv_bytes", bytes_fp16)
    cache = 2 * g["layers"] * g["max_pos"] * g["d"] * bytes_fp16  # K and V, every layer, every position
    ctx.value("kv_gpt2_mib", cache / 2**20)
    ctx.value("kv_positions_recompute", g["max_pos"] * (g["max_pos"] + 1) // 2)
    ctx.value("kv_positions_cached", g["max_pos"])


# --------------------------------------------------------------------------------------------
# 5. Decoding a fixed next-token distribution
# --------------------------------------------------------------------------------------------
def decoding(ctx):
    words = ["sat", "slept", "ran", "was", "jumped", "ate", "purred", "."]
    logits = torch.tensor([2.0, 1.5, 1.2, 0.8, 0.3, 0.0, -0.5, -1.0])
    probs = torch.softmax(logits, -1)
    ctx.value("dec_prompt", "The cat")
    ctx.value("dec_words", ", ".join(words))
    ctx.value("dec_logits", logits)
    ctx.value("dec_probs", probs)
    ctx.value("dec_greedy", words[int(probs.argmax())])
    ctx.value("dec_greedy_p", probs.max())
    ctx.value("dec_v", len(words))

    k = 3
    pk = torch.softmax(top_k_filter(logits, k), -1)
    ctx.value("topk_k", k)
    ctx.value("topk_kept", ", ".join(w for w, p in zip(words, pk, strict=True) if p > 0))
    ctx.value("topk_probs_kept", pk[pk > 0])
    ctx.value("topk_mass_before", probs[pk > 0].sum())

    top_p = 0.9
    pp = torch.softmax(top_p_filter(logits, top_p), -1)
    kept = pp > 0
    ctx.value("topp_p", top_p)
    ctx.value("topp_kept", ", ".join(w for w, m in zip(words, kept, strict=True) if m))
    ctx.value("topp_n_kept", int(kept.sum()))
    ctx.value("topp_dropped", ", ".join(w for w, m in zip(words, kept, strict=True) if not m))
    ctx.value("topp_cum", probs.sort(descending=True).values.cumsum(0))
    ctx.value("topp_mass", probs[kept].sum())
    ctx.value("topp_probs_kept", pp[kept])

    # Sampling from the nucleus: no dropped token is ever drawn.
    draws = torch.multinomial(pp, 10_000, replacement=True)
    ctx.value("sample_n", draws.numel())
    ctx.value("sample_outside", int((~kept[draws]).sum()))
    ctx.value("sample_freq", torch.bincount(draws, minlength=len(words))[kept].float() / draws.numel())

    # Top-p adapts to the shape of the distribution; top-k does not.
    peaked = torch.tensor([5.0, 2.0, 1.0, 0.5, 0.0, 0.0, -0.5, -1.0])
    flat = torch.tensor([0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.0, -0.05])
    for name, lg in (("peaked", peaked), ("flat", flat)):
        ctx.value(f"adapt_{name}_top", torch.softmax(lg, -1).max())
        ctx.value(f"adapt_{name}_topp_n", int((torch.softmax(top_p_filter(lg, top_p), -1) > 0).sum()))
        ctx.value(f"adapt_{name}_topk_n", int((torch.softmax(top_k_filter(lg, k), -1) > 0).sum()))

    # Temperature: entropy and nucleus size.
    temps = [0.5, 1.0, 2.0]
    ctx.value("temps", temps)
    ctx.value("ent_max", math.log2(len(words)))
    by_t = {}
    for t in temps:
        pt = torch.softmax(logits / t, -1)
        by_t[t] = pt.tolist()
        tag = str(t).replace(".", "")
        ctx.value(f"ent_T{tag}", entropy_bits(pt))
        ctx.value(f"top_T{tag}", pt.max())
        ctx.value(f"topp_n_T{tag}", int((torch.softmax(top_p_filter(logits / t, top_p), -1) > 0).sum()))

    p_list, pk_list, pp_list = probs.tolist(), pk.tolist(), pp.tolist()

    def draw_filters(fig):
        ax = fig.subplots()
        xs = range(len(words))
        wbar = 0.27
        ax.bar([x - wbar for x in xs], p_list, wbar, label="softmax", color="C0")
        ax.bar(list(xs), pk_list, wbar, label=f"top-k, k={k}", color="C1")
        ax.bar([x + wbar for x in xs], pp_list, wbar, label=f"top-p, p={top_p}", color="C2")
        ax.set_xticks(list(xs), words, rotation=45)
        ax.set_ylabel("probability")
        ax.set_title("Next token after “The cat”")
        ax.legend(loc="upper right", fontsize=9)

    ctx.figure("topk_topp", draw_filters, height=3.2)

    def draw_temps(fig):
        ax = fig.subplots()
        xs = range(len(words))
        wbar = 0.27
        for i, t in enumerate(temps):
            ent = entropy_bits(torch.tensor(by_t[t]))
            ax.bar([x + (i - 1) * wbar for x in xs], by_t[t], wbar, color=f"C{i}", label=f"T={t:g}: {ent:.2f} bits")
        ax.set_xticks(list(xs), words, rotation=45)
        ax.set_ylabel("probability")
        ax.set_title("Temperature and entropy")
        ax.legend(loc="upper right", fontsize=9)

    ctx.figure("temperature_entropy", draw_temps, height=3.2)


# --------------------------------------------------------------------------------------------
# 6. Beam search vs greedy
# --------------------------------------------------------------------------------------------
def beams(ctx):
    first = {"is": 0.5, "sat": 0.4, "ran": 0.1}
    second = {
        "is": {"happy": 0.4, "here": 0.3, "asleep": 0.3},
        "sat": {"down": 0.9, "up": 0.05, "still": 0.05},
        "ran": {"away": 0.7, "off": 0.2, "home": 0.1},
    }

    def next_probs(prefix):
        return first if not prefix else second[prefix[0]]

    width = 2
    greedy = beam_search(next_probs, 2, width=1)[0]
    beam = beam_search(next_probs, 2, width=width)
    exhaustive = beam_search(next_probs, 2, width=100)[0]
    ctx.value("bs_prompt", "The cat")
    ctx.value("bs_first", ", ".join(f"{w} {p:g}" for w, p in first.items()))
    ctx.value("bs_after_is", ", ".join(f"{w} {p:g}" for w, p in second["is"].items()))
    ctx.value("bs_after_sat", ", ".join(f"{w} {p:g}" for w, p in second["sat"].items()))
    ctx.value("bs_greedy_seq", " ".join(greedy[0]))
    ctx.value("bs_greedy_p", greedy[1])
    ctx.value("bs_beam_width", width)
    ctx.value("bs_beam_seq", " ".join(beam[0][0]))
    ctx.value("bs_beam_p", beam[0][1])
    ctx.value("bs_beam_second", " ".join(beam[1][0]))
    ctx.value("bs_beam_second_p", beam[1][1])
    ctx.value("bs_best_seq", " ".join(exhaustive[0]))
    ctx.value("bs_best_p", exhaustive[1])
    ctx.value("bs_first_sat", first["sat"])
    ctx.value("bs_first_is", first["is"])
    ctx.value("bs_n_sequences", sum(len(v) for v in second.values()))
    kept_first = {seq[0] for seq, _ in beam_search(next_probs, 1, width=width)}

    def draw_tree(fig):
        ax = fig.subplots()
        ax.set_axis_off()
        ax.set_xlim(-0.3, 2.6)
        leaves_y = 8
        ax.text(0, 4, "The cat", ha="center", va="center", fontsize=10)
        for i, (w1, p1) in enumerate(first.items()):
            y1 = 7 - 3 * i
            pruned = w1 not in kept_first
            alpha = 0.3 if pruned else 1.0
            col1 = "C0" if w1 == greedy[0][0] else ("C1" if w1 == beam[0][0][0] else "C2")
            ax.plot([0.25, 0.85], [4, y1], color=col1, alpha=alpha, lw=2)
            ax.text(1.0, y1, f"{w1}\n{p1:g}", ha="center", va="center", fontsize=9, alpha=alpha)
            for j, (w2, p2) in enumerate(second[w1].items()):
                y2 = y1 + 1 - j
                on_greedy = (w1, w2) == greedy[0]
                on_beam = (w1, w2) == beam[0][0]
                col = "C0" if on_greedy else ("C1" if on_beam else "C2")
                lw = 2.5 if (on_greedy or on_beam) else 1
                ax.plot([1.2, 1.7], [y1, y2], color=col, alpha=alpha, lw=lw)
                ax.text(1.75, y2, f"{w2} {p2:g}  → {p1 * p2:.3g}", ha="left", va="center", fontsize=9, alpha=alpha)
        ax.plot([], [], color="C0", lw=2.5, label=f"greedy: {greedy[1]:.2f}")
        ax.plot([], [], color="C1", lw=2.5, label=f"beam (width {width}): {beam[0][1]:.2f}")
        ax.legend(loc="lower left", fontsize=9, frameon=False)
        ax.set_ylim(-1.6, leaves_y + 0.5)
        ax.set_title("Greedy vs beam search")

    ctx.figure("beam_tree", draw_tree, height=3.6)


# --------------------------------------------------------------------------------------------
# 7. Repetition
# --------------------------------------------------------------------------------------------
def repetition(ctx):
    vocab = ["the", "cat", "sat", "on", "mat", "and", "slept", "."]
    ix = {w: i for i, w in enumerate(vocab)}
    bigram = torch.zeros(len(vocab), len(vocab))  # logits of the next word given the previous one
    for prev, nxt, logit in [
        ("the", "cat", 2.0), ("the", "mat", 1.6), ("cat", "sat", 2.0), ("cat", "slept", 1.0),
        ("sat", "on", 2.0), ("on", "the", 2.0), ("mat", ".", 1.5), ("mat", "and", 1.4),
        ("and", "slept", 2.0), ("slept", ".", 2.0),
    ]:  # fmt: skip
        bigram[ix[prev], ix[nxt]] = logit

    def generate(penalty=1.0, max_new=12):
        """Greedy decoding; penalty > 1 is the CTRL repetition penalty on tokens already in the text."""
        seq = [ix["the"]]
        for _ in range(max_new):
            logits = bigram[seq[-1]].clone()
            seen = torch.tensor(sorted(set(seq)))
            logits[seen] = torch.where(logits[seen] > 0, logits[seen] / penalty, logits[seen] * penalty)
            seq.append(int(logits.argmax()))
            if vocab[seq[-1]] == ".":
                break
        return seq

    max_new = 12
    plain = generate(max_new=max_new)
    penalty = 1.3
    fixed = generate(penalty, max_new=max_new)
    ctx.value("rep_max_new", max_new)
    ctx.value("rep_greedy", " ".join(vocab[i] for i in plain))
    ctx.value("rep_greedy_distinct", len(set(plain)) / len(plain))
    ctx.value("rep_penalty", penalty)
    ctx.value("rep_fixed", " ".join(vocab[i] for i in fixed))
    ctx.value("rep_the_cat", float(bigram[ix["the"], ix["cat"]]))
    ctx.value("rep_the_cat_pen", float(bigram[ix["the"], ix["cat"]]) / penalty)
    ctx.value("rep_the_mat", float(bigram[ix["the"], ix["mat"]]))
    ctx.value("rep_argmax_chain", ", ".join(
        f"{w}→{vocab[int(bigram[ix[w]].argmax())]}" for w in ("the", "cat", "sat", "on")))


def compute(ctx):
    families(ctx)
    objectives(ctx)
    seq2seq(ctx)
    kv_cache(ctx)
    decoding(ctx)
    beams(ctx)
    repetition(ctx)
