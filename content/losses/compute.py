"""Loss functions: every loss value on the cards comes from the torch.nn loss modules, and each is
cross-checked against the formula written out by hand (or, for CTC, by brute force over every
alignment)."""

import inspect
import itertools
import warnings

import torch
import torch.nn.functional as F
from torch import nn


def ctc_collapse(path, blank=0):
    """CTC's many-to-one map B: merge runs of repeated symbols, then delete blanks."""
    merged = [k for k, _ in itertools.groupby(path)]
    return [k for k in merged if k != blank]


def ctc_brute_force(log_probs, target):
    """-log of the total probability of every frame-level path that collapses to `target`.

    log_probs: (T, C) per-frame log-probabilities. Enumerates all C**T paths (tiny T only).
    Returns the loss and the number of paths that collapse to the target.
    """
    t_len, n_cls = log_probs.shape
    total, n_paths = 0.0, 0
    for path in itertools.product(range(n_cls), repeat=t_len):
        if ctc_collapse(path) == target:
            total += log_probs[torch.arange(t_len), list(path)].sum().exp()
            n_paths += 1
    return -torch.log(torch.as_tensor(total)), n_paths


def peaked_log_probs(frame_labels, n_cls, p_top):
    """(T, C) log-probabilities with probability p_top on frame_labels[t], the rest spread evenly."""
    probs = torch.full((len(frame_labels), n_cls), (1 - p_top) / (n_cls - 1), dtype=torch.float64)
    probs[torch.arange(len(frame_labels)), frame_labels] = p_top
    return probs.log()


TOL_F32 = 1e-6  # "agree within": float32 results computed two ways
TOL_F64 = 1e-12  # the same for float64
TOL_BCE = 1e-5  # float32 losses up to 100: a few ulps of 100


def compute(ctx):
    focal_loss_section(ctx)
    margin_losses(ctx)
    dice_section(ctx)
    # ------------------------------------------------------------------ MSE
    y = torch.tensor([3.0, -0.5, 2.0, 7.0])
    y_hat = torch.tensor([2.5, 0.0, 2.0, 8.0])
    ctx.value("mse_y", y)
    ctx.value("mse_yhat", y_hat)
    ctx.value("mse_sq_err", (y_hat - y) ** 2)
    ctx.value("mse_n", y.numel())
    ctx.value("mse_module", nn.MSELoss()(y_hat, y))
    ctx.value("mse_by_hand", ((y_hat - y) ** 2).sum() / y.numel())
    ctx.value("mse_sum", nn.MSELoss(reduction="sum")(y_hat, y))
    ctx.value("mse_none", nn.MSELoss(reduction="none")(y_hat, y))
    sq = (y_hat - y) ** 2
    ctx.value("mse_top_share", sq.max() / sq.sum())

    # MSE = Gaussian negative log-likelihood with a fixed variance (up to scale and a constant).
    gauss_var = 1.0
    ctx.value("gauss_var", gauss_var)
    gnll = F.gaussian_nll_loss(y_hat, y, var=torch.full_like(y, gauss_var))  # 0.5 * (log var + err^2 / var)
    ctx.value("gauss_nll_var1", gnll)
    ctx.value("gauss_nll_over_mse", gnll / nn.MSELoss()(y_hat, y))

    # Outliers: same predictions, one target replaced by an outlier.
    y_clean = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    pred = torch.tensor([1.5, 1.5, 3.5, 3.5, 5.5])
    y_out = y_clean.clone()
    y_out[-1] = 25.0
    delta = 1.0
    ctx.value("out_pred", pred)
    ctx.value("out_clean", y_clean)
    ctx.value("out_resid", (pred - y_clean).abs().max())  # every clean residual has this size
    ctx.value("out_target", y_out[-1])
    ctx.value("huber_delta", delta)
    for tag, tgt in [("clean", y_clean), ("outlier", y_out)]:
        ctx.value(f"mse_{tag}", F.mse_loss(pred, tgt))
        ctx.value(f"l1_{tag}", F.l1_loss(pred, tgt))
        ctx.value(f"huber_{tag}", F.huber_loss(pred, tgt, delta=delta))
        ctx.value(f"smoothl1_{tag}", F.smooth_l1_loss(pred, tgt, beta=delta))
    ctx.value("mse_blowup", F.mse_loss(pred, y_out) / F.mse_loss(pred, y_clean))
    ctx.value("l1_blowup", F.l1_loss(pred, y_out) / F.l1_loss(pred, y_clean))
    per_elem = F.mse_loss(pred, y_out, reduction="none")
    ctx.value("mse_outlier_share", per_elem[-1] / per_elem.sum())
    # Gradient each loss sends to the outlier's prediction (per-element losses, summed).
    grads = {}
    for name, fn in [("mse", F.mse_loss), ("l1", F.l1_loss), ("huber", F.huber_loss)]:
        p = pred.clone().requires_grad_(True)
        kwargs = {"delta": delta} if name == "huber" else {}
        fn(p, y_out, reduction="sum", **kwargs).backward()
        grads[name] = p.grad
        ctx.value(f"grad_outlier_{name}", p.grad[-1])
        ctx.value(f"grad_inlier_{name}", p.grad[0])

    # The best constant prediction: MSE picks the mean, L1 the median (grid search, step 0.01).
    cs = torch.arange(0, 2501, dtype=torch.float64) / 100
    yo = y_out.double()
    mse_c = ((cs[:, None] - yo) ** 2).mean(1)
    l1_c = (cs[:, None] - yo).abs().mean(1)
    ctx.value("best_c_mse", cs[mse_c.argmin()])
    ctx.value("best_c_l1", cs[l1_c.argmin()])
    ctx.value("targets_mean", yo.mean())
    ctx.value("targets_median", yo.median())

    # SmoothL1(beta) = Huber(delta = beta) / beta; identical when beta = delta = 1.
    rgrid = torch.linspace(-4, 4, 801, dtype=torch.float64)
    zero = torch.zeros_like(rgrid)
    beta2 = 2.0
    ctx.value("sl1_beta", beta2)
    h2 = F.huber_loss(rgrid, zero, delta=beta2, reduction="none")
    s2 = F.smooth_l1_loss(rgrid, zero, beta=beta2, reduction="none")
    ctx.value("sl1_times_beta_err", (s2 * beta2 - h2).abs().max())
    ctx.value("sl1_vs_huber_ratio", h2[-1] / s2[-1])
    ctx.value("sl1_beta1", delta)
    h1 = F.huber_loss(rgrid, zero, delta=delta, reduction="none")
    s1 = F.smooth_l1_loss(rgrid, zero, beta=delta, reduction="none")
    ctx.value("sl1_huber_beta1_err", (h1 - s1).abs().max())

    # ------------------------------------------------------------------ BCE
    probs = torch.tensor([0.9, 0.2, 0.6])
    tgt = torch.tensor([1.0, 0.0, 1.0])
    ctx.value("bce_p", probs)
    ctx.value("bce_y", tgt)
    bce_terms = -(tgt * probs.log() + (1 - tgt) * (1 - probs).log())
    ctx.value("bce_terms", bce_terms)
    ctx.value("bce_module", nn.BCELoss()(probs, tgt))
    ctx.value("bce_by_hand", bce_terms.mean())
    ctx.value("bce_confident_wrong_p", 0.01)
    ctx.value("bce_confident_wrong", F.binary_cross_entropy(torch.tensor([0.01]), torch.ones(1)))

    # BCELoss on sigmoid(z) vs BCEWithLogitsLoss(z) for a large logit with the wrong target.
    z_big = 20.0
    ctx.value("stab_z", z_big)
    ctx.value("stab_sigmoid_f32", torch.sigmoid(torch.tensor(z_big)))
    ctx.value("stab_sigmoid_is_one", bool(torch.sigmoid(torch.tensor(z_big)) == 1.0))
    zt = torch.tensor([z_big], requires_grad=True)
    loss_naive = nn.BCELoss()(torch.sigmoid(zt), torch.zeros(1))
    loss_naive.backward()
    ctx.value("stab_bce_loss", loss_naive.detach())
    ctx.value("stab_bce_grad", zt.grad.abs())  # abs: shows 0 rather than -0
    zt.grad = None
    loss_logits = nn.BCEWithLogitsLoss()(zt, torch.zeros(1))
    loss_logits.backward()
    ctx.value("stab_logits_loss", loss_logits.detach())
    ctx.value("stab_logits_grad", zt.grad)
    ctx.value("stab_true_loss", F.softplus(torch.tensor(z_big, dtype=torch.float64)))  # exact: log(1 + e^z)

    # The stable closed form used by BCEWithLogitsLoss, checked on logits up to +-100.
    bce_range = 100.0
    ctx.value("bce_range", bce_range)
    zs = torch.linspace(-bce_range, bce_range, 2001)
    for yv in (0.0, 1.0):
        yy = torch.full_like(zs, yv)
        stable = zs.clamp(min=0) - zs * yy + torch.log1p(torch.exp(-zs.abs()))
        err = (stable - F.binary_cross_entropy_with_logits(zs, yy, reduction="none")).abs().max()
        ctx.value(f"bce_stable_form_err_y{int(yv)}", err)
        assert err < TOL_BCE, err
    ctx.value("tol_bce", TOL_BCE)
    ctx.value("tol_f32", TOL_F32)

    # Multi-label: a float multi-hot target of shape (N, C); the loss averages over all N*C entries.
    ml_logits = torch.tensor([[2.0, -1.0, 0.5, -3.0], [-0.5, 1.5, 2.5, 0.0]])
    ml_target = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]])
    ctx.value("ml_shape", ml_logits.shape)
    ctx.value("ml_target", ml_target)
    ml_loss = nn.BCEWithLogitsLoss()(ml_logits, ml_target)
    ml_by_hand = -(ml_target * F.logsigmoid(ml_logits) + (1 - ml_target) * F.logsigmoid(-ml_logits)).mean()
    ctx.value("ml_loss", ml_loss)
    ctx.value("ml_loss_err", (ml_loss - ml_by_hand).abs())
    ctx.value("ml_n_terms", ml_target.numel())

    # pos_weight on an imbalanced set: the best constant logit (a bias-only model) before and after.
    n_pos, n_neg = 10, 90
    labels = torch.cat([torch.ones(n_pos), torch.zeros(n_neg)])
    pos_weight = torch.tensor([n_neg / n_pos])
    ctx.value("pw_n_pos", n_pos)
    ctx.value("pw_n_neg", n_neg)
    ctx.value("pw_value", pos_weight)

    def best_constant_p(pw):
        """Fit a single logit b to all labels with BCEWithLogitsLoss; return sigmoid(b)."""
        b = torch.zeros(1, requires_grad=True)
        opt = torch.optim.LBFGS([b], lr=1, max_iter=100)

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(b.expand(len(labels)), labels, pos_weight=pw)
            loss.backward()
            return loss

        opt.step(closure)
        return torch.sigmoid(b.detach())

    ctx.value("pw_p_plain", best_constant_p(None))
    ctx.value("pw_p_weighted", best_constant_p(pos_weight))

    # ------------------------------------------------------------------ cross-entropy
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    classes = torch.tensor([0, 1])
    ctx.value("ce_logits_row0", logits[0])
    ctx.value("ce_logits_row1", logits[1])
    ctx.value("ce_targets", classes)
    ctx.value("ce_logits_shape", logits.shape)
    ctx.value("ce_targets_shape", classes.shape)
    ctx.value("ce_targets_dtype", str(classes.dtype).replace("torch.", ""))
    ce = nn.CrossEntropyLoss()(logits, classes)
    ctx.value("ce_loss", ce)
    ctx.value("ce_per_sample", F.cross_entropy(logits, classes, reduction="none"))
    nll = nn.NLLLoss()(F.log_softmax(logits, dim=1), classes)
    ctx.value("ce_nll_err", (ce - nll).abs())
    by_hand = (-logits[torch.arange(2), classes] + torch.logsumexp(logits, dim=1)).mean()
    ctx.value("ce_hand_err", (ce - by_hand).abs())
    ce_soft = F.cross_entropy(logits, F.one_hot(classes, 3).float())  # probability targets
    ctx.value("ce_onehot_err", (ce - ce_soft).abs())
    assert max((ce - nll).abs(), (ce - by_hand).abs(), (ce - ce_soft).abs()) < TOL_F32

    # Segmentation: logits (N, C, H, W), class-index targets (N, H, W).
    seg_logits = torch.randn(2, 5, 4, 4)
    seg_target = torch.randint(0, 5, (2, 4, 4))
    ctx.value("seg_logits_shape", seg_logits.shape)
    ctx.value("seg_target_shape", seg_target.shape)
    ctx.value("seg_loss_is_scalar", F.cross_entropy(seg_logits, seg_target).dim() == 0)

    # Expected loss at initialisation: uniform predictions over C classes give ln C.
    n_classes = 10
    ctx.value("init_C", n_classes)
    ctx.value("init_uniform_loss", F.cross_entropy(torch.zeros(64, n_classes), torch.randint(0, n_classes, (64,))))
    ctx.value("init_ln_C", torch.log(torch.tensor(float(n_classes))))
    head = nn.Linear(32, n_classes)
    x_init = torch.randn(512, 32)
    with torch.no_grad():
        ctx.value("init_fresh_loss", F.cross_entropy(head(x_init), torch.randint(0, n_classes, (512,))))

    # Label smoothing: target (1 - eps) * one_hot + eps / C.
    eps = 0.1
    n_cls3 = logits.shape[1]
    ctx.value("ls_eps", eps)
    ctx.value("ls_C", n_cls3)
    ls_loss = nn.CrossEntropyLoss(label_smoothing=eps)(logits, classes)
    q = (1 - eps) * F.one_hot(classes, n_cls3).float() + eps / n_cls3
    ls_hand = -(q * F.log_softmax(logits, dim=1)).sum(1).mean()
    ctx.value("ls_loss", ls_loss)
    ctx.value("ls_hand_err", (ls_loss - ls_hand).abs())
    ctx.value("ls_q_true", 1 - eps + eps / n_cls3)
    ctx.value("ls_q_other", eps / n_cls3)
    # The loss is minimised by finite logits: margin log(q_true / q_other) between the true class and the rest.
    margin = torch.log(torch.tensor((1 - eps + eps / n_cls3) / (eps / n_cls3)))
    ctx.value("ls_best_margin", margin)
    z_opt = torch.tensor([[margin.item(), 0.0, 0.0]], requires_grad=True)
    F.cross_entropy(z_opt, torch.tensor([0]), label_smoothing=eps).backward()
    ctx.value("ls_grad_at_margin", z_opt.grad.abs().max())
    assert z_opt.grad.abs().max() < TOL_F32
    ctx.value("ls_min_loss", -(q[0] * q[0].log()).sum())  # entropy of the smoothed target
    z_far = torch.tensor([[20.0, 0.0, 0.0]])
    ctx.value("ls_far_margin", 20.0)
    ctx.value("ls_loss_far", F.cross_entropy(z_far, torch.tensor([0]), label_smoothing=eps))
    ctx.value("ls_plain_loss_far", F.cross_entropy(z_far, torch.tensor([0])))

    # Class weights: with reduction="mean" PyTorch divides by the sum of the targets' weights, not N.
    w = torch.tensor([1.0, 4.0, 1.0])
    ctx.value("cw_weight", w)
    cw_loss = nn.CrossEntropyLoss(weight=w)(logits, classes)
    per = F.cross_entropy(logits, classes, reduction="none")
    wt = w[classes]
    ctx.value("cw_loss", cw_loss)
    ctx.value("cw_formula_err", (cw_loss - (wt * per).sum() / wt.sum()).abs())
    ctx.value("cw_naive_mean", (wt * per).mean())
    ctx.value("cw_weight_sum", wt.sum())

    # ------------------------------------------------------------------ KL divergence
    P = torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64)
    Q = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    ctx.value("kl_P", P)
    ctx.value("kl_Q", Q)
    kl_pq = (P * (P / Q).log()).sum()
    kl_qp = (Q * (Q / P).log()).sum()
    ctx.value("kl_pq", kl_pq)
    ctx.value("kl_qp", kl_qp)
    # nn.KLDivLoss(input = log Q (the model), target = P); batchmean gives the true KL per sample.
    kl_mod = nn.KLDivLoss(reduction="batchmean")(Q.log().unsqueeze(0), P.unsqueeze(0))
    ctx.value("kl_module", kl_mod)
    ctx.value("kl_module_err", (kl_mod - kl_pq).abs())
    with warnings.catch_warnings():  # PyTorch warns that "mean" is not the KL; that is the point here
        warnings.simplefilter("ignore")
        kl_mean = nn.KLDivLoss(reduction="mean")(Q.log().unsqueeze(0), P.unsqueeze(0))
    ctx.value("kl_mean_red", kl_mean)
    # Cross-entropy = entropy + KL.
    H_P = -(P * P.log()).sum()
    ce_PQ = F.cross_entropy(Q.log().unsqueeze(0), P.unsqueeze(0))  # probability target P
    ctx.value("kl_H_P", H_P)
    ctx.value("kl_ce_PQ", ce_PQ)
    ctx.value("kl_decomp_err", (ce_PQ - (H_P + kl_pq)).abs())

    # ------------------------------------------------------------------ CTC
    # Alphabet: 0 = blank "-", 1 = "a", 2 = "b". Target "ab", T = 5 frames.
    alphabet = "-ab"
    ctx.value("ctc_T", 5)
    ctx.value("ctc_C", len(alphabet))
    ctx.value("ctc_paths_total", len(alphabet) ** 5)
    target = [1, 2]
    ctx.value("ctc_target_str", "".join(alphabet[k] for k in target))

    def as_str(path):
        return "".join(alphabet[k] for k in path)

    examples = [[1, 1, 0, 2, 2], [1, 0, 0, 0, 2], [0, 1, 2, 2, 0], [1, 0, 1, 2, 2], [1, 1, 1, 1, 2]]
    for i, p in enumerate(examples):
        ctx.value(f"ctc_path{i}", as_str(p))
        ctx.value(f"ctc_path{i}_out", as_str(ctc_collapse(p)))

    p_top = 0.8
    ctx.value("ctc_p_top", p_top)
    good_frames = [1, 1, 0, 2, 2]  # argmax per frame spells "aa-bb" -> "ab"
    bad_frames = [2, 2, 0, 1, 1]  # "bb-aa" -> "ba"
    ctx.value("ctc_good_frames", as_str(good_frames))
    ctx.value("ctc_bad_frames", as_str(bad_frames))
    ctc = nn.CTCLoss(blank=0, reduction="none")
    losses = {}
    for tag, frames in [("good", good_frames), ("bad", bad_frames)]:
        lp = peaked_log_probs(frames, len(alphabet), p_top)
        loss = ctc(lp.unsqueeze(1), torch.tensor([target]), torch.tensor([5]), torch.tensor([2]))
        brute, n_paths = ctc_brute_force(lp, target)
        losses[tag] = loss
        ctx.value(f"ctc_loss_{tag}", loss)
        ctx.value(f"ctc_brute_{tag}", brute)
        ctx.value(f"ctc_brute_err_{tag}", (loss - brute).abs())
        assert (loss - brute).abs() < TOL_F64
    ctx.value("tol_f64", TOL_F64)
    ctx.value("ctc_n_alignments", n_paths)  # same target and T for both: same count
    ctx.value("ctc_prob_good", torch.exp(-losses["good"]))

    # Input length vs target length: too few frames -> infinite loss (no valid alignment).
    lp_rand = torch.randn(5, 1, len(alphabet), dtype=torch.float64).log_softmax(2)

    def ctc_at(t_len, tgt):
        return nn.CTCLoss()(lp_rand[:t_len], torch.tensor([tgt]), torch.tensor([t_len]), torch.tensor([len(tgt)]))

    def show(loss):
        """A CTC loss as text: 'inf' when no alignment exists, else 'finite' (its value depends on the
        random log-probabilities and means nothing here)."""
        return "inf" if torch.isinf(loss) else "finite"

    # (name, T, target): "ab" needs 2 frames; "aa" needs 3 (a blank must separate the two a's).
    for name, t_len, tgt in [
        ("ab_short", 1, [1, 2]),
        ("ab_ok", 2, [1, 2]),
        ("aa_short", 2, [1, 1]),
        ("aa_ok", 3, [1, 1]),
    ]:
        loss = ctc_at(t_len, tgt)
        ctx.value(f"ctc_{name}_T", t_len)
        ctx.value(f"ctc_{name}_loss", show(loss))
        ctx.value(f"ctc_{name}_inf", bool(torch.isinf(loss)))
    zi = nn.CTCLoss(zero_infinity=True)(lp_rand[:1], torch.tensor([[1, 2]]), torch.tensor([1]), torch.tensor([2]))
    ctx.value("ctc_zero_inf_loss", zi)

    # MSE vs BCE on a sigmoid output that is confidently wrong: gradient w.r.t. the logit.
    z_wrong = -6.0
    ctx.value("sig_z", z_wrong)
    for name, fn in [("mse", F.mse_loss), ("bce", F.binary_cross_entropy)]:
        zz = torch.tensor([z_wrong], requires_grad=True)
        fn(torch.sigmoid(zz), torch.ones(1)).backward()
        ctx.value(f"sig_grad_{name}", zz.grad)
    ctx.value("sig_p", torch.sigmoid(torch.tensor(z_wrong)))

    # ------------------------------------------------------------------ reduction
    ctx.value("red_none", F.l1_loss(y_hat, y, reduction="none"))
    ctx.value("red_mean", F.l1_loss(y_hat, y))
    ctx.value("red_sum", F.l1_loss(y_hat, y, reduction="sum"))

    # ------------------------------------------------------------------ figures
    r = rgrid.tolist()
    curves = {
        "MSE  r²": ((rgrid**2).tolist(), (2 * rgrid).tolist()),
        "L1  |r|": (rgrid.abs().tolist(), torch.sign(rgrid).tolist()),
        f"Huber δ={delta:g}": (h1.tolist(), rgrid.clamp(-delta, delta).tolist()),
    }

    def draw_regression(fig):
        ax1, ax2 = fig.subplots(1, 2)
        for i, (label, (vals, ders)) in enumerate(curves.items()):
            ax1.plot(r, vals, color=f"C{i}", label=label)
            ax2.plot(r, ders, color=f"C{i}")
        ax1.set_ylim(0, 6)
        ax1.set_title("loss")
        ax2.set_title("gradient")
        ax2.set_ylim(-4.5, 4.5)
        for ax in (ax1, ax2):
            ax.set_xlabel("residual r = ŷ − y")
        handles, labels = ax1.get_legend_handles_labels()
        ax2.legend(handles, labels, loc="upper left", fontsize="small")  # empty corner of the gradient panel

    ctx.figure("regression_losses", draw_regression, width=5)

    pgrid = torch.linspace(0.005, 0.995, 199)
    bce_y1 = F.binary_cross_entropy(pgrid, torch.ones_like(pgrid), reduction="none").tolist()
    bce_y0 = F.binary_cross_entropy(pgrid, torch.zeros_like(pgrid), reduction="none").tolist()
    pg = pgrid.tolist()

    def draw_bce(fig):
        ax = fig.subplots()
        ax.plot(pg, bce_y1, label="y = 1:  −log p")
        ax.plot(pg, bce_y0, label="y = 0:  −log(1 − p)")
        ax.set_xlabel("predicted probability p")
        ax.set_ylabel("BCE loss")
        ax.set_ylim(0, 5)
        ax.set_title("Binary cross-entropy")
        ax.legend(loc="upper center")

    ctx.figure("bce_curve", draw_bce)


# --------------------------------------------------------------------------------------------
# Focal loss (Lin et al., 2017). Shown on a card verbatim (inspect.getsource): keep lines short.
# --------------------------------------------------------------------------------------------
def focal(z, y, g=2.0, a=0.25):
    bce = F.binary_cross_entropy_with_logits
    ce = bce(z, y, reduction="none")
    p_t = torch.exp(-ce)  # prob. of the truth
    a_t = a * y + (1 - a) * (1 - y)
    fl = a_t * (1 - p_t) ** g * ce
    return fl.mean()


def focal_by_hand(p_t, gamma, alpha_t=1.0):
    """FL(p_t) = -alpha_t (1 - p_t)^gamma log p_t, straight from the formula."""
    return -alpha_t * (1 - p_t) ** gamma * torch.log(p_t)


def focal_loss_section(ctx):
    gamma = 2.0
    ctx.value("fl_gamma", gamma)
    # Stated probabilities of the true class: an easy, a medium and a hard example.
    pts = torch.tensor([0.9, 0.968, 0.5, 0.1], dtype=torch.float64)
    ce = -torch.log(pts)
    fl = focal_by_hand(pts, gamma)
    ctx.value("fl_pts", pts)
    ctx.value("fl_ce", ce)
    ctx.value("fl_fl", fl)
    ctx.value("fl_ratio", ce / fl)  # how many times smaller FL is than CE
    for i, tag in enumerate(["easy", "vee", "mid", "hard"]):
        ctx.value(f"fl_pt_{tag}", pts[i])
        ctx.value(f"fl_ce_{tag}", ce[i])
        ctx.value(f"fl_fl_{tag}", fl[i])
        ctx.value(f"fl_ratio_{tag}", ce[i] / fl[i])
    # gamma = 0 is plain cross-entropy.
    ctx.value("fl_gamma0_err", (focal_by_hand(pts, 0.0) - ce).abs().max())
    assert (focal_by_hand(pts, 0.0) - ce).abs().max() < TOL_F64

    # Dense detection: very many easy background anchors, a few hard objects (no alpha).
    n_easy, pt_easy, n_hard, pt_hard = 100_000, 0.99, 10, 0.3
    ctx.value("fl_n_easy", n_easy)
    ctx.value("fl_pt_bg", pt_easy)
    ctx.value("fl_n_hard", n_hard)
    ctx.value("fl_pt_obj", pt_hard)
    for name, g in [("ce", 0.0), ("fl", gamma)]:
        easy = n_easy * focal_by_hand(torch.tensor(pt_easy, dtype=torch.float64), g)
        hard = n_hard * focal_by_hand(torch.tensor(pt_hard, dtype=torch.float64), g)
        ctx.value(f"fl_share_easy_{name}", easy / (easy + hard))

    # The module-style implementation (logits, alpha-balanced) against the formula.
    z = torch.tensor([2.2, -0.4, 1.0, -3.0])
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    p = torch.sigmoid(z)
    p_t = torch.where(y == 1, p, 1 - p)
    alpha = 0.25
    a_t = torch.where(y == 1, torch.tensor(alpha), torch.tensor(1 - alpha))
    mine = focal(z, y, gamma, alpha)
    ref = focal_by_hand(p_t, gamma, a_t).mean()
    ctx.value("fl_code_err", (mine - ref).abs())
    assert (mine - ref).abs() < TOL_F32
    ctx.value("fl_src", inspect.getsource(focal).strip())
    ctx.value("fl_alpha", alpha)

    # Figure: FL vs p_t for several gamma (as in Lin et al.'s Figure 1).
    grid = torch.linspace(0.01, 1.0, 200, dtype=torch.float64)
    gammas = [0.0, 0.5, 1.0, 2.0, 5.0]
    curves = {g: focal_by_hand(grid, g).tolist() for g in gammas}
    xs = grid.tolist()

    def draw(fig):
        ax = fig.subplots()
        for i, g in enumerate(gammas):
            label = "γ = 0 (cross-entropy)" if g == 0 else f"γ = {g:g}"
            ax.plot(xs, curves[g], color=f"C{i}", label=label)
        ax.axvspan(0.6, 1.0, color="C7", alpha=0.12)
        ax.text(0.8, 1.5, "well-classified", ha="center", fontsize="small")
        ax.set_ylim(0, 4)
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability of the true class, $p_t$")
        ax.set_ylabel("loss")
        ax.set_title("Focal loss $-(1-p_t)^\\gamma \\log p_t$")
        ax.legend(loc="upper right", fontsize="small")

    ctx.figure("focal_curves", draw)


# --------------------------------------------------------------------------------------------
# Triplet, margin-ranking, multi-class hinge and contrastive losses.
# --------------------------------------------------------------------------------------------
def margin_losses(ctx):
    # One anchor and positive; three negatives: semi-hard, easy, hard.
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[1.0, 0.5]])
    negs = {"semi": [1.8, 0.0], "easy": [3.0, 0.0], "hard": [0.7, 0.0]}
    margin = 1.0
    ctx.value("tr_a", a[0])
    ctx.value("tr_p", p[0])
    ctx.value("tr_margin", margin)
    d_ap = (a - p).norm()
    ctx.value("tr_d_ap", d_ap)
    errs = []
    for tag, n_ in negs.items():
        n = torch.tensor([n_])
        d_an = (a - n).norm()
        by_hand = (d_ap - d_an + margin).clamp(min=0)
        module = nn.TripletMarginLoss(margin=margin)(a, p, n)  # p=2 norm, eps=1e-6 inside the distance
        errs.append((module - by_hand).abs())
        ctx.value(f"tr_n_{tag}", n[0])
        ctx.value(f"tr_d_an_{tag}", d_an)
        ctx.value(f"tr_loss_{tag}", by_hand)
        # Gradient reaching the anchor: zero for a triplet already satisfied by the margin.
        aa = a.clone().requires_grad_(True)
        nn.TripletMarginLoss(margin=margin)(aa, p, n).backward()
        ctx.value(f"tr_grad_{tag}", aa.grad.norm())
    ctx.value("tr_module_err", max(errs))
    assert max(errs) < TOL_TRIPLET
    ctx.value("tol_triplet", TOL_TRIPLET)

    # MarginRankingLoss: x1 should outrank x2 (y = 1) by at least the margin.
    x1 = torch.tensor([0.8, 0.4, 0.6])
    x2 = torch.tensor([0.3, 0.5, 0.55])
    yy = torch.ones(3)
    m_rank = 0.1
    per = nn.MarginRankingLoss(margin=m_rank, reduction="none")(x1, x2, yy)
    hand = (-yy * (x1 - x2) + m_rank).clamp(min=0)
    assert (per - hand).abs().max() < TOL_F32
    ctx.value("mr_x1", x1)
    ctx.value("mr_x2", x2)
    ctx.value("mr_margin", m_rank)
    ctx.value("mr_per", per)
    ctx.value("mr_mean", per.mean())

    # MultiMarginLoss (multi-class hinge): sum over wrong classes, divided by the number of classes C.
    z = torch.tensor([[2.0, 1.5, -1.0]])
    t = torch.tensor([0])
    mm = nn.MultiMarginLoss(margin=1.0)(z, t)
    terms = (1.0 - z[0, 0] + z[0, 1:]).clamp(min=0)
    ctx.value("mm_z", z[0])
    ctx.value("mm_terms", terms)
    ctx.value("mm_sum", terms.sum())
    ctx.value("mm_C", z.shape[1])
    ctx.value("mm_loss", mm)
    ctx.value("mm_over_c_minus_1", terms.sum() / (z.shape[1] - 1))
    assert (mm - terms.sum() / z.shape[1]).abs() < TOL_F32

    # Contrastive (pair) loss, Hadsell et al. 2006: y d^2 + (1 - y) max(0, m - d)^2 (y = 1: similar pair).
    m_c = 1.0
    d = torch.tensor([0.3, 0.3, 0.6, 1.4])
    same = torch.tensor([1.0, 0.0, 0.0, 0.0])
    ctx.value("ct_d", d)
    ctx.value("ct_margin", m_c)
    terms = same * d**2 + (1 - same) * (m_c - d).clamp(min=0) ** 2
    ctx.value("ct_terms", terms)
    ctx.value("ct_d_sim", d[0])
    ctx.value("ct_d_dis", d[1:])
    ctx.value("ct_sim", terms[0])
    ctx.value("ct_dis", terms[1:])


TOL_TRIPLET = 1e-5  # TripletMarginLoss adds eps = 1e-6 inside the distance, so it differs slightly


# --------------------------------------------------------------------------------------------
# Dice loss on toy masks.
# --------------------------------------------------------------------------------------------
def soft_dice_loss(p, g, eps=1.0):
    """1 - (2 sum(p g) + eps) / (sum p + sum g + eps), on probabilities p and a 0/1 mask g."""
    inter = (p * g).sum()
    return 1 - (2 * inter + eps) / (p.sum() + g.sum() + eps)


def dice_section(ctx):
    side = 6
    truth = torch.zeros(side, side)
    truth[1:4, 1:4] = 1.0  # a 3x3 object
    pred = torch.zeros(side, side)
    pred[1:4, 2:5] = 1.0  # the same square, one pixel to the right
    inter = (truth * pred).sum()
    union = ((truth + pred) > 0).float().sum()
    dice = 2 * inter / (truth.sum() + pred.sum())
    iou = inter / union
    ctx.value("dc_side", side)
    ctx.value("dc_obj", 3)
    ctx.value("dc_inter", inter)
    ctx.value("dc_union", union)
    ctx.value("dc_area", truth.sum())
    ctx.value("dc_dice", dice)
    ctx.value("dc_loss", 1 - dice)
    ctx.value("dc_iou", iou)
    ctx.value("dc_dice_from_iou", 2 * iou / (1 + iou))
    assert abs(dice - 2 * iou / (1 + iou)) < TOL_F32
    ctx.value("dc_pixel_acc", (truth == pred).float().mean())

    # A tiny object on a big background: a model that predicts "background" everywhere.
    big = 16
    g = torch.zeros(big, big)
    g[7:9, 7:9] = 1.0  # 4 foreground pixels of 256
    p_lazy = torch.full((big, big), 0.02)
    p_good = torch.where(g == 1, torch.tensor(0.6), torch.tensor(0.1))
    thr = 0.5
    ctx.value("dcb_thr", thr)
    ctx.value("dcb_side", big)
    ctx.value("dcb_fg", int(g.sum()))
    ctx.value("dcb_fg_frac", g.mean())
    ctx.value("dcb_p_lazy", 0.02)
    ctx.value("dcb_p_good_fg", 0.6)
    ctx.value("dcb_p_good_bg", 0.1)
    for tag, pr in [("lazy", p_lazy), ("good", p_good)]:
        ctx.value(f"dcb_bce_{tag}", F.binary_cross_entropy(pr, g))
        ctx.value(f"dcb_dice_{tag}", soft_dice_loss(pr, g, eps=0.0))
        ctx.value(f"dcb_acc_{tag}", ((pr >= thr).float() == g).float().mean())
