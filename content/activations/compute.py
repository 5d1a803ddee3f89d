"""Activation functions: values, autograd derivatives, and the demos behind the cards.

Every derivative below comes from torch.autograd (never from a hand-written formula), so the
cards show what PyTorch actually computes.
"""

import inspect
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from _lib.checks import agree


def grad_at(fn, z):
    """d fn / dz at the points z (a list of floats), computed by autograd."""
    x = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    fn(x).sum().backward()  # elementwise fn: d(sum)/dx_i = fn'(x_i)
    return x.grad


def stable_softmax(z, dim=-1):
    m = z.amax(dim, keepdim=True)
    e = (z - m).exp()  # at most 1
    s = e.sum(dim, keepdim=True)
    return e / s


def curve(fn, z):
    """fn(z) and fn'(z) on a grid, both as plain lists (for plotting)."""
    x = z.clone().requires_grad_(True)
    y = fn(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach().tolist(), dy.tolist()


def compute(ctx):
    # ------------------------------------------------------------------ sigmoid and tanh
    sig_grads = grad_at(torch.sigmoid, [0.0, 5.0])
    ctx.value("sig_grad0", sig_grads[0])  # sigma'(0) = 0.25
    ctx.value("z_sat", 5.0)
    ctx.value("sig_grad_sat", sig_grads[1])  # sigma'(5): saturated
    ctx.value("sig_at0", torch.sigmoid(torch.tensor(0.0)))

    # The largest derivative of sigmoid over a fine grid, and where it happens.
    grid = torch.arange(-800, 801, dtype=torch.float64) / 100  # -8..8 in steps of 0.01, exact 0
    _, dsig = curve(torch.sigmoid, grid)
    dsig = torch.tensor(dsig)
    ctx.value("sig_grad_max", dsig.max())
    ctx.value("sig_grad_argmax", grid[dsig.argmax()])
    # Tails of sigmoid: it never reaches 0 or 1 (values at +-10).
    ctx.value("sig_tail_z", 10.0)
    ctx.value("sig_at_minus10", torch.sigmoid(torch.tensor(-10.0, dtype=torch.float64)))
    ctx.value("sig_at_plus10", torch.sigmoid(torch.tensor(10.0, dtype=torch.float64)))

    tanh_grads = grad_at(torch.tanh, [0.0, 3.0])
    ctx.value("tanh_grad0", tanh_grads[0])  # tanh'(0) = 1
    ctx.value("tanh_z_sat", 3.0)
    ctx.value("tanh_grad_sat", tanh_grads[1])
    ctx.value("tanh_over_sig_grad0", tanh_grads[0] / sig_grads[0])  # 4x steeper at 0
    # tanh is a shifted, rescaled sigmoid: tanh(z) = 2 sigmoid(2z) - 1.
    agree(ctx, "tanh_sigmoid_identity_tol", (torch.tanh(grid) - (2 * torch.sigmoid(2 * grid) - 1)).abs().max(), 1e-12)

    # ------------------------------------------------------------------ ReLU family and GELU
    relu_points = [-2.0, 0.0, 3.0]
    ctx.value("relu_points", relu_points)
    ctx.value("relu_grads", grad_at(torch.relu, relu_points))  # PyTorch uses 0 at z = 0

    leaky = nn.LeakyReLU()  # default negative_slope
    ctx.value("leaky_slope", leaky.negative_slope)
    ctx.value("leaky_grads", grad_at(leaky, relu_points))

    gelu_grads = grad_at(F.gelu, [0.0])
    ctx.value("gelu_grad0", gelu_grads[0])  # Phi(0) = 0.5
    gelu_vals = F.gelu(grid)
    ctx.value("gelu_min", gelu_vals.min())  # GELU dips below 0: non-monotonic
    ctx.value("gelu_argmin", grid[gelu_vals.argmin()])
    ctx.value("gelu_tanh_approx_err", (F.gelu(grid, approximate="tanh") - gelu_vals).abs().max())

    # Landmarks of GELU's derivative, all by autograd. GELU'(z) = Phi(z) + z phi(z), and
    # GELU''(z) = phi(z) (2 - z^2): the derivative peaks at z = sqrt(2) and dips at z = -sqrt(2).
    def dgelu(z):
        x = torch.as_tensor(z, dtype=torch.float64).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.gelu(x).sum(), x)
        return g

    fine = torch.linspace(-4, 4, 80001, dtype=torch.float64)  # step 1e-4
    d_fine = dgelu(fine)
    root2 = math.sqrt(2)
    assert abs(fine[d_fine.argmax()].item() - root2) < 2e-4 and abs(fine[d_fine.argmin()].item() + root2) < 2e-4
    x2 = torch.tensor([root2, -root2], dtype=torch.float64, requires_grad=True)
    (g1,) = torch.autograd.grad(F.gelu(x2).sum(), x2, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), x2)
    assert g2.abs().max() < 1e-12  # GELU'' = 0 at +-sqrt(2): the extremes of GELU'
    ctx.value("gelu_peak_z", root2)
    ctx.value("gelu_peak", g1[0].detach())
    ctx.value("gelu_dip", g1[1].detach())
    lo, hi = 0.0, root2  # GELU' rises through 1 between 0 (0.5) and sqrt(2) (the peak): bisect
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if dgelu([mid])[0] < 1 else (lo, mid)
    ctx.value("gelu_cross1", lo)
    # GELU'(z) + GELU'(-z) = Phi(z) + Phi(-z) = 1: the dip is 1 minus the peak.
    agree(ctx, "gelu_sym_tol", (d_fine + d_fine.flip(0) - 1).abs().max(), 1e-12)

    # ReLU sparsity: zero-mean pre-activations -> about half the outputs are exactly 0.
    relu_n = 100_000
    ctx.value("relu_n", relu_n)
    pre = torch.randn(relu_n)
    ctx.value("relu_zero_frac", (torch.relu(pre) == 0).float().mean())

    # ------------------------------------------------------------------ chains of activations
    # d/dx of f(f(...f(x))) with n nested applications, at x = 0: the product of the local derivatives.
    n_chain = 10
    ctx.value("n_chain", n_chain)
    def chain_grad(fn, x0):
        """Autograd derivative of fn applied n_chain times, at x0."""
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        h = x
        for _ in range(n_chain):
            h = fn(h)
        h.backward()
        return x.grad

    ctx.value("chain_sig_grad", chain_grad(torch.sigmoid, 0.0))
    ctx.value("chain_sig_bound", sig_grads[0] ** n_chain)  # each factor <= 0.25
    # Same chain of ReLUs on a positive input: every local derivative is exactly 1.
    ctx.value("chain_relu_grad", chain_grad(torch.relu, 1.0))

    # A 20-layer MLP with each activation and its standard init (Xavier for sigmoid/tanh,
    # He for ReLU). We record the weight-gradient norm of every layer after one backward pass.
    depth, width = 20, 64
    ctx.value("mlp_depth", depth)
    ctx.value("mlp_width", width)
    mlp_grads = {}
    for name, act, init in [
        ("sigmoid", nn.Sigmoid, nn.init.xavier_normal_),
        ("tanh", nn.Tanh, nn.init.xavier_normal_),
        ("relu", nn.ReLU, lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
    ]:
        torch.manual_seed(0)
        layers = []
        for _ in range(depth):
            lin = nn.Linear(width, width)
            init(lin.weight)
            nn.init.zeros_(lin.bias)
            layers += [lin, act()]
        net = nn.Sequential(*layers)
        net(torch.randn(128, width)).pow(2).mean().backward()
        mlp_grads[name] = [m.weight.grad.norm().item() for m in net if isinstance(m, nn.Linear)]
        # How much smaller the first layer's gradient is than the last layer's.
        ctx.value(f"mlp_ratio_{name}", mlp_grads[name][0] / mlp_grads[name][-1])

    # ------------------------------------------------------------------ no activation -> one linear map
    torch.manual_seed(0)
    stack = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 3))
    l1, l2, l3 = stack
    # Compose the three affine maps by hand: W = W3 W2 W1, b = W3 (W2 b1 + b2) + b3.
    single = nn.Linear(4, 3)
    with torch.no_grad():
        single.weight.copy_(l3.weight @ l2.weight @ l1.weight)
        single.bias.copy_(l3.weight @ (l2.weight @ l1.bias + l2.bias) + l3.bias)
    ctx.value("collapse_dims", [l1.in_features, l1.out_features, l2.out_features, l3.out_features])
    xin = torch.randn(1000, 4)
    ctx.value("collapse_n_inputs", xin.shape[0])
    agree(ctx, "collapse_tol", (stack(xin) - single(xin)).abs().max().detach(), 1e-5)
    ctx.value("collapse_stack_params", sum(p.numel() for p in stack.parameters()))
    ctx.value("collapse_single_params", sum(p.numel() for p in single.parameters()))

    # XOR: the best linear (least-squares) fit vs a two-unit ReLU network with hand-set weights.
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    A = torch.cat([X, torch.ones(4, 1)], dim=1)  # [x1, x2, 1] -> affine fit
    coef = torch.linalg.lstsq(A, y.unsqueeze(1)).solution
    lin_pred = (A @ coef).squeeze(1)
    ctx.value("xor_targets", y)
    ctx.value("xor_lin_pred", lin_pred)
    # Every prediction is 0.5 up to float rounding (which differs between CPUs): round before thresholding.
    ctx.value("xor_lin_acc", ((lin_pred.round(decimals=4) > 0.5).float() == y).float().mean())
    hidden = nn.Linear(2, 2)
    out = nn.Linear(2, 1)
    with torch.no_grad():
        hidden.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
        hidden.bias.copy_(torch.tensor([0.0, -1.0]))  # h1 = relu(x1+x2), h2 = relu(x1+x2-1)
        out.weight.copy_(torch.tensor([[1.0, -2.0]]))  # y = h1 - 2 h2
        out.bias.zero_()
        relu_pred = out(torch.relu(hidden(X))).squeeze(1)
    ctx.value("xor_relu_pred", relu_pred)

    # ------------------------------------------------------------------ dying ReLU
    torch.manual_seed(0)
    unit = nn.Linear(2, 1)
    ctx.value("dead_w_bound", 1 / math.sqrt(unit.in_features))  # default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert unit.weight.abs().max() <= 1 / math.sqrt(unit.in_features)
    with torch.no_grad():
        unit.bias.fill_(-10.0)  # e.g. after one oversized update pushed the bias far negative
    batch = torch.randn(256, 2)
    ctx.value("dead_bias", unit.bias.item())
    ctx.value("dead_need", -unit.bias.item())
    ctx.value("dead_batch", batch.shape[0])
    z = unit(batch)
    ctx.value("dead_active_frac", (z > 0).float().mean())
    torch.relu(z).sum().backward()
    ctx.value("dead_grad_norm", torch.cat([unit.weight.grad.flatten(), unit.bias.grad]).norm())
    unit.zero_grad()
    leaky(unit(batch)).sum().backward()
    ctx.value("leaky_grad_norm", torch.cat([unit.weight.grad.flatten(), unit.bias.grad]).norm())

    # ------------------------------------------------------------------ softmax and temperature
    logits = torch.tensor([2.0, 1.0, 0.1])
    ctx.value("logits", logits)
    t_sharp, t_one, t_flat = 0.3, 1.0, 1.5
    temps = [t_sharp, t_one, t_flat]
    ctx.value("temps", temps)
    ctx.value("t_sharp", t_sharp)
    ctx.value("t_one", t_one)
    ctx.value("t_flat", t_flat)
    temp_probs = {t: torch.softmax(logits / t, dim=0) for t in temps}
    ctx.value("p_T03", temp_probs[0.3])
    ctx.value("p_T1", temp_probs[1.0])
    ctx.value("p_T15", temp_probs[1.5])
    ctx.value("p_T1_sum", temp_probs[1.0].sum())
    ctx.value("p_T03_top", temp_probs[0.3][0])  # probability of the largest logit
    ctx.value("p_T1_top", temp_probs[1.0][0])
    ctx.value("p_T15_top", temp_probs[1.5][0])
    ctx.value("t_small", 0.05)
    ctx.value("p_T_small", torch.softmax(logits / 0.05, dim=0))
    ctx.value("t_big", 100.0)
    ctx.value("p_T_big", torch.softmax(logits / 100.0, dim=0))
    # Temperature never changes the argmax (T > 0 rescales all logits the same way).
    ctx.value("temp_argmax_same", all(int(p.argmax()) == int(logits.argmax()) for p in temp_probs.values()))

    # Softmax by the formula overflows for large logits in float32; subtracting the max fixes it.
    big = torch.tensor([1000.0, 1001.0, 1002.0])
    ctx.value("big_logits", big)
    ctx.value("exp_1000_is_inf", bool(torch.isinf(torch.exp(big[0]))))
    naive = torch.exp(big) / torch.exp(big).sum()
    ctx.value("naive_has_nan", bool(torch.isnan(naive).any()))
    stable = stable_softmax(big)
    ctx.value("stable_p", stable)
    ctx.value("stable_src", inspect.getsource(stable_softmax).strip())
    agree(ctx, "stable_vs_torch_tol", (stable - torch.softmax(big, dim=0)).abs().max(), 1e-6)

    # Two-class softmax over [z, 0] is exactly sigmoid(z).
    zs = torch.linspace(-6, 6, 121, dtype=torch.float64)
    two = torch.softmax(torch.stack([zs, torch.zeros_like(zs)], dim=1), dim=1)[:, 0]
    agree(ctx, "softmax2_sigmoid_tol", (two - torch.sigmoid(zs)).abs().max(), 1e-12)

    # Multi-label vs multi-class on the same logits: sigmoids need not sum to 1.
    ml_logits = torch.tensor([2.0, -1.0, 0.5])
    ctx.value("ml_logits", ml_logits)
    ctx.value("ml_sig", torch.sigmoid(ml_logits))
    ctx.value("ml_sig_sum", torch.sigmoid(ml_logits).sum())
    ctx.value("ml_soft", torch.softmax(ml_logits, dim=0))
    ctx.value("ml_soft_sum", torch.softmax(ml_logits, dim=0).sum())

    # ------------------------------------------------------------------ activation meets loss
    target = torch.tensor([0])
    zl = logits.clone().unsqueeze(0).requires_grad_(True)
    ce = F.cross_entropy(zl, target)  # expects raw logits: applies log_softmax itself
    ce.backward()
    ctx.value("ce_target", int(target))
    ctx.value("ce_correct", ce.detach())
    ctx.value("ce_grad", zl.grad.squeeze(0))
    onehot = F.one_hot(target, 3).float()
    agree(ctx, "ce_grad_vs_p_minus_y_tol", (zl.grad - (torch.softmax(zl, 1) - onehot)).abs().max().detach(), 1e-6)
    ce_grad_norm = zl.grad.norm()
    zl.grad = None
    ce_double = F.cross_entropy(torch.softmax(zl, dim=1), target)  # the bug: softmax applied twice
    ce_double.backward()
    ctx.value("ce_double", ce_double.detach())
    ctx.value("ce_grad_shrink", ce_grad_norm / zl.grad.norm())
    # With the double softmax even a perfect one-hot probability vector is fed to log_softmax as
    # logits in [0, 1], so the loss can never go below log(1 + (K-1)/e).
    ctx.value("ce_double_floor", F.cross_entropy(onehot, target))

    # Confidently wrong sigmoid output (z = -5, target 1): gradient w.r.t. the logit under MSE vs BCE.
    z_wrong = -5.0
    ctx.value("z_wrong", z_wrong)
    zw = torch.tensor([z_wrong], requires_grad=True)
    F.mse_loss(torch.sigmoid(zw), torch.ones(1)).backward()
    ctx.value("mse_grad_wrong", zw.grad.item())
    zw.grad = None
    F.binary_cross_entropy_with_logits(zw, torch.ones(1)).backward()
    ctx.value("bce_grad_wrong", zw.grad.item())
    ctx.value("p_wrong", torch.sigmoid(zw.detach()).item())

    # ------------------------------------------------------------------ temperature scaling (calibration)
    # A synthetic classifier whose logits are 3x too confident. Fit one scalar T on held-out data
    # by minimising NLL (T = exp(log_t) keeps it positive); it should recover about 3.
    torch.manual_seed(0)
    n, classes, overconf = 4000, 5, 3.0
    true_logits = 1.5 * torch.randn(n, classes)
    labels = torch.multinomial(torch.softmax(true_logits, 1), 1).squeeze(1)
    model_logits = overconf * true_logits
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model_logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    t_fit = log_t.exp().detach().item()
    ctx.value("cal_overconf", overconf)
    ctx.value("cal_n", n)
    ctx.value("cal_T", t_fit)
    ctx.value("cal_nll_before", F.cross_entropy(model_logits, labels))
    ctx.value("cal_nll_after", F.cross_entropy(model_logits / t_fit, labels))
    ctx.value("cal_acc_before", (model_logits.argmax(1) == labels).float().mean())
    ctx.value("cal_acc_after", ((model_logits / t_fit).argmax(1) == labels).float().mean())
    ctx.value("cal_pred_changed", int(((model_logits / t_fit).argmax(1) != model_logits.argmax(1)).sum()))

    # ------------------------------------------------------------------ figures
    zgrid = torch.linspace(-6, 6, 241, dtype=torch.float64)
    zs_list = zgrid.tolist()
    sig_y, sig_dy = curve(torch.sigmoid, zgrid)
    tanh_y, tanh_dy = curve(torch.tanh, zgrid)

    def draw_sigmoid(fig):
        ax = fig.subplots()
        ax.plot(zs_list, sig_y, label="sigmoid(z)")
        ax.plot(zs_list, sig_dy, label="derivative (autograd)")
        ax.plot([0.0], [float(sig_grads[0])], "o", color="C1")
        ax.annotate(f"max {float(sig_grads[0]):g} at z = 0", (0.0, float(sig_grads[0])), xytext=(1.0, 0.4),
                    arrowprops={"arrowstyle": "->"})
        ax.set_xlabel("z")
        ax.set_title("Sigmoid and its derivative")
        ax.legend(loc="upper left")

    ctx.figure("sigmoid_curve", draw_sigmoid, width=6.0, height=3.6)

    def draw_tanh(fig):
        ax = fig.subplots()
        ax.plot(zs_list, tanh_y, label="tanh(z)")
        ax.plot(zs_list, tanh_dy, label="derivative (autograd)")
        ax.plot(zs_list, sig_dy, "--", label="sigmoid derivative")
        ax.set_xlabel("z")
        ax.set_title("tanh and its derivative")
        ax.legend(loc="lower right")

    ctx.figure("tanh_curve", draw_tanh, width=6.0, height=3.6)

    rgrid = torch.linspace(-3, 3, 601, dtype=torch.float64)
    r_list = rgrid.tolist()
    leaky_show = nn.LeakyReLU(0.1)  # exaggerated slope so the leak is visible on a phone
    relu_y, relu_dy = curve(torch.relu, rgrid)
    lk_y, lk_dy = curve(leaky_show, rgrid)
    gelu_y, gelu_dy = curve(F.gelu, rgrid)

    def draw_relu(fig):
        ax1, ax2 = fig.subplots(1, 2)
        for ax, ys, title in [(ax1, (relu_y, lk_y, gelu_y), "function"),
                              (ax2, (relu_dy, lk_dy, gelu_dy), "derivative (autograd)")]:
            ax.plot(r_list, ys[0], label="ReLU")
            ax.plot(r_list, ys[1], "--", label=f"leaky ReLU (slope {leaky_show.negative_slope:g})")
            ax.plot(r_list, ys[2], label="GELU")
            ax.set_xlabel("z")
            ax.set_title(title)
        ax1.legend(loc="upper left", fontsize="small")
        # GELU's derivative: 0.5 at 0, peak at +sqrt(2), dip at -sqrt(2) (the points on the card).
        marks = [float(g1[1].detach()), float(gelu_grads[0].detach()), float(g1[0].detach())]
        ax2.plot([-root2, 0.0, root2], marks, "o", color="C2", ms=4)

    ctx.figure("relu_family", draw_relu, width=6.0, height=3.6)

    def draw_depth(fig):
        ax = fig.subplots()
        layers_idx = list(range(1, depth + 1))
        for name, label in [("sigmoid", "sigmoid (Xavier init)"), ("tanh", "tanh (Xavier init)"),
                            ("relu", "ReLU (He init)")]:
            ax.semilogy(layers_idx, mlp_grads[name], marker="o", ms=3, label=label)
        ax.set_xticks([1, *range(5, depth + 1, 5)])
        ax.set_xlabel("layer (1 = next to the input)")
        ax.set_ylabel("weight-gradient norm")
        ax.set_title(f"{depth}-layer MLP, one backward pass")
        ax.legend()

    ctx.figure("depth_grads", draw_depth, width=6.0, height=3.6)

    def draw_temps(fig):
        ax = fig.subplots()
        k = len(logits)
        wbar = 0.8 / len(temps)
        for i, t in enumerate(temps):
            xs = [c + (i - (len(temps) - 1) / 2) * wbar for c in range(k)]
            bars = ax.bar(xs, temp_probs[t].tolist(), width=wbar, label=f"T = {t:g}")
            ax.bar_label(bars, fmt="%.2f", fontsize="x-small")
        ax.set_xticks(range(k), [f"logit {v:g}" for v in logits.tolist()])
        ax.set_ylabel("softmax probability")
        ax.set_ylim(0, 1)
        ax.set_title("softmax(z / T)")
        ax.legend()

    ctx.figure("softmax_temperature", draw_temps, width=6.0, height=3.6)
