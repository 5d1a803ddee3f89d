"""Neural-network foundations: every number, shape and curve on the cards comes from the code below.

Sections (in card order):
  1. A neuron and the forward pass of a tiny network, by hand and with nn.Linear.
  2. Weights and bias: a bias-free neuron on 1-D data; one bias shared by a whole layer.
  3. Perceptron vs logistic regression on the same separable points (and on XOR).
  4. Linear regression: normal equations vs gradient descent.
  5. Shallow vs deep: parameter counts; a sawtooth that depth builds cheaply.
  6. Fully connected layers, and the "5 inputs, 3 hidden, 1 output" net as an nn.Module subclass, trained.
"""

import inspect

import torch
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import mlp, n_params
from torch import nn


def tex_sci(v):
    """A small positive number as LaTeX scientific notation with one significant digit: 3 \times 10^{-8}."""
    mantissa, exponent = f"{float(v):.0e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def tex(t, fmt="g"):
    """A 1-D tensor as a LaTeX column vector, a 2-D one as a matrix (for \\( \\) math on a card)."""
    rows = t.unsqueeze(1).tolist() if t.dim() == 1 else t.tolist()
    body = r" \\ ".join(" & ".join(format(v, fmt) for v in row) for row in rows)
    return r"\begin{pmatrix} " + body + r" \end{pmatrix}"


# ---------------------------------------------------------------------------------------------
# Modules shown on cards verbatim (inspect.getsource): the code a learner reads is the code that ran.
# ---------------------------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self, n_in=5, n_hidden=3, n_out=1):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class SharedBiasLinear(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out, bias=False)
        self.b = nn.Parameter(torch.zeros(1))  # one scalar

    def forward(self, x):
        return self.lin(x) + self.b  # broadcast to all units


class ListNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(5, 3), nn.Linear(3, 1)]  # plain list: not registered


class ModuleListNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(5, 3), nn.Linear(3, 1)])


# ---------------------------------------------------------------------------------------------
# Training helpers
# ---------------------------------------------------------------------------------------------
def perceptron(X, y, max_epochs, lr=1.0):
    """Rosenblatt's rule, one point at a time in a fixed order, from w = 0, b = 0.

    Returns (w, b, mistakes per epoch); stops after the first epoch without a mistake.
    """
    w, b = torch.zeros(X.shape[1]), 0.0
    mistakes = []
    for _ in range(max_epochs):
        m = 0
        for xi, yi in zip(X, y, strict=True):
            y_hat = float(w @ xi + b > 0)  # step activation
            if y_hat != yi:
                w = w + lr * (yi - y_hat) * xi
                b = b + lr * float(yi - y_hat)
                m += 1
        mistakes.append(m)
        if m == 0:
            break
    return w, b, mistakes


def logistic_regression(X, y, lr, steps, record=()):
    """Full-batch gradient descent on the mean BCE; the gradient is written out: X^T (p - y) / N.

    Returns (w, b, {step: ||w||} for the steps in `record`).
    """
    w, b = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype)
    norms = {}
    for step in range(1, steps + 1):
        p = torch.sigmoid(X @ w + b)
        w = w - lr * X.T @ (p - y) / len(y)
        b = b - lr * (p - y).mean()
        if step in record:
            norms[step] = w.norm().item()
    return w, b, norms


def separable_points(n, margin, seed):
    """n points in [-2, 2]^2 labelled by the line x1 - 2 x2 + 0.5 = 0, none closer to it than `margin`."""
    g = torch.Generator().manual_seed(seed)
    w_true, b_true = torch.tensor([1.0, -2.0]), 0.5
    pts = []
    while len(pts) < n:
        x = torch.rand(2, generator=g) * 4 - 2
        if abs(w_true @ x + b_true) / w_true.norm() > margin:
            pts.append(x)
    X = torch.stack(pts)
    return X, (X @ w_true + b_true > 0).float(), w_true, b_true


def fit_restarts(X, y, width, shared, restarts, steps, lr):
    """Train `restarts` one-hidden-layer ReLU nets at once (weights stacked on dim 0), full batch, Adam.

    shared=True gives each net one bias for its whole hidden layer. Returns each net's final MSE.
    """
    g = torch.Generator().manual_seed(1)
    W1 = torch.randn(restarts, width, X.shape[1], generator=g).requires_grad_()
    b1 = (torch.rand(restarts, 1 if shared else width, generator=g) - 0.5).requires_grad_()
    w2 = torch.randn(restarts, width, generator=g).requires_grad_()
    b2 = torch.zeros(restarts, 1, requires_grad=True)
    opt = torch.optim.Adam([W1, b1, w2, b2], lr=lr)
    for _ in range(steps):
        h = torch.relu(X @ W1.transpose(1, 2) + b1[:, None, :])  # (restarts, N, width)
        mse = ((h @ w2[:, :, None]).squeeze(2) + b2 - y).pow(2).mean(dim=1)
        opt.zero_grad()
        mse.sum().backward()  # the nets share no parameters, so each gets its own gradient
        opt.step()
    return mse.detach()


def sawtooth_net(depth):
    """ReLU net with `depth` hidden layers of 2 units whose output is the tent map
    t(x) = 2 relu(x) - 4 relu(x - 1/2) composed `depth` times on [0, 1]. Weights set by hand, float64."""
    first, last = nn.Linear(1, 2), nn.Linear(2, 1)
    hidden = [nn.Linear(2, 2) for _ in range(depth - 1)]
    with torch.no_grad():
        first.weight.fill_(1.0)  # h = relu([x, x - 1/2])
        first.bias.copy_(torch.tensor([0.0, -0.5]))
        for m in hidden:  # both units read t = 2 h1 - 4 h2 of the previous layer
            m.weight.copy_(torch.tensor([[2.0, -4.0], [2.0, -4.0]]))
            m.bias.copy_(torch.tensor([0.0, -0.5]))
        last.weight.copy_(torch.tensor([[2.0, -4.0]]))
        last.bias.zero_()
    layers = [first, nn.ReLU()]
    for m in hidden:
        layers += [m, nn.ReLU()]
    return nn.Sequential(*layers, last).double()


def count_pieces(xs, ys):
    """Number of linear pieces of a piecewise-linear curve sampled on a uniform grid."""
    slopes = torch.diff(ys) / torch.diff(xs)
    return int((torch.diff(slopes).abs() > 1e-6).sum()) + 1


def compute(ctx):
    neuron_and_forward(ctx)
    weights_and_bias(ctx)
    perceptron_vs_logistic(ctx)
    linear_regression(ctx)
    shallow_vs_deep(ctx)
    layers_and_module(ctx)


# ---------------------------------------------------------------------------------------------
# 1. A neuron and the forward pass
# ---------------------------------------------------------------------------------------------
def neuron_and_forward(ctx):
    x = torch.tensor([1.0, 2.0, -1.0])
    w = torch.tensor([0.5, -0.25, 1.0])
    b = 0.1
    z = w @ x + b
    ctx.value("nr_x", x)
    ctx.value("nr_w", w)
    ctx.value("nr_b", b)
    ctx.value("nr_z", z)
    ctx.value("nr_sigmoid", torch.sigmoid(z))
    ctx.value("nr_relu", torch.relu(z))

    # Tiny net: 2 inputs -> 2 ReLU units -> 1 linear output, computed step by step.
    x = torch.tensor([1.0, 2.0])
    W1 = torch.tensor([[1.0, -1.0], [0.5, 1.0]])
    b1 = torch.tensor([0.0, -1.0])
    W2 = torch.tensor([[1.0, 2.0]])
    b2 = torch.tensor([0.5])
    z1 = W1 @ x + b1
    h = torch.relu(z1)
    y_hat = W2 @ h + b2
    for name, t in [("x", x), ("W1", W1), ("b1", b1), ("W2", W2), ("b2", b2), ("z1", z1), ("h", h)]:
        ctx.value(f"fw_{name}_tex", tex(t))
    ctx.value("fw_b2", b2)
    ctx.value("fw_y_hat", y_hat)
    # The same numbers from nn.Linear modules holding these weights.
    l1, l2 = nn.Linear(2, 2), nn.Linear(2, 1)
    with torch.no_grad():
        l1.weight.copy_(W1), l1.bias.copy_(b1), l2.weight.copy_(W2), l2.bias.copy_(b2)
        ctx.value("fw_nn_matches", bool(torch.equal(l2(torch.relu(l1(x))), y_hat)))

    # Batched form: rows of X are examples; nn.Linear computes X W^T + b.
    batch, d_in, d_out = 4, 5, 3
    layer = nn.Linear(d_in, d_out)
    X = torch.randn(batch, d_in)
    with torch.no_grad():
        out = layer(X)
        agree(ctx, "fw_batch_tol", (out - (X @ layer.weight.T + layer.bias)).abs().max(), 1e-6)
    ctx.value("fw_batch", batch)
    ctx.value("fw_d_in", d_in)
    ctx.value("fw_d_out", d_out)
    ctx.value("fw_X_shape", X.shape)
    ctx.value("fw_W_shape", layer.weight.shape)
    ctx.value("fw_b_shape", layer.bias.shape)
    ctx.value("fw_out_shape", out.shape)


# ---------------------------------------------------------------------------------------------
# 2. Weights and bias
# ---------------------------------------------------------------------------------------------
def weights_and_bias(ctx):
    # 1-D points, positive above a threshold. Without a bias, sigmoid(w x) can only put its boundary at x = 0.
    xs = torch.arange(1, 9, dtype=torch.float64) * 0.5
    threshold = 2.25
    ys = (xs > threshold).double()
    X1 = xs.unsqueeze(1)
    lr, steps = 1.0, 500
    w_nb = torch.zeros(1, dtype=torch.float64)
    for _ in range(steps):  # gradient descent on BCE, bias frozen at 0
        w_nb = w_nb - lr * X1.T @ (torch.sigmoid(X1 @ w_nb) - ys) / len(ys)
    w_b, b_b, _ = logistic_regression(X1, ys, lr, steps)
    ctx.value("bias_xs", xs)
    ctx.value("bias_threshold", threshold)
    ctx.value("bias_steps", steps)
    ctx.value("bias_acc_without", ((X1 @ w_nb > 0).double() == ys).double().mean())
    ctx.value("bias_acc_with", ((X1 @ w_b + b_b > 0).double() == ys).double().mean())
    ctx.value("bias_boundary", -b_b / w_b[0])

    def draw_bias(fig):
        ax = fig.subplots()
        grid = torch.linspace(-0.5, 4.5, 201, dtype=torch.float64)
        ax.plot(grid, torch.sigmoid(grid * w_nb), label="no bias: σ(wx)")
        ax.plot(grid, torch.sigmoid(grid * w_b + b_b), label="with bias: σ(wx + b)")
        ax.scatter(xs, ys, color="C2", zorder=3, label="data")
        ax.axvline(0, color="C0", ls=":", lw=1.5)
        ax.set_xlabel("x")
        ax.set_ylabel("P(y = 1)")
        ax.set_title("The bias moves the threshold")
        ax.legend(loc="upper left", fontsize="small")

    ctx.figure("bias_shift", draw_bias)

    # One bias shared by the whole hidden layer: parameter saving on a typical layer.
    d_in, d_out = 784, 256
    ctx.value("sb_d_in", d_in)
    ctx.value("sb_d_out", d_out)
    per_unit, shared = n_params(nn.Linear(d_in, d_out)), n_params(SharedBiasLinear(d_in, d_out))
    ctx.value("sb_params_per_unit", per_unit)
    ctx.value("sb_params_shared", shared)
    ctx.value("sb_saved", per_unit - shared)
    ctx.value("sb_saved_frac", (per_unit - shared) / per_unit)
    ctx.value("sb_src", inspect.getsource(SharedBiasLinear).strip())

    # The shared bias trains normally: its gradient is the sum of the per-unit bias gradients.
    torch.manual_seed(0)
    sh = SharedBiasLinear(3, 4)
    full = nn.Linear(3, 4)
    with torch.no_grad():
        sh.b.fill_(0.3)
        full.weight.copy_(sh.lin.weight)
        full.bias.fill_(0.3)
    xb, target = torch.randn(8, 3), torch.randn(8, 4)
    F.mse_loss(torch.tanh(sh(xb)), target).backward()
    F.mse_loss(torch.tanh(full(xb)), target).backward()
    agree(ctx, "sb_grad_tol", (sh.b.grad - full.bias.grad.sum()).abs(), 1e-6)

    # Expressiveness: f(x) = relu(x1 - 1) + relu(1 - x2) needs biases of opposite sign (-1 and +1).
    # Two hidden units with their own biases represent it exactly; with one shared bias they cannot
    # (scaling a unit by a positive factor never flips its bias sign).
    g = torch.Generator().manual_seed(0)
    Xs = torch.rand(256, 2, generator=g) * 4 - 2
    ctx.value("sb_n", Xs.shape[0])
    ys2 = torch.relu(Xs[:, 0] - 1) + torch.relu(1 - Xs[:, 1])
    W_hand, b_hand, w2_hand = torch.tensor([[1.0, 0.0], [0.0, -1.0]]), torch.tensor([-1.0, 1.0]), torch.ones(2)
    ctx.value("sb_exact_mse", ((torch.relu(Xs @ W_hand.T + b_hand) @ w2_hand - ys2) ** 2).mean())
    restarts, steps, width = 8, 200, 2
    ctx.value("sb_restarts", restarts)
    ctx.value("sb_width", width)
    ctx.value("sb_target_var", ys2.var(unbiased=False))
    ctx.value("sb_fit_per_unit", fit_restarts(Xs, ys2, width, False, restarts, steps, 0.1).min())
    ctx.value("sb_fit_shared", fit_restarts(Xs, ys2, width, True, restarts, steps, 0.1).min())



# ---------------------------------------------------------------------------------------------
# 3. Perceptron vs logistic regression
# ---------------------------------------------------------------------------------------------
def perceptron_vs_logistic(ctx):
    # A run small enough to trace by hand: three 2-D points, lr 1, from w = 0, b = 0.
    Xt = torch.tensor([[1.0, 2.0], [2.0, -1.0], [-1.0, -1.0]])
    yt = torch.tensor([1.0, 0.0, 0.0])
    w, b = torch.zeros(2), 0.0
    for i, (xi, yi) in enumerate(zip(Xt, yt, strict=True), start=1):
        z = (w @ xi + b).item()
        y_hat = float(z > 0)
        w, b = w + (yi - y_hat) * xi, b + (yi - y_hat).item()  # the rule, written out
        ctx.value(f"pt_z{i}", z)
        ctx.value(f"pt_yhat{i}", y_hat)
        ctx.value(f"pt_w{i}", w)
        ctx.value(f"pt_b{i}", b)
    w_run, b_run, mistakes_t = perceptron(Xt, yt, max_epochs=10)
    assert torch.equal(w_run, w) and b_run == b and mistakes_t[0] == 2, "trace disagrees with perceptron()"
    ctx.value("pt_x", Xt)
    ctx.value("pt_y", yt)
    ctx.value("pt_mistakes", mistakes_t)
    ctx.value("pt_updates", sum(mistakes_t))

    n, margin = 20, 0.1
    X, y, w_true, b_true = separable_points(n, margin, seed=0)
    ctx.value("pc_n", n)
    ctx.value("pc_n_pos", int(y.sum()))
    pc_lr = 1.0
    w_p, b_p, mistakes = perceptron(X, y, max_epochs=100, lr=pc_lr)
    ctx.value("pc_lr", pc_lr)
    ctx.value("pc_epochs", len(mistakes))  # the last one is the first error-free epoch
    ctx.value("pc_mistakes", mistakes)
    ctx.value("pc_updates", sum(mistakes))
    ctx.value("pc_w", w_p)
    ctx.value("pc_b", b_p)
    ctx.value("pc_acc", ((X @ w_p + b_p > 0).float() == y).float().mean())

    # Novikoff's bound with the bias folded in (x -> [x, 1]): updates <= (R / gamma)^2 for any
    # separator u with margin gamma; the generating line is one such separator.
    Xa = torch.cat([X, torch.ones(n, 1)], dim=1)
    u = torch.cat([w_true, torch.tensor([b_true])])
    gamma = ((2 * y - 1) * (Xa @ u)).min() / u.norm()
    R = Xa.norm(dim=1).max()
    ctx.value("pc_R", R)
    ctx.value("pc_gamma", gamma)
    ctx.value("pc_bound", (R / gamma) ** 2)

    # XOR is not linearly separable: the perceptron never has an error-free epoch.
    Xx = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    yx = torch.tensor([0.0, 1.0, 1.0, 0.0])
    xor_epochs = 100
    _, _, xor_mistakes = perceptron(Xx, yx, max_epochs=xor_epochs)
    ctx.value("pc_xor_n", len(yx))
    ctx.value("pc_xor_ran", len(xor_mistakes))
    ctx.value("pc_xor_min_mistakes", min(xor_mistakes))

    # Logistic regression on the same points: gradient descent on BCE.
    lr, steps = 0.5, 2000
    record = (100, 1000, 2000)
    X, y = X.double(), y.double()  # float64 so that p near 1 stays distinguishable from 1
    w_l, b_l, norms = logistic_regression(X, y, lr, steps, record)
    w_p = w_p.double()
    ctx.value("lr_lr", lr)
    ctx.value("lr_steps", steps)
    ctx.value("lr_record", list(record))
    ctx.value("lr_norms", [norms[s] for s in record])
    p = torch.sigmoid(X @ w_l + b_l)
    ctx.value("lr_acc", ((p > 0.5).float() == y).float().mean())
    ctx.value("lr_loss", F.binary_cross_entropy(p, y))

    # The BCE gradient is (p - y) x: checked against autograd at the final weights.
    wg = w_l.clone().requires_grad_()
    F.binary_cross_entropy_with_logits(X @ wg + b_l, y).backward()
    agree(ctx, "lr_grad_tol", (wg.grad - X.T @ (p - y) / n).abs().max(), 1e-12)

    # Geometric margin (distance from the boundary to the closest point) of each separator.
    def margin_of(w, b):
        return (((2 * y - 1) * (X @ w + b)).min() / w.norm()).item()

    ctx.value("pc_margin", margin_of(w_p, b_p))
    ctx.value("lr_margin", margin_of(w_l, b_l))

    # Probabilities vs hard labels: the positive point closest to each boundary, and the farthest one.
    pos = y == 1
    dist = (X @ w_l + b_l) / w_l.norm()
    near = torch.where(pos, dist, torch.inf).argmin()
    far = torch.where(pos, dist, -torch.inf).argmax()
    ctx.value("lr_p_near", p[near])
    ctx.value("lr_1mp_far_tex", tex_sci(1 - p[far]))
    ctx.value("pc_out_near", float(X[near] @ w_p + b_p > 0))
    ctx.value("pc_out_far", float(X[far] @ w_p + b_p > 0))

    def draw_boundaries(fig):
        ax = fig.subplots()
        gx = torch.linspace(-2.2, 2.2, 121)
        GX, GY = torch.meshgrid(gx, gx, indexing="xy")
        P = torch.sigmoid(GX * w_l[0] + GY * w_l[1] + b_l)
        cs = ax.contourf(GX, GY, P, levels=[0.0, 0.1, 0.5, 0.9, 1.0], cmap="coolwarm", alpha=0.25)
        ax.contour(GX, GY, P, levels=[0.5], colors="C3", linewidths=2)
        # perceptron boundary: w1 x1 + w2 x2 + b = 0
        ax.plot(gx, -(w_p[0] * gx + b_p) / w_p[1], "--", color="C2", lw=2)
        ax.scatter(X[~pos, 0], X[~pos, 1], marker="o", color="C0", s=30, zorder=3)
        ax.scatter(X[pos, 0], X[pos, 1], marker="^", color="C3", s=36, zorder=3)
        ax.plot([], [], "--", color="C2", label="perceptron")
        ax.plot([], [], color="C3", label="logistic p = 0.5")
        ax.set_xlim(-2.2, 2.2)
        ax.set_ylim(-2.2, 2.2)
        ax.set_aspect("equal")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_title("Two linear classifiers")
        ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
        fig.colorbar(cs, ax=ax, shrink=0.8, label="logistic P(y=1)", ticks=[0, 0.1, 0.5, 0.9, 1])

    ctx.figure("perceptron_vs_logreg", draw_boundaries, width=4.4, height=3.6)


# ---------------------------------------------------------------------------------------------
# 4. Linear regression
# ---------------------------------------------------------------------------------------------
def linear_regression(ctx):
    g = torch.Generator().manual_seed(0)
    n = 50
    w_true, b_true, noise = torch.tensor([2.0, -3.0], dtype=torch.float64), 1.0, 0.1
    X = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = X @ w_true + b_true + noise * torch.randn(n, generator=g, dtype=torch.float64)
    A = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], dim=1)  # bias as a constant feature
    theta_closed = torch.linalg.solve(A.T @ A, A.T @ y)  # normal equations
    lr, steps = 0.1, 200
    theta = torch.zeros(3, dtype=torch.float64)
    for _ in range(steps):
        theta = theta - lr * 2 * A.T @ (A @ theta - y) / n  # gradient of the mean squared error
    ctx.value("lin_n", n)
    ctx.value("lin_true", [*w_true.tolist(), b_true])
    ctx.value("lin_noise", noise)
    ctx.value("lin_closed", theta_closed)
    ctx.value("lin_gd", theta)
    ctx.value("lin_lr", lr)
    ctx.value("lin_steps", steps)
    agree(ctx, "lin_gd_tol", (theta - theta_closed).abs().max(), 1e-8)
    agree(ctx, "lin_lstsq_tol", (torch.linalg.lstsq(A, y).solution - theta_closed).abs().max(), 1e-12)
    ctx.value("lin_mse", ((A @ theta_closed - y) ** 2).mean())


# ---------------------------------------------------------------------------------------------
# 5. Shallow vs deep
# ---------------------------------------------------------------------------------------------
def shallow_vs_deep(ctx):
    d_in, d_out, wide, narrow, depth = 784, 10, 512, 128, 4
    shallow = mlp(d_in, wide, d_out)
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, narrow), nn.ReLU()]
        d = narrow
    deep = nn.Sequential(*layers, nn.Linear(narrow, d_out))
    ctx.value("sd_d_in", d_in)
    ctx.value("sd_d_out", d_out)
    ctx.value("sd_wide", wide)
    ctx.value("sd_narrow", narrow)
    ctx.value("sd_depth", depth)
    ctx.value("sd_shallow_params", n_params(shallow))
    ctx.value("sd_deep_params", n_params(deep))
    ctx.value("sd_first_layer_share", n_params(deep[0]) / n_params(deep))

    # Depth composes: the tent map applied k times has 2^k linear pieces from k layers of 2 units.
    k = 10
    xs = torch.linspace(0, 1, 2**14 + 1, dtype=torch.float64)
    deep_saw = sawtooth_net(k)
    with torch.no_grad():
        ys = deep_saw(xs.unsqueeze(1)).squeeze(1)
    pieces = count_pieces(xs, ys)
    ctx.value("saw_depth", k)
    ctx.value("saw_pieces", pieces)
    ctx.value("saw_deep_params", n_params(deep_saw))
    # One hidden layer: each ReLU unit adds one kink, so `pieces` pieces need at least pieces - 1 units.
    # Build such a net from the measured kinks: f(x) = s0 relu(x) + sum_i (slope change)_i relu(x - k_i).
    slopes = torch.diff(ys) / torch.diff(xs)
    change = torch.diff(slopes)
    kinks = xs[1:-1][change.abs() > 1e-6]
    wide_net = mlp(1, len(kinks) + 1, 1).double()
    with torch.no_grad():
        wide_net[0].weight.fill_(1.0)
        wide_net[0].bias.copy_(-torch.cat([torch.zeros(1, dtype=torch.float64), kinks]))
        wide_net[2].weight.copy_(torch.cat([slopes[:1], change[change.abs() > 1e-6]]).unsqueeze(0))
        wide_net[2].bias.zero_()
        agree(ctx, "saw_wide_tol", (wide_net(xs.unsqueeze(1)).squeeze(1) - ys).abs().max(), 1e-9)
    ctx.value("saw_wide_units", len(kinks) + 1)
    ctx.value("saw_min_units", pieces - 1)
    ctx.value("saw_wide_params", n_params(wide_net))

    curves = {}
    for d in (1, 2, 3):
        with torch.no_grad():
            curves[d] = sawtooth_net(d)(xs.unsqueeze(1)).squeeze(1)

    def draw_saw(fig):
        ax = fig.subplots()
        for i, (d, c) in enumerate(curves.items()):
            ax.plot(xs, c + 1.3 * (2 - i), label=f"{d} hidden layer{'s' if d > 1 else ''}: {2**d} pieces")
        ax.set_yticks([])
        ax.set_xlabel("x")
        ax.set_title("Each extra layer doubles the pieces")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize="small", ncol=1)

    ctx.figure("depth_sawtooth", draw_saw, height=3.6)


# ---------------------------------------------------------------------------------------------
# 6. Fully connected layers and a hand-written nn.Module
# ---------------------------------------------------------------------------------------------
def layers_and_module(ctx):
    d_in, d_out = 784, 256
    fc = nn.Linear(d_in, d_out)
    ctx.value("fc_in", d_in)
    ctx.value("fc_out", d_out)
    ctx.value("fc_params", n_params(fc))
    ctx.value("fc_weight_shape", fc.weight.shape)

    # The source's example: 5 inputs, 3 hidden units, 1 output.
    torch.manual_seed(0)
    model = Net()
    ctx.value("net_src", inspect.getsource(Net).strip())
    ctx.value("net_in", model.fc1.in_features)
    ctx.value("net_hidden", model.fc1.out_features)
    ctx.value("net_out", model.fc2.out_features)
    ctx.value("net_params", n_params(model))
    ctx.value("net_fc1_params", n_params(model.fc1))
    ctx.value("net_fc2_params", n_params(model.fc2))
    ctx.value("net_param_names", [name for name, _ in model.named_parameters()])
    ctx.value("list_net_params", n_params(ListNet()))
    ctx.value("modulelist_net_params", n_params(ModuleListNet()))

    # Tiny synthetic regression task: a fixed random "teacher" net of the same shape plus noise.
    g = torch.Generator().manual_seed(0)
    t_net = Net()
    with torch.no_grad():
        for p in t_net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    n_train, noise = 200, 0.1
    X = torch.randn(2 * n_train, 5, generator=g)
    with torch.no_grad():
        Y = t_net(X) + noise * torch.randn(2 * n_train, 1, generator=g)
    X_tr, Y_tr, X_te, Y_te = X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]
    lr, steps = 0.1, 300
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    train_curve, test_curve = [], []
    for _ in range(steps):
        loss = F.mse_loss(model(X_tr), Y_tr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_curve.append(loss.item())
        with torch.no_grad():
            test_curve.append(F.mse_loss(model(X_te), Y_te).item())
    with torch.no_grad():
        final_train = F.mse_loss(model(X_tr), Y_tr).item()
        baseline = F.mse_loss(Y_tr.mean().expand_as(Y_te), Y_te).item()
    ctx.value("tr_n", n_train)
    ctx.value("tr_noise_var", noise**2)
    ctx.value("tr_lr", lr)
    ctx.value("tr_steps", steps)
    ctx.value("tr_loss0", train_curve[0])
    ctx.value("tr_loss_final", final_train)
    ctx.value("tr_test_final", test_curve[-1])
    ctx.value("tr_baseline", baseline)

    def draw_curve(fig):
        ax = fig.subplots()
        ax.semilogy(range(1, steps + 1), train_curve, label="training loss")
        ax.semilogy(range(1, steps + 1), test_curve, "--", label="held-out loss")
        ax.axhline(noise**2, color="C2", ls=":", label="noise variance")
        ax.set_xlabel("step")
        ax.set_ylabel("MSE")
        ax.set_title(f"{model.fc1.in_features}-{model.fc1.out_features}-{model.fc2.out_features} net, Adam")
        ax.legend()

    ctx.figure("net_loss_curve", draw_curve)
