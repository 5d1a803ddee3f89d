"""Recurrent networks: every shape, parameter count, gradient norm and FLOP count on the cards
comes from running nn.RNN / nn.LSTM / nn.GRU (or a hand-written loop checked against them) here."""

import inspect

import torch
from _lib.checks import agree
from _lib.nets import n_params
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


# ---------------------------------------------------------------------------------------------
# Hand-written cells, checked against nn.RNN / nn.LSTM / nn.GRU below. Their source is shown on
# cards verbatim (inspect.getsource), so the code a learner reads is the code that was tested.
# wx, wh, bx, bh = weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0.
# ---------------------------------------------------------------------------------------------
def rnn_loop(x, wx, wh, bx, bh):
    h = x.new_zeros(x.shape[0], wh.shape[0])
    outs = []
    for x_t in x.unbind(1):  # x: (N, T, input)
        h = torch.tanh(x_t @ wx.T + bx + h @ wh.T + bh)
        outs.append(h)
    return torch.stack(outs, 1), h


def lstm_step(x_t, h, c, wx, wh, b):  # b = bx + bh
    i, f, g, o = (x_t @ wx.T + h @ wh.T + b).chunk(4, 1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return h, c


def gru_step(x_t, h, wx, wh, bx, bh):
    xr, xz, xn = (x_t @ wx.T + bx).chunk(3, 1)
    hr, hz, hn = (h @ wh.T + bh).chunk(3, 1)
    r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h


def weights(m):
    """(wx, wh, bx, bh) of layer 0 of an nn.RNN / nn.LSTM / nn.GRU."""
    return m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0


def run_lstm(x, m):
    """Unroll lstm_step over x (N, T, input) with the weights of nn.LSTM m."""
    wx, wh, bx, bh = weights(m)
    h = c = x.new_zeros(x.shape[0], m.hidden_size)
    outs = []
    for x_t in x.unbind(1):
        h, c = lstm_step(x_t, h, c, wx, wh, bx + bh)
        outs.append(h)
    return torch.stack(outs, 1), h, c


def run_gru(x, m):
    """Unroll gru_step over x (N, T, input) with the weights of nn.GRU m."""
    h = x.new_zeros(x.shape[0], m.hidden_size)
    outs = []
    for x_t in x.unbind(1):
        h = gru_step(x_t, h, *weights(m))
        outs.append(h)
    return torch.stack(outs, 1), h


def matmul_flops(fn):
    """FLOPs of the matrix multiplies fn() performs, counted by torch's FlopCounterMode."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def compute(ctx):
    _basics(ctx)
    _sequences(ctx)
    _bptt(ctx)
    _vanishing(ctx)
    _lstm(ctx)
    _gru_and_counts(ctx)
    _deployment(ctx)


# ---------------------------------------------------------------------------------------------
# The RNN update, nn.RNN vs a loop, shapes and parameters.
# ---------------------------------------------------------------------------------------------
def _basics(ctx):
    torch.manual_seed(0)
    n, t, x_size, h_size = 4, 10, 8, 16
    rnn = nn.RNN(x_size, h_size, batch_first=True)
    x = torch.randn(n, t, x_size)
    with torch.no_grad():
        out, h_n = rnn(x)
        out_loop, h_loop = rnn_loop(x, *weights(rnn))
    ctx.value("b_n", n)
    ctx.value("b_t", t)
    ctx.value("b_x", x_size)
    ctx.value("b_h", h_size)
    ctx.value("b_in_shape", x.shape)
    ctx.value("b_out_shape", out.shape)
    ctx.value("b_hn_shape", h_n.shape)
    ctx.value("b_out_last_is_hn", bool(torch.equal(out[:, -1], h_n[0])))
    ctx.value("b_loop_maxdiff", max((out - out_loop).abs().max(), (h_n[0] - h_loop).abs().max()))
    agree(ctx, "b_loop_tol", max((out - out_loop).abs().max(), (h_n[0] - h_loop).abs().max()), 1e-5)
    ctx.value("b_loop_src", inspect.getsource(rnn_loop).strip())
    ctx.value("b_nonlinearity", rnn.nonlinearity)

    # Two bias vectors: names and shapes straight from the module.
    named = [(name, tuple(p.shape)) for name, p in rnn.named_parameters()]
    ctx.value("b_param_names", ", ".join(f"`{name}` {shape}" for name, shape in named))
    ctx.value("b_n_bias_vectors", sum(name.startswith("bias") for name, _ in named))
    # Only their sum matters: merging them into one bias gives the same outputs.
    with torch.no_grad():
        wx, wh, bx, bh = weights(rnn)
        merged, _ = rnn_loop(x, wx, wh, bx + bh, torch.zeros_like(bh))
    ctx.value("b_merged_bias_maxdiff", (out - merged).abs().max())
    agree(ctx, "b_merged_bias_tol", (out - merged).abs().max(), 1e-5)
    ctx.value("b_rnn_params", n_params(rnn))
    ctx.value("b_rnn_formula", h_size * (x_size + h_size) + 2 * h_size)


# ---------------------------------------------------------------------------------------------
# Why RNNs suit sequences: order, variable length, shared weights; padding and packing.
# ---------------------------------------------------------------------------------------------
def _sequences(ctx):
    torch.manual_seed(0)
    emb_size, h_size = 8, 16
    rnn = nn.RNN(emb_size, h_size, batch_first=True)
    # "dog bites man" vs "man bites dog": same tokens, different order.
    emb = nn.Embedding(3, emb_size)
    dog, bites, man = 0, 1, 2
    a = emb(torch.tensor([[dog, bites, man]]))
    b = emb(torch.tensor([[man, bites, dog]]))
    with torch.no_grad():
        ha, hb = rnn(a)[1], rnn(b)[1]
        ctx.value("ord_rnn_diff", (ha - hb).abs().max())
        ctx.value("ord_bow_diff", (a.mean(1) - b.mean(1)).abs().max())  # bag of words: order-blind
        agree(ctx, "ord_bow_tol", (a.mean(1) - b.mean(1)).abs().max(), 1e-6)

    # One set of weights for any length.
    lengths = (5, 500)
    with torch.no_grad():
        shapes = [rnn(torch.randn(1, t, emb_size))[0].shape for t in lengths]
    ctx.value("vl_lengths", list(lengths))
    ctx.value("vl_out_shapes", " and ".join(str(tuple(s)) for s in shapes))
    ctx.value("vl_params", n_params(rnn))

    # Padded batch vs packed batch: padding steps change the final state of shorter sequences.
    lens = [7, 4, 2]
    seqs = [torch.randn(n, emb_size) for n in lens]
    padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
    with torch.no_grad():
        alone = torch.cat([rnn(s[None])[1][0] for s in seqs])  # each sequence on its own
        _, h_padded = rnn(padded)
        packed = nn.utils.rnn.pack_padded_sequence(padded, lens, batch_first=True)
        _, h_packed = rnn(packed)
    ctx.value("pk_lens", lens)
    ctx.value("pk_padded_shape", padded.shape)
    ctx.value("pk_padded_diff", (h_padded[0] - alone).abs().max())
    ctx.value("pk_packed_diff", (h_packed[0] - alone).abs().max())
    agree(ctx, "pk_packed_tol", (h_packed[0] - alone).abs().max(), 1e-5)


# ---------------------------------------------------------------------------------------------
# Backpropagation through time.
# ---------------------------------------------------------------------------------------------
def _bptt(ctx):
    torch.manual_seed(0)
    x_size, h_size, t_len = 3, 5, 6
    cell = nn.RNNCell(x_size, h_size)
    x = torch.randn(t_len, 1, x_size)

    # Shared W_h: one gradient. Then the same unrolled graph with a separate copy of W_h per step.
    def loss_fn(w_per_step):
        h = torch.zeros(1, h_size)
        for t in range(t_len):
            h = torch.tanh(x[t] @ cell.weight_ih.T + cell.bias_ih + h @ w_per_step[t].T + cell.bias_hh)
        return h.pow(2).sum()

    w = cell.weight_hh.detach().clone().requires_grad_(True)
    loss_fn([w] * t_len).backward()
    copies = [cell.weight_hh.detach().clone().requires_grad_(True) for _ in range(t_len)]
    loss_fn(copies).backward()
    per_step = torch.stack([c.grad for c in copies])
    ctx.value("bp_t", t_len)
    ctx.value("bp_sum_maxdiff", (w.grad - per_step.sum(0)).abs().max())
    agree(ctx, "bp_sum_tol", (w.grad - per_step.sum(0)).abs().max(), 1e-5)
    norms = per_step.flatten(1).norm(dim=1)
    ctx.value("bp_step_norms", norms)
    ctx.value("bp_first_over_last", norms[0] / norms[-1])

    # Truncated BPTT: detach the carried state between chunks of k steps.
    rnn = nn.RNN(x_size, h_size, batch_first=True)
    k = 4
    seq = torch.randn(1, 2 * k, x_size, requires_grad=True)
    grads = {}
    for detach in (True, False):
        seq.grad = None
        _, h = rnn(seq[:, :k])  # first chunk
        if detach:
            h = h.detach()
        out, _ = rnn(seq[:, k:], h)  # second chunk; loss only on it
        out.pow(2).sum().backward()
        grads[detach] = seq.grad[0, :k].abs().max()  # gradient reaching the first chunk
    ctx.value("tb_k", k)
    ctx.value("tb_grad_detached", grads[True])
    ctx.value("tb_grad_full", grads[False])


# ---------------------------------------------------------------------------------------------
# Vanishing / exploding gradients over time in a vanilla RNN.
# ---------------------------------------------------------------------------------------------
H, X, T = 32, 8, 60  # hidden size, input size, sequence length for the gradient-vs-distance plots


def jacobian_norms(states, out):
    """Spectral norm of d out / d states[t] for every t (one backward pass per output unit)."""
    rows = [[] for _ in states]
    for k in range(out.numel()):
        grads = torch.autograd.grad(out.view(-1)[k], states, retain_graph=True)
        for t, g in enumerate(grads):
            rows[t].append(g.view(-1))
    return [torch.linalg.matrix_norm(torch.stack(r), ord=2).item() for r in rows]


def scaled_cell(scale):
    """An RNNCell whose recurrent matrix is scale * (random orthogonal): every singular value = scale."""
    torch.manual_seed(1)
    cell = nn.RNNCell(X, H)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(H, H))
        cell.weight_hh.copy_(scale * q)
    return cell


def unroll(cell, x):
    """All hidden states h_1..h_T of `cell` on x (T, 1, X), starting from h_0 = 0."""
    h, states = torch.zeros(1, H), []
    for x_t in x:
        h = cell(x_t, h)
        states.append(h)
    return states


def _vanishing(ctx):
    torch.manual_seed(0)
    x = torch.randn(T, 1, X)
    scales = [0.5, 1.0, 3.0]
    curves = {}
    for s in scales:
        states = unroll(scaled_cell(s), x)
        norms = jacobian_norms(states, states[-1])
        curves[s] = [norms[T - 1 - d] for d in range(T)]  # index = distance T - t
    ctx.value("vg_h", H)
    ctx.value("vg_t", T)
    d1, d2 = 10, 50
    ctx.value("vg_d1", d1)
    ctx.value("vg_d2", d2)
    for s, tag in zip(scales, ["small", "one", "large"], strict=True):
        ctx.value(f"vg_{tag}_scale", s)
        ctx.value(f"vg_{tag}_d1", curves[s][d1])
        ctx.value(f"vg_{tag}_d2", curves[s][d2])

    # Gradient clipping on the exploding case: the norm of all gradients, before and after.
    cell = scaled_cell(3.0)
    unroll(cell, x)[-1].sum().backward()
    max_norm = 1.0
    before = nn.utils.clip_grad_norm_(cell.parameters(), max_norm)  # returns the norm before clipping
    after = torch.cat([p.grad.flatten() for p in cell.parameters()]).norm()
    ctx.value("clip_before", before)
    ctx.value("clip_max_norm", max_norm)
    ctx.value("clip_after", after)

    def draw(fig):
        ax = fig.subplots()
        for s, marker in zip(scales, "os^", strict=True):
            ax.plot(range(T), curves[s], marker=marker, markevery=10, label=f"scale {s:g}")
        ax.set_yscale("log")
        ax.set_xlabel("distance T − t (steps)")
        ax.set_ylabel(r"$\|\partial h_T / \partial h_t\|$")
        ax.set_title("Vanilla RNN: gradient vs distance")
        ax.legend(fontsize=9, loc="lower left")

    ctx.figure("rnn_grad_distance", draw)


# ---------------------------------------------------------------------------------------------
# LSTM: the loop vs nn.LSTM, and the gradient along the cell path.
# ---------------------------------------------------------------------------------------------
def lstm_cell_path(forget_bias, x):
    """Norm of d c_T / d c_t along the cell path only, for every distance; and the mean forget
    gate. The gates see a detached h, so autograd can only follow c_{t-1} -> c_t: the Jacobian is
    diagonal, and its spectral norm is the largest entry of the gradient of sum(c_T)."""
    torch.manual_seed(1)
    lstm = nn.LSTM(X, H)
    wx, wh, bx, bh = weights(lstm)
    with torch.no_grad():
        if forget_bias is not None:  # gate order in PyTorch: i, f, g, o
            bx[H : 2 * H] = forget_bias
            bh[H : 2 * H] = 0.0
    h = c = torch.zeros(1, H)
    cells, forget = [], []
    for x_t in x:
        pre = x_t @ wx.T + h.detach() @ wh.T + bx + bh
        forget.append(pre.chunk(4, 1)[1].sigmoid().detach())
        h, c = lstm_step(x_t, h.detach(), c, wx, wh, bx + bh)
        cells.append(c)
    grads = torch.autograd.grad(cells[-1].sum(), cells)
    path = [grads[T - 1 - d].abs().max().item() for d in range(T)]
    f = torch.cat(forget)  # (T, H)
    # The same quantity from the forget gates alone: product of f over the last d steps.
    prods = [f[T - d :].prod(0).max().item() if d else 1.0 for d in range(T)]
    maxdiff = max(abs(a - b) for a, b in zip(path, prods, strict=True))
    return path, f.mean().item(), maxdiff


def _lstm(ctx):
    torch.manual_seed(0)
    # nn.LSTM equals the hand-written step (gate order i, f, g, o).
    n, t, x_size, h_size = 4, 10, 8, 16
    lstm = nn.LSTM(x_size, h_size, batch_first=True)
    x = torch.randn(n, t, x_size)
    with torch.no_grad():
        out, (h_n, c_n) = lstm(x)
        out_loop, h_loop, c_loop = run_lstm(x, lstm)
    diffs = [(out - out_loop).abs().max(), (h_n[0] - h_loop).abs().max(), (c_n[0] - c_loop).abs().max()]
    ctx.value("ls_loop_maxdiff", max(diffs))
    agree(ctx, "ls_loop_tol", max(diffs), 1e-5)
    ctx.value("ls_step_src", inspect.getsource(lstm_step).strip())
    ctx.value("ls_weight_ih_shape", lstm.weight_ih_l0.shape)
    ctx.value("ls_n", n)
    ctx.value("ls_h", h_size)
    ctx.value("ls_x", x_size)
    ctx.value("ls_hn_shape", h_n.shape)
    ctx.value("ls_cn_shape", c_n.shape)

    # Gradient along the cell path, for three forget-gate biases.
    torch.manual_seed(0)
    xs = torch.randn(T, 1, X)
    biases = [None, 1.0, 3.0]
    paths, means = {}, {}
    worst = 0.0
    for b in biases:
        paths[b], means[b], maxdiff = lstm_cell_path(b, xs)
        worst = max(worst, maxdiff)
    ctx.value("lc_prod_maxdiff", worst)
    agree(ctx, "lc_prod_tol", worst, 1e-5)
    # A constant forget gate f over d steps multiplies the cell-path gradient by f ** d.
    ctx.value("lc_const_f", 0.95)
    ctx.value("lc_const_prod", 0.95**50)
    d2 = 50
    for b, tag in zip(biases, ["default", "one", "three"], strict=True):
        ctx.value(f"lc_{tag}_fmean", means[b])
        ctx.value(f"lc_{tag}_d2", paths[b][d2])
    ctx.value("lc_bias_one", biases[1])
    ctx.value("lc_bias_three", biases[2])
    ctx.value("lc_d2", d2)

    def draw(fig):
        ax = fig.subplots()
        for b, marker in zip(biases, "os^", strict=True):
            name = "default init" if b is None else f"forget bias {b:g}"
            ax.plot(range(T), paths[b], marker=marker, markevery=10, label=f"{name}, mean f {means[b]:.2f}")
        ax.set_yscale("log")
        ax.set_xlabel("distance T − t (steps)")
        ax.set_ylabel(r"$\|\prod_k f_k\|$ (cell-path gradient)")
        ax.set_title("Norm of the forget-gate product")
        ax.legend(fontsize=8, loc="lower left")

    ctx.figure("lstm_cell_path", draw)


# ---------------------------------------------------------------------------------------------
# GRU; parameter and FLOP counts of RNN / LSTM / GRU with the same sizes.
# ---------------------------------------------------------------------------------------------
def _gru_and_counts(ctx):
    torch.manual_seed(0)
    n, t, x_size, h_size = 4, 10, 8, 16
    gru = nn.GRU(x_size, h_size, batch_first=True)
    x = torch.randn(n, t, x_size)
    with torch.no_grad():
        out, h_n = gru(x)
        out_loop, _ = run_gru(x, gru)
    ctx.value("gr_loop_maxdiff", (out - out_loop).abs().max())
    agree(ctx, "gr_loop_tol", (out - out_loop).abs().max(), 1e-5)
    ctx.value("gr_step_src", inspect.getsource(gru_step).strip())
    ctx.value("gr_hn_shape", h_n.shape)
    ctx.value("gr_out_last_is_hn", bool(torch.equal(out[:, -1], h_n[0])))

    # Same sizes for all three: parameters read from the modules, formulas as expect checks.
    x_size, h_size = 64, 128
    mods = {"rnn": nn.RNN(x_size, h_size), "lstm": nn.LSTM(x_size, h_size), "gru": nn.GRU(x_size, h_size)}
    block = h_size * (x_size + h_size) + 2 * h_size  # one gate block: W_ih, W_hh, b_ih, b_hh
    ctx.value("pc_x", x_size)
    ctx.value("pc_h", h_size)
    ctx.value("pc_block", block)
    for name, m in mods.items():
        ctx.value(f"pc_{name}", n_params(m))
        ctx.value(f"pc_{name}_blocks", n_params(m) / block)
    ctx.value("pc_gru_over_lstm", n_params(mods["gru"]) / n_params(mods["lstm"]))
    ctx.value("pc_lstm_w_ih_shape", mods["lstm"].weight_ih_l0.shape)
    ctx.value("pc_gru_w_ih_shape", mods["gru"].weight_ih_l0.shape)

    # Matmul FLOPs of one time step (batch 1), counted on the hand-written steps checked above.
    x_t, h = torch.randn(1, x_size), torch.randn(1, h_size)
    lstm, gru = mods["lstm"], mods["gru"]
    f_lstm = matmul_flops(lambda: lstm_step(x_t, h, h, *weights(lstm)[:2], lstm.bias_ih_l0 + lstm.bias_hh_l0))
    f_gru = matmul_flops(lambda: gru_step(x_t, h, *weights(gru)))
    f_rnn = matmul_flops(lambda: rnn_loop(x_t[:, None], *weights(mods["rnn"])))
    ctx.value("fl_lstm", f_lstm)
    ctx.value("fl_gru", f_gru)
    ctx.value("fl_rnn", f_rnn)
    ctx.value("fl_ratio", f_gru / f_lstm)


# ---------------------------------------------------------------------------------------------
# Deployment: constant-size state; attention's direct path vs the RNN's long chain.
# ---------------------------------------------------------------------------------------------
def _deployment(ctx):
    torch.manual_seed(0)
    x_size, h_size = 64, 256
    lstm = nn.LSTM(x_size, h_size, batch_first=True)
    sizes = {}
    with torch.no_grad():
        for t in (10, 1000):
            _, (h_n, c_n) = lstm(torch.randn(1, t, x_size))
            sizes[t] = h_n.numel() + c_n.numel()
    ctx.value("dp_h", h_size)
    ctx.value("dp_t_short", 10)
    ctx.value("dp_t_long", 1000)
    ctx.value("dp_state_short", sizes[10])
    ctx.value("dp_state_long", sizes[1000])
    ctx.value("dp_params", n_params(lstm))
    ctx.value("dp_mb", n_params(lstm) * 4 / 1e6)  # float32 bytes -> MB

    # Gradient of the last output w.r.t. the first input over a sequence of length t:
    # through an RNN (t - 1 steps) vs through one self-attention layer (one step).
    t, d = 100, 32
    x = torch.randn(1, t, d, dtype=torch.float64, requires_grad=True)
    rnn = nn.RNN(d, d, batch_first=True, dtype=torch.float64)
    out, _ = rnn(x)
    (g_rnn,) = torch.autograd.grad(out[0, -1].sum(), x)
    att = nn.MultiheadAttention(d, 1, batch_first=True, dtype=torch.float64)
    y, _ = att(x, x, x)
    (g_att,) = torch.autograd.grad(y[0, -1].sum(), x)
    ctx.value("tf_t", t)
    ctx.value("tf_rnn_first", g_rnn[0, 0].norm())
    ctx.value("tf_att_first", g_att[0, 0].norm())
    ctx.value("tf_rnn_last", g_rnn[0, -1].norm())
    ctx.value("tf_att_last", g_att[0, -1].norm())


# ---------------------------------------------------------------------------------------------
# Drills: each instance counts the parameters of the real module and asserts the closed form.
# ---------------------------------------------------------------------------------------------
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def drill_param_count(cell, x, h, layers, bidir, bias):
    """nn.<cell>(x, h, num_layers=layers, bidirectional=bidir, bias=bias): parameters counted on the
    module, checked against g * (h * (x_l + h) + 2h) per layer and direction."""
    m = getattr(nn, cell)(x, h, num_layers=layers, bidirectional=bidir, bias=bias)
    counted = n_params(m)
    g, dirs = GATES[cell], 2 if bidir else 1
    formula, terms = 0, []
    for layer in range(layers):
        x_l = x if layer == 0 else dirs * h
        block = h * (x_l + h) + (2 * h if bias else 0)
        formula += dirs * g * block
        b = "+2·" + str(h) if bias else ""
        terms.append(f"{dirs}·{g}·({h}·({x_l}+{h}){b})" if dirs > 1 else f"{g}·({h}·({x_l}+{h}){b})")
    assert counted == formula, (counted, formula)
    return {"params": counted, "terms": " + ".join(terms) + f" = {formula}"}
