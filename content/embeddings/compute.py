"""Embeddings: the lookup table, its cost, its gradients, padding_idx, and toy word vectors.

Everything runs on tiny synthetic data; no pretrained vectors are downloaded, so the analogy
vectors below are hand-made and labelled synthetic on the cards.
"""

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

# A toy corpus: three topics, each with two "center" words and three context words.
# cat and dog never appear in the same sentence; they only share context words.
GROUPS = {
    "animals": (["cat", "dog"], ["pet", "fur", "vet"]),
    "vehicles": (["car", "bus"], ["road", "wheel", "fuel"]),
    "food": (["apple", "bread"], ["eat", "bake", "taste"]),
}


def toy_sentences(n_per_group, gen):
    """Sentences of one center word plus two distinct context words from the same topic."""
    sents = []
    for centers, contexts in GROUPS.values():
        for _ in range(n_per_group):
            c = centers[int(torch.randint(len(centers), (1,), generator=gen))]
            picked = torch.randperm(len(contexts), generator=gen)[:2]
            sents.append([c] + [contexts[int(i)] for i in picked])
    return sents


def skipgram_pairs(sentence, window):
    """(center, context) pairs: every word within `window` positions of the center."""
    pairs = []
    for i, w in enumerate(sentence):
        for j in range(max(0, i - window), min(len(sentence), i + window + 1)):
            if j != i:
                pairs.append((w, sentence[j]))
    return pairs


def cos(a, b):
    """Cosine similarity of two 1-D tensors, as a float."""
    return F.cosine_similarity(a, b, dim=0).item()


def compute(ctx):
    # ------------------------------------------------------------------ the lookup table
    vocab, dim = 10_000, 128
    emb = nn.Embedding(vocab, dim)
    ids = torch.randint(0, vocab, (2, 4))
    out = emb(ids)
    ctx.value("ex_vocab", vocab)
    ctx.value("ex_dim", dim)
    ctx.value("ex_ids_shape", ids.shape)
    ctx.value("ex_out_shape", out.shape)
    ctx.value("ex_weight_shape", emb.weight.shape)
    ctx.value("ex_params", emb.weight.numel())
    ctx.value("ex_init_std", emb.weight.detach().std())  # default init: N(0, 1)
    # Row lookup: out[b, t] is exactly row ids[b, t] of the weight matrix.
    ctx.value("ex_row_lookup_diff", (out[1, 2] - emb.weight[ids[1, 2]]).abs().max().detach())

    # Same result as one-hot @ W: the one-hot matmul only ever multiplies by 0 or 1.
    onehot = F.one_hot(ids, vocab).float()  # (2, 4, vocab)
    via_matmul = onehot @ emb.weight
    ctx.value("onehot_shape", onehot.shape)
    ctx.value("onehot_max_diff", (via_matmul - out).abs().max().detach())
    # nn.Linear stores its weight as (out, in): a bias-free Linear(vocab, dim) on one-hots is the
    # same map with the transposed weight.
    lin = nn.Linear(vocab, dim, bias=False)
    with torch.no_grad():
        lin.weight.copy_(emb.weight.T)
        ctx.value("linear_max_diff", (lin(onehot) - out).abs().max())
    ctx.value("linear_weight_shape", lin.weight.shape)

    # Cost of the one-hot route vs a gather, for the (2, 4) example.
    n_tok = ids.numel()
    ctx.value("ex_tokens", n_tok)
    ctx.value("onehot_floats", onehot.numel())
    ctx.value("onehot_bytes", onehot.numel() * onehot.element_size())
    ctx.value("onehot_macs", n_tok * vocab * dim)  # (n_tok x vocab) @ (vocab x dim)
    ctx.value("lookup_copies", n_tok * dim)  # n_tok rows of dim floats, no arithmetic
    ctx.value("cost_ratio", vocab)
    # A realistic batch: the one-hot tensor alone would not fit in most GPUs.
    big_batch, big_seq, big_vocab = 32, 512, 50_000
    ctx.value("big_batch", big_batch)
    ctx.value("big_seq", big_seq)
    ctx.value("big_vocab", big_vocab)
    ctx.value("big_onehot_gb", big_batch * big_seq * big_vocab * 4 / 1e9)  # float32
    ctx.value("big_out_mb", big_batch * big_seq * dim * 4 / 1e6)

    # One-hot vectors carry no similarity: every pair is orthogonal and equally far apart.
    eye = torch.eye(5)
    cos_mat = F.cosine_similarity(eye.unsqueeze(1), eye.unsqueeze(0), dim=-1)
    off = ~torch.eye(5, dtype=torch.bool)
    ctx.value("onehot_cos_offdiag", cos_mat[off].abs().max())
    dists = torch.cdist(eye, eye)[off]
    ctx.value("onehot_dist", dists.max())
    ctx.value("onehot_dist_spread", dists.max() - dists.min())
    assert float(dists.max() - dists.min()) <= 1e-6
    ctx.value("onehot_dist_tol", 1e-6)

    # ------------------------------------------------------------------ gradients touch looked-up rows only
    small = nn.Embedding(10, 3)
    g_ids = torch.tensor([1, 3, 3, 7])
    small(g_ids).sum().backward()
    nz_rows = small.weight.grad.abs().sum(dim=1).nonzero().flatten()
    ctx.value("grad_ids", g_ids)
    ctx.value("grad_rows", small.num_embeddings)
    ctx.value("grad_dim", small.embedding_dim)
    ctx.value("grad_nonzero_rows", nz_rows)
    ctx.value("grad_row3", small.weight.grad[3])  # looked up twice: gradients add
    ctx.value("grad_row1", small.weight.grad[1])

    sp = nn.Embedding(vocab, dim, sparse=True)
    sp(ids).sum().backward()
    ctx.value("sparse_is_sparse", sp.weight.grad.is_sparse)
    ctx.value("sparse_values_shape", sp.weight.grad.coalesce().values().shape)
    ctx.value("dense_grad_numel", sp.weight.numel())
    accepts = []
    for opt_cls in (torch.optim.SGD, torch.optim.SparseAdam, torch.optim.Adagrad, torch.optim.Adam):
        try:
            with warnings.catch_warnings():  # Adagrad warns about unchecked sparse invariants
                warnings.simplefilter("ignore", UserWarning)
                opt_cls(sp.parameters(), lr=0.1).step()
            accepts.append(opt_cls.__name__)
        except RuntimeError as err:
            ctx.value("adam_sparse_error", str(err).split(",")[0])  # only Adam should fail
    ctx.value("sparse_optimizers", ", ".join(accepts))

    # Dense Adam keeps moving a row after it leaves the batch (momentum); SparseAdam does not.
    def row_drift(opt_cls, sparse):
        """How far row 1 moves on step 2, when step 1 looked up row 1 and step 2 only row 2."""
        torch.manual_seed(0)
        e = nn.Embedding(10, 3, sparse=sparse)
        opt = opt_cls(e.parameters(), lr=0.1)
        for step_ids in ([1], [2]):
            before = e.weight.detach()[1].clone()
            opt.zero_grad()
            e(torch.tensor(step_ids)).pow(2).sum().backward()
            opt.step()
        return (e.weight.detach()[1] - before).abs().max()

    ctx.value("drift_lr", 0.1)
    ctx.value("drift_adam", row_drift(torch.optim.Adam, False))
    ctx.value("drift_sparse_adam", row_drift(torch.optim.SparseAdam, True))

    # ------------------------------------------------------------------ padding_idx
    pad = nn.Embedding(5, 3, padding_idx=0)
    ctx.value("pad_num", pad.num_embeddings)
    ctx.value("pad_dim", pad.embedding_dim)
    ctx.value("pad_init_row", pad.weight.detach()[0])
    p_ids = torch.tensor([[4, 2, 0, 0]])  # a sentence padded to length 4
    ctx.value("pad_ids", p_ids[0])
    pad(p_ids).sum().backward()
    ctx.value("pad_grad_row", pad.weight.grad[0])

    pretrained = torch.randn(5, 3)  # stands in for vectors loaded from disk
    loaded = nn.Embedding.from_pretrained(pretrained, padding_idx=0)
    ctx.value("pretrained_requires_grad", loaded.weight.requires_grad)  # freeze=True by default
    loaded = nn.Embedding.from_pretrained(pretrained, freeze=False, padding_idx=0)
    ctx.value("pretrained_pad_row", loaded.weight.detach()[0])
    ctx.value("pretrained_pad_norm", loaded.weight.detach()[0].norm())
    opt = torch.optim.SGD(loaded.parameters(), lr=0.5)
    row0 = loaded.weight.detach()[0].clone()
    loaded(p_ids).sum().backward()
    ctx.value("pretrained_pad_grad", loaded.weight.grad[0])
    opt.step()
    ctx.value("pretrained_pad_moved", (loaded.weight.detach()[0] - row0).abs().max())
    # With weight decay the optimizer does move the pad row (towards zero): decay is added to the
    # zero gradient of the dense weight, so "stays forever" holds only without weight decay.
    wd = nn.Embedding.from_pretrained(pretrained.clone(), freeze=False, padding_idx=0)
    ctx.value("pad_wd", 0.1)
    opt_wd = torch.optim.SGD(wd.parameters(), lr=0.5, weight_decay=0.1)
    wd(p_ids).sum().backward()
    opt_wd.step()
    ctx.value("pretrained_pad_moved_wd", (wd.weight.detach()[0] - pretrained[0]).abs().max())
    # The same trap through weight.data.copy_ on a freshly built layer.
    copied = nn.Embedding(5, 3, padding_idx=0)
    copied.weight.data.copy_(pretrained)
    ctx.value("copy_pad_norm", copied.weight.detach()[0].norm())
    # Consequence: a mean over the padded sentence now depends on how much padding there is.
    with torch.no_grad():
        short = loaded(torch.tensor([4, 2])).mean(0)
        padded = loaded(p_ids[0]).mean(0)
        ctx.value("pad_mean_shift", (short - padded).norm())
        loaded.weight[0].zero_()  # the fix: zero the padding row after loading
        ctx.value("pad_fixed_row", loaded.weight[0])

    # ------------------------------------------------------------------ toy skip-gram: shared contexts -> close vectors
    gen = torch.Generator().manual_seed(0)
    sents = toy_sentences(40, gen)
    words = [w for centers, contexts in GROUPS.values() for w in centers + contexts]
    index = {w: i for i, w in enumerate(words)}
    window = 2
    pairs = [p for s in sents for p in skipgram_pairs(s, window)]
    center = torch.tensor([index[a] for a, _ in pairs])
    context = torch.tensor([index[b] for _, b in pairs])
    cat_dog_cooccur = sum(("cat" in s) and ("dog" in s) for s in sents)

    toy_dim, toy_steps = 16, 200
    E = nn.Embedding(len(words), toy_dim)  # input (word) vectors
    U = nn.Linear(toy_dim, len(words), bias=False)  # output (context) vectors
    with torch.no_grad():  # word2vec's init: small random inputs, zero outputs
        E.weight.uniform_(-0.5 / toy_dim, 0.5 / toy_dim)
        U.weight.zero_()
    w0 = E.weight.detach().clone()
    opt = torch.optim.Adam([*E.parameters(), *U.parameters()], lr=0.05)
    for _ in range(toy_steps):
        loss = F.cross_entropy(U(E(center)), context)  # full softmax: the vocabulary is tiny
        opt.zero_grad()
        loss.backward()
        opt.step()
    W = E.weight.detach()

    ctx.value("toy_vocab", len(words))
    ctx.value("toy_sentences", len(sents))
    ctx.value("toy_pairs", len(pairs))
    ctx.value("toy_dim", toy_dim)
    ctx.value("toy_steps", toy_steps)
    ctx.value("toy_cat_dog_cooccur", cat_dog_cooccur)
    ctx.value("toy_cos_cat_dog_init", cos(w0[index["cat"]], w0[index["dog"]]))
    ctx.value("toy_cos_cat_dog", cos(W[index["cat"]], W[index["dog"]]))
    ctx.value("toy_cos_car_bus", cos(W[index["car"]], W[index["bus"]]))
    ctx.value("toy_cos_apple_bread", cos(W[index["apple"]], W[index["bread"]]))
    ctx.value("toy_cos_cat_car", cos(W[index["cat"]], W[index["car"]]))
    ctx.value("toy_cos_cat_apple", cos(W[index["cat"]], W[index["apple"]]))

    # PCA of the trained vectors to 2-D for the figure.
    Wc = W - W.mean(0)
    _, _, V = torch.linalg.svd(Wc, full_matrices=False)
    xy = (Wc @ V[:2].T).tolist()

    def draw_toy(fig):
        ax = fig.subplots()
        for k, (centers, contexts) in enumerate(GROUPS.values()):
            cx = [xy[index[w]][0] for w in contexts]
            cy = [xy[index[w]][1] for w in contexts]
            ax.plot(cx, cy, ".", color=f"C{k}", ms=8, label="context words" if k == 0 else None)
            px = [xy[index[w]][0] for w in centers]
            py = [xy[index[w]][1] for w in centers]
            ax.plot(px, py, "o", color=f"C{k}", ms=10, mfc="none", mew=2)
            ax.annotate(
                " & ".join(centers),
                (sum(px) / 2, sum(py) / 2),
                xytext=(0, 10),
                textcoords="offset points",
                ha="center",
                color=f"C{k}",
                fontweight="bold",
            )
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_title("Toy skip-gram vectors (PCA)")
        ax.legend(loc="best", fontsize="small")
        ax.margins(0.2)

    ctx.figure("toy_embedding_pca", draw_toy, height=3.4)

    # Cost per token as the vocabulary grows: one-hot matmul vs lookup.
    vocab_grid = [10**k for k in range(2, 7)]

    def draw_cost(fig):
        ax = fig.subplots()
        ax.loglog(vocab_grid, [v * dim for v in vocab_grid], marker="o", label="one-hot @ W: multiply-adds")
        ax.loglog(vocab_grid, vocab_grid, marker="s", label="one-hot vector: floats")
        ax.loglog(vocab_grid, [dim] * len(vocab_grid), marker="^", label="lookup: floats copied")
        ax.axvline(vocab, color="C3", ls=":", lw=1.5)
        ax.annotate(f"V = {vocab:,}", (vocab, 1e3), xytext=(4, 0), textcoords="offset points", color="C3")
        ax.set_xlabel("vocabulary size")
        ax.set_ylabel(f"per token (dim {dim})")
        ax.set_title("One-hot matmul vs lookup")
        ax.legend(fontsize="small", loc="upper left")

    ctx.figure("onehot_vs_lookup_cost", draw_cost, height=3.2)

    # ------------------------------------------------------------------ word2vec details
    sentence = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    w2v_window = 2
    sent_pairs = skipgram_pairs(sentence, w2v_window)
    ctx.value("w2v_sentence", " ".join(sentence))
    ctx.value("w2v_window", w2v_window)
    ctx.value("w2v_span", 2 * w2v_window + 1)
    ctx.value("w2v_n_words", len(sentence))
    ctx.value("w2v_n_pairs", len(sent_pairs))
    fox_contexts = [c for w, c in sent_pairs if w == "fox"]
    ctx.value("w2v_fox_contexts", ", ".join(fox_contexts))
    ctx.value("w2v_fox_n", len(fox_contexts))
    # Published constants (Mikolov et al. 2013; Pennington et al. 2014), not computed.
    ctx.value("neg_power", 0.75)
    ctx.value("glove_xmax", 100)
    ctx.value("glove_alpha", 0.75)

    # ------------------------------------------------------------------ analogy arithmetic (SYNTHETIC vectors)
    # Axes: royalty, maleness, plus two nuisance features; small noise makes it non-exact.
    base = {
        "king": [1.0, 1.0, 0.2, 0.1],
        "queen": [1.0, -1.0, 0.2, 0.1],
        "man": [0.0, 1.0, 0.3, 0.0],
        "woman": [0.0, -1.0, 0.3, 0.0],
        "apple": [0.0, 0.0, -1.0, 1.0],
        "car": [0.0, 0.1, 1.0, -1.0],
    }
    syn = {w: torch.tensor(v) + 0.1 * torch.randn(4) for w, v in base.items()}
    target = syn["king"] - syn["man"] + syn["woman"]
    scores = {w: cos(target, v) for w, v in syn.items() if w not in ("king", "man", "woman")}
    best = max(scores, key=scores.get)
    ctx.value("analogy_dim", len(base["king"]))
    ctx.value("analogy_best", best)
    ctx.value("analogy_best_cos", scores[best])
    ctx.value("analogy_runner_up_cos", sorted(scores.values())[-2])
    ctx.value("analogy_offset_cos", cos(syn["woman"] - syn["man"], syn["queen"] - syn["king"]))

    def draw_analogy(fig):
        ax = fig.subplots()
        pts = {w: syn[w][:2].tolist() for w in ("king", "queen", "man", "woman")}
        for a, b, k in (("man", "woman", 0), ("king", "queen", 1)):
            ax.annotate("", pts[b], pts[a], arrowprops={"arrowstyle": "->", "color": f"C{k}", "lw": 2})
        for w, (x, y) in pts.items():
            ax.plot(x, y, "o", color="C2")
            offset = (-48, 4) if w == "queen" else (6, 4)  # keep clear of the x marker
            ax.annotate(w, (x, y), xytext=offset, textcoords="offset points")
        tx, ty = target[:2].tolist()
        ax.plot(tx, ty, "x", color="C3", ms=10, mew=2)
        ax.annotate(
            "king - man + woman",
            (tx, ty),
            xytext=(-10, -16),
            textcoords="offset points",
            color="C3",
            ha="center",
            fontsize="small",
        )
        ax.set_xlabel("feature 1 (royalty)")
        ax.set_ylabel("feature 2 (male)")
        ax.set_title("Synthetic vectors: parallel offsets")
        ax.margins(0.25)

    ctx.figure("analogy_synthetic", draw_analogy, height=3.2)

    # ------------------------------------------------------------------ static vs contextual
    # An (untrained) Transformer layer already shows the mechanism: the same token id gets a
    # different output vector in a different sentence; a static table returns the same row.
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
    layer.eval()
    tok = nn.Embedding(20, 16)
    s1 = torch.tensor([[5, 9, 3]])
    s2 = torch.tensor([[7, 9, 1]])  # token 9 ("bank") in another sentence, same position
    with torch.no_grad():
        ctx.value("static_cos", cos(tok(s1)[0, 1], tok(s2)[0, 1]))
        ctx.value("contextual_cos", cos(layer(tok(s1))[0, 1], layer(tok(s2))[0, 1]))


# --------------------------------------------------------------------------------------------
# Drill: parameters of a Transformer's input embedding block (token table, learned positions,
# LayerNorm). Built on the meta device: real modules, counted with p.numel(), no memory used.
# --------------------------------------------------------------------------------------------
def embed_block_params(V, T, d):
    with torch.device("meta"):
        block = nn.ModuleList([nn.Embedding(V, d), nn.Embedding(T, d), nn.LayerNorm(d)])
    n = sum(p.numel() for p in block.parameters())
    formula = (V + T) * d + 2 * d
    assert n == formula, (n, formula)
    return {"n": n, "cite": CITE.get((V, T, d), "")}


# Published configurations among the drill's instances (vocabulary, context, width).
CITE = {
    (30522, 512, 768): "These are BERT-base's sizes (Devlin et al., 2019, *BERT*).",
    (50257, 1024, 768): "These are GPT-2 small's sizes (Radford et al., 2019, *Language Models are Unsupervised "
                        "Multitask Learners*).",
}
