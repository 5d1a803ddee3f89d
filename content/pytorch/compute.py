"""PyTorch essentials: every dtype, shape, stride, flag and error on the cards comes from running PyTorch.

Sections (in card order):
  1. What PyTorch is: eager errors, the essential packages in one tiny training run, the three levels.
  2. Tensors: dtypes and element sizes, memory, strides and views, 0-d tensors, ranks, broadcasting.
  3. NumPy interop: from_numpy / torch.tensor / as_tensor / .numpy() and who shares memory.
  4. Autograd: Variable today, leaves and .grad, requires_grad propagation, manual updates, the graph.
  5. nn.Module: parameters, buffers, state_dict, train/eval; nn vs nn.functional (the dropout trap).
  6. zero_grad and gradient accumulation.
  7. Dataset and DataLoader: collation, batches per epoch, shuffling, IterableDataset, custom collate.
  8. model.eval() vs torch.no_grad() vs torch.inference_mode().
  9. Devices: .to() semantics, device mismatch, tensors created on a device.
No computation depends on the build machine's hardware (it has no GPU).
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from pt_classic_gaps import classic_gaps
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset


def error_of(fn):
    """Run fn(); return (exception type name, first line of its message). Raises if fn does not fail."""
    try:
        fn()
    except Exception as exc:  # whatever PyTorch raises
        return type(exc).__name__, str(exc).splitlines()[0]
    raise AssertionError("expected an exception")


def shares_memory(a, b):
    """True if two tensors (or a tensor and a NumPy array) start at the same memory address."""
    pa = a.data_ptr() if isinstance(a, torch.Tensor) else a.__array_interface__["data"][0]
    pb = b.data_ptr() if isinstance(b, torch.Tensor) else b.__array_interface__["data"][0]
    return pa == pb


def mib(n_bytes):
    """Bytes -> MiB."""
    return n_bytes / 2**20


# --------------------------------------------------------------------------------------------
# 1. What PyTorch is
# --------------------------------------------------------------------------------------------
def overview(ctx):
    # Eager execution: a shape bug fails at the line that caused it, with the shapes in the message.
    a_shape, b_shape = (4, 3), (4, 3)
    ctx.value("eager_a_shape", a_shape)
    ctx.value("eager_b_shape", b_shape)
    err_type, err_msg = error_of(lambda: torch.randn(*a_shape) @ torch.randn(*b_shape))
    ctx.value("eager_err_type", err_type)
    ctx.value("eager_err_msg", err_msg)

    # The essential packages in one tiny run: torch (tensors), torch.utils.data, torch.nn, torch.optim,
    # autograd (backward). Noise-free linear data, so the loss should fall close to zero.
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    y = X @ torch.tensor([[1.0], [-2.0], [0.5]])
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    model = nn.Linear(3, 1)
    ctx.value("ess_in", model.in_features)
    ctx.value("ess_out", model.out_features)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    first = None
    for _ in range(20):
        for xb, yb in loader:
            loss = F.mse_loss(model(xb), yb)
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
    ctx.value("ess_batch", 16)
    ctx.value("ess_lr", 0.1)
    ctx.value("ess_epochs", 20)
    ctx.value("ess_loss_first", first)
    ctx.value("ess_loss_final", F.mse_loss(model(X), y).detach())

    # The three levels compute the same gradient of an MSE loss for a linear model.
    torch.manual_seed(0)
    n, d = 32, 3
    Xl, yl = torch.randn(n, d, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    w0 = torch.randn(d, dtype=torch.float64)
    # Level 1, tensors only: the gradient written by hand, 2/N X^T (Xw - y).
    g_manual = 2 / n * Xl.T @ (Xl @ w0 - yl)
    # Level 2, autograd: the same expression, differentiated by backward().
    w = w0.clone().requires_grad_(True)
    ((Xl @ w - yl) ** 2).mean().backward()
    # Level 3, nn: a Linear layer (no bias) and a loss module.
    lin = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(w0.unsqueeze(0))
    nn.MSELoss()(lin(Xl).squeeze(1), yl).backward()
    ctx.value("levels_diff_autograd", (g_manual - w.grad).abs().max())
    ctx.value("levels_diff_nn", (g_manual - lin.weight.grad.squeeze(0)).abs().max())
    worst = max(float((g_manual - w.grad).abs().max()), float((g_manual - lin.weight.grad.squeeze(0)).abs().max()))
    assert worst <= 1e-12, worst
    ctx.value("levels_tol", 1e-12)


# --------------------------------------------------------------------------------------------
# 2. Tensors
# --------------------------------------------------------------------------------------------
def tensors(ctx):
    t = torch.zeros(2, 3)
    ctx.value("t_dtype", str(t.dtype))
    ctx.value("t_device", str(t.device))
    ctx.value("t_shape", t.shape)

    # Default dtypes inferred from Python values.
    ctx.value("dtype_of_float_list", str(torch.tensor([1.0, 2.0]).dtype))
    ctx.value("dtype_of_int_list", str(torch.tensor([1, 2]).dtype))
    ctx.value("dtype_of_bool_list", str(torch.tensor([True]).dtype))
    ctx.value("default_dtype", str(torch.get_default_dtype()))

    # Bytes per element, from the tensors themselves.
    for name, dt in [
        ("f32", torch.float32),
        ("f64", torch.float64),
        ("f16", torch.float16),
        ("bf16", torch.bfloat16),
        ("i64", torch.int64),
        ("i8", torch.int8),
        ("bool", torch.bool),
    ]:
        ctx.value(f"size_{name}", torch.empty(0, dtype=dt).element_size())

    # Class-index targets must be int64: int32 labels are rejected by cross_entropy.
    logits = torch.randn(3, 4)
    ctx.value("ce_int32_err", error_of(lambda: F.cross_entropy(logits, torch.tensor([1, 2, 3], dtype=torch.int32)))[1])

    # Memory of an image batch.
    batch_shape = (32, 3, 224, 224)
    img = torch.empty(batch_shape)
    ctx.value("mem_shape", batch_shape)
    ctx.value("mem_numel", img.numel())
    ctx.value("mem_bytes", img.numel() * img.element_size())
    ctx.value("mem_mib", mib(img.numel() * img.element_size()))
    ctx.value("mem_mib_f16", mib(img.half().numel() * img.half().element_size()))

    # Shape, strides, views.
    x = torch.arange(12).view(3, 4)
    ctx.value("st_numel", x.numel())
    ctx.value("st_shape", x.shape)
    ctx.value("st_stride", x.stride())
    xt = x.t()
    ctx.value("st_t_shape", xt.shape)
    ctx.value("st_t_stride", xt.stride())
    ctx.value("st_t_contig", xt.is_contiguous())
    ctx.value("st_t_shares", shares_memory(x, xt))
    col = x[:, 1]
    ctx.value("st_col_stride", col.stride())
    ctx.value("st_col_offset", col.storage_offset())
    ctx.value("st_view_err_type", error_of(lambda: xt.view(12))[0])
    r = xt.reshape(12)
    ctx.value("st_reshape_shares", shares_memory(r, x))  # reshape had to copy
    ctx.value("st_contig_stride", xt.contiguous().stride())

    # A view shares storage: writing through it changes the original. clone() does not.
    base = torch.zeros(2, 3)
    v = base.view(3, 2)
    ctx.value("view_base_shape", base.shape)
    ctx.value("view_shape", v.shape)
    c = base.clone()
    v[0, 0] = 7.0
    c[0, 1] = 5.0
    ctx.value("view_write", 7.0)
    ctx.value("view_base_after", base[0, 0])
    ctx.value("clone_write", 5.0)
    ctx.value("clone_base_after", base[0, 1])
    ctx.value("view_same_ptr", shares_memory(base, v))

    # 0-d tensors.
    s = torch.tensor(3.5)
    ctx.value("zd_value", s.item())
    ctx.value("zd_shape", str(s.shape))
    ctx.value("zd_dim", s.dim())
    n_ar = 4
    total = torch.arange(float(n_ar)).sum()
    ctx.value("zd_arange_n", n_ar)
    ctx.value("zd_sum_shape", str(total.shape))
    ctx.value("zd_sum_item", total.item())
    ctx.value("zd_item_type", type(total.item()).__name__)
    one = torch.tensor([3.5])
    ctx.value("one_elem_shape", str(one.shape))
    loss = F.mse_loss(torch.zeros(5), torch.ones(5))
    ctx.value("zd_loss_shape", str(loss.shape))

    # Ranks: scalar, vector, matrix, a batch of RGB images.
    ranks = {
        "scalar": torch.tensor(1.0),
        "vector": torch.zeros(3),
        "matrix": torch.zeros(2, 3),
        "images": torch.zeros(8, 3, 32, 32),
    }
    for name, tens in ranks.items():
        ctx.value(f"rank_{name}", tens.dim())
        ctx.value(f"shape_{name}", str(tuple(tens.shape)))
    # Batched matrix multiplication: the last two dims are matrices, leading dims are a batch.
    A, B = torch.randn(10, 3, 4), torch.randn(10, 4, 5)
    ctx.value("bmm_a", A.shape)
    ctx.value("bmm_b", B.shape)
    ctx.value("bmm_out", (A @ B).shape)
    ctx.value("bmm_bcast_b", B[0].shape)
    ctx.value("bmm_bcast_out", (A @ B[0]).shape)

    # Broadcasting.
    col3 = torch.tensor([[0.0], [10.0], [20.0]])
    row4 = torch.tensor([1.0, 2.0, 3.0, 4.0])
    out = col3 + row4
    ctx.value("bc_col", col3.squeeze(1))
    ctx.value("bc_col_shape", col3.shape)
    ctx.value("bc_row", row4)
    ctx.value("bc_row_shape", row4.shape)
    ctx.value("bc_out_shape", out.shape)
    ctx.value("bc_out_row0", out[0])
    ctx.value("bc_out_row2", out[2])
    big_a, big_b = torch.empty(8, 1, 6, 1), torch.empty(7, 1, 5)
    ctx.value("bc_big_a", big_a.shape)
    ctx.value("bc_big_b", big_b.shape)
    ctx.value("bc_big_out", (big_a + big_b).shape)
    err_a, err_b = torch.ones(3), torch.ones(4)
    ctx.value("bc_err_a", err_a.shape)
    ctx.value("bc_err_b", err_b.shape)
    ctx.value("bc_err", error_of(lambda: err_a + err_b)[1])
    # The (N, 1) vs (N,) trap: broadcasting silently builds an N x N matrix.
    n_trap = 4
    pred, target = torch.zeros(n_trap, 1), torch.ones(n_trap)
    ctx.value("trap_n", n_trap)
    ctx.value("trap_pred_shape", pred.shape)
    ctx.value("trap_target_shape", target.shape)
    ctx.value("trap_diff_shape", (pred - target).shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.mse_loss(pred, target)
    ctx.value("trap_mse_warns", any("broadcast" in str(w.message) for w in caught))


# --------------------------------------------------------------------------------------------
# 3. NumPy interop
# --------------------------------------------------------------------------------------------
def numpy_interop(ctx):
    arr = np.zeros(3)
    ctx.value("np_n", arr.size)
    ctx.value("np_default_dtype", str(arr.dtype))
    t = torch.from_numpy(arr)
    copied = torch.tensor(arr)
    viewed = torch.as_tensor(arr)
    ctx.value("fn_dtype", str(t.dtype))
    ctx.value("fn_shares", shares_memory(t, arr))
    ctx.value("copy_shares", shares_memory(copied, arr))
    ctx.value("as_tensor_shares", shares_memory(viewed, arr))
    write_np, write_t = 5.0, 7.0
    arr[0] = write_np  # write through NumPy ...
    t[1] = write_t  # ... and through the tensor
    ctx.value("fn_write_np", write_np)
    ctx.value("fn_write_t", write_t)
    ctx.value("fn_t_after", t)
    ctx.value("copy_after", copied)
    storage_figure(ctx, arr.tolist(), copied.tolist(), write_np, write_t)

    # The float64 surprise: NumPy's default dtype meets a float32 model.
    lin = nn.Linear(3, 2)
    err_type, err_msg = error_of(lambda: lin(torch.from_numpy(np.ones((1, 3)))))
    ctx.value("f64_err_type", err_type)
    ctx.value("f64_err_msg", err_msg)
    ctx.value("f64_fixed_dtype", str(torch.from_numpy(np.ones(3)).float().dtype))
    ctx.value("f64_fixed_shares", shares_memory(torch.from_numpy(arr).float(), arr))

    # .numpy() shares memory too (CPU tensors only), and refuses tensors that require grad.
    ones = torch.ones(3)
    as_np = ones.numpy()
    ones.add_(1)
    ctx.value("numpy_after", as_np.tolist())
    w = torch.ones(3, requires_grad=True)
    ctx.value("numpy_grad_err", error_of(lambda: w.numpy())[1])
    ctx.value("detach_shares", shares_memory(w.detach(), w))


def storage_figure(ctx, shared, copy, write_np, write_t):
    """Diagram: a NumPy array and torch.from_numpy share one buffer; torch.tensor copies."""

    def draw(fig):
        ax = fig.subplots()
        ax.set_axis_off()
        x0 = 3.4  # left edge of the buffers

        def buffer(y, values, color, label):
            ax.text(x0 + 1.45, y + 0.95, label, ha="center", fontsize=9)
            for i, v in enumerate(values):
                ax.add_patch(_box(x0 + i, y, color))
                ax.text(x0 + i + 0.45, y + 0.4, f"{v:g}", ha="center", va="center", fontsize=12)

        def name(y, text, y_to, color):
            ax.text(0, y, text, fontsize=9, family="monospace", va="center")
            ax.annotate("", xy=(x0 - 0.05, y_to), xytext=(2.35, y), arrowprops={"arrowstyle": "->", "color": color})

        buffer(2.0, shared, "C0", "one shared buffer")
        buffer(0.0, copy, "C1", "a separate copy")
        name(2.75, f"a = np.zeros({len(shared)})", 2.55, "C0")
        name(2.05, "t = from_numpy(a)", 2.25, "C0")
        name(0.4, "c = torch.tensor(a)", 0.4, "C1")
        ax.text(0, -0.6, f"then: a[0] = {write_np:g}; t[1] = {write_t:g}", fontsize=9, family="monospace", va="center")
        ax.set_xlim(0, x0 + 3)
        ax.set_ylim(-0.9, 3.3)
        ax.set_title("from_numpy shares memory; torch.tensor copies", fontsize=10)

    ctx.figure("numpy_sharing", draw)


# --------------------------------------------------------------------------------------------
# 4. Autograd and the old Variable
# --------------------------------------------------------------------------------------------
def autograd(ctx):
    x = torch.ones(3)
    v = torch.autograd.Variable(x, requires_grad=True)
    ctx.value("var_type", type(v).__name__)
    ctx.value("var_is_tensor", type(v) is torch.Tensor)
    ctx.value("var_requires_grad", v.requires_grad)
    ctx.value("var_is_leaf", v.is_leaf)
    ctx.value("var_plain_isinstance", isinstance(torch.ones(1), torch.autograd.Variable))
    (v * 2).sum().backward()
    ctx.value("var_grad", v.grad)

    # Leaves and .grad: only leaves that require grad get .grad, unless a non-leaf calls retain_grad().
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    scale = 3
    h = w * scale  # non-leaf
    ctx.value("leaf_scale", scale)
    (h**2).sum().backward()
    ctx.value("leaf_w", w.detach())
    ctx.value("leaf_w_is_leaf", w.is_leaf)
    ctx.value("leaf_h_is_leaf", h.is_leaf)
    ctx.value("leaf_w_grad", w.grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns when you read a non-leaf's .grad
        ctx.value("leaf_h_grad_none", h.grad is None)
    h2 = w * scale
    h2.retain_grad()
    (h2**2).sum().backward()
    ctx.value("leaf_h_retained_grad", h2.grad)

    # requires_grad propagates through operations; parameters are leaves that require grad.
    data = torch.ones(2)
    ctx.value("prop_data_rg", data.requires_grad)
    ctx.value("prop_out_rg", (data * w).requires_grad)
    ctx.value("prop_detach_rg", (data * w).detach().requires_grad)
    # Only in grad mode, and only for differentiable floating-point outputs.
    with torch.no_grad():
        ctx.value("prop_nograd_rg", (data * w).requires_grad)
    ctx.value("prop_compare_rg", (w > 0).requires_grad)
    ctx.value("prop_argmax_rg", w.argmax().requires_grad)
    ctx.value("prop_argmax_dtype", str(w.argmax().dtype))
    p = nn.Linear(2, 1).weight
    ctx.value("param_is_leaf", p.is_leaf)
    ctx.value("param_requires_grad", p.requires_grad)

    # Manual SGD on a leaf: in-place update must be inside torch.no_grad().
    wm = torch.tensor([1.0, -1.0], requires_grad=True)
    (wm**2).sum().backward()
    lr = 0.1

    def bad():
        nonlocal wm
        wm -= lr * wm.grad

    ctx.value("manual_err", error_of(bad)[1].rstrip("."))
    with torch.no_grad():
        wm -= lr * wm.grad
    ctx.value("manual_lr", lr)
    ctx.value("manual_w_after", wm)
    ctx.value("manual_still_leaf", wm.is_leaf and wm.requires_grad)

    # The graph autograd records for loss = (w * x + b - y) ** 2, read from grad_fn.next_functions.
    wg = torch.tensor(2.0, requires_grad=True)
    bg = torch.tensor(0.5, requires_grad=True)
    xg, yg = torch.tensor(3.0), torch.tensor(4.0)
    loss = (wg * xg + bg - yg) ** 2
    names = {id(wg): "w", id(bg): "b"}
    nodes, edges = [], []

    def walk(fn, depth):
        """Depth-first walk of the backward graph; records (label, depth) per node and parent->child edges."""
        label = type(fn).__name__
        if label == "AccumulateGrad":
            label = f"AccumulateGrad\n(leaf {names[id(fn.variable)]})"
        idx = len(nodes)
        nodes.append((label, depth))
        for child, _ in fn.next_functions:
            if child is not None:  # None: an input that does not require grad (x, y)
                edges.append((idx, walk(child, depth + 1)))
        return idx

    walk(loss.grad_fn, 0)
    ctx.value("graph_nodes", [n.split("\n")[0] for n, _ in nodes])
    ctx.value("graph_root", type(loss.grad_fn).__name__)
    ctx.value("graph_n_nodes", len(nodes))
    ctx.value("graph_w0", wg.item())
    ctx.value("graph_b0", bg.item())
    ctx.value("graph_x", xg.item())
    ctx.value("graph_y", yg.item())
    loss.backward()
    ctx.value("graph_loss", loss.detach())
    ctx.value("graph_w_grad", wg.grad)
    ctx.value("graph_b_grad", bg.grad)

    def draw_graph(fig):
        ax = fig.subplots()
        ax.set_axis_off()
        max_depth = max(dpt for _, dpt in nodes)
        # Top = loss; an only child sits under its parent, two children spread left and right.
        pos = {0: (0.5, 1.0)}
        for parent, child in sorted(edges):
            kids = [c for p_, c in edges if p_ == parent]
            shift = 0.0 if len(kids) == 1 else (-0.2 if kids.index(child) == 0 else 0.2)
            pos[child] = (pos[parent][0] + shift, 1 - nodes[child][1] / max_depth)
        for parent, child in edges:
            (x0, y0), (x1, y1) = pos[parent], pos[child]
            ax.annotate(
                "",
                xy=(x1, y1 + 0.06),
                xytext=(x0, y0 - 0.06),
                arrowprops={"arrowstyle": "->", "color": "C0", "lw": 1.5},
            )
        for i, (label, _) in enumerate(nodes):
            leaf = label.startswith("AccumulateGrad")
            ax.text(
                *pos[i],
                label,
                ha="center",
                va="center",
                fontsize=9,
                bbox={"boxstyle": "round", "fc": "none", "ec": "C1" if leaf else "C0", "lw": 1.5},
            )
        ax.text(0.72, 0.0, "x, y need no grad:\nno node", fontsize=9, va="center", color="C2")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.12, 1.12)
        ax.set_title("loss = (w*x + b - y)**2: backward graph", fontsize=10)

    ctx.figure("autograd_graph", draw_graph, height=3.6)


# --------------------------------------------------------------------------------------------
# 5. nn.Module, nn vs nn.functional
# --------------------------------------------------------------------------------------------
class Scaler(nn.Module):
    """A module with one of each kind of attribute: a Parameter, a buffer and a plain tensor."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))
        self.register_buffer("running", torch.zeros(3))
        self.plain = torch.ones(3)

    def forward(self, x):
        return x * self.weight


class FunctionalDropoutNet(nn.Module):
    """The trap: F.dropout without training=self.training keeps dropping after model.eval()."""

    def forward(self, x):
        return F.dropout(x, p=0.5)


class FixedFunctionalDropoutNet(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.5, training=self.training)


def describe(m):
    """A short constructor-like name for a layer, e.g. Linear(4, 8), BatchNorm1d(8), ReLU()."""
    if isinstance(m, nn.Linear):
        return f"Linear({m.in_features}, {m.out_features})"
    if isinstance(m, nn.BatchNorm1d):
        return f"BatchNorm1d({m.num_features})"
    return f"{type(m).__name__}()"


def modules(ctx):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    ctx.value("mod_spec", ", ".join(describe(m) for m in model))
    ctx.value("mod_n_param_tensors", len(list(model.parameters())))
    ctx.value("mod_n_params", sum(p.numel() for p in model.parameters()))
    ctx.value("mod_param_names", " ".join(n for n, _ in model.named_parameters()))
    ctx.value("mod_buffer_names", " ".join(n for n, _ in model.named_buffers()))
    ctx.value("mod_state_len", len(model.state_dict()))
    ctx.value("mod_training_default", all(m.training for m in model.modules()))
    model.eval()
    ctx.value("mod_training_after_eval", any(m.training for m in model.modules()))
    ctx.value("mod_eval_returns_self", model.train() is model)

    s = Scaler()
    ctx.value("sc_params", [n for n, _ in s.named_parameters()])
    ctx.value("sc_state_keys", " ".join(s.state_dict().keys()))
    ctx.value("sc_plain_in_state", "plain" in s.state_dict())
    s.double()
    ctx.value("sc_weight_dtype", str(s.weight.dtype))
    ctx.value("sc_buffer_dtype", str(s.running.dtype))
    ctx.value("sc_plain_dtype", str(s.plain.dtype))

    # nn vs functional: the same computation, parameters held by the module or passed explicitly.
    lin = nn.Linear(4, 3)
    x = torch.randn(5, 4)
    ctx.value("fn_linear_diff", (lin(x) - F.linear(x, lin.weight, lin.bias)).abs().max().detach())

    # The dropout trap, measured after model.eval() on many ones.
    n = 10_000
    ones = torch.ones(n)
    ctx.value("drop_n", n)
    ctx.value("drop_p", 0.5)
    zeros = {}
    for name, net in [
        ("functional", FunctionalDropoutNet()),
        ("fixed", FixedFunctionalDropoutNet()),
        ("module", nn.Sequential(nn.Dropout(0.5))),
    ]:
        net.eval()
        zeros[name] = (net(ones) == 0).float().mean()
    ctx.value("drop_eval_zero_functional", zeros["functional"])
    ctx.value("drop_eval_zero_fixed", zeros["fixed"])
    ctx.value("drop_eval_zero_module", zeros["module"])


# --------------------------------------------------------------------------------------------
# 6. zero_grad and gradient accumulation
# --------------------------------------------------------------------------------------------
def zero_grad_and_accumulation(ctx):
    torch.manual_seed(0)
    w = torch.tensor(1.5, requires_grad=True)
    for _ in range(2):
        (w**2).backward()
    ctx.value("twice_w", 1.5)
    ctx.value("twice_grad", w.grad)  # 2 * (2w)
    opt = torch.optim.SGD([w], lr=0.1)
    opt.zero_grad()
    ctx.value("zero_grad_none", w.grad is None)

    # zero_grad() between backward() and step() wipes the gradients: step() then skips the parameter.
    p = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt_p = torch.optim.SGD([p], lr=0.1)
    before = p.detach().clone()
    (p**2).sum().backward()
    opt_p.zero_grad()
    opt_p.step()
    ctx.value("zg_misplaced_moved", not torch.equal(p.detach(), before))

    # Full batch vs k micro-batches, each loss divided by k.
    n, d, k = 32, 6, 4
    X, y = torch.randn(n, d, dtype=torch.float64), torch.randn(n, 1, dtype=torch.float64)
    model = nn.Linear(d, 1).double()
    F.mse_loss(model(X), y).backward()
    full = model.weight.grad.clone().squeeze(0)
    model.zero_grad()
    parts = []
    for xb, yb in zip(X.chunk(k), y.chunk(k), strict=True):
        before = torch.zeros(d, dtype=torch.float64) if model.weight.grad is None else model.weight.grad.clone()
        (F.mse_loss(model(xb), yb) / k).backward()
        parts.append((model.weight.grad.squeeze(0) - before.view(-1)).clone())
    accumulated = model.weight.grad.clone().squeeze(0)
    model.zero_grad()
    for xb, yb in zip(X.chunk(k), y.chunk(k), strict=True):
        F.mse_loss(model(xb), yb).backward()  # forgot / k
    no_divide = model.weight.grad.clone().squeeze(0)
    ctx.value("acc_n", n)
    ctx.value("acc_k", k)
    ctx.value("acc_micro", n // k)
    ctx.value("acc_max_diff", (accumulated - full).abs().max())
    assert float((accumulated - full).abs().max()) <= 1e-12
    ctx.value("acc_tol", 1e-12)
    ctx.value("acc_no_divide_ratio", (no_divide / full).mean())
    ctx.value("acc_no_divide_ratio_spread", (no_divide / full).std())

    # .grad of three weights after each accumulated backward() call, against the full-batch gradient.
    running = torch.stack(parts).cumsum(0)
    shown = [0, 1, 4]

    def draw_acc(fig):
        ax = fig.subplots()
        steps = list(range(k + 1))
        for c, i in enumerate(shown):
            path = [0.0, *running[:, i].tolist()]
            ax.plot(steps, path, marker="o", color=f"C{c}", label=f"w{i + 1}")
            ax.axhline(float(full[i]), ls="--", color=f"C{c}", lw=1)
        ax.set_xticks(steps)
        ax.set_xlabel("backward() calls (loss / k each)")
        ax.set_ylabel(".grad")
        ax.set_title(f"k = {k} micro-batches; dashed: full batch", fontsize=10)
        ax.legend(loc="lower left", fontsize="small")

    ctx.figure("grad_accumulation", draw_acc)

    # optimizer.zero_grad() clears only its own parameters (two-optimizer setups, e.g. GANs).
    gen, disc = nn.Linear(2, 2), nn.Linear(2, 1)
    opt_g = torch.optim.SGD(gen.parameters(), lr=0.1)
    disc(gen(torch.randn(4, 2))).sum().backward()  # the generator's loss flows through D as well
    opt_g.zero_grad()
    ctx.value("gan_g_cleared", gen.weight.grad is None)
    ctx.value("gan_d_cleared", disc.weight.grad is None)


# --------------------------------------------------------------------------------------------
# 7. Dataset and DataLoader (num_workers=0 throughout: no worker processes at build time)
# --------------------------------------------------------------------------------------------
class Squares(Dataset):
    """A map-style dataset: sample i is (features of shape (3,), integer label)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = torch.tensor([i, i**2, i**3]).float()
        return x, i % 3


class Counter(IterableDataset):
    """An iterable-style dataset: a stream with no random access."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def data_loading(ctx):
    n, bs = 10, 4
    ds = Squares(n)
    loader = DataLoader(ds, batch_size=bs)
    xb, yb = next(iter(loader))
    ctx.value("dl_n", n)
    ctx.value("dl_bs", bs)
    ctx.value("dl_sample_x_shape", ds[0][0].shape)
    ctx.value("dl_x_shape", xb.shape)
    ctx.value("dl_y_shape", yb.shape)
    ctx.value("dl_y_dtype", str(yb.dtype))
    ctx.value("dl_len", len(loader))
    ctx.value("dl_sizes", [b[0].shape[0] for b in loader])
    ctx.value("dl_len_drop", len(DataLoader(ds, batch_size=bs, drop_last=True)))

    # Dict samples are collated key by key.
    dict_batch = next(iter(DataLoader([{"x": torch.zeros(3), "y": 1}] * bs, batch_size=bs)))
    ctx.value("dl_dict_keys", " ".join(dict_batch.keys()))
    ctx.value("dl_dict_x_shape", dict_batch["x"].shape)

    # Variable-length samples: default collation fails; pad in a custom collate_fn.
    seqs = [torch.ones(2), torch.ones(5), torch.ones(3)]
    lengths = [len(s) for s in seqs]
    ctx.value("cl_lengths", lengths)
    err = error_of(lambda: next(iter(DataLoader(seqs, batch_size=3))))
    ctx.value("cl_err_type", err[0])
    ctx.value("cl_err_msg", err[1].split(",")[0])  # "stack expects each tensor to be equal size"

    def pad_collate(batch):
        return pad_sequence(batch, batch_first=True), torch.tensor([len(s) for s in batch])

    padded, lens = next(iter(DataLoader(seqs, batch_size=3, collate_fn=pad_collate)))
    ctx.value("cl_padded_shape", padded.shape)
    ctx.value("cl_lens", lens)

    # Shuffle + drop_last over two epochs: a new order each epoch, different examples dropped.
    n_sh, bs_sh, epochs = 10, 3, 2
    gen = torch.Generator().manual_seed(0)
    idx_ds = list(range(n_sh))
    sh_loader = DataLoader(idx_ds, batch_size=bs_sh, shuffle=True, drop_last=True, generator=gen)
    epoch_batches = [[b.tolist() for b in sh_loader] for _ in range(epochs)]
    dropped = [sorted(set(idx_ds) - {i for b in eb for i in b}) for eb in epoch_batches]
    ctx.value("sh_n", n_sh)
    ctx.value("sh_bs", bs_sh)
    ctx.value("sh_epochs", epochs)
    ctx.value("sh_len", len(sh_loader))
    ctx.value("sh_n_dropped", len(dropped[0]))
    ctx.value("sh_dropped_e1", dropped[0][0])
    ctx.value("sh_dropped_e2", dropped[1][0])

    def draw_epochs(fig):
        ax = fig.subplots()
        ax.set_axis_off()
        left = 2.2  # room for the epoch labels
        for e, batches in enumerate(epoch_batches):
            ypos = (epochs - 1 - e) * 1.6
            ax.text(0, ypos + 0.4, f"epoch {e + 1}", va="center", fontsize=10)
            groups = [(f"batch {j + 1}", b, f"C{j}", None) for j, b in enumerate(batches)]
            groups.append(("dropped", dropped[e], "C7", "//"))
            pos = left
            for label, members, color, hatch in groups:
                ax.text(pos + len(members) / 2 - 0.05, ypos + 0.95, label, ha="center", fontsize=8)
                for i in members:
                    ax.add_patch(_box(pos, ypos, color, hatch))
                    ax.text(pos + 0.45, ypos + 0.4, str(i), ha="center", va="center", fontsize=10)
                    pos += 1
        ax.set_xlim(0, left + n_sh)
        ax.set_ylim(-0.1, (epochs - 1) * 1.6 + 1.2)
        ax.set_title(f"{n_sh} examples, batch_size={bs_sh},\nshuffle=True, drop_last=True", fontsize=10)

    ctx.figure("epoch_batches", draw_epochs, height=2.6)

    # IterableDataset: no __len__ needed, no shuffle allowed through the DataLoader.
    it = Counter(7)
    it_batches = [b.tolist() for b in DataLoader(it, batch_size=bs)]
    ctx.value("it_n", 7)
    ctx.value("it_batches", [len(b) for b in it_batches])
    ctx.value("it_shuffle_err_type", error_of(lambda: DataLoader(it, batch_size=bs, shuffle=True))[0])
    ctx.value("it_shuffle_err", error_of(lambda: DataLoader(it, batch_size=bs, shuffle=True))[1])


def _box(x, y, color, hatch=None):
    """A unit square (one example) for the epoch figure."""
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 0.9, 0.8, facecolor=color, alpha=0.35 if hatch else 0.5, hatch=hatch, edgecolor=color)


# --------------------------------------------------------------------------------------------
# 8. model.eval() vs torch.no_grad() vs torch.inference_mode()
# --------------------------------------------------------------------------------------------
def count_saved(fn):
    """Run fn() and count the tensors autograd saves for a backward pass."""
    count = 0

    def pack(t):
        nonlocal count
        count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, count


def inference_modes(ctx):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    x = torch.randn(8, 16)

    def same_twice():
        return torch.equal(model(x), model(x))

    rows = {}
    # (name, train mode?, context manager)
    for name, train, ctxm in [
        ("train", True, torch.enable_grad),
        ("eval", False, torch.enable_grad),
        ("nograd", True, torch.no_grad),
        ("evalnograd", False, torch.no_grad),
        ("inference", False, torch.inference_mode),
    ]:
        model.train(train)
        with ctxm():
            out, saved = count_saved(lambda: model(x))
            rows[name] = out
            ctx.value(f"im_{name}_rg", out.requires_grad)
            ctx.value(f"im_{name}_saved", saved)
            ctx.value(f"im_{name}_deterministic", same_twice())
    model.eval()
    with torch.inference_mode():
        inf_out = model(x)
    ctx.value("im_is_inference", inf_out.is_inference())
    ctx.value("im_nograd_is_inference", rows["evalnograd"].is_inference())

    # Distillation: the teacher's probabilities enter the student's KL loss, whose backward needs them saved.
    teacher, student = nn.Linear(16, 4), nn.Linear(16, 4)

    def distill_loss(context):
        with context():
            target = F.softmax(teacher(x), dim=-1)
        return F.kl_div(F.log_softmax(student(x), dim=-1), target, reduction="batchmean")

    err = error_of(lambda: distill_loss(torch.inference_mode).backward())
    ctx.value("im_err_type", err[0])
    ctx.value("im_err_msg", err[1].split(".")[0])
    student.zero_grad()
    distill_loss(torch.no_grad).backward()
    ctx.value("im_nograd_usable", student.weight.grad is not None)


# --------------------------------------------------------------------------------------------
# 9. Devices
# --------------------------------------------------------------------------------------------
def devices(ctx):
    # .to() on a module works in place and returns the same module; on a tensor it returns a new tensor.
    # Shown with a dtype change, which follows the same rules as a device change.
    m = nn.Linear(2, 2)
    m2 = m.to(torch.float64)
    ctx.value("to_module_same", m2 is m)
    ctx.value("to_module_dtype", str(m.weight.dtype))
    t = torch.ones(2)
    t2 = t.to(torch.float64)
    ctx.value("to_tensor_same", t2 is t)
    ctx.value("to_tensor_orig_dtype", str(t.dtype))
    ctx.value("to_tensor_noop_same", t.to(torch.float32) is t)

    # Mixing devices raises instead of copying: shown with the "meta" device (no GPU needed).
    err = error_of(lambda: torch.ones(2, device="meta") + torch.ones(2, 2))
    ctx.value("mix_err_type", err[0])

    # *_like factories inherit dtype and device.
    src = torch.ones(2, dtype=torch.float64, device="meta")
    like = torch.zeros_like(src)
    ctx.value("like_dtype", str(like.dtype))
    ctx.value("like_device", str(like.device))


def compute(ctx):
    overview(ctx)
    tensors(ctx)
    numpy_interop(ctx)
    autograd(ctx)
    modules(ctx)
    zero_grad_and_accumulation(ctx)
    data_loading(ctx)
    inference_modes(ctx)
    devices(ctx)
    classic_gaps(ctx)


# --------------------------------------------------------------------------------------------
# Drills: matmul and broadcast result shapes, computed by real torch on zero tensors
# --------------------------------------------------------------------------------------------
def matmul_shape(a, b):
    """Shape of torch.matmul on operands of shapes a and b."""
    return {"out": list(torch.matmul(torch.zeros(a), torch.zeros(b)).shape)}


def broadcast_rule(a, b):
    """Broadcasting by hand: right-align, pad with 1s, each pair equal or one of them 1."""
    n = max(len(a), len(b))
    a, b = [1] * (n - len(a)) + list(a), [1] * (n - len(b)) + list(b)
    out = []
    for x, y in zip(a, b, strict=True):
        assert x == y or 1 in (x, y), (a, b)
        out.append(y if x == 1 else x)
    return out


def broadcast_shape(a, b):
    """Result shape of broadcasting a with b, from torch, checked against the rule and a real addition."""
    out = list(torch.broadcast_shapes(tuple(a), tuple(b)))
    assert out == broadcast_rule(a, b), (out, broadcast_rule(a, b))
    assert out == list((torch.zeros(a) + torch.zeros(b)).shape), out
    return {"out": out}
