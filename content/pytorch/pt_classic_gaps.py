"""Hooks, torch.func (vmap, grad, per-sample gradients), einsum, gather and scatter.

Called from compute.py as classic_gaps(ctx). Every value and figure on the pt2-* cards comes from
here; "checked equal" claims assert a tolerance and register the tolerance, not the raw difference.
"""

import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jacfwd, jacrev, vmap


def agree(ctx, name, a, b, tol):
    """Assert max |a - b| <= tol and register tol as `name` (the raw difference is a rounding error
    that differs between CPUs; the card shows the tolerance)."""
    err = float((a - b).detach().abs().max())
    assert err <= tol, f"{name}: {err} > {tol}"
    ctx.value(name, tol)


def error_of(fn):
    """Run fn(); return (exception type name, first line of its message). Raises if fn does not fail."""
    try:
        fn()
    except Exception as exc:  # whatever PyTorch raises
        return type(exc).__name__, str(exc).splitlines()[0]
    raise AssertionError("expected an exception")


def classic_gaps(ctx):
    tensor_hooks(ctx)
    module_hooks(ctx)
    func_transforms(ctx)
    per_sample_gradients(ctx)
    einsum(ctx)
    gather_scatter(ctx)


# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------
def tensor_hooks(ctx):
    # A hook on an intermediate tensor sees its gradient during backward; a returned tensor replaces it.
    x = torch.ones(2, requires_grad=True)  # the card's code
    y = x**2
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    ctx.value("th_grad", x.grad)
    ctx.value("th_grad_plain", 2 * x.detach())

    # Reading an intermediate gradient without retain_grad: the hook sees it, h.grad stays None.
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    ctx.value("th_x", x.detach())
    h = 3 * x
    seen = {}

    def keep(g):
        seen["g"] = g.clone()  # returns None: the gradient is left unchanged

    h.register_hook(keep)
    (h**2).sum().backward()
    ctx.value("th_seen", seen["g"])
    with warnings.catch_warnings(record=True) as caught:  # reading a non-leaf's .grad warns: check it does
        warnings.simplefilter("always")
        ctx.value("th_h_grad_none", h.grad is None)
    assert any("not a leaf" in str(w.message) for w in caught), caught

    # On a leaf: register_hook changes what is accumulated into .grad; a post-accumulate hook runs
    # after .grad is written (e.g. to step the optimizer inside backward).
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    post = {}

    def after(p):
        post["grad"] = p.grad.clone()

    w.register_hook(lambda g: g.clamp(max=1.0))
    w.register_post_accumulate_grad_hook(after)
    (w * 3).sum().backward()
    ctx.value("th_leaf_grad", w.grad)
    ctx.value("th_post_seen", post["grad"])

    # A handle removes the hook; a forgotten hook keeps acting on every later backward.
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 10)
    (x * 1).sum().backward()
    first = x.grad.clone()
    x.grad = None
    handle.remove()
    (x * 1).sum().backward()
    ctx.value("th_with_hook", first)
    ctx.value("th_after_remove", x.grad)


def module_hooks(ctx):
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    x = torch.randn(4, 3)

    # Forward hook: (module, args, output); a non-None return value replaces the output.
    acts = {}

    def save(m, args, out):
        acts["out"] = out.detach()  # returns None: the output is left unchanged

    h = lin.register_forward_hook(save)
    out = lin(x)
    h.remove()
    ctx.value("fh_captured_equal", bool(torch.equal(acts["out"], out.detach())))
    ctx.value("fh_captured_shape", acts["out"].shape)
    h = lin.register_forward_hook(lambda m, args, out: out.relu())
    replaced = lin(x)
    h.remove()
    ctx.value("fh_replaced_min", replaced.min())
    ctx.value("fh_plain_min", out.min())

    # Forward-pre hook: (module, args) before forward; a returned tuple replaces the positional args.
    h = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    pre = lin(x)
    h.remove()
    agree(ctx, "fph_tol", pre, lin.bias.detach().expand(4, 2), 1e-7)
    ctx.value("fph_out_is_bias", True)

    # Full backward hook: (module, grad_input, grad_output), gradients w.r.t. the module's inputs
    # and outputs, not its parameters. For Linear, grad_input[0] = grad_output[0] @ W.
    rec = {}

    def record(m, gin, gout):
        rec["gin"], rec["gout"] = gin, gout

    h = lin.register_full_backward_hook(record)
    xr = torch.randn(4, 3, requires_grad=True)
    (lin(xr) ** 2).sum().backward()
    ctx.value("bh_gin_shape", rec["gin"][0].shape)
    ctx.value("bh_gout_shape", rec["gout"][0].shape)
    ctx.value("bh_n_gin", len(rec["gin"]))
    agree(ctx, "bh_gin_tol", rec["gin"][0], rec["gout"][0] @ lin.weight.detach(), 1e-6)
    agree(ctx, "bh_gin_is_xgrad_tol", rec["gin"][0], xr.grad, 1e-7)
    ctx.value("bh_weight_shape", lin.weight.shape)
    # An input that does not require grad: grad_input is (None,) (PyTorch warns).
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        lin.zero_grad()
        (lin(torch.randn(4, 3)) ** 2).sum().backward()
    ctx.value("bh_gin_none", rec["gin"][0] is None)
    h.remove()

    # A backward hook that returns a new grad_input scales what flows upstream, not the weights' grads.
    first = nn.Linear(3, 3)
    second = nn.Linear(3, 2)
    xs = torch.randn(4, 3)
    (second(first(xs)) ** 2).sum().backward()
    g_first, g_second = first.weight.grad.clone(), second.weight.grad.clone()
    first.zero_grad()
    second.zero_grad()
    h = second.register_full_backward_hook(lambda m, gin, gout: (gin[0] * 0.5,))
    (second(first(xs)) ** 2).sum().backward()
    h.remove()
    agree(ctx, "bh_scale_first_tol", first.weight.grad, 0.5 * g_first, 1e-6)
    agree(ctx, "bh_scale_second_tol", second.weight.grad, g_second, 1e-6)
    ctx.value("bh_scale", 0.5)


# --------------------------------------------------------------------------------------------
# torch.func: grad, vmap, jacobians
# --------------------------------------------------------------------------------------------
def func_transforms(ctx):
    torch.manual_seed(0)
    x = torch.randn(5)
    g = grad(lambda t: torch.sin(t).sum())(x)
    agree(ctx, "fg_tol", g, torch.cos(x), 1e-6)
    ctx.value("fg_requires_grad", x.requires_grad)
    ctx.value("fg_non_scalar_err", error_of(lambda: grad(lambda t: t * 2)(x))[0])

    # vmap: map a per-example function over a batch dimension, without a Python loop.
    a, b = torch.randn(6, 4), torch.randn(6, 4)
    dots = vmap(torch.dot)(a, b)
    agree(ctx, "vm_dot_tol", dots, (a * b).sum(1), 1e-6)
    ctx.value("vm_dot_shape", dots.shape)
    ctx.value("vm_dot_err", error_of(lambda: torch.dot(a, b))[0])
    m = torch.randn(4, 3)
    mv = vmap(torch.mv, in_dims=(None, 0))(m.T, a)  # same matrix, batched vectors
    agree(ctx, "vm_mv_tol", mv, a @ m, 1e-6)
    ctx.value("vm_mv_shape", mv.shape)

    # What a vmapped function may not do.
    batch = torch.randn(3, 2)
    ctx.value("vm_item_err", error_of(lambda: vmap(lambda v: v.sum().item())(batch))[1].split(".")[0])
    ctx.value("vm_if_err", error_of(lambda: vmap(lambda v: v if v.sum() > 0 else -v)(batch))[1].split(".")[0])
    ctx.value("vm_rand_err", error_of(lambda: vmap(lambda v: v + torch.randn(2))(batch))[0])
    same = vmap(lambda v: v * 0 + torch.randn(2), randomness="same")(batch)
    ctx.value("vm_rand_same_rows_equal", bool(torch.equal(same[0], same[1])))

    # Jacobians: jacrev (reverse mode, one pass per output) and jacfwd (forward mode, one per input).
    w = torch.randn(2, 3)

    def f(v):
        return torch.tanh(w @ v)

    v0 = torch.randn(3)
    jr, jf = jacrev(f)(v0), jacfwd(f)(v0)
    ref = torch.autograd.functional.jacobian(f, v0)
    agree(ctx, "jac_rev_tol", jr, ref, 1e-6)
    agree(ctx, "jac_fwd_tol", jf, ref, 1e-6)
    ctx.value("jac_shape", jr.shape)
    hess = jacfwd(jacrev(lambda v: (torch.tanh(w @ v) ** 2).sum()))(v0)
    ctx.value("hess_shape", hess.shape)
    agree(ctx, "hess_sym_tol", hess, hess.T, 1e-6)


def per_sample_gradients(ctx):
    torch.manual_seed(0)
    n, d_in, d_h, n_cls = 64, 8, 16, 3
    model = nn.Sequential(nn.Linear(d_in, d_h), nn.Tanh(), nn.Linear(d_h, n_cls))
    X, Y = torch.randn(n, d_in), torch.randint(0, n_cls, (n,))
    params = {k: v.detach() for k, v in model.named_parameters()}

    # The card's code.
    def loss_one(p, x, y):
        out = functional_call(model, p, (x[None],))
        return F.cross_entropy(out, y[None])

    ps = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, X, Y)

    # Reference: one backward pass per example.
    loop = {k: [] for k in params}
    for i in range(n):
        model.zero_grad()
        F.cross_entropy(model(X[i : i + 1]), Y[i : i + 1]).backward()
        for k, p in model.named_parameters():
            loop[k].append(p.grad.clone())
    worst = max(float((ps[k] - torch.stack(loop[k])).abs().max()) for k in params)
    assert worst <= 1e-5, worst
    ctx.value("ps_tol", 1e-5)
    ctx.value("ps_n", n)
    ctx.value("ps_w0_shape", params["0.weight"].shape)
    ctx.value("ps_grad_w0_shape", ps["0.weight"].shape)
    # The mean of the per-sample gradients is the ordinary batch gradient.
    model.zero_grad()
    F.cross_entropy(model(X), Y).backward()
    agree(ctx, "ps_mean_tol", ps["0.weight"].mean(0), model[0].weight.grad, 1e-6)

    # Per-sample gradient norms vs the norm of the mean gradient (what DP-SGD clips, per example).
    flat = torch.cat([ps[k].flatten(1) for k in params], dim=1)  # (n, n_params)
    norms = flat.norm(dim=1)
    mean_norm = flat.mean(0).norm()
    ctx.value("ps_norm_median", norms.median())
    ctx.value("ps_mean_grad_norm", mean_norm)
    ctx.value("ps_norm_ratio", norms.median() / mean_norm)
    clip = float(norms.median())
    norms_list, mean_f = norms.tolist(), float(mean_norm)

    def draw(fig):
        ax = fig.subplots()
        ax.hist(norms_list, bins=16, color="C0", alpha=0.8, label="per-example gradients")
        ax.axvline(mean_f, color="C1", lw=2.5, label="mean (batch) gradient")
        ax.axvline(clip, color="C2", ls="--", lw=2, label="a clip threshold C")
        ax.set_xlabel("gradient norm")
        ax.set_ylabel("examples")
        ax.set_title(f"{n} per-example gradients, vmap(grad(...))")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0.08, 1.0))

    ctx.figure("per_sample_grad_norms", draw, width=4.2, height=3.0)


# --------------------------------------------------------------------------------------------
# einsum
# --------------------------------------------------------------------------------------------
def einsum(ctx):
    torch.manual_seed(0)
    A, B = torch.randn(2, 3), torch.randn(3, 4)
    agree(ctx, "es_matmul_tol", torch.einsum("ij,jk->ik", A, B), A @ B, 1e-6)
    P, Q = torch.randn(5, 2, 3), torch.randn(5, 3, 4)
    agree(ctx, "es_bmm_tol", torch.einsum("bij,bjk->bik", P, Q), torch.bmm(P, Q), 1e-6)
    S = torch.randn(4, 4)
    agree(ctx, "es_trace_tol", torch.einsum("ii->", S), torch.trace(S), 1e-6)
    u, v = torch.randn(3), torch.randn(4)
    agree(ctx, "es_outer_tol", torch.einsum("i,j->ij", u, v), torch.outer(u, v), 1e-7)
    agree(ctx, "es_diag_tol", torch.einsum("ii->i", S), torch.diagonal(S), 0.0)
    agree(ctx, "es_sum_tol", torch.einsum("ij->i", A), A.sum(1), 1e-6)
    ctx.value("es_A_shape", A.shape)
    ctx.value("es_B_shape", B.shape)
    # 'ij,jk->i': contract j, then also sum k away: the row sums of A @ B.
    r = torch.einsum("ij,jk->i", A, B)
    agree(ctx, "es_rowsum_tol", r, (A @ B).sum(1), 1e-6)
    ctx.value("es_rowsum_shape", r.shape)

    # Attention scores: per batch and head, every query against every key.
    b, h, nq, nk, dh = 2, 4, 5, 7, 8
    q, k = torch.randn(b, h, nq, dh), torch.randn(b, h, nk, dh)
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k)
    agree(ctx, "es_attn_tol", scores, q @ k.transpose(-2, -1), 1e-5)
    ctx.value("es_q_shape", q.shape)
    ctx.value("es_k_shape", k.shape)
    ctx.value("es_scores_shape", scores.shape)

    # Implicit mode (no '->'): the output takes the indices that appear once, in ALPHABETICAL order.
    X = torch.arange(6.0).view(2, 3)
    ctx.value("es_implicit_shape", torch.einsum("ba", X).shape)
    ctx.value("es_implicit_is_transpose", bool(torch.equal(torch.einsum("ba", X), X.T)))
    ctx.value("es_explicit_shape", torch.einsum("ba->ba", X).shape)
    ctx.value("es_implicit_matmul", bool(torch.allclose(torch.einsum("ij,jk", A, B), A @ B)))

    # Row-wise dot products of two batches.
    m1, m2 = torch.randn(6, 4), torch.randn(6, 4)
    agree(ctx, "es_rowdot_tol", torch.einsum("bi,bi->b", m1, m2), (m1 * m2).sum(1), 1e-6)


# --------------------------------------------------------------------------------------------
# gather and scatter
# --------------------------------------------------------------------------------------------
def gather_scatter(ctx):
    src = torch.tensor([[10, 11, 12], [20, 21, 22]])
    idx1 = torch.tensor([[2, 0], [1, 1]])
    out1 = src.gather(1, idx1)
    idx0 = torch.tensor([[1, 0, 1]])
    out0 = src.gather(0, idx0)
    ctx.value("ga_src", src)
    ctx.value("ga_src_text", str(src.tolist()))
    ctx.value("ga_idx0_text", str(idx0.tolist()))
    ctx.value("ga_out0_text", str(out0.tolist()))
    ctx.value("ga_idx1_text", str(idx1.tolist()))
    ctx.value("ga_idx1", idx1)
    ctx.value("ga_out1", out1)
    ctx.value("ga_idx0", idx0)
    ctx.value("ga_out0", out0)
    ctx.value("ga_out1_shape", out1.shape)

    # Picking each row's target log-probability; the common mistakes.
    torch.manual_seed(0)
    logp = torch.randn(4, 3).log_softmax(1)
    y = torch.tensor([0, 2, 1, 1])
    picked = logp.gather(1, y[:, None]).squeeze(1)
    agree(ctx, "ga_nll_tol", -picked, F.nll_loss(logp, y, reduction="none"), 0.0)
    agree(ctx, "ga_index_tol", picked, logp[torch.arange(4), y], 0.0)
    ctx.value("ga_1d_err", error_of(lambda: logp.gather(1, y))[1])
    wrong = logp.gather(0, y[:, None]).squeeze(1)  # dim=0: row y[i] of column 0, no error
    ctx.value("ga_wrong_dim_differs", int((wrong != picked).sum()))
    ctx.value("ga_wrong_dim_n", 4)
    ctx.value("ga_y", y)

    # scatter: the inverse pattern; scatter_add sums duplicates (a histogram).
    idx = torch.tensor([0, 1, 1, 3, 1])
    hist = torch.zeros(5).scatter_add(0, idx, torch.ones(5))
    ctx.value("sc_idx", idx)
    ctx.value("sc_hist", hist)
    ctx.value("sc_is_bincount", bool(torch.equal(hist, torch.bincount(idx, minlength=5).float())))
    vals = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    ctx.value("sc_vals", vals)
    ctx.value("sc_sums", torch.zeros(4).scatter_add(0, idx, vals))
    means = torch.zeros(4).scatter_reduce(0, idx, vals, "mean", include_self=False)
    ctx.value("sc_means", means)
    ctx.value("sc_index_add_same", bool(torch.equal(torch.zeros(4).index_add(0, idx, vals),
                                                    torch.zeros(4).scatter_add(0, idx, vals))))
    # 2-D scatter along dim 1: out[i][index[i][j]] = src[i][j].
    s2 = torch.zeros(2, 4, dtype=torch.long).scatter(1, idx1, torch.tensor([[7, 8], [9, 9]]))
    ctx.value("sc2_out", s2)
    ctx.value("sc2_out_text", str(s2.tolist()))
    # One-hot via scatter equals F.one_hot.
    oh = torch.zeros(4, 3).scatter_(1, y[:, None], 1.0)
    ctx.value("sc_onehot_equal", bool(torch.equal(oh, F.one_hot(y, 3).float())))

    src_l, idx_l, out_l = src.tolist(), idx1.tolist(), out1.tolist()

    def draw(fig):
        ax = fig.subplots()
        ax.set_axis_off()
        ax.set_xlim(-0.3, 8.6)
        ax.set_ylim(-0.9, 2.6)

        def grid(x0, values, colors, title):
            for i, row in enumerate(values):
                for j, val in enumerate(row):
                    y0 = 1 - i
                    face = colors[i][j]
                    ax.add_patch(
                        matplotlib_rect((x0 + j, y0), face)
                    )
                    ax.text(x0 + j + 0.5, y0 + 0.5, str(val), ha="center", va="center", fontsize=11)
            ax.text(x0 + len(values[0]) / 2, 2.25, title, ha="center", va="center", fontsize=10)

        palette = [["C0", "C1", "C2"], ["C3", "C4", "C5"]]
        grid(0, src_l, palette, "src")
        grid(3.6, idx_l, [["none"] * 2] * 2, "index (dim=1)")
        out_colors = [[palette[i][idx_l[i][j]] for j in range(2)] for i in range(2)]
        grid(6.4, out_l, out_colors, "gather")
        ax.text(4.2, -0.55, "out[i][j] = src[i][index[i][j]]", ha="center", va="center", fontsize=10)

    ctx.figure("gather_dim1", draw, width=4.2, height=2.4)


def matplotlib_rect(xy, face):
    """A unit cell: coloured (translucent) when it shows a value taken from src, outlined otherwise."""
    from matplotlib.patches import Rectangle

    if face == "none":
        return Rectangle(xy, 1, 1, facecolor="none", edgecolor="0.4", lw=1.2)
    return Rectangle(xy, 1, 1, facecolor=face, alpha=0.35, edgecolor="0.4", lw=1.2)
