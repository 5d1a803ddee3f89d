"""Convolutional networks: every output size, parameter count and feature map on the cards
comes from running nn.Conv2d / nn.MaxPool2d / F.conv2d on real tensors here."""

import inspect
import math
import warnings

import matplotlib.patches
import torch
import torch.nn.functional as F
from _lib.nets import n_params
from torch import nn


def out_hw(layer, n, channels=1):
    """Run `layer` on a real (1, channels, n, n) tensor and return the output's spatial side."""
    with torch.no_grad():
        y = layer(torch.zeros(1, channels, n, n))
    assert y.shape[-1] == y.shape[-2]
    return y.shape[-1]



def bmatrix(t):
    """A 2-D integer tensor as a LaTeX bmatrix (for display in \\( \\) math on a card)."""
    rows = [" & ".join(str(int(v)) for v in row) for row in t.tolist()]
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


# ---------------------------------------------------------------------------------------------
# From-scratch 2-D convolutions, checked against F.conv2d below. Their source is shown on cards
# verbatim (inspect.getsource), so the code a learner reads is the code that was tested.
# ---------------------------------------------------------------------------------------------
def conv2d_unfold(x, w, b, stride=1, padding=0):
    n, _, h, wd = x.shape
    c_out, _, k, _ = w.shape
    # cols: (N, C_in*k*k, L), one column per output position
    cols = F.unfold(x, k, padding=padding, stride=stride)
    out = w.view(c_out, -1) @ cols + b.view(1, -1, 1)
    h_out = (h + 2 * padding - k) // stride + 1
    w_out = (wd + 2 * padding - k) // stride + 1
    return out.view(n, c_out, h_out, w_out)


# fmt: off
# (ruff format would rewrite the slices below as `i : i + kh`, changing the code shown on a card)
def conv2d_loops(img, ker):  # one channel, stride 1, no padding
    kh, kw = ker.shape
    oh, ow = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    out = torch.zeros(oh, ow)
    for i in range(oh):
        for j in range(ow):
            out[i, j] = (img[i:i + kh, j:j + kw] * ker).sum()
    return out
# fmt: on


TOL = 1e-5  # "agree within": float32 results computed two ways (shown on cards, asserted here)


def check(ctx, name, diff):
    """Register a max difference between two computations and assert it is within TOL."""
    diff = float(diff)
    assert diff < TOL, (name, diff)
    ctx.value(name, diff)


def compute(ctx):
    ctx.value("tol", TOL)
    # ---------------- output-size formula: 5x5 input, 7x7 kernel -----------------------------
    n5, k7 = 5, 7
    ctx.value("q78_n", n5)
    ctx.value("q78_k", k7)
    ctx.value("q78_p", 1)
    ctx.value("q78_out_pad1", out_hw(nn.Conv2d(1, 1, k7, padding=1), n5))
    # Without padding the kernel is larger than the input: PyTorch refuses.
    try:
        out_hw(nn.Conv2d(1, 1, k7, padding=0), n5)
        err_name, err_raised = "none", False
    except RuntimeError as e:
        err_name, err_raised = type(e).__name__, True
        ctx.value("q78_err_msg", str(e).split("Kernel size can't")[0].strip().rstrip("."))
    ctx.value("q78_nopad_raises", err_raised)
    ctx.value("q78_nopad_error", err_name)
    ctx.value("q78_formula_nopad", (n5 + 2 * 0 - k7) // 1 + 1)  # what the formula would give
    # Smallest padding that makes the 7x7 kernel fit: n + 2p >= k.
    p_min = next(p for p in range(10) if n5 + 2 * p >= k7)
    ctx.value("q78_p_min", p_min)
    ctx.value("q78_out_pmin", out_hw(nn.Conv2d(1, 1, k7, padding=p_min), n5))

    # ---------------- valid vs same padding ---------------------------------------------------
    n28, k5 = 28, 5
    ctx.value("vs_n", n28)
    ctx.value("vs_k", k5)
    ctx.value("vs_valid_out", out_hw(nn.Conv2d(1, 1, k5, padding=0), n28))  # padding='valid' == 0
    ctx.value("vs_valid_str_out", out_hw(nn.Conv2d(1, 1, k5, padding="valid"), n28))
    ctx.value("vs_same_out", out_hw(nn.Conv2d(1, 1, k5, padding="same"), n28))
    p_same = (k5 - 1) // 2
    ctx.value("vs_same_p", p_same)
    ctx.value("vs_explicit_p_out", out_hw(nn.Conv2d(1, 1, k5, padding=p_same), n28))
    # PyTorch only supports padding='same' for stride 1.
    try:
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
        ctx.value("same_stride2_error", "none")
    except ValueError as e:
        ctx.value("same_stride2_error", type(e).__name__)
    # Even kernel with 'same': PyTorch pads asymmetrically (total k-1 = odd) but still keeps n.
    with warnings.catch_warnings():  # PyTorch warns that it must copy the input to pad unevenly
        warnings.simplefilter("ignore", UserWarning)
        ctx.value("vs_same_even_out", out_hw(nn.Conv2d(1, 1, 4, padding="same"), n28))

    # Shrinking: a stack of unpadded 3x3 convs on 32x32.
    n32 = 32
    n_layers = 5
    valid_stack = nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(n_layers)])
    same_stack = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(n_layers)])
    ctx.value("stack_n", n32)
    ctx.value("stack_layers", n_layers)
    ctx.value("stack_valid_out", out_hw(valid_stack, n32))
    ctx.value("stack_same_out", out_hw(same_stack, n32))

    # Border coverage: how many 3x3 windows touch each input pixel? (autograd of the summed
    # output of an all-ones kernel = number of windows containing that pixel).
    def coverage(padding):
        x = torch.zeros(1, 1, 6, 6, requires_grad=True)
        F.conv2d(x, torch.ones(1, 1, 3, 3), padding=padding).sum().backward()
        return x.grad[0, 0]

    cov_valid, cov_pad = coverage(0), coverage(1)
    ctx.value("cov_corner_valid", cov_valid[0, 0])
    ctx.value("cov_center_valid", cov_valid[3, 3])
    ctx.value("cov_corner_pad", cov_pad[0, 0])
    ctx.value("cov_center_pad", cov_pad[3, 3])

    # ---------------- stride ------------------------------------------------------------------
    ctx.value("st_n", n32)
    ctx.value("st_k", 3)
    ctx.value("st_p", 1)
    ctx.value("st_out_s1", out_hw(nn.Conv2d(1, 1, 3, stride=1, padding=1), n32))
    ctx.value("st_out_s2", out_hw(nn.Conv2d(1, 1, 3, stride=2, padding=1), n32))
    # Stride with a non-divisible size: the floor in the formula drops the last partial step.
    ctx.value("st_odd_n", 7)
    ctx.value("st_odd_out", out_hw(nn.Conv2d(1, 1, 3, stride=2), 7))
    ctx.value("st_odd_n2", 8)
    ctx.value("st_odd_out2", out_hw(nn.Conv2d(1, 1, 3, stride=2), 8))

    # ---------------- 300x300 image, 3x3 kernel ----------------------------------------------
    n300 = 300
    conv300 = nn.Conv2d(1, 1, 3)
    ctx.value("img300_n", n300)
    ctx.value("img300_k", conv300.kernel_size[0])
    ctx.value("img300_out", out_hw(conv300, n300))
    ctx.value("img300_out_s3", out_hw(nn.Conv2d(1, 1, 3, stride=3), n300))  # non-overlapping windows
    ctx.value("img300_conv_params", n_params(conv300))
    ctx.value("img300_weights", conv300.weight.numel())
    ctx.value("img300_bias", conv300.bias.numel())
    # A dense layer producing the same 298x298 map from all 300x300 inputs (meta device: no memory).
    o = out_hw(conv300, n300)
    dense300 = nn.Linear(n300 * n300, o * o, device="meta")
    ctx.value("img300_dense_params", n_params(dense300))

    # ---------------- weight sharing: conv vs dense on a 32x32 RGB image ----------------------
    conv_ws = nn.Conv2d(3, 16, 3, padding=1)
    side = out_hw(conv_ws, 32, channels=3)
    dense_ws = nn.Linear(3 * 32 * 32, 16 * side * side, device="meta")
    ctx.value("ws_in_shape", torch.Size([3, 32, 32]))
    ctx.value("ws_in_side", 32)
    ctx.value("ws_cin", conv_ws.in_channels)
    ctx.value("ws_cout", conv_ws.out_channels)
    ctx.value("ws_k", conv_ws.kernel_size[0])
    ctx.value("ws_conv_params", n_params(conv_ws))
    ctx.value("ws_dense_params", n_params(dense_ws))
    ctx.value("ws_ratio", n_params(dense_ws) / n_params(conv_ws))
    ctx.value("ws_out_shape", torch.Size([16, side, side]))
    # The same conv on a bigger image has exactly the same parameters.
    ctx.value("ws_conv_out_224", out_hw(conv_ws, 224, channels=3))

    # ---------------- parameter counts --------------------------------------------------------
    c3_64 = nn.Conv2d(3, 64, 3)
    ctx.value("pc_cin", c3_64.in_channels)
    ctx.value("pc_cout", c3_64.out_channels)
    ctx.value("pc_k", c3_64.kernel_size[0])
    ctx.value("pc_conv_params", n_params(c3_64))
    ctx.value("pc_conv_weight_shape", c3_64.weight.shape)
    ctx.value("pc_conv_bias_numel", c3_64.bias.numel())

    # ---------------- 1x1 convolutions: 256 -> 64 ---------------------------------------------
    x256 = torch.randn(1, 256, 28, 28)
    c1x1 = nn.Conv2d(256, 64, 1)
    c3x3 = nn.Conv2d(256, 64, 3, padding=1)
    ctx.value("one_in_shape", x256.shape)
    ctx.value("one_cin", c1x1.in_channels)
    ctx.value("one_cout", c1x1.out_channels)
    with torch.no_grad():
        y1 = c1x1(x256)
        ctx.value("one_out_shape", y1.shape)
        ctx.value("three_out_shape", c3x3(x256).shape)
        # A 1x1 conv is a Linear layer applied independently at every pixel.
        lin = nn.Linear(256, 64)
        lin.weight.copy_(c1x1.weight.view(64, 256))
        lin.bias.copy_(c1x1.bias)
        y_lin = lin(x256.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        check(ctx, "one_vs_linear_maxdiff", (y1 - y_lin).abs().max())
    ctx.value("one_params", n_params(c1x1))
    ctx.value("three_params", n_params(c3x3))
    ctx.value("three_over_one", n_params(c3x3) / n_params(c1x1))

    # ---------------- worked 3x3 dot product (s002-q17) ---------------------------------------
    patch = torch.tensor([[3.0, 5, 2], [9, 7, 5], [2, 0, 6]])
    kernel = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 1]])
    dot = F.conv2d(patch.view(1, 1, 3, 3), kernel.view(1, 1, 3, 3))
    ctx.value("wk_patch_tex", bmatrix(patch))
    ctx.value("wk_kernel_tex", bmatrix(kernel))
    ctx.value("wk_out", dot.item())  # dot has shape (1, 1, 1, 1): one number
    ctx.value("wk_out_shape", dot.shape)
    ctx.value("wk_terms", patch.numel())
    # The product terms that are not zero (where the kernel is 1).
    ctx.value("wk_sum_str", " + ".join(str(int(v)) for v in patch[kernel != 0].tolist()))

    # ---------------- max pooling ------------------------------------------------------------
    fmap = torch.tensor([[1.0, 3, 2, 1], [4, 6, 5, 0], [7, 2, 9, 8], [1, 0, 3, 4]])
    pool = nn.MaxPool2d(2, stride=2)
    ctx.value("mp_k", pool.kernel_size)
    ctx.value("mp_s", pool.stride)
    pooled = pool(fmap.view(1, 1, 4, 4))[0, 0]
    ctx.value("mp_in_tex", bmatrix(fmap))
    ctx.value("mp_out_tex", bmatrix(pooled))
    ctx.value("mp_in_shape", fmap.shape)
    ctx.value("mp_in_numel", fmap.numel())
    ctx.value("mp_out_shape", pooled.shape)
    ctx.value("mp_out_flat", pooled.flatten())
    ctx.value("mp_params", n_params(pool))
    ctx.value("mp32_n", n32)
    ctx.value("mp32_out", out_hw(nn.MaxPool2d(2, stride=2), n32))
    # Small translation invariance: shift a lone peak by one pixel inside its 2x2 window.
    a = torch.zeros(1, 1, 4, 4)
    a[0, 0, 0, 0] = 1.0
    b = torch.zeros(1, 1, 4, 4)
    b[0, 0, 1, 1] = 1.0
    ctx.value("mp_shift_same", bool(torch.equal(pool(a), pool(b))))
    # Gradient flows only to the max in each window.
    xg = fmap.view(1, 1, 4, 4).clone().requires_grad_(True)
    pool(xg).sum().backward()
    ctx.value("mp_grad_nonzero", int((xg.grad != 0).sum()))

    # ---------------- local connectivity / receptive field ------------------------------------
    def receptive(layers, n=11):
        x = torch.zeros(1, 1, n, n, requires_grad=True)
        y = layers(x)
        c = y.shape[-1] // 2
        y[0, 0, c, c].backward()  # gradient is non-zero exactly on the inputs this output sees
        rows = int((x.grad[0, 0] != 0).any(dim=1).sum())
        return int((x.grad != 0).sum()), rows

    def ones_conv():
        conv = nn.Conv2d(1, 1, 3, bias=False)
        nn.init.constant_(conv.weight, 1.0)  # positive weights: no accidental cancellation
        return conv

    for name, depth in [("rf_one", 1), ("rf_two", 2), ("rf_three", 3)]:
        count, side = receptive(nn.Sequential(*[ones_conv() for _ in range(depth)]))
        ctx.value(name, count)  # number of input pixels one output depends on
        ctx.value(name + "_side", side)  # side of that square receptive field

    # ---------------- cross-correlation, not convolution --------------------------------------
    img = torch.randn(1, 1, 6, 6)
    k_asym = torch.tensor([[[[1.0, 2, 3], [0, 0, 0], [-1, -2, -3]]]])
    xcorr = conv2d_loops(img[0, 0], k_asym[0, 0])  # plain sliding dot product, no flip
    true_conv = conv2d_loops(img[0, 0], k_asym[0, 0].flip(0, 1))  # textbook convolution flips
    torch_out = F.conv2d(img, k_asym)[0, 0]
    check(ctx, "xc_diff_xcorr", (torch_out - xcorr).abs().max())
    ctx.value("xc_diff_trueconv", (torch_out - true_conv).abs().max())

    # ---------------- translation equivariance ------------------------------------------------
    conv_eq = nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular")
    x_eq = torch.randn(1, 1, 16, 16)
    shift = (2, 3)
    with torch.no_grad():
        lhs = conv_eq(torch.roll(x_eq, shift, dims=(2, 3)))  # shift, then convolve
        rhs = torch.roll(conv_eq(x_eq), shift, dims=(2, 3))  # convolve, then shift
    ctx.value("eq_shift", list(shift))
    check(ctx, "eq_maxdiff", (lhs - rhs).abs().max())

    # ---------------- from-scratch conv vs F.conv2d -------------------------------------------
    xs = torch.randn(2, 3, 9, 9)
    ws = torch.randn(5, 3, 3, 3)
    bs = torch.randn(5)
    mine = conv2d_unfold(xs, ws, bs, stride=2, padding=1)
    ref = F.conv2d(xs, ws, bs, stride=2, padding=1)
    ctx.value("scr_in_shape", xs.shape)
    ctx.value("scr_w_shape", ws.shape)
    ctx.value("scr_out_shape", mine.shape)
    check(ctx, "scr_maxdiff", (mine - ref).abs().max())
    ctx.value("scr_cols_shape", F.unfold(xs, 3, padding=1, stride=2).shape)
    ctx.value("scr_unfold_src", inspect.getsource(conv2d_unfold).strip())
    ctx.value("scr_loops_src", inspect.getsource(conv2d_loops).strip())
    img8 = torch.randn(8, 8)
    k3 = torch.randn(3, 3)
    ref8 = F.conv2d(img8[None, None], k3[None, None])[0, 0]
    check(ctx, "scr_loops_maxdiff", (conv2d_loops(img8, k3) - ref8).abs().max())

    # ---------------- figures -----------------------------------------------------------------
    def draw_worked(fig):
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [3, 3, 1.4]})
        panels = [(patch, "input patch", "Blues"), (kernel, "kernel", "Oranges"), (dot[0, 0], "output", "Greens")]
        for ax, (m, title, cmap) in zip(axes, panels, strict=True):
            ax.imshow(m, cmap=cmap, vmin=0, vmax=max(float(m.max()), 1) * 1.4)
            for (i, j), v in _enum(m):
                ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=14)
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])

    ctx.figure("worked_dot", draw_worked, width=6)

    def draw_pool(fig):
        ax_in, ax_out = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        block = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
        ax_in.imshow(block, cmap="Pastel1", vmin=0, vmax=8)
        for (i, j), v in _enum(fmap):
            ax_in.text(j, i, f"{v:g}", ha="center", va="center", fontsize=14)
        ax_in.set_title(f"{fmap.shape[0]}x{fmap.shape[1]} input, 2x2 windows")
        ax_out.imshow(torch.tensor([[0, 1], [2, 3]]), cmap="Pastel1", vmin=0, vmax=8)
        for (i, j), v in _enum(pooled):
            ax_out.text(j, i, f"{v:g}", ha="center", va="center", fontsize=14)
        ax_out.set_title(f"{pooled.shape[0]}x{pooled.shape[1]} output")
        for ax in (ax_in, ax_out):
            ax.set_xticks([])
            ax.set_yticks([])

    ctx.figure("maxpool", draw_pool, width=6, height=3.2)

    # Output size vs kernel size on a 32x32 input, for four padding/stride settings (all run).
    ks = [1, 3, 5, 7, 9, 11]
    settings = [
        ("valid, stride 1", 0, 1),
        ("same p=(k-1)/2, stride 1", None, 1),
        ("valid, stride 2", 0, 2),
        ("p=(k-1)/2, stride 2", None, 2),
    ]
    curves = {
        label: [out_hw(nn.Conv2d(1, 1, k, stride=s, padding=(k - 1) // 2 if p is None else p), n32) for k in ks]
        for label, p, s in settings
    }
    ctx.value("chart_valid_k11", curves["valid, stride 1"][-1])
    ctx.value("chart_k_max", ks[-1])

    def draw_sizes(fig):
        ax = fig.subplots()
        for (label, _, _), marker in zip(settings, "osv^", strict=True):
            ax.plot(ks, curves[label], marker=marker, label=label)
        ax.set_xlabel("kernel size k")
        ax.set_ylabel("output side")
        ax.set_xticks(ks)
        ax.set_title(f"Conv2d output side on a {n32}x{n32} input")
        ax.legend(fontsize=8)

    ctx.figure("out_size_chart", draw_sizes, width=6, height=3.6)

    # Edge filter (Sobel-x) on a synthetic image: a bright square on a dark background.
    square = torch.zeros(1, 1, 24, 24)
    square[..., 6:18, 6:18] = 1.0
    sobel_x = torch.tensor([[[[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]]])
    edges = F.conv2d(square, sobel_x, padding=1)
    ctx.value("edge_max", edges.max())
    ctx.value("edge_min", edges.min())

    def draw_edges(fig):
        ax_img, ax_out = fig.subplots(1, 2)
        ax_img.imshow(square[0, 0], cmap="gray")
        ax_img.set_title("input image")
        im = ax_out.imshow(edges[0, 0], cmap="RdBu_r", vmin=-float(edges.abs().max()), vmax=float(edges.abs().max()))
        ax_out.set_title("Sobel-x (vertical edges)")
        fig.colorbar(im, ax=ax_out, fraction=0.046)
        for ax in (ax_img, ax_out):
            ax.set_xticks([])
            ax.set_yticks([])

    ctx.figure("edge_map", draw_edges, width=6)

    # ---------------- added later: pooling types, heads, Conv1d/2d/3d, CNN vs dense, RF -------
    # Each helper re-seeds, so its values do not depend on the random draws above.
    _pooling_types(ctx, fmap)
    _global_pooling_heads(ctx)
    _conv_dims(ctx)
    _cnn_vs_dense(ctx)
    _receptive_field_growth(ctx)
    _detection(ctx)
    _grouped(ctx)
    _transposed(ctx)


def _enum(m):
    """(row, col), value pairs of a 2-D tensor."""
    return [((i, j), float(m[i, j])) for i in range(m.shape[0]) for j in range(m.shape[1])]


# ---------------------------------------------------------------------------------------------
# Pooling types: max, average, sum, global; what pooling buys.
# ---------------------------------------------------------------------------------------------
def _pooling_types(ctx, fmap):
    """Max vs average vs sum vs global pooling on the same 4x4 map as the max-pooling cards."""
    torch.manual_seed(0)
    x = fmap.view(1, 1, 4, 4)
    mx = F.max_pool2d(x, 2)[0, 0]
    avg = F.avg_pool2d(x, 2)[0, 0]
    sum_div = F.avg_pool2d(x, 2, divisor_override=1)[0, 0]  # sum pooling: divide by 1, not by 4
    sum_lp = F.lp_pool2d(x, 1, 2)[0, 0]  # L1 "power-average" pooling = sum for p = 1
    gap = F.adaptive_avg_pool2d(x, 1)[0, 0]
    gmp = F.adaptive_max_pool2d(x, 1)[0, 0]
    ctx.value("pt_in_tex", bmatrix(fmap))
    ctx.value("pt_avg_tex", bmatrix_f(avg))
    ctx.value("pt_avg_flat", avg.flatten())
    ctx.value("pt_max_flat", mx.flatten())
    ctx.value("pt_sum_tex", bmatrix(sum_div))
    ctx.value("pt_sum_flat", sum_div.flatten())
    ctx.value("pt_window_area", nn.AvgPool2d(2).kernel_size ** 2)
    ctx.value("pt_sum_vs_avg_maxdiff", (sum_div - 4 * avg).abs().max())
    ctx.value("pt_sum_lp_maxdiff", (sum_lp - sum_div).abs().max())
    ctx.value("pt_gap", gap)
    ctx.value("pt_gmp", gmp)

    # Gradients: average pooling spreads 1/k^2 to every input; max pooling picks one per window.
    xg = x.clone().requires_grad_(True)
    F.avg_pool2d(xg, 2).sum().backward()
    grad_values = set(xg.grad.flatten().tolist())
    assert len(grad_values) == 1  # every input gets the same share
    ctx.value("pt_avg_grad_value", grad_values.pop())
    ctx.value("pt_avg_grad_nonzero", int((xg.grad != 0).sum()))
    ctx.value("pt_numel", x.numel())

    # A lone strong activation in a 2x2 window: max keeps it, average dilutes it by the area.
    peak = torch.zeros(1, 1, 2, 2)
    peak[0, 0, 0, 1] = 1.0
    ctx.value("pt_peak_max", F.max_pool2d(peak, 2))
    ctx.value("pt_peak_avg", F.avg_pool2d(peak, 2))

    # Sum pooling scales with the window/map size; average does not (constant map of ones).
    ctx.value("pt_gs_small", 7)
    ctx.value("pt_gs_big", 14)
    for side in (7, 14):
        ones = torch.ones(1, 1, side, side)
        ctx.value(f"pt_gsum_{side}", F.avg_pool2d(ones, side, divisor_override=1))
        ctx.value(f"pt_gavg_{side}", F.adaptive_avg_pool2d(ones, 1))

    # What pooling buys: 4x fewer activations and 4x less work for the next 3x3 conv.
    c, n = 64, 56
    conv_next = nn.Conv2d(c, c, 3, padding=1)
    ctx.value("pb_c", c)
    ctx.value("pb_k", conv_next.kernel_size[0])
    before = torch.zeros(1, c, n, n)
    after = nn.MaxPool2d(2)(before)
    ctx.value("pb_before_shape", before.shape[1:])
    ctx.value("pb_after_shape", after.shape[1:])
    ctx.value("pb_before_numel", before.numel())
    ctx.value("pb_after_numel", after.numel())
    ctx.value("pb_next_macs_before", conv_macs(conv_next, before))
    ctx.value("pb_next_macs_after", conv_macs(conv_next, after))
    ctx.value("pb_ratio", before.numel() / after.numel())

    # Shift invariance of one 2x2 max pool is only partial: put a lone peak at every position of
    # an 8x8 map, move it one pixel right, and count how often the pooled map is unchanged.
    same, total = 0, 0
    for i in range(8):
        for j in range(8):
            a = torch.zeros(1, 1, 8, 8)
            a[0, 0, i, j] = 1.0
            b = torch.roll(a, 1, dims=3)  # one pixel right (circularly, so every position counts)
            same += bool(torch.equal(F.max_pool2d(a, 2), F.max_pool2d(b, 2)))
            total += 1
    ctx.value("pb_shift_unchanged_frac", same / total)
    ctx.value("pb_shift_positions", total)

    # Conv (equivariant) + global average pooling (invariant) = a translation-invariant network.
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, padding_mode="circular"),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, padding_mode="circular"),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )
    img = torch.randn(1, 3, 16, 16)
    shift = (3, 5)
    with torch.no_grad():
        feat = net[:4](img)
        feat_shifted = net[:4](torch.roll(img, shift, dims=(2, 3)))
        out = net(img)
        out_shifted = net(torch.roll(img, shift, dims=(2, 3)))
    ctx.value("inv_shift", list(shift))
    ctx.value("inv_feat_maxdiff", (feat - feat_shifted).abs().max())
    check(ctx, "inv_out_maxdiff", (out - out_shifted).abs().max())

    def draw(fig):
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 2, 1]})
        panels = [(mx, "2x2 max"), (avg, "2x2 average"), (gap.view(1, 1), "global avg")]
        for ax, (m, title) in zip(axes, panels, strict=True):
            grid_with_numbers(ax, m)
            ax.set_title(title)

    ctx.figure("pool_types", draw, width=5, height=2.4)


def conv_macs(conv, x):
    """Multiply-accumulates of `conv` on input `x`: one C_in*k*k dot product per output value."""
    with torch.no_grad():
        y = conv(x)
    return y.numel() * conv.weight[0].numel()


def bmatrix_f(t):
    """A 2-D tensor as a LaTeX bmatrix, numbers printed with :g (for non-integer results)."""
    rows = [" & ".join(f"{v:g}" for v in row) for row in t.tolist()]
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


def grid_with_numbers(ax, m):
    """Draw a matrix as a grid of tinted cells with its values written in them (no fixed colours)."""
    rows, cols = m.shape
    for (i, j), v in _enum(m):
        ax.add_patch(matplotlib.patches.Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, color="C0", alpha=0.25))
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=14)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.axis("off")


# ---------------------------------------------------------------------------------------------
# Classifier heads: flatten + fully connected layers vs global average pooling.
# ---------------------------------------------------------------------------------------------
def vgg16(device="meta"):
    """VGG-16 (configuration D, 1000 classes) built from its layer list, on the meta device."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1, device=device), nn.ReLU()]
            c = v
    features = nn.Sequential(*layers)
    classifier = nn.Sequential(
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096, device=device),
        nn.ReLU(),
        nn.Linear(4096, 4096, device=device),
        nn.ReLU(),
        nn.Linear(4096, 1000, device=device),
    )
    return features, classifier


def _global_pooling_heads(ctx):
    torch.manual_seed(0)
    c, side, classes = 512, 7, 10
    fmaps = torch.randn(2, c, side, side)
    gap = nn.AdaptiveAvgPool2d(1)
    ctx.value("gh_in_shape", fmaps.shape)
    ctx.value("gh_map_shape", fmaps.shape[1:])
    ctx.value("gh_c", c)
    ctx.value("gh_side", side)
    ctx.value("gh_gap_shape", gap(fmaps).shape)
    check(ctx, "gh_gap_mean_maxdiff", (gap(fmaps).flatten(1) - fmaps.mean(dim=(2, 3))).abs().max())

    flat_head = nn.Sequential(nn.Flatten(), nn.Linear(c * side * side, classes))
    gap_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))
    ctx.value("gh_classes", classes)
    ctx.value("gh_flat_params", n_params(flat_head))
    ctx.value("gh_gap_params", n_params(gap_head))
    ctx.value("gh_ratio", n_params(flat_head) / n_params(gap_head))
    ctx.value("gh_hw", side * side)

    # A different input resolution gives a different map size: the flatten head breaks.
    other = 9
    bigger = torch.randn(2, c, other, other)
    ctx.value("gh_other_side", other)
    with torch.no_grad():
        ctx.value("gh_gap_other_shape", gap_head(bigger).shape)
        try:
            flat_head(bigger)
            ctx.value("gh_flat_other_error", "none")
        except RuntimeError as e:
            ctx.value("gh_flat_other_error", type(e).__name__)

    # VGG-16 (flatten + three FC layers) vs a ResNet-style head (GAP + one Linear).
    features, classifier = vgg16()
    conv_p, fc_p = n_params(features), n_params(classifier)
    ctx.value("vgg_total", conv_p + fc_p)
    ctx.value("vgg_fc", fc_p)
    ctx.value("vgg_conv", conv_p)
    ctx.value("vgg_fc_frac", fc_p / (conv_p + fc_p))
    ctx.value("vgg_fc1", n_params(classifier[1]))
    ctx.value("resnet_head", n_params(nn.Linear(512, 1000, device="meta")))


# ---------------------------------------------------------------------------------------------
# Conv1d / Conv2d / Conv3d: shapes and parameters from real modules.
# ---------------------------------------------------------------------------------------------
def _conv_dims(ctx):
    torch.manual_seed(0)
    # Conv1d on text: 8 sentences, 20 tokens, 50-d embeddings. Embedding dim = channels.
    n, t, e = 8, 20, 50
    emb = torch.randn(n, t, e)  # what an nn.Embedding returns: (N, L, E)
    c1 = nn.Conv1d(e, 64, 3, padding=1)
    with torch.no_grad():
        y1 = c1(emb.transpose(1, 2))
    ctx.value("c1_batch", n)
    ctx.value("c1_tokens", t)
    ctx.value("c1_emb", e)
    ctx.value("c1_cout", c1.out_channels)
    ctx.value("c1_k", c1.kernel_size[0])
    ctx.value("c1_emb_shape", emb.shape)
    ctx.value("c1_in_shape", emb.transpose(1, 2).shape)
    ctx.value("c1_w_shape", c1.weight.shape)
    ctx.value("c1_out_shape", y1.shape)
    ctx.value("c1_params", n_params(c1))
    try:
        c1(emb)  # forgetting the transpose: 20 "channels" where 50 are expected
        ctx.value("c1_no_transpose_error", "none")
    except RuntimeError as err:
        ctx.value("c1_no_transpose_error", type(err).__name__)

    # Conv3d on a video clip (2 clips, RGB, 16 frames, 112x112), shapes on the meta device.
    c3 = nn.Conv3d(3, 64, 3, padding=1, device="meta")
    clip = torch.empty(2, 3, 16, 112, 112, device="meta")
    ctx.value("c3_in_shape", clip.shape)
    ctx.value("c3_cin", c3.in_channels)
    ctx.value("c3_cout", c3.out_channels)
    ctx.value("c3_k", c3.kernel_size[0])
    ctx.value("c3_w_shape", c3.weight.shape)
    ctx.value("c3_out_shape", c3(clip).shape)
    c3s = nn.Conv3d(3, 64, 3, stride=(1, 2, 2), padding=1, device="meta")
    ctx.value("c3_stride", c3s.stride)
    ctx.value("c3_s122_out_shape", c3s(clip).shape)

    # Conv2d on an RGB image: the kernel spans all 3 channels but slides over 2 dims only.
    c2 = nn.Conv2d(3, 64, 3, padding=1)
    with torch.no_grad():
        y2 = c2(torch.zeros(2, 3, 32, 32))
    ctx.value("c2_in_shape", torch.Size([2, 3, 32, 32]))
    ctx.value("c2_w_shape", c2.weight.shape)
    ctx.value("c2_out_shape", y2.shape)

    # Same channels and kernel, d = 1, 2, 3: the weights grow as k^d.
    cin, cout, k = 16, 32, 3
    ctx.value("cd_cin", cin)
    ctx.value("cd_cout", cout)
    ctx.value("cd_k", k)
    for d, cls in [(1, nn.Conv1d), (2, nn.Conv2d), (3, nn.Conv3d)]:
        m = cls(cin, cout, k)
        ctx.value(f"cd_params_{d}d", n_params(m))
        ctx.value(f"cd_formula_{d}d", cout * cin * k**d + cout)

    # Conv1d is Conv2d with a height-1 kernel on a height-1 input.
    conv1 = nn.Conv1d(4, 6, 5)
    conv2 = nn.Conv2d(4, 6, (1, 5))
    with torch.no_grad():
        conv2.weight.copy_(conv1.weight.unsqueeze(2))
        conv2.bias.copy_(conv1.bias)
        s = torch.randn(3, 4, 30)
        check(ctx, "c1_as_c2_maxdiff", (conv1(s) - conv2(s.unsqueeze(2)).squeeze(2)).abs().max())


# ---------------------------------------------------------------------------------------------
# CNN vs dense network (MLP) on the same images.
# ---------------------------------------------------------------------------------------------
def small_cnn():
    """A typical small CIFAR-size CNN: three conv blocks, global average pooling, one Linear."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


def small_mlp():
    """A typical small dense network on the flattened 32x32x3 image."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(3 * 32 * 32, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def macs(model, x):
    """Multiply-accumulates of all Conv2d and Linear layers of `model` on input `x` (forward hooks)."""
    total = [0]

    def hook(mod, inp, out):
        per_output = mod.weight[0].numel()  # C_in*k*k for a conv, in_features for a Linear
        total[0] += out.numel() * per_output

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


def placed_patterns(n, cols, side, gen):
    """n images (side x side) with a 3x3 cross (label 0) or ring (label 1) at a random row and a
    column drawn from `cols`, plus a little noise."""
    pats = torch.tensor([[[0.0, 1, 0], [1, 1, 1], [0, 1, 0]], [[1.0, 1, 1], [1, 0, 1], [1, 1, 1]]])
    y = torch.randint(0, 2, (n,), generator=gen)
    r = torch.randint(0, side - 2, (n,), generator=gen)
    c = torch.tensor(cols)[torch.randint(0, len(cols), (n,), generator=gen)]
    x = torch.zeros(n, 1, side, side)
    for i in range(n):
        x[i, 0, r[i] : r[i] + 3, c[i] : c[i] + 3] = pats[y[i]]
    return x + 0.1 * torch.randn(x.shape, generator=gen), y


def train_eval(model, x_tr, y_tr, x_te, y_te, steps, gen):
    """Adam on minibatches of 32; returns (train accuracy, test accuracy)."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(steps):
        idx = torch.randint(0, len(x_tr), (32,), generator=gen)
        loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return [(model(x).argmax(1) == y).float().mean().item() for x, y in [(x_tr, y_tr), (x_te, y_te)]]


def _cnn_vs_dense(ctx):
    torch.manual_seed(0)
    cnn, mlp = small_cnn(), small_mlp()
    x = torch.zeros(1, 3, 32, 32)
    ctx.value("cvd_in_shape", x.shape[1:])
    ctx.value("cvd_in_features", mlp[1].in_features)
    ctx.value("cvd_mlp_hidden", mlp[1].out_features)
    ctx.value("cvd_classes", mlp[-1].out_features)
    ctx.value("cvd_k", cnn[0].kernel_size[0])
    ctx.value("cvd_cnn_channels", [3] + [m.out_channels for m in cnn if isinstance(m, nn.Conv2d)])
    ctx.value("cvd_cnn_params", n_params(cnn))
    ctx.value("cvd_mlp_params", n_params(mlp))
    ctx.value("cvd_param_ratio", n_params(mlp) / n_params(cnn))
    ctx.value("cvd_cnn_macs", macs(cnn, x))
    ctx.value("cvd_mlp_macs", macs(mlp, x))
    ctx.value("cvd_macs_ratio", macs(cnn, x) / macs(mlp, x))
    ctx.value("cvd_mlp_first", n_params(mlp[1]))

    # The first dense layer grows with the image; a conv layer does not.
    hidden = 1000
    ctx.value("cvd_small_shape", torch.Size([3, 32, 32]))
    ctx.value("cvd_big_shape", torch.Size([3, 224, 224]))
    for side in (32, 224):
        ctx.value(f"cvd_dense_first_{side}", n_params(nn.Linear(3 * side * side, hidden, device="meta")))
    ctx.value("cvd_hidden", hidden)
    stem = nn.Conv2d(3, 64, 7, stride=2, padding=3)  # a ResNet-style first layer
    ctx.value("cvd_conv_first", n_params(stem))
    ctx.value("cvd_stem_k", stem.kernel_size[0])
    ctx.value("cvd_stem_cout", stem.out_channels)

    # Translation generalization: train where the pattern sits in the left columns, test on
    # the right columns it never occupied in training.
    gen = torch.Generator().manual_seed(0)
    side = 12
    left, right = list(range(0, 4)), list(range(side - 6, side - 2))
    x_tr, y_tr = placed_patterns(256, left, side, gen)
    x_te, y_te = placed_patterns(512, right, side, gen)
    conv_net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    dense_net = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 64), nn.ReLU(), nn.Linear(64, 2))
    steps = 100
    ctx.value("tg_side", side)
    ctx.value("tg_pattern", 3)  # the patterns are 3x3
    ctx.value("tg_n_train", len(x_tr))
    ctx.value("tg_steps", steps)
    ctx.value("tg_train_cols", f"{left[0]}–{left[-1] + 2}")  # columns covered by the 3x3 pattern
    ctx.value("tg_test_cols", f"{right[0]}–{right[-1] + 2}")
    ctx.value("tg_cnn_params", n_params(conv_net))
    ctx.value("tg_mlp_params", n_params(dense_net))
    tr, te = train_eval(conv_net, x_tr, y_tr, x_te, y_te, steps, gen)
    ctx.value("tg_cnn_train_acc", tr)
    ctx.value("tg_cnn_test_acc", te)
    tr, te = train_eval(dense_net, x_tr, y_tr, x_te, y_te, steps, gen)
    ctx.value("tg_mlp_train_acc", tr)
    ctx.value("tg_mlp_test_acc", te)


# ---------------------------------------------------------------------------------------------
# Receptive field growth with stride and dilation, measured with autograd.
# ---------------------------------------------------------------------------------------------
def rf_measured(layers, n=129):
    """Side of the input window that the centre output of `layers` depends on (autograd)."""
    x = torch.zeros(1, 1, n, n, requires_grad=True)
    y = layers(x)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    rows = (x.grad[0, 0] != 0).any(dim=1).nonzero().flatten()
    return int(rows[-1] - rows[0] + 1), int((x.grad != 0).sum()), y.shape[-1]


def rf_formula(ks, strides, dilations):
    """r = 1 + sum_l (k_l - 1) * d_l * (product of the strides of the layers before l)."""
    r, jump = 1, 1
    for k, s, d in zip(ks, strides, dilations, strict=True):
        r += (k - 1) * d * jump
        jump *= s
    return r


def rf_terms(ks, strides, dilations):
    """The receptive-field sum written out, e.g. '1 + 2·1 + 2·2 + 2·4' (each (k-1)·d times the jump)."""
    terms, jump = ["1"], 1
    for k, s, d in zip(ks, strides, dilations, strict=True):
        terms.append(f"{(k - 1) * d}·{jump}")
        jump *= s
    return " + ".join(terms)


def ones_conv3(stride=1, dilation=1):
    """A single-channel 3x3 conv with all-ones weights (positive: no gradient cancels out)."""
    conv = nn.Conv2d(1, 1, 3, stride=stride, dilation=dilation, bias=False)
    nn.init.constant_(conv.weight, 1.0)
    return conv


def _receptive_field_growth(ctx):
    depths = list(range(1, 7))
    schemes = {
        "stride 1": lambda i: (1, 1),
        "stride 2": lambda i: (2, 1),
        "dilation 1, 2, 4, ...": lambda i: (1, 2**i),
    }
    curves, outs, matches = {}, {}, True
    for name, sd in schemes.items():
        curves[name], outs[name] = [], []
        for depth in depths:
            params = [sd(i) for i in range(depth)]
            layers = nn.Sequential(*[ones_conv3(s, d) for s, d in params])
            side, count, out_side = rf_measured(layers)
            matches &= side == rf_formula([3] * depth, [s for s, _ in params], [d for _, d in params])
            matches &= count == side * side  # a full square: no holes
            curves[name].append(side)
            outs[name].append(out_side)
    ctx.value("rfg_formula_matches", matches)
    ctx.value("rfg_n_stacks", len(schemes) * len(depths))
    ctx.value("rfg_n", 129)  # rf_measured's default input side
    ctx.value("rfg_depth_max", depths[-1])
    ctx.value("rfg_s1_3", curves["stride 1"][2])
    ctx.value("rfg_s2_3", curves["stride 2"][2])
    ctx.value("rfg_dil_3", curves["dilation 1, 2, 4, ..."][2])
    ctx.value("rfg_s1_max", curves["stride 1"][-1])
    ctx.value("rfg_s2_max", curves["stride 2"][-1])
    ctx.value("rfg_dil_max", curves["dilation 1, 2, 4, ..."][-1])
    ctx.value("rfg_s2_out_3", outs["stride 2"][2])
    ctx.value("rfg_dil_out_3", outs["dilation 1, 2, 4, ..."][2])
    ctx.value("rfg_dils3", [schemes["dilation 1, 2, 4, ..."](i)[1] for i in range(3)])
    ctx.value("rfg_s2_sum_str", rf_terms([3] * 3, [2] * 3, [1] * 3))
    ctx.value("rfg_s", schemes["stride 2"](0)[0])
    # One dilated 3x3 conv: 9 weights spread over a 5x5 window.
    dilated = ones_conv3(dilation=2)
    side, count, _ = rf_measured(nn.Sequential(dilated), n=11)
    ctx.value("rfg_dil2_side", side)
    ctx.value("rfg_dil2_taps", count)
    ctx.value("rfg_dil2", dilated.dilation[0])
    ctx.value("rfg_k", dilated.kernel_size[0])

    def draw(fig):
        ax = fig.subplots()
        for (name, ys), marker, ls in zip(curves.items(), "osv", ["-", "-", "--"], strict=True):
            ax.plot(depths, ys, marker=marker, linestyle=ls, label=name)
        ax.set_yscale("log", base=2)
        ax.set_yticks([3, 7, 15, 31, 63, 127], labels=["3", "7", "15", "31", "63", "127"])
        ax.set_xlabel("number of 3x3 conv layers")
        ax.set_ylabel("receptive field side (px)")
        ax.set_title("Receptive field vs depth")
        ax.legend(fontsize=9)

    ctx.figure("rf_growth", draw)

    # ---------------- trap: Conv2d's `bias` is a flag, not a tensor ---------------------------
    bias_values = torch.zeros(8)
    try:
        nn.Conv2d(3, 8, 3, bias=bias_values)
        ctx.value("bt_many_error", "none")
    except RuntimeError as exc:
        ctx.value("bt_many_error", type(exc).__name__)
    wanted = 5.0
    one = nn.Conv2d(3, 8, 3, bias=torch.tensor([wanted]))  # truthy: a fresh random bias, value ignored
    ctx.value("bt_wanted", wanted)
    ctx.value("bt_one_shape", one.bias.shape)
    ctx.value("bt_one_max", one.bias.detach().abs().max())
    ctx.value("bt_zero_is_none", nn.Conv2d(3, 8, 3, bias=torch.tensor(0.0)).bias is None)  # falsy: no bias
    fixed = nn.Conv2d(3, 8, 3)
    with torch.no_grad():
        fixed.bias.copy_(torch.full((8,), wanted))
    ctx.value("bt_fixed_bias", fixed.bias.detach().unique())


# ---------------------------------------------------------------------------------------------
# Detection basics: IoU and non-maximum suppression (torchvision is not used: written here and
# checked against a plain-Python reference). Shown on cards verbatim: keep lines short.
# ---------------------------------------------------------------------------------------------
def box_iou(a, b):  # x1 y1 x2 y2
    a = a[:, None]  # (N, 1, 4) vs (M, 4)
    lo = a[..., :2].max(b[:, :2])
    hi = a[..., 2:].min(b[:, 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    sa = a[..., 2:] - a[..., :2]
    sb = b[:, 2:] - b[:, :2]
    union = sa.prod(-1) + sb.prod(-1)
    return inter / (union - inter)


def nms(b, s, thr=0.5):  # boxes, scores
    order = (-s).argsort()
    keep = []
    while len(order) > 0:
        i, rest = int(order[0]), order[1:]
        keep.append(i)
        iou = box_iou(b[[i]], b[rest])
        order = rest[iou[0] <= thr]
    return keep


def iou_scalar(p, q):
    """IoU of two boxes with plain Python floats (reference)."""
    w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = w * h
    area = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1])
    return inter / (area - inter)


def nms_reference(boxes, scores, thr):
    """Greedy NMS in plain Python: visit boxes by falling score; keep one unless it overlaps a kept box."""
    kept = []
    for i in sorted(range(len(boxes)), key=lambda j: -scores[j]):
        if all(iou_scalar(boxes[i], boxes[k]) <= thr for k in kept):
            kept.append(i)
    return kept


def _detection(ctx):
    a = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
    b = torch.tensor([[2.0, 0.0, 6.0, 4.0]])
    ctx.value("iou_a", a[0])
    ctx.value("iou_b", b[0])
    ctx.value("iou_inter", 8.0)
    ctx.value("iou_union", 24.0)
    ctx.value("iou_ab", box_iou(a, b)[0, 0])
    assert abs(box_iou(a, b)[0, 0].item() - iou_scalar(a[0].tolist(), b[0].tolist())) < TOL
    ctx.value("iou_src", inspect.getsource(box_iou).strip())
    ctx.value("nms_src", inspect.getsource(nms).strip())

    boxes = torch.tensor(
        [[10, 10, 50, 50], [12, 12, 52, 52], [30, 30, 70, 70], [60, 10, 100, 50], [62, 12, 100, 50]],
        dtype=torch.float32,
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.65])
    ctx.value("nms_boxes", boxes.long().tolist())
    ctx.value("nms_scores", scores)
    pair = box_iou(boxes, boxes)
    # Pairwise IoU against the reference, every pair.
    ref = torch.tensor([[iou_scalar(p, q) for q in boxes.tolist()] for p in boxes.tolist()])
    check(ctx, "iou_pairwise_err", (pair - ref).abs().max())
    ctx.value("nms_iou_01", pair[0, 1])
    ctx.value("nms_iou_02", pair[0, 2])
    ctx.value("nms_iou_34", pair[3, 4])
    ctx.value("nms_iou_24", pair[2, 4])
    agree = True
    for tag, thr in [("mid", 0.5), ("low", 0.1), ("high", 0.85)]:
        kept = nms(boxes, scores, thr)
        agree &= kept == nms_reference(boxes.tolist(), scores.tolist(), thr)
        ctx.value(f"nms_thr_{tag}", thr)
        ctx.value(f"nms_keep_{tag}", kept)
    ctx.value("nms_agrees", agree)
    assert agree
    # Detection matching for AP: a detection is a true positive at IoU >= 0.5 with an unmatched box.
    ctx.value("det_iou_thr", 0.5)

    kept_mid = nms(boxes, scores, 0.5)
    bl, sl = boxes.tolist(), scores.tolist()

    def draw(fig):
        axes = fig.subplots(1, 2, sharey=True)
        for ax, title, show in [(axes[0], "before NMS", range(len(bl))), (axes[1], "after NMS (IoU > 0.5)", kept_mid)]:
            for i in show:
                x1, y1, x2, y2 = bl[i]
                ax.add_patch(
                    matplotlib.patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=2, color=f"C{i}")
                )
                if i in (1, 4):  # the near-duplicates: label below their bottom-right corner
                    ax.text(x2, y2 + 1, f"{i}: {sl[i]:g}", color=f"C{i}", fontsize=8, ha="right", va="top")
                elif i in (0, 3):  # above the box, clear of its near-duplicate's edge
                    ax.text(x1, y1 - 1, f"{i}: {sl[i]:g}", color=f"C{i}", fontsize=8, va="bottom")
                else:
                    ax.text(x1 + 1, y1 + 1, f"{i}: {sl[i]:g}", color=f"C{i}", fontsize=8, va="top")
            ax.set_xlim(5, 105)
            ax.set_ylim(75, 0)
            ax.set_aspect("equal")
            ax.set_title(title, fontsize="medium")
            ax.axis("off")

    ctx.figure("nms_boxes", draw, width=4.6, height=2.4)


# ---------------------------------------------------------------------------------------------
# Grouped and depthwise-separable convolutions (Howard et al., 2017, MobileNets).
# ---------------------------------------------------------------------------------------------
def _grouped(ctx):
    torch.manual_seed(0)
    g = 4
    grouped = nn.Conv2d(64, 128, 3, padding=1, groups=g)
    full = nn.Conv2d(64, 128, 3, padding=1)
    ctx.value("gr_cin", grouped.in_channels)
    ctx.value("gr_cout", grouped.out_channels)
    ctx.value("gr_g", g)
    ctx.value("gr_w_shape", grouped.weight.shape)
    ctx.value("gr_params", n_params(grouped))
    ctx.value("gr_full_params", n_params(full))
    ctx.value("gr_full_w_shape", full.weight.shape)
    # A grouped conv = g independent convs on channel slices, outputs concatenated.
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        y = grouped(x)
        parts = []
        for j in range(g):
            w = grouped.weight[j * 32 : (j + 1) * 32]
            bias = grouped.bias[j * 32 : (j + 1) * 32]
            parts.append(F.conv2d(x[:, j * 16 : (j + 1) * 16], w, bias, padding=1))
        check(ctx, "gr_split_err", (torch.cat(parts, 1) - y).abs().max())

    # Depthwise separable (no biases, as in MobileNet where BatchNorm follows) vs a standard 3x3 conv.
    cin, cout, k, side = 128, 256, 3, 56
    std = nn.Conv2d(cin, cout, k, padding=1, bias=False)
    dw = nn.Conv2d(cin, cin, k, padding=1, groups=cin, bias=False)
    pw = nn.Conv2d(cin, cout, 1, bias=False)
    fmap = torch.zeros(1, cin, side, side)
    ctx.value("ds_cin", cin)
    ctx.value("ds_cout", cout)
    ctx.value("ds_side", side)
    ctx.value("ds_dw_w_shape", dw.weight.shape)
    ctx.value("ds_std_params", n_params(std))
    ctx.value("ds_dw_params", n_params(dw))
    ctx.value("ds_pw_params", n_params(pw))
    ctx.value("ds_sep_params", n_params(dw) + n_params(pw))
    ctx.value("ds_param_ratio", (n_params(dw) + n_params(pw)) / n_params(std))
    ctx.value("ds_formula_ratio", 1 / cout + 1 / k**2)
    assert abs((n_params(dw) + n_params(pw)) / n_params(std) - (1 / cout + 1 / k**2)) < 1e-12
    std_macs = conv_macs(std, fmap)
    sep_macs = conv_macs(dw, fmap) + conv_macs(pw, fmap)
    ctx.value("ds_std_macs", std_macs)
    ctx.value("ds_sep_macs", sep_macs)
    ctx.value("ds_macs_ratio", std_macs / sep_macs)
    # Depthwise alone never mixes channels: output channel c depends only on input channel c.
    xx = torch.zeros(1, cin, 5, 5, requires_grad=True)
    dw(xx)[0, 7].sum().backward()
    touched = (xx.grad[0].abs().sum((1, 2)) != 0).nonzero().flatten().tolist()
    assert len(touched) == 1
    ctx.value("ds_dw_touched", touched[0])


# ---------------------------------------------------------------------------------------------
# Transposed convolution: output size, the adjoint of a convolution, checkerboard artefacts
# (Odena et al., 2016).
# ---------------------------------------------------------------------------------------------
def _transposed(ctx):
    torch.manual_seed(0)
    n = 16
    sizes = {}
    for tag, (k, s, p, op) in {"k4": (4, 2, 1, 0), "k3": (3, 2, 1, 0), "k3op": (3, 2, 1, 1)}.items():
        layer = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=op)
        sizes[tag] = out_hw(layer, n)
        formula = (n - 1) * s - 2 * p + (k - 1) + op + 1
        assert sizes[tag] == formula
        ctx.value(f"tc_out_{tag}", sizes[tag])
    ctx.value("tc_n", n)

    # Scatter view: each input pixel adds a scaled copy of the kernel to the output.
    x = torch.tensor([[1.0, 2], [3, 4]]).view(1, 1, 2, 2)
    ones = torch.ones(1, 1, 2, 2)
    ctx.value("tc_x_tex", bmatrix(x[0, 0]))
    ctx.value("tc_s1_tex", bmatrix(F.conv_transpose2d(x, ones)[0, 0]))
    ctx.value("tc_s1_shape", F.conv_transpose2d(x, ones).shape[-2:])
    up = F.conv_transpose2d(x, ones, stride=2)
    ctx.value("tc_s2_tex", bmatrix(up[0, 0]))
    check(ctx, "tc_s2_vs_nearest", (up - F.interpolate(x, scale_factor=2, mode="nearest")).abs().max())

    # The transposed conv is the gradient of a conv with respect to its input (same weights).
    w = torch.randn(3, 2, 3, 3)  # conv: 2 -> 3 channels
    xin = torch.randn(1, 2, 9, 9, requires_grad=True)
    y = F.conv2d(xin, w, stride=2, padding=1)
    gy = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, xin, gy)
    tt = F.conv_transpose2d(gy, w, stride=2, padding=1)
    ctx.value("tc_adj_in_shape", xin.shape)
    ctx.value("tc_adj_y_shape", y.shape)
    ctx.value("tc_adj_out_shape", tt.shape)
    check(ctx, "tc_adj_err", (tt - gx).abs().max())
    # Not an inverse: transposed-conv of the conv output does not give the input back.
    with torch.no_grad():
        back = F.conv_transpose2d(y, w, stride=2, padding=1)
    ctx.value("tc_not_inverse", (back - xin).abs().max())

    # Checkerboard: constant input, all-ones kernels, so each output value counts its kernel overlaps.
    m = 8
    const = torch.ones(1, 1, m, m)
    k3 = F.conv_transpose2d(const, torch.ones(1, 1, 3, 3), stride=2, padding=1)
    k4 = F.conv_transpose2d(const, torch.ones(1, 1, 4, 4), stride=2, padding=1)
    resize = F.conv2d(F.interpolate(const, scale_factor=2, mode="nearest"), torch.ones(1, 1, 3, 3), padding=1)
    inner = slice(2, -2)  # away from the borders
    maps = {"k3": k3, "k4": k4, "resize": resize}
    for tag, t in maps.items():
        core = t[0, 0, inner, inner]
        vals = sorted(set(core.flatten().tolist()))
        ctx.value(f"cb_{tag}_values", vals if len(vals) > 1 else vals[0])
    ctx.value("cb_m", m)
    panels = [
        (k3[0, 0].tolist(), "transposed k=3, s=2"),
        (k4[0, 0].tolist(), "transposed k=4, s=2"),
        (resize[0, 0].tolist(), "nearest ×2 + conv 3x3"),
    ]

    def draw(fig):
        axes = fig.subplots(1, 3)
        for ax, (img, title) in zip(axes, panels, strict=True):
            ax.imshow(img, cmap="viridis", interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])

    ctx.figure("checkerboard", draw, width=4.6, height=1.9)


# ---------------------------------------------------------------------------------------------
# Drills: each instance runs the real layer on a zero tensor and asserts the closed-form size.
# ---------------------------------------------------------------------------------------------
def drill_conv_out(n, k, s, p, d):
    """nn.Conv2d(3, 16, k, stride=s, padding=p, dilation=d) on a 3 x n x n image."""
    conv = nn.Conv2d(3, 16, k, stride=s, padding=p, dilation=d)
    with torch.no_grad():
        y = conv(torch.zeros(1, 3, n, n))
    formula = (n + 2 * p - d * (k - 1) - 1) // s + 1
    assert y.shape[-2:] == (formula, formula), (tuple(y.shape), formula)
    return {"out": formula, "eff_k": d * (k - 1) + 1}


def drill_pool_out(n, k, s, p, ceil):
    """nn.MaxPool2d(k, stride=s, padding=p, ceil_mode=ceil) on an n x n map."""
    pool = nn.MaxPool2d(k, stride=s, padding=p, ceil_mode=ceil)
    y = pool(torch.zeros(1, 1, n, n))
    steps = (n + 2 * p - k) / s
    out = (math.ceil(steps) if ceil else math.floor(steps)) + 1
    dropped = ceil and (out - 1) * s >= n + p  # the last window would start inside the right padding
    if dropped:
        out -= 1
    assert y.shape[-2:] == (out, out), (tuple(y.shape), out)
    note = "ceil_mode is off here" if not ceil else "here one is dropped" if dropped else "here none is dropped"
    return {"out": out, "floor_out": math.floor(steps) + 1, "dropped": note}


def drill_tconv_out(n, k, s, p, op):
    """nn.ConvTranspose2d(8, 4, k, stride=s, padding=p, output_padding=op) on an 8 x n x n map."""
    tconv = nn.ConvTranspose2d(8, 4, k, stride=s, padding=p, output_padding=op)
    with torch.no_grad():
        y = tconv(torch.zeros(1, 8, n, n))
    formula = (n - 1) * s - 2 * p + (k - 1) + op + 1
    assert y.shape[-2:] == (formula, formula), (tuple(y.shape), formula)
    return {"out": formula}


def drill_receptive_field(k, s):
    """Receptive field of a 1-D stack of windows (kernel k[i], stride s[i]), by formula and by autograd:
    every layer becomes an all-ones Conv1d (a pooling window covers the same inputs as a conv with
    its kernel and stride), and the input positions with a nonzero gradient for the centre output
    are counted."""
    r = rf_formula(k, s, [1] * len(k))
    jump = math.prod(s)
    layers = []
    for kk, ss in zip(k, s, strict=True):
        conv = nn.Conv1d(1, 1, kk, stride=ss, bias=False)
        nn.init.constant_(conv.weight, 1.0)
        layers.append(conv)
    stack = nn.Sequential(*layers)
    x = torch.ones(1, 1, 2 * r + 4 * jump, requires_grad=True)
    y = stack(x)
    y[0, 0, y.shape[-1] // 2].backward()
    hit = (x.grad[0, 0] != 0).nonzero().flatten()
    measured = int(hit[-1] - hit[0] + 1)
    assert measured == len(hit), "the receptive field has gaps"
    assert measured == r, (measured, r)
    return {
        "rf": r,
        "layers": ", ".join(f"({kk}, {ss})" for kk, ss in zip(k, s, strict=True)),
        "rf_sum": rf_terms(k, s, [1] * len(k)),
    }
