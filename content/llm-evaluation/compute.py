"""Evaluating LLMs: perplexity, bits per byte, pass@k, contamination, benchmark noise.

Sections (in card order):
  1. Perplexity from token probabilities, checked against F.cross_entropy; the uniform model; the
     shift-by-one in code; corpus perplexity vs the mean of per-sequence perplexities.
  2. Perplexity across tokenizers: the same total log-likelihood over different token counts, and
     real token-level bigram models for byte-level BPEs of several sizes (content/_lib/bpe.py),
     trained on the English corpus written for the cards (content/_lib/corpus.py).
  3. pass@k: the unbiased estimator of Chen et al. (2021) in its numerically stable form, checked
     against binomial coefficients; the naive plug-in estimator's bias, exactly and by simulation.
  4. Contamination: word n-gram overlap between a benchmark item and training documents.
  5. Benchmark noise and multiple-choice scoring.
"""

import itertools
import math
from collections import Counter

import torch
import torch.nn.functional as F
from _lib import bpe, corpus


# --------------------------------------------------------------------------------------------
# 1. Perplexity
# --------------------------------------------------------------------------------------------
def perplexity(ctx):
    probs = [0.5, 0.25, 0.125, 0.5]
    nll = [-math.log(p) for p in probs]
    ppl = math.exp(sum(nll) / len(nll))
    ctx.value("pp_probs", probs)
    ctx.value("pp_nll", nll)
    ctx.value("pp_mean_nll", sum(nll) / len(nll))
    ctx.value("pp_ppl", ppl)
    ctx.value("pp_bits", sum(nll) / len(nll) / math.log(2))
    # The same from logits with F.cross_entropy: a vocabulary of 8, the target gets probability p and
    # the other 7 tokens share the rest.
    v = 8
    logits = torch.empty(len(probs), v, dtype=torch.float64)
    for i, p in enumerate(probs):
        logits[i] = math.log((1 - p) / (v - 1))
        logits[i, 0] = math.log(p)
    ce = F.cross_entropy(logits, torch.zeros(len(probs), dtype=torch.long))
    ctx.value("pp_ce_err", abs(math.exp(ce.item()) - ppl))
    assert abs(math.exp(ce.item()) - ppl) < 1e-9

    # A uniform model over V tokens has perplexity V.
    vocab = 50257
    ce_u = F.cross_entropy(torch.zeros(3, vocab), torch.tensor([0, 17, 50000]))
    ctx.value("pp_uniform_v", vocab)
    ctx.value("pp_uniform_ppl", math.exp(ce_u.item()))

    # Perplexity of a sequence from a causal LM's logits: shift by one.
    torch.manual_seed(0)
    b, n, vv = 2, 6, 11
    logits = torch.randn(b, n, vv)
    ids = torch.randint(0, vv, (b, n))
    right = torch.exp(F.cross_entropy(logits[:, :-1].reshape(-1, vv), ids[:, 1:].reshape(-1)))
    by_hand = torch.exp(-torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).mean())
    ctx.value("pp_code_err", (right - by_hand).abs())
    assert (right - by_hand).abs() < 1e-4
    ctx.value("pp_code_tol", 1e-4)

    # Corpus perplexity vs mean of per-sequence perplexities.
    la, na, lb, nb = 2.0, 10, 3.0, 100
    ctx.value("cp_a_nll", la)
    ctx.value("cp_a_n", na)
    ctx.value("cp_b_nll", lb)
    ctx.value("cp_b_n", nb)
    ctx.value("cp_a_ppl", math.exp(la))
    ctx.value("cp_b_ppl", math.exp(lb))
    ctx.value("cp_total_n", na + nb)
    ctx.value("cp_corpus", math.exp((la * na + lb * nb) / (na + nb)))
    ctx.value("cp_mean", (math.exp(la) + math.exp(lb)) / 2)


# --------------------------------------------------------------------------------------------
# 2. Across tokenizers, and bits per byte
# --------------------------------------------------------------------------------------------
def across_tokenizers(ctx):
    # The same text and the same total log-likelihood, two tokenizers.
    nbytes, total_nll, t_a, t_b = 1000, 800.0, 250, 400
    ctx.value("tt_bytes", nbytes)
    ctx.value("tt_nll", total_nll)
    ctx.value("tt_a", t_a)
    ctx.value("tt_b", t_b)
    ctx.value("tt_ppl_a", math.exp(total_nll / t_a))
    ctx.value("tt_ppl_b", math.exp(total_nll / t_b))
    ctx.value("tt_bpb", total_nll / math.log(2) / nbytes)
    ctx.value("tt_bpt_a", total_nll / math.log(2) / t_a)
    ctx.value("tt_bytes_per_tok_a", nbytes / t_a)
    # Converting back: per-token perplexity = 2^(bpb * bytes per token).
    ctx.value("tt_ppl_a_from_bpb", 2 ** (total_nll / math.log(2) / nbytes * nbytes / t_a))

    # Real models: token bigram LMs (interpolated with an add-one unigram) for byte-level BPEs of
    # growing vocabulary, trained on the English corpus, evaluated on held-out English.
    train, held = corpus.ENGLISH, corpus.HELD_OUT
    merges, _ = bpe.train_bpe(bpe.word_counts_bytes(train), 10_000)
    held_bytes = len(held.encode())
    rows = []
    for m in [0, 100, 200, 400, 800, len(merges)]:
        tok = bpe.ByteBPE(merges[:m])
        tr, te = tok.encode(train), tok.encode(held)
        v = len(tok.vocab)
        uni = Counter(tr)
        big = Counter(itertools.pairwise(tr))
        ctxc = Counter(tr[:-1])
        lam = 0.7

        def p(a, bb, uni=uni, tr=tr, v=v, big=big, ctxc=ctxc, lam=lam):
            pu = (uni[bb] + 1) / (len(tr) + v)
            pb = big[(a, bb)] / ctxc[a] if ctxc[a] else 0.0
            return lam * pb + (1 - lam) * pu if ctxc[a] else pu

        nll = -math.log((uni[te[0]] + 1) / (len(tr) + v))
        nll -= sum(math.log(p(a, bb)) for a, bb in itertools.pairwise(te))
        rows.append((v, len(te), math.exp(nll / len(te)), nll / math.log(2) / held_bytes))
    ctx.value("bg_vocab", [r[0] for r in rows])
    ctx.value("bg_tokens", [r[1] for r in rows])
    ctx.value("bg_ppl", [r[2] for r in rows])
    ctx.value("bg_bpb", [r[3] for r in rows])
    ctx.value("bg_ppl_bytes", rows[0][2])
    ctx.value("bg_bpb_bytes", rows[0][3])
    ctx.value("bg_ppl_big", rows[-1][2])
    ctx.value("bg_bpb_big", rows[-1][3])
    ctx.value("bg_vocab_big", rows[-1][0])
    best_bpb = min(range(len(rows)), key=lambda i: rows[i][3])
    ctx.value("bg_best_bpb_vocab", rows[best_bpb][0])
    ctx.value("bg_best_bpb", rows[best_bpb][3])
    ctx.value("bg_best_bpb_ppl", rows[best_bpb][2])
    ctx.value("bg_held_bytes", held_bytes)
    ctx.value("bg_train_chars", len(train))
    vocab = [r[0] for r in rows]
    ppl = [r[2] for r in rows]
    bpb = [r[3] for r in rows]

    def draw(fig):
        ax = fig.subplots()
        ax.plot(vocab, ppl, "o-", color="C0", label="perplexity per token")
        ax.set_xlabel("vocabulary size (byte-level BPE)")
        ax.set_ylabel("perplexity per token", color="C0")
        ax.set_yscale("log")
        ax2 = ax.twinx()
        ax2.plot(vocab, bpb, "s--", color="C1", label="bits per byte")
        ax2.set_ylabel("bits per byte", color="C1")
        ax2.set_ylim(0, max(bpb) * 1.3)
        ax2.grid(False)
        ax.set_title("Bigram LMs on the same held-out text", fontsize=10)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower right")

    ctx.figure("ppl_vs_bpb", draw)


# --------------------------------------------------------------------------------------------
# 3. pass@k
# --------------------------------------------------------------------------------------------
def pass_at_k(n, c, k):
    """Unbiased pass@k (Chen et al., 2021): 1 - C(n-c, k) / C(n, k), as a stable product."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def naive_pass_at_k(n, c, k):
    return 1.0 - (1.0 - c / n) ** k


def passk(ctx):
    n, c, k = 10, 3, 5
    ctx.value("pk_n", n)
    ctx.value("pk_c", c)
    ctx.value("pk_k", k)
    ctx.value("pk_unbiased", pass_at_k(n, c, k))
    ctx.value("pk_naive", naive_pass_at_k(n, c, k))
    ctx.value("pk_comb_num", math.comb(n - c, k))
    ctx.value("pk_n_minus_c", n - c)
    ctx.value("pk_miss_rate", 1 - c / n)
    ctx.value("pk_comb_den", math.comb(n, k))
    worst = max(abs(pass_at_k(nn, cc, kk) - (1 - math.comb(nn - cc, kk) / math.comb(nn, kk)))
                for nn in (10, 50, 200) for cc in range(nn + 1) for kk in (1, 5, 10) if kk <= nn)
    ctx.value("pk_stable_err", worst)
    ctx.value("pk_stable_tol", 1e-12)
    assert worst < 1e-12
    ctx.value("pk_comb_200_100", float(math.comb(200, 100)))
    # pass@1 is just c / n for both.
    ctx.value("pk_at1_unbiased", pass_at_k(n, c, 1))
    ctx.value("pk_at1_naive", naive_pass_at_k(n, c, 1))

    # Expected value of each estimator when the true per-sample success rate is p.
    def expect(est, p):
        return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) * est(n, j, k) for j in range(n + 1))

    ps = [i / 100 for i in range(0, 101)]
    truth = [1 - (1 - p) ** k for p in ps]
    e_unb = [expect(pass_at_k, p) for p in ps]
    e_nai = [expect(naive_pass_at_k, p) for p in ps]
    ctx.value("pk_unb_max_bias", max(abs(a - b) for a, b in zip(e_unb, truth, strict=False)))
    assert max(abs(a - b) for a, b in zip(e_unb, truth, strict=False)) < 1e-12
    bias = [a - b for a, b in zip(e_nai, truth, strict=False)]
    i_worst = min(range(len(ps)), key=lambda i: bias[i])
    ctx.value("pk_naive_worst_bias", bias[i_worst])
    ctx.value("pk_naive_worst_p", ps[i_worst])
    ctx.value("pk_p_demo", 0.2)
    ctx.value("pk_truth_demo", truth[20])
    ctx.value("pk_naive_demo", e_nai[20])
    ctx.value("pk_unb_demo", e_unb[20])

    # Simulation: draw c ~ Binomial(n, p) for many problems, average both estimators.
    torch.manual_seed(0)
    trials = 20000
    cs = torch.distributions.Binomial(n, torch.full((trials,), 0.2)).sample().long()
    sim_unb = sum(pass_at_k(n, int(x), k) for x in cs) / trials
    sim_nai = sum(naive_pass_at_k(n, int(x), k) for x in cs) / trials
    ctx.value("pk_sim_trials", trials)
    ctx.value("pk_sim_unb", sim_unb)
    ctx.value("pk_sim_nai", sim_nai)

    def draw(fig):
        ax = fig.subplots()
        ax.plot(ps, truth, color="C2", lw=3, alpha=0.5, label=f"true pass@{k}")
        ax.plot(ps, e_unb, "--", color="C0", label="unbiased (mean)")
        ax.plot(ps, e_nai, color="C1", label=r"naive $1-(1-c/n)^k$ (mean)")
        ax.set_xlabel("per-sample success rate p")
        ax.set_ylabel(f"pass@{k}")
        ax.set_title(f"Estimators from n = {n} samples, averaged exactly", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")

    ctx.figure("passk_bias", draw)

    # Per-problem averaging vs pooling: one easy and one impossible problem.
    ctx.value("pp2_c", [10, 0])
    ctx.value("pp2_n", 10)
    per = (pass_at_k(10, 10, k) + pass_at_k(10, 0, k)) / 2
    pooled = naive_pass_at_k(20, 10, k)
    ctx.value("pp2_per_problem", per)
    ctx.value("pp2_easy_c", 10)
    ctx.value("pp2_pool_c", 10)
    ctx.value("pp2_pool_n", 20)
    ctx.value("pp2_pool_miss", 0.5)
    ctx.value("pp2_pooled", pooled)

    # n = 200 samples, as in Chen et al.: pass@1, @10, @100 for c = 10.
    ctx.value("pk200_c", 10)
    ctx.value("pk200", [pass_at_k(200, 10, kk) for kk in (1, 10, 100)])


# --------------------------------------------------------------------------------------------
# 4. Contamination
# --------------------------------------------------------------------------------------------
def ngrams(text, n):
    words = "".join(ch.lower() if ch.isalnum() else " " for ch in text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def contamination(ctx):
    item = "A farmer has 17 sheep and all but 9 run away. How many sheep does the farmer have left?"
    docs = {
        "copy": "Riddle of the day! A farmer has 17 sheep and all but 9 run away. How many sheep does "
        "the farmer have left? Answer below: 9, because all but 9 ran away.",
        "paraphrase": "Seventeen sheep belong to a farmer. Every sheep except nine escapes. How many "
        "remain with him?",
        "unrelated": "The farmer sold 17 sheep at the market and bought a new dog to help with the rest.",
    }
    n = 8
    grams = ngrams(item, n)
    ctx.value("ct_item", item)
    ctx.value("ct_n", n)
    ctx.value("ct_item_grams", len(grams))
    for name, doc in docs.items():
        hit = len(grams & ngrams(doc, n))
        ctx.value(f"ct_{name}_doc", doc)
        ctx.value(f"ct_{name}_hits", hit)
        ctx.value(f"ct_{name}_frac", hit / len(grams))
    ctx.value("ct_example_gram", " ".join(sorted(grams)[0]))


# --------------------------------------------------------------------------------------------
# 5. Benchmark noise and multiple-choice scoring
# --------------------------------------------------------------------------------------------
def noise_and_mc(ctx):
    n = 164  # HumanEval's number of problems (Chen et al., 2021)
    pa, pb = 0.62, 0.58
    se_a = math.sqrt(pa * (1 - pa) / n)
    se_b = math.sqrt(pb * (1 - pb) / n)
    se_diff = math.sqrt(se_a**2 + se_b**2)
    ctx.value("bn_n", n)
    ctx.value("bn_pa", pa)
    ctx.value("bn_pb", pb)
    ctx.value("bn_se_a", se_a)
    ctx.value("bn_ci_a", 1.96 * se_a)
    ctx.value("bn_se_diff", se_diff)
    ctx.value("bn_z", (pa - pb) / se_diff)
    ctx.value("bn_one_problem", 1 / n)
    # Items needed for a standard error of 1 point at 50% accuracy.
    ctx.value("bn_half", 0.5)
    ctx.value("bn_n_for_1pt", math.ceil(0.25 / 0.01**2))

    # Multiple choice scored by log-likelihood of each option's continuation.
    opts = {"short": [-1.2], "long": [-0.9, -0.3, -0.2, -0.4, -0.1, -0.2, -0.3]}
    ctx.value("mc_short_lp", opts["short"][0])
    ctx.value("mc_long_lp", opts["long"])
    ctx.value("mc_short_sum", sum(opts["short"]))
    ctx.value("mc_long_sum", sum(opts["long"]))
    ctx.value("mc_short_mean", sum(opts["short"]) / len(opts["short"]))
    ctx.value("mc_long_mean", sum(opts["long"]) / len(opts["long"]))
    ctx.value("mc_long_n", len(opts["long"]))


def compute(ctx):
    perplexity(ctx)
    across_tokenizers(ctx)
    passk(ctx)
    contamination(ctx)
    noise_and_mc(ctx)
