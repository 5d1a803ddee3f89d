"""Backpropagation and autograd: every gradient on the cards is computed twice, by hand-written
chain-rule code and by torch.autograd, and the two are compared here.

Sections (in card order):
  1. Chain rule on a three-input graph: local gradients, fan-out.
  2. A tiny 2-2-1 network: gradients derived by hand, checked against autograd, one update step.
  3. Backprop for an L-layer MLP written from scratch; sigmoid and ReLU derivatives vs autograd.
  4. Cost: FLOPs of forward vs backward, finite differences, step-size error curve, gradcheck.
  5. The autograd API: grad_fn, dynamic graphs, backward() on non-scalars, accumulation, retain_graph,
     torch.autograd.grad and higher derivatives, custom Functions.
  6. Implementation tradeoffs: saved activations vs checkpointing, fused log-softmax, vectorisation.
"""

import inspect
import itertools
import textwrap
import warnings

import torch
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import mlp
from torch import nn
from torch.autograd.gradcheck import GradcheckError
from torch.utils.checkpoint import checkpoint_sequential
from torch.utils.flop_counter import FlopCounterMode

f64 = torch.float64


def tex(t, fmt=".3f"):
    """A 1-D tensor as a LaTeX column vector, a 2-D one as a matrix."""
    t = t.detach()
    rows = t.unsqueeze(1).tolist() if t.dim() == 1 else t.tolist()
    body = r" \\ ".join(" & ".join(format(v, fmt) for v in row) for row in rows)
    return r"\begin{pmatrix} " + body + r" \end{pmatrix}"


def max_diff(a, b):
    """Largest absolute difference between two tensors (or two lists of tensors)."""
    if isinstance(a, list | tuple):
        return max(max_diff(x, y) for x, y in zip(a, b, strict=True))
    return (a.detach() - b.detach()).abs().max().item()


def graph_nodes(t):
    """Number of distinct backward nodes reachable from t.grad_fn (the recorded graph's size)."""
    seen, stack = set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(n for n, _ in node.next_functions)
    return len(seen)


# ---------------------------------------------------------------------------------------------
# Code shown on cards verbatim.
# ---------------------------------------------------------------------------------------------
# Backprop through h[k+1] = relu(h[k] @ Ws[k].T) (last layer linear, no biases), one example per row:
# hs are the cached layer inputs, dL_dout the gradient at the output.
def mlp_backward(Ws, hs, dL_dout):
    grads, delta = [], dL_dout
    for k in reversed(range(len(Ws))):
        grads.append(delta.T @ hs[k])  # dL/dW_k
        if k > 0:  # back through W_k, then ReLU'
            delta = (delta @ Ws[k]) * (hs[k] > 0)
    return grads[::-1]


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad_out):
        (s,) = ctx.saved_tensors
        return grad_out * s * (1 - s)


class BuggySigmoid(Sigmoid):
    """Sigmoid with a wrong backward, for gradcheck to catch."""

    @staticmethod
    def backward(ctx, grad_out):
        (s,) = ctx.saved_tensors
        return grad_out * s  # forgot the (1 - s)


def compute(ctx):
    chain_rule(ctx)
    tiny_network(ctx)
    mlp_from_scratch(ctx)
    cost(ctx)
    autograd_api(ctx)
    tradeoffs(ctx)


# ---------------------------------------------------------------------------------------------
# 1. Chain rule on a small graph
# ---------------------------------------------------------------------------------------------
def chain_rule(ctx):
    # f = (x + y) * z: an add node feeding a multiply node.
    x, y, z = (torch.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    q = x + y
    f = q * z
    f.backward()
    ctx.value("cr_x", x.item())
    ctx.value("cr_y", y.item())
    ctx.value("cr_z", z.item())
    ctx.value("cr_q", q.item())
    ctx.value("cr_f", f.item())
    # By hand: df/dz = q, df/dq = z, and the add node passes df/dq unchanged to x and y.
    ctx.value("cr_df_dz", q.item())
    ctx.value("cr_df_dq", z.item())
    ctx.value("cr_df_dx", z.item() * 1.0)
    ctx.value("cr_autograd", [x.grad.item(), y.grad.item(), z.grad.item()])
    ctx.value("cr_matches", [x.grad.item(), y.grad.item(), z.grad.item()] == [z.item(), z.item(), q.item()])

    # Fan-out: a variable used twice receives the sum of the gradients along both paths.
    a = torch.tensor(2.0, requires_grad=True)
    u = a**2  # path 1: du/da = 2a
    g = u + 3 * a  # path 2: d(3a)/da = 3
    g.backward()
    ctx.value("fo_a", a.item())
    ctx.value("fo_path1", 2 * a.item())
    ctx.value("fo_path2", 3.0)
    ctx.value("fo_autograd", a.grad.item())


# ---------------------------------------------------------------------------------------------
# 2. A tiny network by hand
# ---------------------------------------------------------------------------------------------
def tiny_network(ctx):
    # x (2) -> z1 = W1 x + b1 -> h = sigmoid(z1) -> y_hat = w2 . h + b2 -> L = (y_hat - y)^2 / 2
    x = torch.tensor([1.0, -2.0], dtype=f64)
    y = torch.tensor(1.0, dtype=f64)
    W1 = torch.tensor([[0.5, -0.3], [0.8, 0.2]], dtype=f64, requires_grad=True)
    b1 = torch.tensor([0.1, -0.1], dtype=f64, requires_grad=True)
    w2 = torch.tensor([1.5, -1.0], dtype=f64, requires_grad=True)
    b2 = torch.tensor(0.2, dtype=f64, requires_grad=True)
    params = [W1, b1, w2, b2]

    def forward():
        z1 = W1 @ x + b1
        h = torch.sigmoid(z1)
        y_hat = w2 @ h + b2
        return z1, h, y_hat, 0.5 * (y_hat - y) ** 2

    z1, h, y_hat, loss = forward()
    loss.backward()
    autograd = [p.grad.clone() for p in params]

    # The hand derivation, one chain-rule step per line.
    with torch.no_grad():
        dL_dyhat = y_hat - y  # L = (y_hat - y)^2 / 2
        dL_dw2 = dL_dyhat * h  # y_hat = w2 . h + b2
        dL_db2 = dL_dyhat
        dL_dh = dL_dyhat * w2
        dL_dz1 = dL_dh * h * (1 - h)  # sigmoid' = s (1 - s)
        dL_dW1 = torch.outer(dL_dz1, x)  # z1 = W1 x + b1
        dL_db1 = dL_dz1
    by_hand = [dL_dW1, dL_db1, dL_dw2, dL_db2]
    agree(ctx, "tn_hand_tol", max_diff(by_hand, autograd), 1e-12)

    for name, t in [("x", x), ("W1", W1), ("b1", b1), ("w2", w2), ("z1", z1), ("h", h)]:
        ctx.value(f"tn_{name}_tex", tex(t, ".3g" if name in ("x", "W1", "b1", "w2") else ".3f"))
    ctx.value("tn_y", y)
    ctx.value("tn_b2", b2.detach())
    ctx.value("tn_yhat", y_hat.detach())
    ctx.value("tn_loss", loss.detach())
    ctx.value("tn_dyhat", dL_dyhat)
    ctx.value("tn_dw2_tex", tex(dL_dw2))
    ctx.value("tn_db2", dL_db2)
    ctx.value("tn_dh_tex", tex(dL_dh))
    ctx.value("tn_sig_prime_tex", tex(h * (1 - h)))
    ctx.value("tn_dz1_tex", tex(dL_dz1))
    ctx.value("tn_dW1_tex", tex(dL_dW1, ".4f"))
    ctx.value("tn_n_params", sum(p.numel() for p in params))

    # One gradient-descent step W <- W - lr * dL/dW on every parameter.
    lr = 0.5
    with torch.no_grad():
        for p, g in zip(params, by_hand, strict=True):
            p -= lr * g
    ctx.value("tn_lr", lr)
    ctx.value("tn_W1_new_tex", tex(W1, ".4f"))
    ctx.value("tn_W1_new", W1.detach().clone())
    ctx.value("tn_w2_new_tex", tex(w2, ".4f"))
    with torch.no_grad():
        ctx.value("tn_loss_after", forward()[3])

    # Finite differences on the same loss: one extra forward pass per parameter and side.
    with torch.no_grad():
        for p, g in zip(params, by_hand, strict=True):
            p += lr * g  # undo the step
    eps = 1e-6
    fd = []
    with torch.no_grad():
        for p in params:
            flat, g = p.view(-1), torch.zeros(p.numel(), dtype=f64)
            for i in range(p.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                up = forward()[3]
                flat[i] = old - eps
                down = forward()[3]
                flat[i] = old
                g[i] = (up - down) / (2 * eps)
            fd.append(g.view(p.shape))
    ctx.value("tn_fd_eps", eps)
    agree(ctx, "tn_fd_tol", max_diff(fd, autograd), 1e-8)
    ctx.value("tn_fd_passes", 2 * sum(p.numel() for p in params))

    # Error of the finite-difference derivative dL/dW1[0, 0] vs step size, float64 and float32.
    exact = autograd[0][0, 0].item()
    hs = [10.0**-k for k in range(1, 14)]

    def fd_error(dtype, h_step, central):
        W = W1.detach().to(dtype)
        xx, bb, ww, b2_, yy = (
            x.to(dtype),
            b1.detach().to(dtype),
            w2.detach().to(dtype),
            b2.detach().to(dtype),
            y.to(dtype),
        )

        def loss_at(delta):
            Wd = W.clone()
            Wd[0, 0] += delta
            return 0.5 * (ww @ torch.sigmoid(Wd @ xx + bb) + b2_ - yy) ** 2

        if central:
            est = (loss_at(h_step) - loss_at(-h_step)) / (2 * h_step)
        else:
            est = (loss_at(h_step) - loss_at(0.0)) / h_step
        return max(abs(est.item() - exact), 1e-17)  # floor so an exact hit still shows on a log plot

    err = {
        key: [fd_error(dt, hh, central) for hh in hs]
        for key, dt, central in [
            ("f64 central", f64, True),
            ("f64 forward", f64, False),
            ("f32 central", torch.float32, True),
        ]
    }
    best = {k: min(v) for k, v in err.items()}
    # Central differences: truncation ~ h^2, round-off ~ eps/h, so the best step is near eps^(1/3) and the
    # best error near eps^(2/3) (times the function's scale). The cards state bounds asserted here.
    bound64, floor32, bound_fwd = 1e-10, 1e-8, 1e-9
    assert best["f64 central"] < bound64, best
    assert best["f32 central"] > floor32, best
    assert best["f64 central"] < best["f64 forward"] < bound_fwd, best
    ctx.value("fd_bound64", bound64)
    ctx.value("fd_floor32", floor32)
    for tag, dt in (("f64", f64), ("f32", torch.float32)):
        eps_m = torch.finfo(dt).eps
        ctx.value(f"fd_eps_{tag}", eps_m)
        ctx.value(f"fd_h_opt_{tag}", eps_m ** (1 / 3))
        ctx.value(f"fd_err_opt_{tag}", eps_m ** (2 / 3))

    def draw_fd(fig):
        ax = fig.subplots()
        for (k, v), style in zip(err.items(), ["-o", "--s", "-^"], strict=True):
            ax.loglog(hs, v, style, ms=4, label=k)
        ax.set_xlabel("step size h")
        ax.set_ylabel("|finite diff − autograd|")
        ax.set_title("Finite-difference error")
        ax.invert_xaxis()
        ax.legend(fontsize="small", loc="upper left")

    ctx.figure("fd_error", draw_fd, height=3.2)

    # Computational graph of the tiny net, forward values and backward gradients annotated.
    def fmt(t):
        t = t.detach().reshape(-1)
        return "(" + ", ".join(f"{v:.2f}" for v in t.tolist()) + ")" if t.numel() > 1 else f"{t.item():.3f}"

    rows = [
        ("x", fmt(x), None),
        ("z₁ = W₁x + b₁", fmt(z1), f"∂L/∂z₁ = {fmt(dL_dz1)}\n∂L/∂W₁ = ∂L/∂z₁ · xᵀ"),
        ("h = σ(z₁)", fmt(h), f"∂L/∂h = {fmt(dL_dh)}"),
        ("ŷ = w₂·h + b₂", fmt(y_hat), f"∂L/∂ŷ = {fmt(dL_dyhat)}\n∂L/∂w₂ = {fmt(dL_dw2)}"),
        ("L = ½(ŷ − y)²", fmt(loss), "∂L/∂L = 1"),
    ]

    def draw_graph(fig):
        ax = fig.subplots()
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ys = [0.92 - i * 0.21 for i in range(len(rows))]
        for (label, value, grad), yy in zip(rows, ys, strict=True):
            ax.text(
                0.02,
                yy,
                f"{label}\n{value}",
                ha="left",
                va="center",
                fontsize=9.5,
                color="C0",
                bbox={"boxstyle": "round,pad=0.3", "fc": "none", "ec": "C0"},
            )
            if grad:
                ax.text(0.47, yy, grad, ha="left", va="center", fontsize=9, color="C3")
        for y0, y1 in itertools.pairwise(ys):
            ax.annotate(
                "", xy=(0.12, y1 + 0.075), xytext=(0.12, y0 - 0.075), arrowprops={"arrowstyle": "->", "color": "C0"}
            )
            if y0 < ys[0]:  # x needs no gradient: the backward pass stops at z1
                ax.annotate(
                    "",
                    xy=(0.42, y0 - 0.02),
                    xytext=(0.42, y1 + 0.02),
                    arrowprops={"arrowstyle": "->", "color": "C3", "ls": "--"},
                )
        ax.text(0.38, 0.995, "forward ↓", color="C0", fontsize=10, ha="center", va="top")
        ax.text(0.60, 0.80, "backward ↑", color="C3", fontsize=10, ha="center", va="bottom")

    ctx.figure("tiny_net_graph", draw_graph, width=4.6, height=3.6)


# ---------------------------------------------------------------------------------------------
# 3. Backprop through an MLP, and the two activation derivatives
# ---------------------------------------------------------------------------------------------
def mlp_from_scratch(ctx):
    torch.manual_seed(0)
    sizes, batch = [6, 8, 8, 3], 5
    Ws = [torch.randn(o, i, dtype=f64, requires_grad=True) for i, o in itertools.pairwise(sizes)]
    X = torch.randn(batch, sizes[0], dtype=f64)
    T = torch.randn(batch, sizes[-1], dtype=f64)
    hs = [X]
    for i, W in enumerate(Ws):
        z = hs[-1] @ W.T
        hs.append(torch.relu(z) if i < len(Ws) - 1 else z)
    out = hs.pop()
    loss = 0.5 * ((out - T) ** 2).sum()
    loss.backward()
    with torch.no_grad():
        mine = mlp_backward([W.detach() for W in Ws], [h.detach() for h in hs], out - T)
    ctx.value("mlp_sizes", sizes)
    ctx.value("mlp_batch", batch)
    agree(ctx, "mlp_backward_tol", max_diff(mine, [W.grad for W in Ws]), 1e-12)
    ctx.value("mlp_backward_src", inspect.getsource(mlp_backward).strip())

    # The source's formulas: sigmoid' = s (1 - s), ReLU' = 1 if x > 0 else 0, against autograd.
    lo, hi, n = -6.0, 6.0, 1201
    grid = torch.linspace(lo, hi, n, dtype=f64, requires_grad=True)
    ctx.value("deriv_lo", lo)
    ctx.value("deriv_hi", hi)
    (g_sig,) = torch.autograd.grad(torch.sigmoid(grid).sum(), grid)
    s = torch.sigmoid(grid.detach())
    ctx.value("deriv_grid_n", grid.numel())
    agree(ctx, "sig_formula_tol", max_diff(g_sig, s * (1 - s)), 1e-12)
    (g_relu,) = torch.autograd.grad(torch.relu(grid).sum(), grid)
    ctx.value("relu_formula_exact", bool(torch.equal(g_relu, (grid.detach() > 0).to(f64))))
    zero = torch.zeros((), requires_grad=True)
    torch.relu(zero).backward()
    ctx.value("relu_grad_at_0", zero.grad.item())


# ---------------------------------------------------------------------------------------------
# 4. What backprop costs
# ---------------------------------------------------------------------------------------------
def cost(ctx):
    torch.manual_seed(0)
    d_in, width, d_out, batch = 784, 256, 10, 64
    net = mlp(d_in, width, width, d_out)
    X, y = torch.randn(batch, d_in), torch.randint(0, d_out, (batch,))
    with FlopCounterMode(display=False) as counter:
        loss = F.cross_entropy(net(X), y)
    fwd = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    bwd = counter.get_total_flops()
    n_params = sum(p.numel() for p in net.parameters())
    ctx.value("cost_sizes", [d_in, width, width, d_out])
    ctx.value("cost_batch", batch)
    ctx.value("cost_fwd_flops", fwd)
    ctx.value("cost_bwd_flops", bwd)
    ctx.value("cost_bwd_ratio", bwd / fwd)
    ctx.value("cost_params", n_params)
    ctx.value("cost_fd_passes", 2 * n_params)  # central differences: two forward passes per parameter
    ctx.value("cost_fd_ratio", 2 * n_params * fwd / (fwd + bwd))

    # gradcheck: analytic (our backward) vs numerical Jacobian.
    x64 = torch.randn(6, dtype=f64, requires_grad=True)
    ctx.value("gc_ok", torch.autograd.gradcheck(Sigmoid.apply, (x64,)))

    def raised(fn, *args):
        """Name of the exception gradcheck raises as called (default raise_exception=True), or "none"."""
        try:
            torch.autograd.gradcheck(fn, *args)
        except GradcheckError as e:
            assert isinstance(e, RuntimeError)
            return type(e).__name__
        return "none"

    ctx.value("gc_buggy_raises", raised(BuggySigmoid.apply, (x64,)))
    ctx.value("gc_buggy", torch.autograd.gradcheck(BuggySigmoid.apply, (x64,), raise_exception=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gradcheck warns that float32 inputs will likely fail
        x32 = x64.detach().float().requires_grad_()
        ctx.value("gc_float32_raises", raised(Sigmoid.apply, (x32,)))
        ctx.value("gc_float32", torch.autograd.gradcheck(Sigmoid.apply, (x32,), raise_exception=False))
    ctx.value("gc_backward_src", textwrap.dedent(inspect.getsource(Sigmoid.backward)).strip())
    agree(
        ctx,
        "gc_custom_tol",
        max_diff(
            torch.autograd.grad(Sigmoid.apply(x64).sum(), x64)[0], torch.autograd.grad(torch.sigmoid(x64).sum(), x64)[0]
        ),
        1e-12,
    )


# ---------------------------------------------------------------------------------------------
# 5. The autograd API
# ---------------------------------------------------------------------------------------------
def autograd_api(ctx):
    # Leaves, grad_fn, and the recorded graph.
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    x = torch.tensor([3.0, -1.0])
    p = w * x
    s = p.sum()
    ctx.value("ag_w0", w.detach())
    ctx.value("ag_x0", x)
    ctx.value("ag_w_is_leaf", w.is_leaf)
    ctx.value("ag_w_grad_fn", str(w.grad_fn))
    ctx.value("ag_p_grad_fn", type(p.grad_fn).__name__)
    ctx.value("ag_s_grad_fn", type(s.grad_fn).__name__)
    ctx.value("ag_s_next", type(s.grad_fn.next_functions[0][0]).__name__)
    ctx.value("ag_x_requires_grad", x.requires_grad)
    ctx.value("ag_p_requires_grad", p.requires_grad)
    s.backward()
    ctx.value("ag_w_grad", w.grad)
    ctx.value("ag_x_grad_none", x.grad is None)

    # Define-by-run: the graph is whatever this call executed.
    limit = 10

    def double_until_big(v):
        while v.norm() < limit:
            v = v * 2
        return v.sum()

    runs = []
    for start in (0.5, 3.0):
        v = torch.full((2,), start, requires_grad=True)
        out = double_until_big(v)
        nodes = graph_nodes(out)
        out.backward()
        runs.append((start, v.grad[0].item(), nodes))
    ctx.value("dyn_limit", limit)
    for tag, (start, grad, nodes) in zip("ab", runs, strict=True):
        ctx.value(f"dyn_start_{tag}", start)
        ctx.value(f"dyn_grad_{tag}", grad)
        ctx.value(f"dyn_nodes_{tag}", nodes)

    # backward() on a non-scalar needs the vector in the vector-Jacobian product.
    v = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    sq = v**2
    try:
        sq.backward()
        msg = "no error"
    except RuntimeError as e:
        msg = str(e)
    ctx.value("nonscalar_error", msg)
    ctx.value("nonscalar_x", v.detach())
    sq.backward(torch.ones_like(sq))
    vjp = v.grad.clone()
    v.grad = None
    (v**2).sum().backward()
    ctx.value("nonscalar_vjp", vjp)
    ctx.value("nonscalar_same", bool(torch.equal(vjp, v.grad)))

    # .grad accumulates: two backward calls on two different losses give the sum of their gradients.
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    a, b = torch.tensor([3.0, 1.0]), torch.tensor([0.5, 2.0])
    (w @ a).pow(2).backward()
    g1 = w.grad.clone()
    (w @ b).pow(2).backward()  # no zero_grad in between
    g_acc = w.grad.clone()
    (g_sum,) = torch.autograd.grad((w @ a).pow(2) + (w @ b).pow(2), w)
    ctx.value("acc_w", w.detach())
    ctx.value("acc_a", a)
    ctx.value("acc_b", b)
    ctx.value("acc_g1", g1)
    ctx.value("acc_g2", g_acc - g1)
    ctx.value("acc_total", g_acc)
    ctx.value("acc_equals_sum_loss", bool(torch.allclose(g_acc, g_sum)))

    # Backward frees the graph's saved tensors: a second backward through it fails unless retain_graph=True.
    t = torch.tensor(2.0, requires_grad=True)
    out = torch.sigmoid(t) * 3
    out.backward()
    try:
        out.backward()
        msg = "no error"
    except RuntimeError as e:
        msg = str(e)
    ctx.value("retain_error", msg.split(" (")[0])

    # torch.autograd.grad: returns the gradient, leaves .grad alone; create_graph=True allows higher orders.
    x = torch.tensor(2.0, requires_grad=True)
    f = x**3 - 2 * x
    (d1,) = torch.autograd.grad(f, x, create_graph=True)
    (d2,) = torch.autograd.grad(d1, x, create_graph=True)
    (d3,) = torch.autograd.grad(d2, x)
    ctx.value("der_x", x.item())
    ctx.value("der_d1", d1.item())
    ctx.value("der_d2", d2.item())
    ctx.value("der_d3", d3.item())
    ctx.value("der_x_grad_none", x.grad is None)
    x2 = torch.tensor(2.0, requires_grad=True)
    (x2**3 - 2 * x2).backward()
    ctx.value("der_backward", x2.grad.item())

    # Derivative of an element-wise function at many points at once.
    xs = torch.linspace(0, 3.14159, 50, requires_grad=True)
    torch.sin(xs).sum().backward()
    ctx.value("der_many_n", xs.numel())
    agree(ctx, "der_sin_tol", max_diff(xs.grad, torch.cos(xs)), 1e-6)


# ---------------------------------------------------------------------------------------------
# 6. Implementation tradeoffs
# ---------------------------------------------------------------------------------------------
def saved_bytes(forward, exclude):
    """Run forward() and return (bytes autograd saved for the backward pass, output).

    Counts distinct storages, skipping those in `exclude` (the parameters: saving them costs no extra memory).
    """
    saved = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in exclude:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    return sum(saved.values()), out


def tradeoffs(ctx):
    # Memory: every layer's activation is kept for the backward pass; checkpointing keeps only
    # segment inputs and recomputes the rest during backward.
    torch.manual_seed(0)
    depth, width, batch, segments = 16, 256, 64, 4
    net = nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.ReLU())])
    X = torch.randn(batch, width)
    params = {q.untyped_storage().data_ptr() for q in net.parameters()}

    def plain(layers):
        return lambda: layers(X)

    def ckpt(layers):
        return lambda: checkpoint_sequential(layers, segments, X, use_reentrant=False)

    results = {}
    for name, make in [("plain", plain), ("ckpt", ckpt)]:
        net.zero_grad()
        with FlopCounterMode(display=False) as counter:
            n_bytes, out = saved_bytes(make(net), params)
            out.pow(2).mean().backward()
        results[name] = (n_bytes, counter.get_total_flops(), [q.grad.clone() for q in net.parameters()])
    act = batch * width * 4  # bytes of one float32 activation tensor
    ctx.value("ck_depth", depth)
    ctx.value("ck_width", width)
    ctx.value("ck_batch", batch)
    ctx.value("ck_segments", segments)
    ctx.value("ck_act_kib", act / 1024)
    ctx.value("ck_plain_kib", results["plain"][0] / 1024)
    ctx.value("ck_ckpt_kib", results["ckpt"][0] / 1024)
    ctx.value("ck_plain_acts", results["plain"][0] // act)
    ctx.value("ck_ckpt_acts", results["ckpt"][0] // act)
    ctx.value("ck_flops_ratio", results["ckpt"][1] / results["plain"][1])
    ctx.value(
        "ck_grads_identical",
        all(torch.equal(a, b) for a, b in zip(results["plain"][2], results["ckpt"][2], strict=True)),
    )

    layer_counts = list(range(4, depth + 1, 4))
    mem = {
        name: [saved_bytes(make(net[: 2 * d]), params)[0] / 1024 for d in layer_counts]
        for name, make in [("plain", plain), ("ckpt", ckpt)]
    }

    def draw_mem(fig):
        ax = fig.subplots()
        ax.plot(layer_counts, mem["plain"], "-o", ms=5, label="store every activation")
        ax.plot(layer_counts, mem["ckpt"], "-s", ms=5, label=f"checkpoint, {segments} segments")
        ax.set_xticks(layer_counts)
        ax.set_xlabel("layers")
        ax.set_ylabel("saved for backward (KiB)")
        ax.set_title(f"Activation memory, batch {batch} × {width}")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize="small")

    ctx.figure("activation_memory", draw_mem)

    # Numerical stability: log(softmax(z)) vs the fused log_softmax inside cross_entropy.
    z = torch.tensor([[100.0, 0.0, -100.0]], requires_grad=True)
    target = torch.tensor([2])
    naive = -torch.log(torch.softmax(z, dim=1))[0, 2]
    naive.backward()
    ctx.value("ls_logits", z.detach()[0])
    ctx.value("ls_target", int(target))
    ctx.value("ls_naive_loss", str(naive.item()))
    ctx.value("ls_naive_grad_nan", bool(torch.isnan(z.grad).any()))
    z.grad = None
    fused = F.cross_entropy(z, target)
    fused.backward()
    ctx.value("ls_fused_loss", fused.item())
    ctx.value("ls_fused_grad", z.grad[0])

    # Vectorisation: one batched graph vs a Python loop over examples.
    torch.manual_seed(0)
    model = mlp(10, 32, 1)
    Xb, yb = torch.randn(32, 10), torch.randn(32, 1)
    with FlopCounterMode(display=False) as counter:
        batched = F.mse_loss(model(Xb), yb, reduction="sum")
    batched_flops = counter.get_total_flops()
    g_batched = torch.autograd.grad(batched, list(model.parameters()), retain_graph=True)
    with FlopCounterMode(display=False) as counter:
        looped = sum(F.mse_loss(model(Xb[i : i + 1]), yb[i : i + 1], reduction="sum") for i in range(len(Xb)))
    looped_flops = counter.get_total_flops()
    g_looped = torch.autograd.grad(looped, list(model.parameters()), retain_graph=True)
    ctx.value("vec_batch", len(Xb))
    ctx.value("vec_nodes_batched", graph_nodes(batched))
    ctx.value("vec_nodes_looped", graph_nodes(looped))
    ctx.value("vec_flops_equal", batched_flops == looped_flops)
    agree(ctx, "vec_grad_tol", max_diff(g_batched, g_looped), 1e-5)
