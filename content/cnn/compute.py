"""Convolutional networks: every output size, parameter count and feature map on the cards
comes from running nn.Conv2d / nn.MaxPool2d / F.conv2d on real tensors here."""

import inspect
import warnings

import torch
import torch.nn.functional as F
from torch import nn


def out_hw(layer, n, channels=1):
    """Run `layer` on a real (1, channels, n, n) tensor and return the output's spatial side."""
    with torch.no_grad():
        y = layer(torch.zeros(1, channels, n, n))
    assert y.shape[-1] == y.shape[-2]
    return y.shape[-1]


def n_params(module):
    """Parameter count read from module.parameters() (works on the meta device too)."""
    return sum(p.numel() for p in module.parameters())


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


def conv2d_loops(img, ker):  # one channel, stride 1, no padding
    kh, kw = ker.shape
    oh, ow = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    out = torch.zeros(oh, ow)
    for i in range(oh):
        for j in range(ow):
            out[i, j] = (img[i:i + kh, j:j + kw] * ker).sum()
    return out


def compute(ctx):
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
        ctx.value("one_vs_linear_maxdiff", (y1 - y_lin).abs().max())
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
    ctx.value("xc_diff_xcorr", (torch_out - xcorr).abs().max())
    ctx.value("xc_diff_trueconv", (torch_out - true_conv).abs().max())

    # ---------------- translation equivariance ------------------------------------------------
    conv_eq = nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular")
    x_eq = torch.randn(1, 1, 16, 16)
    shift = (2, 3)
    with torch.no_grad():
        lhs = conv_eq(torch.roll(x_eq, shift, dims=(2, 3)))  # shift, then convolve
        rhs = torch.roll(conv_eq(x_eq), shift, dims=(2, 3))  # convolve, then shift
    ctx.value("eq_shift", list(shift))
    ctx.value("eq_maxdiff", (lhs - rhs).abs().max())

    # ---------------- from-scratch conv vs F.conv2d -------------------------------------------
    xs = torch.randn(2, 3, 9, 9)
    ws = torch.randn(5, 3, 3, 3)
    bs = torch.randn(5)
    mine = conv2d_unfold(xs, ws, bs, stride=2, padding=1)
    ref = F.conv2d(xs, ws, bs, stride=2, padding=1)
    ctx.value("scr_in_shape", xs.shape)
    ctx.value("scr_w_shape", ws.shape)
    ctx.value("scr_out_shape", mine.shape)
    ctx.value("scr_maxdiff", (mine - ref).abs().max())
    ctx.value("scr_cols_shape", F.unfold(xs, 3, padding=1, stride=2).shape)
    ctx.value("scr_unfold_src", inspect.getsource(conv2d_unfold).strip())
    ctx.value("scr_loops_src", inspect.getsource(conv2d_loops).strip())
    img8 = torch.randn(8, 8)
    k3 = torch.randn(3, 3)
    ref8 = F.conv2d(img8[None, None], k3[None, None])[0, 0]
    ctx.value("scr_loops_maxdiff", (conv2d_loops(img8, k3) - ref8).abs().max())

    # ---------------- figures -----------------------------------------------------------------
    def draw_worked(fig):
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [3, 3, 1.4]})
        panels = [(patch, "input patch", "Blues"), (kernel, "kernel", "Oranges"),
                  (dot[0, 0], "output", "Greens")]
        for ax, (m, title, cmap) in zip(axes, panels, strict=True):
            ax.imshow(m, cmap=cmap, vmin=0, vmax=max(float(m.max()), 1) * 1.4)
            for (i, j), v in _enum(m):
                ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=14)
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])

    ctx.figure("worked_dot", draw_worked, width=6, height=3.0)

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
    settings = [("valid, stride 1", 0, 1), ("same p=(k-1)/2, stride 1", None, 1),
                ("valid, stride 2", 0, 2), ("p=(k-1)/2, stride 2", None, 2)]
    curves = {label: [out_hw(nn.Conv2d(1, 1, k, stride=s, padding=(k - 1) // 2 if p is None else p), n32)
                      for k in ks] for label, p, s in settings}
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

    ctx.figure("edge_map", draw_edges, width=6, height=3.0)


def _enum(m):
    """(row, col), value pairs of a 2-D tensor."""
    return [((i, j), float(m[i, j])) for i in range(m.shape[0]) for j in range(m.shape[1])]
