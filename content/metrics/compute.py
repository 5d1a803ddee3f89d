"""Evaluation metrics, implemented in plain PyTorch on one small fixed example.

No sklearn: every metric is written out below and cross-checked a second way (ROC-AUC by the
trapezoid rule and by counting ranked pairs, average precision by the step sum and by precision at
each positive's rank, the confusion matrix by bincount and by a loop).
"""

import inspect

import torch

# The running example: 20 scored examples, 8 positives and 12 negatives (no tied scores).
POS_SCORES = [0.95, 0.90, 0.85, 0.70, 0.60, 0.45, 0.40, 0.20]
NEG_SCORES = [0.80, 0.65, 0.55, 0.50, 0.35, 0.30, 0.25, 0.15, 0.12, 0.10, 0.08, 0.05]


def confusion_counts(y, pred):  # y, pred: 0/1 tensors
    cm = torch.bincount(2 * y + pred, minlength=4)
    tn, fp, fn, tp = cm.tolist()  # index 2*y + pred
    return tp, fp, fn, tn


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
