"""Post-training: SFT, reward models, RLHF with PPO, DPO, GRPO, RL with verifiable rewards, reward hacking.

Every number on the cards is computed here with PyTorch on small, stated inputs.

Sections (in card order):
  1. SFT: the loss with the prompt masked by ignore_index vs unmasked, on a toy batch whose per-token
     losses are stated on the card; token-level vs sequence-level averaging.
  2. Reward model: the Bradley-Terry loss and its gradient; the K-way ranking loss; logsigmoid.
  3. RLHF with PPO: the per-token reward with the KL penalty; KL estimators (k1, k3) on a toy
     categorical; the clipped surrogate objective.
  4. DPO: the loss on stated log-probabilities, implicit rewards, gradient weight, how beta acts.
  5. GRPO: group-relative advantages for a stated group; groups that carry no signal.
  6. Reward hacking: over-optimising a proxy reward on a toy bandit (the KL-regularised optimum).
"""

import math

import torch
import torch.nn.functional as F

TOL = 1e-6  # tolerance shown on "checked equal" cards


def logits_for_nll(nll):
    """Two-class logits whose cross-entropy at target 0 is exactly `nll` (> 0) for each position.

    With logits (z, 0) and target 0, CE = log(1 + exp(-z)), so z = -log(exp(nll) - 1).
    """
    nll = torch.as_tensor(nll, dtype=torch.float64)
    z = -torch.log(torch.expm1(nll))
    return torch.stack([z, torch.zeros_like(z)], dim=-1)


# --------------------------------------------------------------------------------------------
# 1. SFT: which tokens carry the loss
# --------------------------------------------------------------------------------------------
def sft(ctx):
    # Two sequences, right-padded to length 6. Per-token losses (negative log-probabilities of the
    # label at each position), as the card states them. Sequence A: 4 prompt + 2 response tokens.
    # Sequence B: 2 prompt + 4 response tokens.
    nll_a = [3.0, 2.5, 2.0, 1.5, 0.5, 1.0]
    nll_b = [2.0, 3.0, 0.2, 0.4, 0.6, 0.8]
    prompt_len = [4, 2]
    logits = torch.stack([logits_for_nll(nll_a), logits_for_nll(nll_b)])  # (2, 6, 2)
    targets = torch.zeros(2, 6, dtype=torch.long)
    labels = targets.clone()
    for i, p in enumerate(prompt_len):
        labels[i, :p] = -100  # mask the prompt
    flat = logits.reshape(-1, 2)
    masked = F.cross_entropy(flat, labels.reshape(-1), ignore_index=-100)
    unmasked = F.cross_entropy(flat, targets.reshape(-1))
    per_tok = F.cross_entropy(flat, labels.reshape(-1), ignore_index=-100, reduction="none").reshape(2, 6)
    keep = labels != -100
    per_seq = (per_tok.sum(1) / keep.sum(1)).mean()
    # The check: the per-token losses really are the stated ones.
    assert (per_tok[keep] - torch.tensor([0.5, 1.0, 0.2, 0.4, 0.6, 0.8], dtype=torch.float64)).abs().max() < TOL
    ctx.value("sft_nll_a_prompt", nll_a[: prompt_len[0]])
    ctx.value("sft_nll_a_resp", nll_a[prompt_len[0]:])
    ctx.value("sft_nll_b_prompt", nll_b[: prompt_len[1]])
    ctx.value("sft_nll_b_resp", nll_b[prompt_len[1]:])
    ctx.value("sft_masked", masked)
    ctx.value("sft_unmasked", unmasked)
    ctx.value("sft_per_seq", per_seq)
    ctx.value("sft_n_resp", int(keep.sum()))
    ctx.value("sft_n_all", labels.numel())
    ctx.value("sft_ignored_zero", float(per_tok[~keep].abs().max()))

    # Share of the unmasked loss's tokens that are prompt tokens in a typical chat example.
    p_len, r_len = 900, 100
    ctx.value("sft_share_prompt_len", p_len)
    ctx.value("sft_share_resp_len", r_len)
    ctx.value("sft_share_prompt", p_len / (p_len + r_len))

    # Labels set to the pad id 0 instead of -100: those positions now train "predict pad".
    pad_wrong = F.cross_entropy(flat, torch.zeros(12, dtype=torch.long), ignore_index=-100)
    ctx.value("sft_pad_bug_equals_unmasked", bool(abs(float(pad_wrong - unmasked)) < TOL))


# --------------------------------------------------------------------------------------------
# 2. Reward models
# --------------------------------------------------------------------------------------------
def reward_model(ctx):
    # Gradient of -log sigma(r_c - r_r) with respect to the margin: sigma(m) - 1.
    margins = torch.tensor([-2.0, 0.0, 2.0, 5.0], dtype=torch.float64, requires_grad=True)
    loss = -F.logsigmoid(margins)
    (g,) = torch.autograd.grad(loss.sum(), margins)
    ctx.value("rm_margins", margins.detach())
    ctx.value("rm_losses", loss.detach())
    ctx.value("rm_grads", g)
    assert (g - (torch.sigmoid(margins.detach()) - 1)).abs().max() < TOL
    ctx.value("tol", TOL)

    # log(sigmoid(x)) underflows in float32; F.logsigmoid does not.
    x = torch.tensor(-200.0)
    naive = torch.log(torch.sigmoid(x))
    ctx.value("rm_naive_is_inf", bool(torch.isinf(naive)))
    ctx.value("rm_x", x)
    ctx.value("rm_logsigmoid", F.logsigmoid(x))

    # InstructGPT-style ranking loss: K responses ranked, average over all C(K, 2) pairs.
    r = torch.tensor([2.0, 1.0, 0.5, -1.0], dtype=torch.float64)  # best first
    k = len(r)
    pair_losses = [-F.logsigmoid(r[i] - r[j]) for i in range(k) for j in range(i + 1, k)]
    ctx.value("rk_rewards", r)
    ctx.value("rk_k", k)
    ctx.value("rk_pairs", len(pair_losses))
    ctx.value("rk_loss", torch.stack(pair_losses).mean())
    ctx.value("rk_worst_pair", max(float(x) for x in pair_losses))
    ctx.value("rk_best_pair", min(float(x) for x in pair_losses))


# --------------------------------------------------------------------------------------------
# 3. RLHF with PPO
# --------------------------------------------------------------------------------------------
def ppo(ctx):
    # Per-token reward: -beta * (log pi - log pi_ref) at every token, plus the RM score at the last one.
    lp = torch.tensor([-1.2, -0.5, -2.0, -0.1], dtype=torch.float64)
    lr = torch.tensor([-1.5, -0.7, -1.0, -0.1], dtype=torch.float64)
    beta, score = 0.1, 1.5
    rew = -beta * (lp - lr)
    rew[-1] += score
    ctx.value("pk_lp", lp)
    ctx.value("pk_lr", lr)
    ctx.value("pk_beta", beta)
    ctx.value("pk_score", score)
    ctx.value("pk_logratio", lp - lr)
    ctx.value("pk_rewards", rew)
    ctx.value("pk_total", rew.sum())
    ctx.value("pk_kl_seq", (lp - lr).sum())

    # KL estimators on a toy categorical: k1 = log p/q (can be negative), k3 = q/p - log(q/p) - 1 (>= 0).
    p = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)  # policy
    q = torch.tensor([0.25, 0.25, 0.25, 0.25], dtype=torch.float64)  # reference
    exact = (p * (p / q).log()).sum()
    g = torch.Generator().manual_seed(0)
    n = 20_000
    idx = torch.multinomial(p, n, replacement=True, generator=g)
    k1 = (p / q).log()[idx]
    ratio = (q / p)[idx]
    k3 = ratio - ratio.log() - 1
    ctx.value("kl_p", p)
    ctx.value("kl_q", q)
    ctx.value("kl_exact", exact)
    ctx.value("kl_n", n)
    ctx.value("kl_k1_mean", k1.mean())
    ctx.value("kl_k3_mean", k3.mean())
    ctx.value("kl_k1_neg_frac", (k1 < 0).double().mean())
    ctx.value("kl_k3_min", k3.min())
    ctx.value("kl_k1_std", k1.std())
    ctx.value("kl_k3_std", k3.std())
    # Exact expectations, to show both are unbiased.
    ctx.value("kl_k1_expect", (p * (p / q).log()).sum())
    ctx.value("kl_k3_expect", (p * ((q / p) - (q / p).log() - 1)).sum())

    # k3 for one token (the GRPO card): log pi = -1.0, log pi_ref = -1.5.
    lpi, lref = -1.0, -1.5
    ctx.value("k3_lpi", lpi)
    ctx.value("k3_lref", lref)
    ctx.value("k3_k1", lpi - lref)
    ctx.value("k3_ratio", math.exp(lref - lpi))
    ctx.value("k3_value", math.exp(lref - lpi) - (lref - lpi) - 1)

    # PPO clipped surrogate: min(rho A, clip(rho, 1 - eps, 1 + eps) A); gradient through rho = exp(logp - logp_old).
    eps = 0.2

    def surrogate(rho, adv):
        return torch.minimum(rho * adv, rho.clamp(1 - eps, 1 + eps) * adv)

    cases = [(1.5, 2.0), (0.5, 2.0), (0.5, -2.0), (1.5, -2.0)]
    vals, grads = [], []
    for rho0, adv in cases:
        logp = torch.tensor(math.log(rho0), dtype=torch.float64, requires_grad=True)
        obj = surrogate(logp.exp(), torch.tensor(adv, dtype=torch.float64))
        (gr,) = torch.autograd.grad(obj, logp)
        vals.append(float(obj.detach()))
        grads.append(float(gr))
    ctx.value("clip_eps", eps)
    ctx.value("clip_hi", 1 + eps)
    ctx.value("clip_lo", 1 - eps)
    for i, (rho0, adv) in enumerate(cases):
        ctx.value(f"clip_rho_{i}", rho0)
        ctx.value(f"clip_adv_{i}", adv)
        ctx.value(f"clip_obj_{i}", vals[i])
        ctx.value(f"clip_grad_{i}", grads[i])

    rhos = torch.linspace(0.0, 2.0, 201, dtype=torch.float64)
    pos = surrogate(rhos, torch.tensor(1.0, dtype=torch.float64)).tolist()
    neg = surrogate(rhos, torch.tensor(-1.0, dtype=torch.float64)).tolist()
    xs = rhos.tolist()

    def draw(fig):
        ax = fig.subplots()
        ax.plot(xs, pos, color="C0", label="advantage +1")
        ax.plot(xs, neg, color="C1", label="advantage −1")
        for b in (1 - eps, 1 + eps):
            ax.axvline(b, ls=":", color="0.5")
        ax.set_xlabel(r"probability ratio $\rho = \pi_\theta / \pi_{\mathrm{old}}$")
        ax.set_ylabel("clipped objective")
        ax.set_title(f"PPO clipped surrogate, ε = {eps:g}")
        ax.legend(fontsize=8, loc="upper left")

    ctx.figure("ppo_clip", draw)


# --------------------------------------------------------------------------------------------
# 4. DPO
# --------------------------------------------------------------------------------------------
def dpo_loss(pol_w, pol_l, ref_w, ref_l, beta):
    """DPO loss from summed sequence log-probabilities (policy and reference, chosen w and rejected l)."""
    return -F.logsigmoid(beta * ((pol_w - ref_w) - (pol_l - ref_l)))


def dpo(ctx):
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    pol_w, pol_l, ref_w, ref_l, beta = t(-10.0), t(-12.0), t(-11.0), t(-11.5), 0.1
    rw = beta * (pol_w - ref_w)
    rl = beta * (pol_l - ref_l)
    loss = dpo_loss(pol_w, pol_l, ref_w, ref_l, beta)
    ctx.value("dpo_pol_w", pol_w)
    ctx.value("dpo_pol_l", pol_l)
    ctx.value("dpo_ref_w", ref_w)
    ctx.value("dpo_ref_l", ref_l)
    ctx.value("dpo_beta", beta)
    ctx.value("dpo_rw", rw)
    ctx.value("dpo_rl", rl)
    ctx.value("dpo_margin", rw - rl)
    ctx.value("dpo_loss", loss)
    ctx.value("dpo_loss_start", math.log(2))  # policy = reference: margin 0
    ctx.value("dpo_weight", torch.sigmoid(rl - rw))

    # Gradient: d loss / d log pi(y_w) = -beta * sigma(r_l - r_w); d / d log pi(y_l) = +beta * sigma(r_l - r_w).
    pw = pol_w.clone().requires_grad_(True)
    pl = pol_l.clone().requires_grad_(True)
    gw, gl = torch.autograd.grad(dpo_loss(pw, pl, ref_w, ref_l, beta), (pw, pl))
    ctx.value("dpo_grad_w", gw)
    ctx.value("dpo_grad_l", gl)
    assert abs(float(gw + beta * torch.sigmoid(rl - rw))) < TOL

    # Only the difference of log-ratios matters: lower both policy log-probs by 5 nats.
    shift = 5.0
    shifted = dpo_loss(pol_w - shift, pol_l - shift, ref_w, ref_l, beta)
    ctx.value("dpo_shift", shift)
    ctx.value("dpo_shift_diff", abs(float(shifted - loss)))
    assert abs(float(shifted - loss)) < TOL

    # How beta acts: the log-ratio margin m = (log-ratio chosen) - (log-ratio rejected) at which the
    # loss has fallen to 0.1 is logit(exp(-0.1)) / beta.
    target = 0.1
    need = math.log(math.exp(-target) / (1 - math.exp(-target)))
    betas = [0.1, 0.5, 2.0]
    ctx.value("dpo_betas", betas)
    ctx.value("dpo_target_loss", target)
    ctx.value("dpo_need_margins", [need / b for b in betas])
    ctx.value("dpo_need_margin_b01", need / betas[0])
    for b in betas:  # check the closed form with the loss itself
        assert abs(float(dpo_loss(t(need / b), t(0.0), t(0.0), t(0.0), b)) - target) < TOL
    margins = torch.linspace(-5, 25, 301, dtype=torch.float64)
    curves = [(-F.logsigmoid(b * margins)).tolist() for b in betas]
    ms = margins.tolist()

    def draw(fig):
        ax = fig.subplots()
        for i, b in enumerate(betas):
            ax.plot(ms, curves[i], color=f"C{i}", label=f"β = {b:g}")
        ax.axhline(target, ls=":", color="0.5")
        ax.set_xlabel("log-ratio margin (chosen − rejected), nats")
        ax.set_ylabel("DPO loss")
        ax.set_ylim(0, 2.0)
        ax.set_title("DPO loss vs margin for three β")
        ax.legend(fontsize=8)

    ctx.figure("dpo_beta", draw)


# --------------------------------------------------------------------------------------------
# 5. GRPO
# --------------------------------------------------------------------------------------------
def grpo(ctx):
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    mean = r.mean()
    std_pop = r.std(unbiased=False)
    std_smp = r.std()
    adv = (r - mean) / std_pop
    ctx.value("gr_rewards", r.int())
    ctx.value("gr_g", len(r))
    ctx.value("gr_mean", mean)
    ctx.value("gr_std", std_pop)
    ctx.value("gr_adv_correct", adv[0])
    ctx.value("gr_adv_wrong", adv[1])
    ctx.value("gr_adv_sum", abs(float(adv.sum())))
    ctx.value("gr_adv_correct_smp", (r[0] - mean) / std_smp)
    ctx.value("gr_adv_wrong_smp", (r[1] - mean) / std_smp)

    # Binary rewards with success rate p: correct answers get sqrt((1-p)/p), wrong ones -sqrt(p/(1-p)).
    p = float(mean)
    assert abs(float(adv[0]) - math.sqrt((1 - p) / p)) < TOL
    assert abs(float(adv[1]) + math.sqrt(p / (1 - p))) < TOL
    rare = torch.tensor([1.0] + [0.0] * 7, dtype=torch.float64)
    ctx.value("gr_rare_adv", (rare[0] - rare.mean()) / rare.std(unbiased=False))

    # A group that is all correct (or all wrong): every advantage is 0 (std 0, divided by std + eps).
    same = torch.ones(8, dtype=torch.float64)
    adv_same = (same - same.mean()) / (same.std(unbiased=False) + 1e-4)
    ctx.value("gr_same_adv_max", float(adv_same.abs().max()))

    # Probability that a group of G samples has mixed rewards (some right, some wrong): 1 - p^G - (1-p)^G.
    gs = [4, 8, 16]
    ps = torch.linspace(0, 1, 201, dtype=torch.float64)
    curves = [(1 - ps**g - (1 - ps) ** g).tolist() for g in gs]
    ctx.value("gr_sig_gs", gs)
    for pp in (0.05, 0.5):
        ctx.value(f"gr_sig_p{int(pp * 100):02d}", pp)
        ctx.value(f"gr_sig_p{int(pp * 100):02d}_g8", 1 - pp**8 - (1 - pp) ** 8)
    # Check the formula by simulation for p = 0.05, G = 8.
    gen = torch.Generator().manual_seed(0)
    sims = (torch.rand(50_000, 8, generator=gen, dtype=torch.float64) < 0.05).double()
    mixed = ((sims.sum(1) > 0) & (sims.sum(1) < 8)).double().mean()
    ctx.value("gr_sig_sim", mixed)
    ctx.value("gr_sig_sims", 50_000)
    xs = ps.tolist()

    def draw(fig):
        ax = fig.subplots()
        for i, g in enumerate(gs):
            ax.plot(xs, curves[i], color=f"C{i}", label=f"G = {g}")
        ax.set_xlabel("prompt's success rate p")
        ax.set_ylabel("P(group has a learning signal)")
        ax.set_ylim(0, 1.05)
        ax.set_title("Groups with mixed binary rewards")
        ax.legend(fontsize=8, loc="lower center")

    ctx.figure("grpo_signal", draw)


# --------------------------------------------------------------------------------------------
# 6. Reward hacking: over-optimising a proxy
# --------------------------------------------------------------------------------------------
def overoptimisation(ctx):
    # A bandit of N candidate responses, uniform reference policy. Gold reward ~ N(0, 1); the proxy
    # (a learned reward model) = gold + heavy-tailed error (Student-t, 3 dof). The KL-regularised
    # optimum is pi_beta ∝ pi_ref * exp(proxy / beta); lowering beta spends more KL.
    torch.manual_seed(0)
    n = 2000
    gold = torch.randn(n, dtype=torch.float64)
    err = 0.5 * torch.distributions.StudentT(3.0).sample((n,)).double()
    proxy = gold + err
    logref = torch.full((n,), -math.log(n), dtype=torch.float64)
    kls, golds, proxies = [], [], []
    for beta in torch.logspace(1, -2.5, 50, dtype=torch.float64).tolist():
        lp = torch.log_softmax(logref + proxy / beta, 0)
        pr = lp.exp()
        kls.append(float((pr * (lp - logref)).sum()))
        golds.append(float((pr * gold).sum()))
        proxies.append(float((pr * proxy).sum()))
    peak = max(range(len(golds)), key=lambda i: golds[i])
    ctx.value("oo_n", n)
    ctx.value("oo_gold_peak", golds[peak])
    ctx.value("oo_kl_peak", kls[peak])
    ctx.value("oo_gold_end", golds[-1])
    ctx.value("oo_proxy_end", proxies[-1])
    ctx.value("oo_kl_end", kls[-1])
    ctx.value("oo_best_gold", gold.max())

    def draw(fig):
        ax = fig.subplots()
        ax.plot(kls, proxies, color="C0", label="proxy reward (RM)")
        ax.plot(kls, golds, color="C1", label="gold reward")
        ax.axvline(kls[peak], ls=":", color="0.5")
        ax.set_xlabel(r"KL($\pi \,\|\, \pi_{\mathrm{ref}}$), nats")
        ax.set_ylabel("expected reward")
        ax.set_title("Optimising a proxy reward")
        ax.legend(fontsize=8, loc="upper left")

    ctx.figure("overoptimisation", draw)


def compute(ctx):
    sft(ctx)
    reward_model(ctx)
    ppo(ctx)
    dpo(ctx)
    grpo(ctx)
    overoptimisation(ctx)
