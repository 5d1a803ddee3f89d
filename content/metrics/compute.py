"""Evaluation metrics, implemented in plain PyTorch on one small fixed example.

No sklearn: every metric is written out below and cross-checked a second way (ROC-AUC by the
trapezoid rule and by counting ranked pairs, average precision by the step sum and by precision at
each positive's rank, the confusion matrix by bincount and by a loop).
"""

import inspect
import math

import torch
import torch.nn.functional as F

# The running example: 20 scored examples, 8 positives and 12 negatives (no tied scores).
POS_SCORES = [0.95, 0.90, 0.85, 0.70, 0.60, 0.45, 0.40, 0.20]
NEG_SCORES = [0.80, 0.65, 0.55, 0.50, 0.35, 0.30, 0.25, 0.15, 0.12, 0.10, 0.08, 0.05]


def confusion_counts(y, pred):  # y, pred: 0/1 tensors
    cm = torch.bincount(2 * y + pred, minlength=4)
    tn, fp, fn, tp = cm.tolist()  # index 2*y + pred
    return tp, fp, fn, tn


def binary_metrics(scores, y, thr=0.5):
    pred = (scores >= thr).long()
    tp = ((pred == 1) & (y == 1)).sum()
    fp = ((pred == 1) & (y == 0)).sum()
    fn = ((pred == 0) & (y == 1)).sum()
    acc = (pred == y).float().mean()
    prec = tp / (tp + fp).clamp(min=1)
    rec = tp / (tp + fn).clamp(min=1)
    f1 = 2 * prec * rec / (prec + rec)
    return acc, prec, rec, f1


def confusion_loop(y, pred):
    """The same counts with an explicit loop (cross-check)."""
    tp = fp = fn = tn = 0
    for yi, pi in zip(y.tolist(), pred.tolist(), strict=True):
        tp += yi == 1 and pi == 1
        fp += yi == 0 and pi == 1
        fn += yi == 1 and pi == 0
        tn += yi == 0 and pi == 0
    return tp, fp, fn, tn


def safe_div(a, b):
    """a / b, or 0.0 when b == 0 (the usual convention for precision with no predicted positives)."""
    return a / b if b else 0.0


def prf(tp, fp, fn):
    precision = safe_div(tp, tp + fp)
    recall = safe_div(tp, tp + fn)
    return precision, recall, safe_div(2 * precision * recall, precision + recall)


def roc_points(scores, y):
    """(FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1)."""
    order = torch.argsort(scores, descending=True)
    s, ys = scores[order], y[order].double()
    tps, fps = torch.cumsum(ys, 0), torch.cumsum(1 - ys, 0)
    last = torch.ones_like(s, dtype=torch.bool)  # keep the last index of each run of equal scores
    last[:-1] = s[1:] != s[:-1]
    tps, fps = tps[last], fps[last]
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, fps / fps[-1]]), torch.cat([zero, tps / tps[-1]]), s[last]


def auc_pairs(scores, y):  # P(pos outranks neg), ties 1/2
    pos, neg = scores[y == 1], scores[y == 0]
    diff = pos[:, None] - neg[None, :]  # every (pos, neg) pair
    wins = (diff > 0).double() + 0.5 * (diff == 0).double()
    return wins.mean()


def pr_points(scores, y):
    """(recall, precision) after each distinct threshold, highest threshold first."""
    order = torch.argsort(scores, descending=True)
    ys = y[order].double()
    tps = torch.cumsum(ys, 0)
    k = torch.arange(1, len(ys) + 1, dtype=torch.float64)
    return tps / ys.sum(), tps / k


def average_precision(scores, y):
    """AP = sum_n (R_n - R_{n-1}) P_n (the step-wise area under the PR curve; no ties here)."""
    recall, precision = pr_points(scores, y)
    prev = torch.cat([torch.zeros(1, dtype=torch.float64), recall[:-1]])
    return ((recall - prev) * precision).sum()


def ap_by_rank(scores, y):
    """AP as the mean, over positives, of the precision at that positive's rank (cross-check)."""
    order = torch.argsort(scores, descending=True)
    ys = y[order]
    ranks = torch.nonzero(ys).squeeze(1) + 1  # 1-based ranks of the positives
    hits = torch.arange(1, len(ranks) + 1, dtype=torch.float64)
    return (hits / ranks).mean()


def topk_accuracy(logits, target, k):
    topk = logits.topk(k, dim=1).indices  # (N, k)
    return (topk == target[:, None]).any(1).float().mean()


def compute(ctx):
    scores = torch.tensor(POS_SCORES + NEG_SCORES, dtype=torch.float64)
    y = torch.tensor([1] * len(POS_SCORES) + [0] * len(NEG_SCORES))
    n, n_pos = len(y), int(y.sum())
    ctx.value("pos_scores", POS_SCORES)
    ctx.value("neg_scores", NEG_SCORES)
    ctx.value("n", n)
    ctx.value("n_pos", n_pos)
    ctx.value("n_neg", n - n_pos)
    ctx.value("prevalence", n_pos / n)

    # ------------------------------------------------------------------ confusion matrix at 0.5
    thr = 0.5
    ctx.value("thr", thr)
    pred = (scores >= thr).long()
    tp, fp, fn, tn = confusion_counts(y, pred)
    ctx.value("cm_loop_agrees", confusion_loop(y, pred) == (tp, fp, fn, tn))
    for name, v in [("tp", tp), ("fp", fp), ("fn", fn), ("tn", tn)]:
        ctx.value(name, v)
    precision, recall, f1 = prf(tp, fp, fn)
    ctx.value("pred_pos", tp + fp)
    ctx.value("precision", precision)
    ctx.value("recall", recall)
    ctx.value("f1", f1)
    ctx.value("f1_count_form", 2 * tp / (2 * tp + fp + fn))
    ctx.value("accuracy", (tp + tn) / n)
    ctx.value("accuracy_tensor", (pred == y).float().mean())
    specificity = tn / (tn + fp)
    ctx.value("specificity", specificity)
    ctx.value("alpha", fp / (fp + tn))  # type I error rate = false-positive rate
    ctx.value("beta", fn / (fn + tp))  # type II error rate = false-negative rate
    ctx.value("power", 1 - fn / (fn + tp))
    ctx.value("cm_code", inspect.getsource(confusion_counts).strip())
    # The same four metrics from tensors in one function, checked against the counts above.
    bm = binary_metrics(scores, y, thr)
    want = ((tp + tn) / n, precision, recall, f1)
    assert all(abs(float(a) - b) < 1e-6 for a, b in zip(bm, want, strict=True))
    ctx.value("bm_src", inspect.getsource(binary_metrics).strip())
    ctx.value("bm_values", [float(v) for v in bm])

    # Precision / recall at a stricter and a looser threshold.
    for tag, t in [("hi", 0.75), ("lo", 0.3)]:
        p_, r_, _ = prf(*confusion_counts(y, (scores >= t).long())[:3])
        ctx.value(f"thr_{tag}", t)
        ctx.value(f"precision_{tag}", p_)
        ctx.value(f"recall_{tag}", r_)

    # Best F1 over all thresholds (in practice: on a validation set).
    best = max((prf(*confusion_counts(y, (scores >= t).long())[:3])[2], t.item()) for t in scores)
    ctx.value("best_f1", best[0])
    ctx.value("best_f1_thr", best[1])

    # F1 is a harmonic mean: it punishes a lopsided precision/recall pair.
    p_l, r_l = 1.0, 0.02
    ctx.value("lop_p", p_l)
    ctx.value("lop_r", r_l)
    ctx.value("lop_f1", 2 * p_l * r_l / (p_l + r_l))
    ctx.value("lop_arith", (p_l + r_l) / 2)

    # ------------------------------------------------------------------ accuracy on imbalanced data
    n_big, pos_rate = 1000, 0.01
    y_big = torch.zeros(n_big, dtype=torch.long)
    y_big[: int(n_big * pos_rate)] = 1
    always_neg = torch.zeros_like(y_big)
    tp_b, fp_b, fn_b, _ = confusion_counts(y_big, always_neg)
    ctx.value("imb_n", n_big)
    ctx.value("imb_pos", int(y_big.sum()))
    ctx.value("imb_acc", (always_neg == y_big).float().mean())
    ctx.value("imb_recall", safe_div(tp_b, tp_b + fn_b))
    ctx.value("imb_f1", prf(tp_b, fp_b, fn_b)[2])
    ctx.value("imb_pred_pos", tp_b + fp_b)  # 0: precision is 0/0

    # ------------------------------------------------------------------ ROC and AUC
    fpr, tpr, _ = roc_points(scores, y)
    auc_trap = torch.trapezoid(tpr, fpr)
    auc_rank = auc_pairs(scores, y)
    ctx.value("auc_trap", auc_trap)
    ctx.value("auc_rank", auc_rank)
    ctx.value("auc_diff", (auc_trap - auc_rank).abs())
    auc_tol = 1e-12
    assert (auc_trap - auc_rank).abs() < auc_tol
    ctx.value("auc_tol", auc_tol)
    pos, neg = scores[y == 1], scores[y == 0]
    ctx.value("auc_pairs_won", int((pos[:, None] > neg[None, :]).sum()))
    ctx.value("auc_pairs_total", pos.numel() * neg.numel())
    # AUC depends only on the ranking: any strictly increasing transform leaves it unchanged.
    ctx.value("auc_squared", auc_pairs(scores**2, y))
    ctx.value("auc_logit", auc_pairs(torch.logit(scores), y))
    random_n = 4000
    ctx.value("random_n", random_n)
    ctx.value("auc_random_big", auc_pairs(torch.rand(random_n, dtype=torch.float64), torch.arange(random_n) % 2))
    ctx.value("auc_flipped", auc_pairs(-scores, y))
    # The ROC point of the 0.5 threshold.
    ctx.value("roc_thr_fpr", fp / (fp + tn))
    ctx.value("roc_thr_tpr", tp / (tp + fn))

    # ------------------------------------------------------------------ PR curve and AP
    rec, prec = pr_points(scores, y)
    ap = average_precision(scores, y)
    ctx.value("ap", ap)
    ctx.value("ap_rank", ap_by_rank(scores, y))
    ctx.value("ap_diff", (ap - ap_by_rank(scores, y)).abs())

    # Imbalance: repeat every negative 10 times. The ranking quality is the same ...
    rep = 10
    scores_imb = torch.cat([pos, neg.repeat(rep)])
    y_imb = torch.cat([torch.ones(len(pos), dtype=torch.long), torch.zeros(len(neg) * rep, dtype=torch.long)])
    ctx.value("rep", rep)
    ctx.value("rep_n_neg", int((y_imb == 0).sum()))
    ctx.value("rep_auc", auc_pairs(scores_imb, y_imb))
    ctx.value("rep_ap", average_precision(scores_imb, y_imb))
    ctx.value("rep_prevalence", y_imb.float().mean())
    tp_r, fp_r, _, tn_r = confusion_counts(y_imb, (scores_imb >= thr).long())
    ctx.value("rep_fp", fp_r)
    ctx.value("rep_precision", tp_r / (tp_r + fp_r))
    ctx.value("rep_fpr", fp_r / (fp_r + tn_r))
    rec_imb, prec_imb = pr_points(scores_imb, y_imb)

    # ------------------------------------------------------------------ regression metrics
    yt = torch.tensor([2.0, 4.0, 6.0, 8.0, 10.0], dtype=torch.float64)
    yp = torch.tensor([2.5, 3.5, 6.0, 9.0, 7.0], dtype=torch.float64)
    err = yp - yt
    ctx.value("reg_y", yt)
    ctx.value("reg_pred", yp)
    mae = err.abs().mean()
    rmse = err.pow(2).mean().sqrt()
    ss_res, ss_tot = err.pow(2).sum(), (yt - yt.mean()).pow(2).sum()
    r2 = 1 - ss_res / ss_tot
    ctx.value("reg_mae", mae)
    ctx.value("reg_rmse", rmse)
    ctx.value("reg_r2", r2)
    ctx.value("reg_r2_via_var", 1 - err.pow(2).mean() / yt.var(unbiased=False))
    ctx.value("reg_max_err", err.abs().max())
    ctx.value("reg_r2_mean_pred", 1 - (yt.mean() - yt).pow(2).sum() / ss_tot)
    bad = torch.full_like(yt, 12.0)
    ctx.value("reg_bad_const", 12.0)
    ctx.value("reg_r2_bad", 1 - (bad - yt).pow(2).sum() / ss_tot)

    # ------------------------------------------------------------------ multi-class: macro vs micro, top-k
    # 3 classes, class 2 is rare; the model is good on 0 and 1 and bad on 2.
    y3 = torch.tensor([0] * 6 + [1] * 5 + [2] * 3)
    p3 = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 2, 0, 1])  # 6 of class 0, 5 of class 1, 3 of class 2
    k3 = 3
    cm3 = torch.bincount(k3 * y3 + p3, minlength=k3 * k3).reshape(k3, k3)  # rows = true, cols = predicted
    cm3_loop = torch.zeros(k3, k3, dtype=torch.long)
    for t, p in zip(y3.tolist(), p3.tolist(), strict=True):
        cm3_loop[t, p] += 1
    ctx.value("mc_cm_agrees", bool((cm3 == cm3_loop).all()))
    tp3 = cm3.diag().double()
    prec3 = tp3 / cm3.sum(0)
    rec3 = tp3 / cm3.sum(1)
    f1_3 = 2 * prec3 * rec3 / (prec3 + rec3)
    ctx.value("mc_n", len(y3))
    ctx.value("mc_support", cm3.sum(1))
    ctx.value("mc_f1_per_class", f1_3)
    ctx.value("mc_macro_f1", f1_3.mean())
    micro_p = tp3.sum() / cm3.sum()
    ctx.value("mc_micro_f1", micro_p)  # micro P = micro R = micro F1 = accuracy for single-label
    ctx.value("mc_accuracy", (y3 == p3).float().mean())
    ctx.value("mc_weighted_f1", (f1_3 * cm3.sum(1)).sum() / cm3.sum())
    # Weighted F1 need not lie between macro and micro: support (8, 2), half of class 0 called class 1.
    cm2 = torch.tensor([[4, 4], [0, 2]], dtype=torch.float64)  # rows true, columns predicted
    tp2 = cm2.diag()
    f1_2 = 2 * tp2 / (cm2.sum(0) + cm2.sum(1))
    ctx.value("wf_cm", cm2.long().tolist())
    ctx.value("wf_support", cm2.sum(1).long())
    ctx.value("wf_f1_per_class", f1_2)
    ctx.value("wf_macro", f1_2.mean())
    ctx.value("wf_micro", tp2.sum() / cm2.sum())
    ctx.value("wf_weighted", (f1_2 * cm2.sum(1)).sum() / cm2.sum())
    assert (f1_2 * cm2.sum(1)).sum() / cm2.sum() > max(f1_2.mean(), tp2.sum() / cm2.sum())

    # A weak 10-class model: random logits plus a bonus on the true class.
    n_top, c_top, bonus = 10, 10, 1.5
    target = torch.randint(0, c_top, (n_top,))
    logits = torch.randn(n_top, c_top) + bonus * torch.nn.functional.one_hot(target, c_top)
    ctx.value("top_n", n_top)
    ctx.value("top_c", c_top)
    k_top = 5
    ctx.value("top_k", k_top)
    top1 = topk_accuracy(logits, target, 1)
    top5 = topk_accuracy(logits, target, k_top)
    # Cross-check: the target is in the top k iff fewer than k logits beat it.
    rank = (logits > logits.gather(1, target[:, None])).sum(1)  # 0 = best
    ctx.value("top1", top1)
    ctx.value("top5", top5)
    ctx.value("top1_argmax", (logits.argmax(1) == target).float().mean())
    ctx.value("top5_by_rank", (rank < k_top).float().mean())
    ctx.value("top_ranks", rank)
    ctx.value("topk_code", inspect.getsource(topk_accuracy).strip())
    ctx.value("auc_code", inspect.getsource(auc_pairs).strip())

    # ------------------------------------------------------------------ per-batch averaging is wrong
    # Four batches of 5 (indices into the example): only easy negatives / two sure hits /
    # a mixed batch / the hard positives. The first has no positives and no predicted positives.
    perm = torch.tensor([12, 13, 14, 15, 16, 17, 18, 19, 0, 1, 2, 3, 4, 8, 9, 5, 6, 7, 10, 11])
    bs = 5
    batch_f1, totals = [], [0, 0, 0]
    for i in range(0, n, bs):
        idx = perm[i : i + bs]
        tp_i, fp_i, fn_i, _ = confusion_counts(y[idx], pred[idx])
        batch_f1.append(prf(tp_i, fp_i, fn_i)[2])
        totals = [a + b for a, b in zip(totals, (tp_i, fp_i, fn_i), strict=True)]
    ctx.value("batch_size", bs)
    ctx.value("batch_f1s", batch_f1)
    ctx.value("batch_f1_mean", sum(batch_f1) / len(batch_f1))
    ctx.value("batch_f1_global", prf(*totals)[2])
    ctx.value("batch_global_equals_full", abs(prf(*totals)[2] - f1) < 1e-12)

    # ------------------------------------------------------------------ figures
    fpr_l, tpr_l = fpr.tolist(), tpr.tolist()

    def draw_roc(fig):
        ax = fig.subplots()
        ax.plot(fpr_l, tpr_l, drawstyle="default", marker="o", ms=3, label=f"model, AUC = {auc_trap:.3f}")
        ax.fill_between(fpr_l, tpr_l, alpha=0.15, color="C0")
        ax.plot([0, 1], [0, 1], "--", color="C1", label="random, AUC = 0.5")
        ax.plot([fp / (fp + tn)], [tp / (tp + fn)], "s", color="C3", ms=7, label=f"threshold {thr:g}")
        ax.set_xlabel("false-positive rate (1 − specificity)")
        ax.set_ylabel("true-positive rate (recall)")
        ax.set_title("ROC curve")
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize="small")

    ctx.figure("roc_curve", draw_roc, height=3.6)

    def draw_pr(fig):
        ax = fig.subplots()
        # AP uses precision P_n on the recall interval (R_{n-1}, R_n]: a "pre" step from recall 0.
        ax.step(
            [0.0, *rec.tolist()],
            [prec[0].item(), *prec.tolist()],
            where="pre",
            lw=4,
            alpha=0.6,
            label=f"original, AP {ap:.3f}",
        )
        ax.step(
            [0.0, *rec_imb.tolist()],
            [prec_imb[0].item(), *prec_imb.tolist()],
            where="pre",
            label=f"negatives ×{rep}, AP {float(average_precision(scores_imb, y_imb)):.3f}",
        )
        ax.axhline(n_pos / n, ls="--", color="C0", alpha=0.6)
        ax.axhline(float(y_imb.float().mean()), ls="--", color="C1", alpha=0.6)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_ylim(0, 1.4)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_title("PR curve (dashed: prevalence)")
        ax.legend(loc="upper right", fontsize="small")  # sits in the headroom above precision 1

    ctx.figure("pr_curve", draw_pr, height=3.2)

    def draw_scores(fig):
        ax = fig.subplots()
        ax.axvspan(thr, 1.0, alpha=0.12, color="C2")
        ax.axvline(thr, color="C2", lw=2)
        ax.scatter(pos.tolist(), [1] * len(pos), s=45, color="C0", label="positive", zorder=3)
        ax.scatter(neg.tolist(), [0] * len(neg), s=45, color="C1", marker="s", label="negative", zorder=3)
        kw = {"ha": "center", "fontsize": "medium"}
        ax.text((thr + 1) / 2, 1.3, f"TP = {tp}", **kw)
        ax.text(thr / 2, 1.3, f"FN = {fn}", **kw)
        ax.text((thr + 1) / 2, -0.45, f"FP = {fp}", **kw)
        ax.text(thr / 2, -0.45, f"TN = {tn}", **kw)
        ax.text(thr + 0.01, 0.5, f"predict positive\n(score ≥ {thr:g})", fontsize="small", color="C2")
        ax.set_yticks([0, 1], ["neg", "pos"])
        ax.set_ylim(-0.8, 1.7)
        ax.set_xlim(0, 1)
        ax.set_xlabel("model score")
        ax.set_title(f"{n} scored examples")

    ctx.figure("scores_threshold", draw_scores, height=2.8)

    # Added later; they re-seed, so the values above do not depend on them.
    calibration(ctx)
    ranking(ctx)


# --------------------------------------------------------------------------------------------
# Calibration: ECE, reliability diagram, temperature scaling (Guo et al., 2017).
# --------------------------------------------------------------------------------------------
def ece(conf, ok, n=15):  # ok: float 0/1
    e = torch.linspace(0, 1, n + 1)
    b = torch.bucketize(conf, e[1:-1])
    sum_c = torch.bincount(b, conf, n)
    sum_a = torch.bincount(b, ok, n)
    # per bin: n_b * |conf_b - acc_b|
    gap = (sum_c - sum_a).abs()
    return gap.sum() / len(conf)


def ece_loop(conf, correct, n_bins):
    """The same ECE with a plain Python loop over predictions (cross-check)."""
    bins = [[] for _ in range(n_bins)]
    for c, ok in zip(conf.tolist(), correct.tolist(), strict=True):
        i = min(n_bins - 1, sum(c > j / n_bins for j in range(1, n_bins)))
        bins[i].append((c, float(ok)))
    total = len(conf)
    out = 0.0
    for members in bins:
        if members:
            mean_c = sum(c for c, _ in members) / len(members)
            mean_a = sum(a for _, a in members) / len(members)
            out += len(members) / total * abs(mean_c - mean_a)
    return out


def gaussian_classes(n, gen, d=8, k=4):
    """k classes, each a unit Gaussian around its own random centre in d dimensions (fixed centres)."""
    centres = torch.randn(k, d, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, k, (n,), generator=gen)
    return centres[y] + torch.randn(n, d, generator=gen), y


def calibration(ctx):
    tol = 1e-6
    ctx.value("cal_tol", tol)
    # A worked ECE on ten stated predictions, two bins.
    conf = torch.tensor([0.95, 0.9, 0.9, 0.85, 0.8, 0.7, 0.65, 0.6, 0.55, 0.55], dtype=torch.float64)
    correct = torch.tensor([1, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    hi = conf >= 0.75
    ctx.value("ew_conf", conf)
    ctx.value("ew_correct", correct)
    ctx.value("ew_split", 0.75)
    ctx.value("ew_hi_conf", conf[hi].mean())
    ctx.value("ew_hi_acc", correct[hi].double().mean())
    ctx.value("ew_lo_conf", conf[~hi].mean())
    ctx.value("ew_lo_acc", correct[~hi].double().mean())
    ctx.value("ew_hi_n", int(hi.sum()))
    ctx.value("ew_lo_n", int((~hi).sum()))
    ew = (hi.double().mean() * (conf[hi].mean() - correct[hi].double().mean()).abs()
          + (~hi).double().mean() * (conf[~hi].mean() - correct[~hi].double().mean()).abs())
    ctx.value("ew_ece", ew)
    ctx.value("ew_hi_gap", (conf[hi].mean() - correct[hi].double().mean()).abs())
    ctx.value("ew_lo_gap", (conf[~hi].mean() - correct[~hi].double().mean()).abs())
    # Four equal bins on [0, 1] leave the two lower ones empty: the function gives the same number.
    assert abs(ece(conf, correct.double(), 4).item() - ew.item()) < tol
    assert abs(ece_loop(conf, correct, 4) - ew.item()) < tol
    ctx.value("ew_accuracy", correct.double().mean())
    ctx.value("ew_mean_conf", conf.mean())

    # A real, overfit classifier: an MLP on four Gaussian classes in 8-D, trained to ~zero train loss.
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    n_tr, n_val, n_te = 300, 1000, 3000
    xtr, ytr = gaussian_classes(n_tr, gen)
    xva, yva = gaussian_classes(n_val, gen)
    xte, yte = gaussian_classes(n_te, gen)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    steps = 100
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(net(xtr), ytr).backward()
        opt.step()
    with torch.no_grad():
        z_tr, z_va, z_te = net(xtr), net(xva), net(xte)
    # Temperature scaling: one scalar T > 0 (fitted as log T) minimising validation NLL.
    log_t = torch.zeros(1, requires_grad=True)
    lbfgs = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure():
        lbfgs.zero_grad()
        loss = F.cross_entropy(z_va / log_t.exp(), yva)
        loss.backward()
        return loss

    lbfgs.step(closure)
    temp = log_t.exp().item()
    # The same fit on the training set, where the overfit network is confident and right.
    log_t_tr = torch.zeros(1, requires_grad=True)
    lbfgs_tr = torch.optim.LBFGS([log_t_tr], lr=0.1, max_iter=100)

    def closure_tr():
        lbfgs_tr.zero_grad()
        loss = F.cross_entropy(z_tr / log_t_tr.exp(), ytr)
        loss.backward()
        return loss

    lbfgs_tr.step(closure_tr)
    temp_tr = log_t_tr.exp().item()
    n_bins = 15

    def summary(z, y):
        p = z.softmax(1)
        c, pred = p.max(1)
        ok = pred == y
        return c, ok, {
            "acc": ok.float().mean().item(),
            "conf": c.mean().item(),
            "ece": ece(c, ok.float(), n_bins).item(),
            "nll": F.cross_entropy(z, y).item(),
        }

    ctx.value("cal_n_train", n_tr)
    ctx.value("cal_n_val", n_val)
    ctx.value("cal_n_test", n_te)
    ctx.value("cal_steps", steps)
    ctx.value("cal_bins", n_bins)
    ctx.value("cal_T", temp)
    ctx.value("cal_T_train", temp_tr)
    _, _, s_tr = summary(z_tr, ytr)
    ctx.value("cal_train_acc", s_tr["acc"])
    ctx.value("cal_train_nll", s_tr["nll"])
    c_before, ok_before, before = summary(z_te, yte)
    c_after, ok_after, after = summary(z_te / temp, yte)
    _, _, wrong_t = summary(z_te / temp_tr, yte)
    ctx.value("cal_ece_train_t", wrong_t["ece"])
    for tag, st in [("before", before), ("after", after)]:
        for key, v in st.items():
            ctx.value(f"cal_{key}_{tag}", v)
    ctx.value("cal_pred_changed", int((z_te.argmax(1) != (z_te / temp).argmax(1)).sum()))
    # ECE: the tensor version against a plain loop.
    c64 = c_before.double()
    loop = ece_loop(c64, ok_before, n_bins)
    assert abs(loop - ece(c64, ok_before.double(), n_bins).item()) < tol
    assert abs(loop - before["ece"]) < 1e-4  # float32 sums over 3000 predictions
    ctx.value("ece_src", inspect.getsource(ece).strip())

    # Calibrated but useless: predict the base rate for everyone.
    base = 0.3
    y_const = (torch.arange(1000) % 10 < 3).long()  # 30 % positives
    p_const = torch.full((1000,), base, dtype=torch.float64)
    conf_c = torch.maximum(p_const, 1 - p_const)
    ok_c = (p_const >= 0.5).long() == y_const
    ctx.value("const_base", base)
    ctx.value("const_ece", ece(conf_c, ok_c.double(), n_bins))
    ctx.value("const_auc", auc_pairs(p_const, y_const))
    ctx.value("const_acc", ok_c.float().mean())

    # Brier score on stated probabilities.
    bp = torch.tensor([0.9, 0.2, 0.6, 0.4], dtype=torch.float64)
    by = torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    ctx.value("br_p", bp)
    ctx.value("br_y", by)
    ctx.value("br_terms", (bp - by) ** 2)
    ctx.value("br_score", ((bp - by) ** 2).mean())
    ctx.value("br_logloss", -(by * bp.log() + (1 - by) * (1 - bp).log()).mean())

    # Reliability diagram, 10 bins, before and after temperature scaling.
    show_bins = 10
    edges = torch.linspace(0, 1, show_bins + 1)

    def per_bin(c, ok):
        b = torch.bucketize(c, edges[1:-1])
        acc, cnt = [], []
        for i in range(show_bins):
            m = b == i
            cnt.append(int(m.sum()))
            acc.append(ok[m].float().mean().item() if m.any() else float("nan"))
        return acc, cnt

    diag = {"before": per_bin(c_before, ok_before), "after": per_bin(c_after, ok_after)}
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    ctx.value("rel_bins", show_bins)
    ctx.value("rel_top_bin_share_before", diag["before"][1][-1] / n_te)
    ctx.value("rel_top_bin_acc_before", diag["before"][0][-1])

    def draw(fig):
        axes = fig.subplots(1, 2, sharey=True)
        titles = {
            "before": f"raw, ECE {before['ece']:.3f}",
            "after": f"T = {temp:.1f}, ECE {after['ece']:.3f}",
        }
        for ax, tag in zip(axes, ["before", "after"], strict=True):
            acc, cnt = diag[tag]
            xs = [x for x, n in zip(centres, cnt, strict=True) if n >= 10]
            ys = [a for a, n in zip(acc, cnt, strict=True) if n >= 10]
            ax.bar(xs, ys, width=1 / show_bins * 0.9, color="C0", alpha=0.8, label="accuracy")
            ax.plot([0, 1], [0, 1], "--", color="C3", label="perfect")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
            ax.set_xlabel("confidence")
            ax.set_title(titles[tag], fontsize="medium")
        axes[0].set_ylabel("accuracy in bin")
        axes[0].legend(loc="upper left", fontsize="small")

    ctx.figure("reliability", draw, width=4.6, height=2.8)


# --------------------------------------------------------------------------------------------
# Ranking metrics on stated rankings.
# --------------------------------------------------------------------------------------------
def dcg(rel, k):  # ranked relevance
    r = rel[:k].double()
    i = torch.arange(2, len(r) + 2)
    disc = torch.log2(i.double())
    return ((2**r - 1) / disc).sum()


def ndcg(rel, k):
    ideal = rel.sort().values.flip(0)
    return dcg(rel, k) / dcg(ideal, k)


def ranking(ctx):
    tol = 1e-12
    # One query, binary relevance of the top 8 results; 4 relevant documents exist in total.
    rel = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
    n_rel = 4
    ctx.value("rk_rel", rel)
    ctx.value("rk_n_rel", n_rel)
    for k in (3, 5):
        ctx.value(f"rk_p_at_{k}", rel[:k].double().mean())
        ctx.value(f"rk_r_at_{k}", rel[:k].sum().item() / n_rel)
    ranks = (torch.nonzero(rel).squeeze(1) + 1).double()
    prec_at_hits = torch.arange(1, len(ranks) + 1).double() / ranks
    ctx.value("rk_prec_at_hits", prec_at_hits)
    ctx.value("rk_ap", prec_at_hits.sum() / n_rel)

    # MRR over three queries: the rank of the first relevant result.
    queries = [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    first = [q.index(1) + 1 for q in queries]
    ctx.value("mrr_q1", queries[0])
    ctx.value("mrr_q2", queries[1])
    ctx.value("mrr_q3", queries[2])
    ctx.value("mrr_first", first)
    ctx.value("mrr", sum(1 / r for r in first) / len(first))

    # NDCG with graded relevance (0-3) in ranked order; these are all the relevant documents.
    g = torch.tensor([3, 2, 0, 1, 2])
    ctx.value("nd_rel", g)
    ctx.value("nd_ideal", g.sort(descending=True).values)
    ctx.value("nd_gains", 2 ** g - 1)
    ctx.value("nd_dcg5", dcg(g, 5))
    ctx.value("nd_idcg5", dcg(g.sort(descending=True).values, 5))
    ctx.value("nd_ndcg5", ndcg(g, 5))
    ctx.value("nd_ndcg3", ndcg(g, 3))
    # Cross-check with an explicit loop and math.log2.
    loop = sum((2 ** int(r) - 1) / math.log2(i + 2) for i, r in enumerate(g.tolist()))
    assert abs(loop - dcg(g, 5).item()) < tol
    # In the ideal order, swapping the top two results costs more than swapping the last two.
    ideal = g.sort().values.flip(0)
    top_swap, low_swap = ideal.clone(), ideal.clone()
    top_swap[[0, 1]] = ideal[[1, 0]]
    low_swap[[3, 4]] = ideal[[4, 3]]
    ctx.value("nd_top_swap", top_swap)
    ctx.value("nd_ndcg_top_swap", ndcg(top_swap, 5))
    ctx.value("nd_low_swap", low_swap)
    ctx.value("nd_ndcg_low_swap", ndcg(low_swap, 5))
    ctx.value("ndcg_src", inspect.getsource(dcg).strip() + "\n\n\n" + inspect.getsource(ndcg).strip())
