"""Byte-pair encoding and WordPiece written out in plain Python (no tokenizer library is used).

BPE (Sennrich et al., 2016): start from single symbols (characters, or the 256 byte values for
byte-level BPE as in GPT-2), count adjacent pairs inside each pre-token weighted by how often the
pre-token occurs, merge the most frequent pair into a new symbol, repeat. Encoding new text applies
the learned merges in the order they were learned.

WordPiece (as in BERT): same loop, but the pair with the largest count(ab) / (count(a) count(b))
is merged, continuation pieces carry a "##" prefix, and encoding is greedy longest-match-first,
with the whole word becoming [UNK] when it cannot be built from the vocabulary.
"""

import itertools
import re
from collections import Counter, defaultdict

# GPT-2-style pre-tokenization: contractions, letters with an optional leading space, digits with an
# optional leading space, other symbols, whitespace. ([^\W\d_] stands for \p{L}, which Python's re lacks.)
GPT2_SPLIT = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+""")


def pretokenize(text):
    """Split text into GPT-2-style pre-tokens; merges never cross their boundaries."""
    return GPT2_SPLIT.findall(text)


def word_counts_bytes(text):
    """Counter of pre-tokens, each as a tuple of one-byte `bytes` symbols (byte-level BPE)."""
    counts = Counter(pretokenize(text))
    return {tuple(bytes([b]) for b in w.encode("utf-8")): c for w, c in counts.items()}


def _pairs(word):
    return itertools.pairwise(word)


def train_bpe(word_counts, n_merges, record=0):
    """Learn up to n_merges merges from {tuple of symbols: count}. Symbols are str or bytes.

    The most frequent adjacent pair wins; ties go to the pair that sorts first. Returns
    (merges, tables): merges is the ordered list of pairs; tables holds the pair counts seen before
    each of the first `record` merges (for the cards)."""
    words = [list(w) for w in word_counts]
    counts = list(word_counts.values())
    pair_counts = Counter()
    where = defaultdict(set)
    for i, w in enumerate(words):
        for p in _pairs(w):
            pair_counts[p] += counts[i]
            where[p].add(i)
    merges, tables = [], []
    for step in range(n_merges):
        if not pair_counts:
            break
        best = min(pair_counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if step < record:
            tables.append(dict(pair_counts))
        merges.append(best)
        a, b = best
        for i in list(where[best]):
            w, c = words[i], counts[i]
            for p in _pairs(w):
                pair_counts[p] -= c
                if pair_counts[p] == 0:
                    del pair_counts[p]
            merged, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    merged.append(a + b)
                    j += 2
                else:
                    merged.append(w[j])
                    j += 1
            words[i] = merged
            for p in _pairs(merged):
                pair_counts[p] += c
                where[p].add(i)
        del where[best]
    return merges, tables


def encode_word(symbols, ranks):
    """Apply learned merges to one pre-token: repeatedly merge the adjacent pair learned earliest."""
    w = list(symbols)
    while len(w) > 1:
        cands = [(ranks[p], j) for j, p in enumerate(_pairs(w)) if p in ranks]
        if not cands:
            break
        _, j = min(cands)
        w[j : j + 2] = [w[j] + w[j + 1]]
    return w


class ByteBPE:
    """A byte-level BPE tokenizer: GPT-2-style pre-tokenization, 256 byte symbols, learned merges."""

    def __init__(self, merges):
        self.merges = merges
        self.ranks = {p: r for r, p in enumerate(merges)}
        self.vocab = {bytes([b]) for b in range(256)} | {a + b for a, b in merges}

    @classmethod
    def train(cls, text, n_merges):
        return cls(train_bpe(word_counts_bytes(text), n_merges)[0])

    def encode(self, text):
        """List of tokens (bytes objects)."""
        out = []
        for w in pretokenize(text):
            out += encode_word([bytes([b]) for b in w.encode("utf-8")], self.ranks)
        return out

    def decode(self, tokens):
        return b"".join(tokens).decode("utf-8")


def show(tok):
    """Readable form of a byte-level token: a leading space as G-dot (as GPT-2 prints it), bytes
    that are not a whole UTF-8 character as <0xNN>."""
    try:
        s = tok.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"<0x{b:02X}>" for b in tok)
    return s.replace(" ", "\u0120")


def train_wordpiece(word_counts, n_merges):
    """WordPiece training on {word: count}: symbols are characters, non-initial ones prefixed "##";
    merge the pair with the largest count(ab) / (count(a) count(b)); ties go to the pair that sorts
    first. Returns (merges, vocab)."""
    words = {tuple([w[0]] + ["##" + ch for ch in w[1:]]): c for w, c in word_counts.items()}
    vocab = {s for w in words for s in w}
    merges = []
    for _ in range(n_merges):
        sym, pair = Counter(), Counter()
        for w, c in words.items():
            for s in w:
                sym[s] += c
            for p in _pairs(w):
                pair[p] += c
        if not pair:
            break
        best = min(pair, key=lambda p: (-pair[p] / (sym[p[0]] * sym[p[1]]), p))
        new = best[0] + best[1][2:]
        merges.append((best, new))
        vocab.add(new)
        nxt = {}
        for w, c in words.items():
            m, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == best:
                    m.append(new)
                    j += 2
                else:
                    m.append(w[j])
                    j += 1
            nxt[tuple(m)] = c
        words = nxt
    return merges, vocab


def wordpiece_encode_word(word, vocab, unk="[UNK]"):
    """BERT's greedy longest-match-first: take the longest vocabulary piece at each position;
    if some position has none, the WHOLE word becomes [UNK]."""
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        piece = None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                piece = sub
                break
            end -= 1
        if piece is None:
            return [unk]
        pieces.append(piece)
        start = end
    return pieces
