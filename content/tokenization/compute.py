"""Tokenization: BPE trained from scratch, WordPiece and [UNK], vocabulary size, artefacts.

No tokenizer library is used: BPE and WordPiece are written out in content/_lib/bpe.py, and the
text they are trained on is written for these cards in content/_lib/corpus.py.

Sections (in card order):
  1. BPE on a five-word corpus: pair counts, the merge sequence, encoding new words; the
     compact training loop on the card checked against the library version.
  2. WordPiece on the same corpus: a different first merge; greedy longest-match; [UNK].
  3. Byte-level BPE: 256 base symbols, no [UNK], lossless round trips.
  4. Vocabulary size: embedding and output parameters for stated sizes (Llama 2 7B, Llama 3 8B);
     sequence length against vocabulary size for byte-level BPEs trained on the English corpus.
  5. Artefacts: numbers, leading spaces, spelling, and the cost of non-English text.
"""

import itertools
from collections import Counter

from _lib import bpe, corpus

# The worked corpus: word -> count. Small enough to state on a card, with no ties in its merges.
TOY = {"cat": 6, "cats": 3, "hat": 5, "that": 4, "chat": 2}
TOY_TEXT = ", ".join(f"{w} ×{c}" for w, c in TOY.items())


def merge(word, pair):
    """Replace every adjacent occurrence of pair in word (a tuple of symbols) by the merged symbol."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def card_train_bpe(words, n_merges):
    """The training loop exactly as printed on tok-bpe-code (Counter imported at the top)."""
    merges = []
    for _ in range(n_merges):
        pc = Counter()  # pair counts
        for w, c in words.items():
            for p in itertools.pairwise(w):
                pc[p] += c
        best = max(pc, key=pc.get)
        merges.append(best)
        words = {merge(w, best): c for w, c in words.items()}
    return merges


def seg(tokens):
    """Tokens joined by | for a card (byte-level tokens shown GPT-2 style)."""
    return " | ".join(bpe.show(t) if isinstance(t, bytes) else t for t in tokens)


# --------------------------------------------------------------------------------------------
# 1. BPE on the toy corpus
# --------------------------------------------------------------------------------------------
def toy_bpe(ctx):
    words = {tuple(w): c for w, c in TOY.items()}
    merges, tables = bpe.train_bpe(words, 6, record=6)
    ctx.value("bt_corpus", TOY_TEXT)
    ctx.value("bt_n_words", sum(TOY.values()))
    first = sorted(tables[0].items(), key=lambda kv: (-kv[1], kv[0]))
    ctx.value("bt_pairs_text", "\n".join(f"{a}+{b}: {c}" for (a, b), c in first))
    ctx.value("bt_top_pair", "".join(first[0][0]))
    ctx.value("bt_top_count", first[0][1])
    ctx.value("bt_second_pair", "".join(first[1][0]))
    ctx.value("bt_second_count", first[1][1])
    # Sum of the top pair's count from its words: a+t occurs once in each of the five words.
    ctx.value("bt_top_terms", " + ".join(str(c) for w, c in TOY.items() if "at" in w))
    winners = [tables[i][m] for i, m in enumerate(merges)]
    ctx.value("bt_merges", ", ".join(f"{a}+{b}→{a + b}" for a, b in merges))
    ctx.value("bt_merge_counts", winners)
    ctx.value("bt_merges4", ", ".join(a + b for a, b in merges[:4]))
    second = sorted(tables[1].items(), key=lambda kv: (-kv[1], kv[0]))
    ctx.value("bt_second_table", ", ".join(f"{a}+{b}: {c}" for (a, b), c in second))
    ctx.value("bt_vocab_size", len(set("".join(TOY))) + len(merges))
    ctx.value("bt_base", len(set("".join(TOY))))
    ctx.value("bt_base_symbols", " ".join(sorted(set("".join(TOY)))))

    # Encoding new words with the six merges, applied in the order they were learned.
    ranks = {p: r for r, p in enumerate(merges)}
    for name, word in (("chats", "chats"), ("scat", "scat"), ("hatch", "hatch")):
        ctx.value(f"bt_enc_{name}", seg(bpe.encode_word(list(word), ranks)))
    # The same word step by step, to show the order of application.
    steps, w = [], list("chats")
    while True:
        cands = [(ranks[p], j) for j, p in enumerate(itertools.pairwise(w)) if p in ranks]
        if not cands:
            break
        _, j = min(cands)
        w[j : j + 2] = [w[j] + w[j + 1]]
        steps.append(" ".join(w))
    ctx.value("bt_chats_steps", " → ".join(["c h a t s", *steps]))

    # The compact loop printed on the card learns the same merges.
    card = card_train_bpe(words, 6)
    ctx.value("bt_card_loop_same", card == merges)
    assert card == merges

    # Byte-level BPE trained on the same words (as bytes) learns the same merges: ASCII is one byte.
    wb = {tuple(bytes([b]) for b in w.encode()): c for w, c in TOY.items()}
    mb, _ = bpe.train_bpe(wb, 6)
    tok = bpe.ByteBPE(mb)
    ctx.value("bt_byte_same", [a.decode() + b.decode() for a, b in mb] == [a + b for a, b in merges])
    for name, text in (("cat_emoji", "cat🙂"), ("chatz", "chatz")):
        toks = bpe.encode_word([bytes([b]) for b in text.encode()], tok.ranks)
        ctx.value(f"bb_{name}", seg(toks))
        ctx.value(f"bb_{name}_n", len(toks))
        ctx.value(f"bb_{name}_roundtrip", b"".join(toks).decode() == text)
    return merges


# --------------------------------------------------------------------------------------------
# 2. WordPiece on the same corpus
# --------------------------------------------------------------------------------------------
def toy_wordpiece(ctx):
    merges, vocab = bpe.train_wordpiece(TOY, 4)
    (a, b), new = merges[0]
    ctx.value("wp_first", f"{a} + {b} → {new}")
    # Its score and the BPE winner's score, from the symbol and pair counts of the initial split.
    words = {tuple([w[0]] + ["##" + ch for ch in w[1:]]): c for w, c in TOY.items()}
    sym, pair = Counter(), Counter()
    for w, c in words.items():
        for s in w:
            sym[s] += c
        for p in itertools.pairwise(w):
            pair[p] += c
    ctx.value("wp_first_pair_count", pair[(a, b)])
    ctx.value("wp_first_a_count", sym[a])
    ctx.value("wp_first_b_count", sym[b])
    ctx.value("wp_first_score", pair[(a, b)] / (sym[a] * sym[b]))
    at = ("##a", "##t")
    ctx.value("wp_at_count", pair[at])
    ctx.value("wp_a_count", sym["##a"])
    ctx.value("wp_t_count", sym["##t"])
    ctx.value("wp_at_score", pair[at] / (sym["##a"] * sym["##t"]))
    ctx.value("wp_merges", ", ".join(n for _, n in merges))
    ctx.value("wp_initial_that", " ".join(["t", "##h", "##a", "##t"]))
    for name, word in (("chats", "chats"), ("chatz", "chatz"), ("cat_emoji", "cat🙂")):
        ctx.value(f"wp_enc_{name}", seg(bpe.wordpiece_encode_word(word, vocab)))
    assert bpe.wordpiece_encode_word("chatz", vocab) == ["[UNK]"]

    # Greedy longest-match and BPE's merge order can split the same word differently. Merges learned
    # in the order b+c, then a+b; the vocabulary they produce is {a, b, c, bc, ab}.
    demo_merges = [("b", "c"), ("a", "b")]
    demo_ranks = {p: r for r, p in enumerate(demo_merges)}
    demo_vocab = {"a", "b", "c", "bc", "ab"}
    ctx.value("dm_bpe_abc", seg(bpe.encode_word(list("abc"), demo_ranks)))
    ctx.value("dm_greedy_abc", seg(greedy_longest(("abc"), demo_vocab)))


def greedy_longest(word, vocab):
    """Longest-match-first without WordPiece's ## marks (the same rule on plain pieces)."""
    out, i = [], 0
    while i < len(word):
        j = len(word)
        while word[i:j] not in vocab:
            j -= 1
        out.append(word[i:j])
        i = j
    return out


# --------------------------------------------------------------------------------------------
# 3. Byte-level symbols
# --------------------------------------------------------------------------------------------
def bytes_per_char(ctx):
    samples = {"A": "ascii", "é": "latin", "ж": "cyrillic", "क": "devanagari", "天": "cjk", "🙂": "emoji"}
    for ch, name in samples.items():
        ctx.value(f"utf8_{name}", len(ch.encode("utf-8")))
    ctx.value("utf8_emoji_bytes", " ".join(f"{b:02X}" for b in "🙂".encode()))
    ctx.value("utf8_emoji_fallback", " ".join(f"<0x{b:02X}>" for b in "🙂".encode()))
    ctx.value("utf8_emoji_codepoint", f"U+{ord('🙂'):04X}")
    # GPT-2's vocabulary: 256 byte symbols + 50,000 merges + <|endoftext|> (Radford et al., 2019).
    ctx.value("gpt2_bytes", 256)
    ctx.value("gpt2_merges", 50_000)
    ctx.value("gpt2_vocab", 256 + 50_000 + 1)


# --------------------------------------------------------------------------------------------
# 4. Vocabulary size
# --------------------------------------------------------------------------------------------
def llama_params(n_layers, d, d_ff, n_kv_heads, n_heads, vocab):
    """Parameter count of a LLaMA-style decoder (untied input and output embeddings, RMSNorm,
    SwiGLU, grouped-query attention), split into (embedding + output) and the rest."""
    d_kv = d // n_heads * n_kv_heads
    attn = 2 * d * d + 2 * d * d_kv
    mlp = 3 * d * d_ff
    norms = 2 * d
    body = n_layers * (attn + mlp + norms) + d  # + final norm
    emb_out = 2 * vocab * d
    return emb_out, body


def vocab_size(ctx):
    d = 4096
    ctx.value("vs_d", d)
    for name, v in (("small", 32_000), ("large", 128_256)):
        ctx.value(f"vs_{name}", v)
        ctx.value(f"vs_{name}_emb", v * d)
        ctx.value(f"vs_{name}_both", 2 * v * d)
        ctx.value(f"vs_{name}_logit_flops", 2 * v * d)
    ctx.value("vs_ratio", 128_256 / 32_000)

    # Llama 2 7B (Touvron et al., 2023): 32 layers, d 4096, FFN 11008, 32 heads (no GQA), vocab 32000.
    # Llama 3 8B (Dubey et al., 2024): 32 layers, d 4096, FFN 14336, 32 heads, 8 KV heads, vocab 128256.
    e2, b2 = llama_params(32, 4096, 11008, 32, 32, 32_000)
    e3, b3 = llama_params(32, 4096, 14336, 8, 32, 128_256)
    ctx.value("l2_total", e2 + b2)
    ctx.value("l2_emb_out", e2)
    ctx.value("l2_share", e2 / (e2 + b2))
    ctx.value("l3_total", e3 + b3)
    ctx.value("l3_emb_out", e3)
    ctx.value("l3_share", e3 / (e3 + b3))
    ctx.value("l2_ff", 11008)
    ctx.value("l3_ff", 14336)
    ctx.value("l_growth", (e3 + b3) - (e2 + b2))
    ctx.value("l_growth_emb_share", (e3 - e2) / ((e3 + b3) - (e2 + b2)))

    # Sequence length against vocabulary size, byte-level BPE on the English corpus.
    text = corpus.ENGLISH
    words_all = bpe.word_counts_bytes(text)
    merges, _ = bpe.train_bpe(words_all, 10_000)
    n_max = len(merges)
    grid = [0, 50, 100, 200, 400, 800, n_max]
    held = corpus.HELD_OUT
    rows = []
    for m in grid:
        tok = bpe.ByteBPE(merges[:m])
        rows.append((256 + m, len(tok.encode(held)), len(tok.encode(text))))
    ctx.value("vsl_grid_vocab", [r[0] for r in rows])
    ctx.value("vsl_heldout_tokens", [r[1] for r in rows])
    ctx.value("vsl_heldout_chars", len(held))
    ctx.value("vsl_heldout_bytes", len(held.encode()))
    ctx.value("vsl_max_merges", n_max)
    ctx.value("vsl_cpt", [len(held) / r[1] for r in rows])
    ctx.value("vsl_cpt_400", len(held) / rows[4][1])
    ctx.value("vsl_cpt_max", len(held) / rows[-1][1])
    ctx.value("vsl_tokens_400", rows[4][1])
    ctx.value("vsl_tokens_800", rows[5][1])
    ctx.value("vsl_tokens_max", rows[-1][1])
    ctx.value("vsl_tokens_0", rows[0][1])
    ctx.value("vsl_vocab_400", rows[4][0])
    ctx.value("vsl_vocab_800", rows[5][0])
    ctx.value("vsl_vocab_max", rows[-1][0])
    ctx.value("vsl_train_tokens_max", rows[-1][2])
    ctx.value("vsl_train_chars", len(text))
    vocab = [r[0] for r in rows]
    held_cpt = [len(held) / r[1] for r in rows]
    train_cpt = [len(text) / r[2] for r in rows]

    def draw(fig):
        ax = fig.subplots()
        ax.plot(vocab, train_cpt, "o-", color="C0", label="training text")
        ax.plot(vocab, held_cpt, "s-", color="C1", label="held-out text")
        ax.set_xlabel("vocabulary size (256 bytes + merges)")
        ax.set_ylabel("characters per token")
        ax.set_title("Byte-level BPE on a small English corpus", fontsize=10)
        ax.legend(fontsize=8)

    ctx.figure("vocab_vs_length", draw)

    # Word-level and character-level baselines on the same text.
    train_words = Counter(w.strip().lower() for w in bpe.pretokenize(text) if w.strip().isalpha())
    held_words = [w.strip().lower() for w in bpe.pretokenize(held) if w.strip().isalpha()]
    ctx.value("wl_vocab", len(train_words))
    ctx.value("wl_heldout_words", len(held_words))
    ctx.value("wl_oov", sum(w not in train_words for w in held_words))
    ctx.value("wl_oov_rate", sum(w not in train_words for w in held_words) / len(held_words))
    ctx.value("wl_oov_examples", ", ".join(sorted({w for w in held_words if w not in train_words})[:4]))
    return merges


# --------------------------------------------------------------------------------------------
# 5. Artefacts
# --------------------------------------------------------------------------------------------
def artefacts(ctx, merges):
    tok = bpe.ByteBPE(merges[:1000])
    ctx.value("art_vocab", len(tok.vocab))
    ctx.value("art_merges", 1000)

    # Numbers.
    ctx.value("num_12000_text", "12000")
    numbers = (("n1900", "1900"), ("sp1900", " 1900"), ("sp1987", " 1987"), ("sp2024", " 2024"), ("n12000", "12000"))
    for name, s in numbers:
        ctx.value(f"num_{name}", seg(tok.encode(s)))
    # Digit policies on the same numbers: every digit alone (LLaMA), groups of up to three from the
    # left (the \p{N}{1,3} rule of GPT-4's cl100k_base pre-tokenizer), groups of three from the right.
    def left3(s):
        return [s[i : i + 3] for i in range(0, len(s), 3)]

    def right3(s):
        head = len(s) % 3
        return ([s[:head]] if head else []) + [s[i : i + 3] for i in range(head, len(s), 3)]

    for s in ("1234", "12345", "1234567"):
        ctx.value(f"dig_n{len(s)}", s)
        ctx.value(f"dig_single_{s}", seg(list(s)))
        ctx.value(f"dig_left3_{s}", seg(left3(s)))
        ctx.value(f"dig_right3_{s}", seg(right3(s)))

    # Leading spaces and case: different strings, different tokens.
    for name, s in (("the", "the"), ("sp_the", " the"), ("The", "The"), ("THE", "THE"), ("sp_The", " The")):
        ctx.value(f"ws_{name}", seg(tok.encode(s)))
        ctx.value(f"ws_{name}_n", len(tok.encode(s)))
    ctx.value("ws_prompt_end", seg(tok.encode(" the park. ")[-2:]))
    ctx.value("ws_trailing_n", len(tok.encode("the park ")))
    ctx.value("ws_trailing", seg(tok.encode("to the park ")))
    ctx.value("ws_no_trailing", seg(tok.encode("to the park")))

    # Spelling: the model sees pieces, not letters.
    ctx.value("sp_strawberry", seg(tok.encode(" strawberry")))
    ctx.value("sp_strawberry_n", len(tok.encode(" strawberry")))
    ctx.value("sp_r_count", "strawberry".count("r"))
    ctx.value("sp_r_tokens", sum(b"r" in t for t in tok.encode(" strawberry")))

    # Emoji and unseen scripts under the English-trained tokenizer: bytes, and always lossless.
    e = tok.encode("hi 🙂")
    ctx.value("bb_hi_emoji", seg(e))
    ctx.value("bb_hi_emoji_roundtrip", tok.decode(e) == "hi 🙂")
    ctx.value("bb_roundtrip_all", all(tok.decode(tok.encode(s)) == s for s in corpus.PARALLEL.values()))
    assert all(tok.decode(tok.encode(s)) == s for s in corpus.PARALLEL.values())

    # The cost of languages: one sentence and its translations.
    langs = list(corpus.PARALLEL)
    chars = [len(corpus.PARALLEL[k]) for k in langs]
    nbytes = [len(corpus.PARALLEL[k].encode()) for k in langs]
    ntok = [len(tok.encode(corpus.PARALLEL[k])) for k in langs]
    ctx.value("lang_names", ", ".join(langs))
    ctx.value("lang_sentence", corpus.PARALLEL["English"])
    for k, c, b, t in zip(langs, chars, nbytes, ntok, strict=False):
        key = k.lower()
        ctx.value(f"lang_{key}_chars", c)
        ctx.value(f"lang_{key}_bytes", b)
        ctx.value(f"lang_{key}_tokens", t)
        ctx.value(f"lang_{key}_ratio", t / ntok[0])
        ctx.value(f"lang_{key}_bpc", b / c)
        ctx.value(f"lang_{key}_tpc", t / c)
    ctx.value("lang_english_seg", seg(tok.encode(corpus.PARALLEL["English"])))
    ctx.value("lang_russian_word", seg(tok.encode(" парк")))
    ctx.value("lang_max_ratio", max(ntok) / ntok[0])
    ctx.value("lang_max_name", langs[ntok.index(max(ntok))])

    def draw(fig):
        ax = fig.subplots()
        y = list(range(len(langs)))
        ax.barh([i - 0.2 for i in y], ntok, height=0.4, color="C0", label="BPE tokens")
        ax.barh([i + 0.2 for i in y], nbytes, height=0.4, color="C1", label="UTF-8 bytes")
        ax.set_yticks(y, langs, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("count for the same sentence")
        ax.set_title(f"English-trained byte-level BPE, {len(tok.vocab):,} tokens", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")

    ctx.figure("language_cost", draw, height=3.4)


def compute(ctx):
    toy_bpe(ctx)
    toy_wordpiece(ctx)
    bytes_per_char(ctx)
    merges = vocab_size(ctx)
    artefacts(ctx, merges)
