"""Diffusion and flow matching: schedules, the closed-form forward process, and two tiny generative
models trained at build time on 2-D "two moons" data.

Sections (in card order):
  1. Noise schedules: linear (Ho et al. 2020) vs cosine (Nichol & Dhariwal 2021); the closed form
     q(x_t | x_0) checked against the step-by-step chain; variance preservation.
  2. The epsilon-prediction objective; the optimal epsilon-predictor is a scaled score (1-D Gaussian check).
  3. A tiny class-conditional epsilon-prediction model (label dropout for classifier-free guidance),
     trained in about a second; DDPM (stochastic) and DDIM (deterministic) sampling, trajectories,
     snapshots along the reverse process, quality vs number of steps.
  4. Classifier-free guidance on the same model.
  5. Latent diffusion: Stable Diffusion's latent sizes.
  6. A tiny flow-matching (rectified-flow) model: the linear path, the velocity target, Euler sampling.

Sample quality is measured by a sliced Wasserstein distance to held-out data (64 fixed projections).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

T = 1000  # diffusion steps of the toy model (DDPM's choice)
N_CLASSES = 2  # the two moons; class id 2 is the "no condition" token for classifier-free guidance
NULL = N_CLASSES
N_FREQ = 6  # sinusoidal time features: sin and cos of 2^k * pi * t, k < N_FREQ
LR = 1e-2


def linear_betas(t_steps=T, lo=1e-4, hi=0.02):
    return torch.linspace(lo, hi, t_steps, dtype=torch.float64)


def cosine_alpha_bar(t_steps=T, s=0.008, max_beta=0.999):
    """Cosine schedule: alpha_bar(t) = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) * pi/2), betas clipped."""
    t = torch.arange(t_steps + 1, dtype=torch.float64) / t_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = f / f[0]
    betas = (1 - ab[1:] / ab[:-1]).clamp(max=max_beta)
    return torch.cumprod(1 - betas, 0), betas


def two_moons(n, gen):
    """Two interleaving half circles with a little noise, roughly standardised; returns (x, label)."""
    t = torch.rand(n, generator=gen) * math.pi
    lab = torch.randint(0, 2, (n,), generator=gen)
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)
    x = torch.where(lab[:, None] == 0, upper, lower) + 0.05 * torch.randn(n, 2, generator=gen)
    return (x - torch.tensor([0.5, 0.25])) / torch.tensor([0.85, 0.5]), lab


class Net(nn.Module):
    """MLP on (x, time features[, class embedding]) -> a 2-D output (noise or velocity)."""

    def __init__(self, hidden=64, n_classes=0):
        super().__init__()
        self.emb = nn.Embedding(n_classes + 1, hidden) if n_classes else None
        self.inp = nn.Linear(2 + 2 * N_FREQ, hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, t, c=None):  # t in [0, 1]
        ang = t[:, None] * (2.0 ** torch.arange(N_FREQ))[None] * math.pi
        h = self.inp(torch.cat([x, torch.sin(ang), torch.cos(ang)], 1))
        if self.emb is not None:
            h = h + self.emb(c)
        h = F.silu(self.h1(F.silu(h)))
        return self.out(F.silu(self.h2(h)))


def sliced_w1(a, b, n_proj=64):
    """Sliced Wasserstein-1 distance between two equal-sized 2-D point clouds (fixed projections)."""
    th = torch.arange(n_proj) * math.pi / n_proj
    p = torch.stack([torch.cos(th), torch.sin(th)], 1)
    return float(((a @ p.T).sort(0).values - (b @ p.T).sort(0).values).abs().mean())


# --------------------------------------------------------------------------------------------
# 1. Schedules and the forward process
# --------------------------------------------------------------------------------------------
def schedules(ctx):
    betas = linear_betas()
    ab_lin = torch.cumprod(1 - betas, 0)
    ab_cos, _betas_cos = cosine_alpha_bar()
    ctx.value("sch_t", T)
    ctx.value("sch_beta_lo", float(betas[0]))
    ctx.value("sch_beta_hi", float(betas[-1]))
    ctx.value("sch_lin_abar_T", ab_lin[-1])
    ctx.value("sch_lin_signal_T", ab_lin[-1].sqrt())
    ctx.value("sch_cos_abar_T", ab_cos[-1])
    ctx.value("sch_cos_s", 0.008)
    ctx.value("sch_cos_max_beta", 0.999)
    mid = T // 2
    ctx.value("sch_mid", mid)
    ctx.value("sch_lin_abar_mid", ab_lin[mid - 1])
    ctx.value("sch_cos_abar_mid", ab_cos[mid - 1])
    # Share of the steps at which almost no signal is left (alpha_bar < 0.01: signal std below 0.1).
    thr = 0.01
    ctx.value("sch_thr", thr)
    ctx.value("sch_lin_frac_noise", float((ab_lin < thr).double().mean()))
    ctx.value("sch_cos_frac_noise", float((ab_cos < thr).double().mean()))

    # Closed form vs the chain. For a fixed x0, x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t has
    # mean m_t = sqrt(1 - beta_t) m_{t-1} and variance v_t = (1 - beta_t) v_{t-1} + beta_t.
    m, v = 1.0, 0.0
    ms, vs = [], []
    for b in betas.tolist():
        m, v = math.sqrt(1 - b) * m, (1 - b) * v + b
        ms.append(m)
        vs.append(v)
    err = max(
        float((torch.tensor(ms, dtype=torch.float64) - ab_lin.sqrt()).abs().max()),
        float((torch.tensor(vs, dtype=torch.float64) - (1 - ab_lin)).abs().max()),
    )
    tol = 1e-9
    assert err < tol
    ctx.value("cf_tol", tol)
    # Monte Carlo: simulate 20,000 chains from x0 = 1 for 500 steps.
    gen = torch.Generator().manual_seed(0)
    n = 20_000
    x = torch.ones(n, dtype=torch.float64)
    for b in betas[:mid].tolist():
        x = math.sqrt(1 - b) * x + math.sqrt(b) * torch.randn(n, generator=gen, dtype=torch.float64)
    ctx.value("cf_n", n)
    ctx.value("cf_mc_mean", x.mean())
    ctx.value("cf_mc_std", x.std())
    ctx.value("cf_mean", ab_lin[mid - 1].sqrt())
    ctx.value("cf_std", (1 - ab_lin[mid - 1]).sqrt())
    mc_tol = 0.02
    assert abs(float(x.mean() - ab_lin[mid - 1].sqrt())) < mc_tol
    assert abs(float(x.std() - (1 - ab_lin[mid - 1]).sqrt())) < mc_tol
    ctx.value("cf_mc_tol", mc_tol)

    # Variance preserving: with unit-variance data, Var(x_t) = alpha_bar + (1 - alpha_bar) = 1 at every t.
    # Without the sqrt(1 - beta) shrink, x_t = x_{t-1} + sqrt(beta) eps: variance 1 + sum(beta).
    ctx.value("vp_var_T", float(ab_lin[-1] + (1 - ab_lin[-1])))
    ctx.value("vp_noshrink_var_T", 1 + float(betas.sum()))

    xs = (torch.arange(1, T + 1) / T).tolist()
    lin, cos = ab_lin.tolist(), ab_cos.tolist()

    def draw(fig):
        ax = fig.subplots()
        ax.plot(xs, lin, color="C0", label="linear β (DDPM)")
        ax.plot(xs, cos, color="C1", label="cosine")
        ax.set_xlabel("t / T")
        ax.set_ylabel(r"$\bar\alpha_t$ (signal variance)")
        ax.set_title(f"Noise schedules, T = {T}")
        ax.legend(fontsize=8)

    ctx.figure("schedules", draw)


# --------------------------------------------------------------------------------------------
# 2. The optimal epsilon-predictor is a scaled score (1-D Gaussian data)
# --------------------------------------------------------------------------------------------
def eps_is_score(ctx):
    # Data x0 ~ N(0, s^2). Then x_t ~ N(0, ab s^2 + 1 - ab), score = -x_t / (ab s^2 + 1 - ab), and the
    # best epsilon-predictor E[eps | x_t] is linear in x_t. Fit it by least squares on samples and compare
    # -eps_hat / sqrt(1 - ab) with the score's slope.
    s, ab = 2.0, 0.3
    gen = torch.Generator().manual_seed(1)
    n = 200_000
    x0 = s * torch.randn(n, generator=gen, dtype=torch.float64)
    eps = torch.randn(n, generator=gen, dtype=torch.float64)
    xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    slope_eps = float((xt * eps).sum() / (xt * xt).sum())  # least squares eps ≈ slope * x_t
    slope_score = -1 / (ab * s * s + 1 - ab)
    implied = -slope_eps / math.sqrt(1 - ab)
    tol = 0.01
    assert abs(implied - slope_score) < tol
    ctx.value("es_s", s)
    ctx.value("es_ab", ab)
    ctx.value("es_slope_score", slope_score)
    ctx.value("es_implied", implied)
    ctx.value("es_tol", tol)
    ctx.value("es_n", n)


# --------------------------------------------------------------------------------------------
# 3. A tiny diffusion model
# --------------------------------------------------------------------------------------------
def train_eps_model(data, labels, alpha_bar, gen, steps=1500, batch=256, p_uncond=0.2):
    torch.manual_seed(0)
    net = Net(64, N_CLASSES)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    ab_f = alpha_bar.float()
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(data), (batch,), generator=gen)
        x0, c = data[idx], labels[idx]
        c = torch.where(torch.rand(batch, generator=gen) < p_uncond, torch.full_like(c, NULL), c)
        t = torch.randint(0, T, (batch,), generator=gen)
        eps = torch.randn(batch, 2, generator=gen)
        ab = ab_f[t][:, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        loss = F.mse_loss(net(xt, t.float() / T, c), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return net, losses


@torch.no_grad()
def sample_eps(net, alpha_bar, x, n_steps, eta, cls=NULL, w=1.0, gen=None, keep=None):
    """Generalised DDIM sampler over n_steps evenly spaced steps: eta = 0 is DDIM (deterministic),
    eta = 1 is DDPM's ancestral sampler. cls: one class id or a tensor of ids, one per sample.
    Guidance: eps = eps_u + w (eps_c - eps_u). Returns the final x and, if keep is a list, appends
    every intermediate x to it."""
    ab_f = alpha_bar.float()
    ts = torch.linspace(T - 1, 0, n_steps).round().long().tolist()
    n = x.shape[0]
    cc = cls if torch.is_tensor(cls) else torch.full((n,), cls)
    cu = torch.full((n,), NULL)
    for k, t in enumerate(ts):
        tv = torch.full((n,), t / T)
        e = net(x, tv, cc)
        if w != 1.0:
            eu = net(x, tv, cu)
            e = eu + w * (e - eu)
        ab = ab_f[t]
        ab_prev = ab_f[ts[k + 1]] if k + 1 < len(ts) else torch.tensor(1.0)
        x0 = ((x - (1 - ab).sqrt() * e) / ab.sqrt()).clamp(-3, 3)  # predicted clean point, clipped
        e = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()
        x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * e
        if eta > 0:
            x = x + sigma * torch.randn(x.shape, generator=gen)
        if keep is not None:
            keep.append(x.clone())
    return x


def train_fm_model(data, gen, steps=2500, batch=256):
    torch.manual_seed(0)
    net = Net(64, 0)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        x1 = data[torch.randint(0, len(data), (batch,), generator=gen)]  # data
        x0 = torch.randn(batch, 2, generator=gen)  # noise
        t = torch.rand(batch, generator=gen)
        xt = (1 - t[:, None]) * x0 + t[:, None] * x1  # the straight path
        loss = F.mse_loss(net(xt, t), x1 - x0)  # velocity target
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net


@torch.no_grad()
def sample_fm(net, x, n_steps, keep=None):
    """Euler integration of dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data)."""
    for k in range(n_steps):
        x = x + net(x, torch.full((x.shape[0],), k / n_steps)) / n_steps
        if keep is not None:
            keep.append(x.clone())
    return x


def scatter_data(ax, data):
    ax.scatter(data[:, 0], data[:, 1], s=2, color="0.75", lw=0, label="data")


def tidy(ax, title):
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def toy_models(ctx):
    gen = torch.Generator().manual_seed(0)
    data, labels = two_moons(20_000, gen)
    test, test_lab = two_moons(1000, torch.Generator().manual_seed(5))
    other, _ = two_moons(1000, torch.Generator().manual_seed(9))
    ab = torch.cumprod(1 - linear_betas(), 0)
    n = 1000
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(3))

    eps_net, losses = train_eps_model(data, labels, ab, gen)
    fm_net = train_fm_model(data, gen)
    # The DDPM / DDIM demos sample the data distribution with a class drawn at random per sample
    # (the class-conditional model is much better than its rarely trained "no class" mode).
    rc = torch.randint(0, N_CLASSES, (n,), generator=torch.Generator().manual_seed(8))
    ctx.value("toy_train_steps", len(losses))
    ctx.value("toy_fm_train_steps", 2500)
    ctx.value("toy_hidden", 64)
    ctx.value("toy_n_data", len(data))
    ctx.value("toy_p_uncond", 0.2)
    ctx.value("toy_loss_end", sum(losses[-100:]) / 100)
    ctx.value("toy_swd_floor", sliced_w1(other, test))
    ctx.value("toy_swd_noise", sliced_w1(noise, test))

    # --- DDPM vs DDIM: 100 steps each, and the same start twice.
    steps = 100
    ctx.value("toy_steps", steps)
    snaps = []
    x_ddpm = sample_eps(eps_net, ab, noise, steps, cls=rc, eta=1.0, gen=torch.Generator().manual_seed(4), keep=snaps)
    x_ddpm2 = sample_eps(eps_net, ab, noise, steps, cls=rc, eta=1.0, gen=torch.Generator().manual_seed(5))
    x_ddim = sample_eps(eps_net, ab, noise, steps, cls=rc, eta=0.0)
    x_ddim2 = sample_eps(eps_net, ab, noise, steps, cls=rc, eta=0.0)
    ctx.value("toy_swd_ddpm", sliced_w1(x_ddpm, test))
    ctx.value("toy_swd_ddim", sliced_w1(x_ddim, test))
    ctx.value("toy_ddim_repeat_diff", float((x_ddim - x_ddim2).abs().max()))
    ctx.value("toy_ddpm_repeat_diff", float((x_ddpm - x_ddpm2).norm(dim=1).mean()))
    assert float((x_ddim - x_ddim2).abs().max()) == 0.0

    # Snapshots along the DDPM reverse process (after k of the 100 steps).
    snap_at = [0, 50, 80, 100]
    snap_pts = [noise if k == 0 else snaps[k - 1] for k in snap_at]
    snap_t = [T - round(k * T / steps) for k in snap_at]
    snap_swd = [sliced_w1(p, test) for p in snap_pts]
    ctx.value("snap_t", snap_t)
    ctx.value("snap_swd", snap_swd)
    ctx.value("snap_abar", [float(ab[t - 1]) if t > 0 else 1.0 for t in snap_t])

    # Trajectories of 24 points: DDPM is jagged (fresh noise every step), DDIM smooth.
    m = 10
    start = noise[:m]
    tr_ddpm, tr_ddim = [start], [start]
    sample_eps(eps_net, ab, start, steps, cls=rc[:m], eta=1.0, gen=torch.Generator().manual_seed(7), keep=tr_ddpm)
    sample_eps(eps_net, ab, start, steps, cls=rc[:m], eta=0.0, keep=tr_ddim)
    tr_ddpm, tr_ddim = torch.stack(tr_ddpm), torch.stack(tr_ddim)  # (steps + 1, m, 2)

    def path_len(tr):
        return float((tr[1:] - tr[:-1]).norm(dim=-1).sum(0).mean())

    ctx.value("traj_n", m)
    ctx.value("traj_len_ddpm", path_len(tr_ddpm))
    ctx.value("traj_len_ddim", path_len(tr_ddim))

    # --- Quality vs number of steps: DDPM (eta = 1), DDIM (eta = 0), flow matching (Euler).
    step_grid = [1, 2, 4, 8, 16, 32, 64]
    q_ddpm = [sliced_w1(sample_eps(eps_net, ab, noise, k, cls=rc, eta=1.0, gen=torch.Generator().manual_seed(4)), test)
              for k in step_grid]
    q_ddim = [sliced_w1(sample_eps(eps_net, ab, noise, k, cls=rc, eta=0.0), test) for k in step_grid]
    q_fm = [sliced_w1(sample_fm(fm_net, noise, k), test) for k in step_grid]
    ctx.value("steps_grid", step_grid)
    ctx.value("steps_ddpm", q_ddpm)
    ctx.value("steps_ddim", q_ddim)
    ctx.value("steps_fm", q_fm)
    i8 = step_grid.index(4)
    ctx.value("steps_at", step_grid[i8])
    ctx.value("steps_ddpm_few", q_ddpm[i8])
    ctx.value("steps_ddim_few", q_ddim[i8])
    ctx.value("steps_fm_few", q_fm[i8])

    # --- Flow-matching trajectories (Euler, 50 steps).
    fm_steps = 50
    tr_fm = [start]
    sample_fm(fm_net, start, fm_steps, keep=tr_fm)
    tr_fm = torch.stack(tr_fm)
    x_fm = sample_fm(fm_net, noise, fm_steps)
    ctx.value("fm_steps", fm_steps)
    ctx.value("fm_swd", sliced_w1(x_fm, test))
    # 1-step Euler from the same noise: how far from the 50-step endpoint?
    one = sample_fm(fm_net, start, 1)
    ctx.value("fm_1step_gap", float((one - tr_fm[-1]).norm(dim=-1).mean()))

    # --- Classifier-free guidance: class 0 (upper moon), 50 DDIM steps, several scales.
    ws = [1.0, 3.0, 8.0]
    cfg = [sample_eps(eps_net, ab, noise, 50, 0.0, cls=0, w=w) for w in ws]
    d_all = [torch.cdist(s, test) for s in cfg]
    on_class = [float((test_lab[d.argmin(1)] == 0).double().mean()) for d in d_all]
    near = [float(d.min(1).values.mean()) for d in d_all]
    spread = [float(s.std(0).mean()) for s in cfg]
    ctx.value("cfg_ws", ws)
    ctx.value("cfg_on_class", on_class)
    ctx.value("cfg_near", near)
    ctx.value("cfg_spread", spread)
    ctx.value("cfg_data_near", float(torch.cdist(other, test).min(1).values.mean()))

    # Plain lists for the figures (draw is called twice; never mutate).
    dat = data[:3000].tolist()
    dat_x, dat_y = [p[0] for p in dat], [p[1] for p in dat]
    snaps_xy = [p.tolist() for p in snap_pts]
    trd, trm, trf = tr_ddpm.tolist(), tr_ddim.tolist(), tr_fm.tolist()
    fm_pts = x_fm.tolist()
    cfg_pts = [s.tolist() for s in cfg]

    def bg(ax):
        ax.scatter(dat_x, dat_y, s=2, color="0.75", lw=0)

    def draw_snaps(fig):
        axes = fig.subplots(1, 4)
        for ax, pts, t in zip(axes, snaps_xy, snap_t, strict=False):
            bg(ax)
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=2, color="C0", lw=0)
            tidy(ax, f"t = {t}")

    ctx.figure("ddpm_snapshots", draw_snaps, height=1.6)

    def draw_paths(ax, tr, title, color):
        bg(ax)
        for j in range(m):
            ax.plot([s[j][0] for s in tr], [s[j][1] for s in tr], color=color, lw=0.7, alpha=0.8)
        ax.scatter([p[0] for p in tr[0]], [p[1] for p in tr[0]], s=8, color="0.3", zorder=3, label="start (noise)")
        ax.scatter([p[0] for p in tr[-1]], [p[1] for p in tr[-1]], s=8, color="C3", zorder=3, label="end")
        tidy(ax, title)

    def draw_traj(fig):
        a, b = fig.subplots(1, 2)
        draw_paths(a, trd, "DDPM (stochastic)", "C0")
        draw_paths(b, trm, "DDIM (deterministic)", "C1")
        b.legend(fontsize=7, loc="lower left")

    ctx.figure("ddpm_ddim_paths", draw_traj, height=2.4)

    def draw_fm(fig):
        a, b = fig.subplots(1, 2)
        draw_paths(a, trf, f"flow paths, {fm_steps} Euler steps", "C2")
        bg(b)
        b.scatter([p[0] for p in fm_pts], [p[1] for p in fm_pts], s=2, color="C2", lw=0)
        tidy(b, f"{n} samples")

    ctx.figure("fm_paths", draw_fm, height=2.4)

    def draw_steps(fig):
        ax = fig.subplots()
        ax.plot(step_grid, q_ddpm, "o-", color="C0", label="DDPM (η = 1)")
        ax.plot(step_grid, q_ddim, "s-", color="C1", label="DDIM (η = 0)")
        ax.plot(step_grid, q_fm, "^-", color="C2", label="flow matching, Euler")
        ax.axhline(sliced_w1(other, test), ls=":", color="0.5", label="data vs data")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel("distance to data (SW₁)")
        ax.set_title("Sample quality vs number of steps")
        ax.legend(fontsize=7)

    ctx.figure("steps_quality", draw_steps)

    def draw_cfg(fig):
        axes = fig.subplots(1, 3)
        for ax, pts, w in zip(axes, cfg_pts, ws, strict=False):
            bg(ax)
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=2, color="C1", lw=0)
            tidy(ax, f"w = {w:g}")

    ctx.figure("cfg_scales", draw_cfg, height=1.9)


# --------------------------------------------------------------------------------------------
# 5. Latent diffusion sizes
# --------------------------------------------------------------------------------------------
def latent(ctx):
    # Stable Diffusion v1 (Rombach et al. 2022): 512x512x3 images, autoencoder with downsampling f = 8
    # and 4 latent channels.
    h, c, f, zc = 512, 3, 8, 4
    img = torch.empty(1, c, h, h, device="meta")
    z = torch.empty(1, zc, h // f, h // f, device="meta")
    ctx.value("ld_h", h)
    ctx.value("ld_f", f)
    ctx.value("ld_zc", zc)
    ctx.value("ld_img_shape", list(img.shape[1:]))
    ctx.value("ld_z_shape", list(z.shape[1:]))
    ctx.value("ld_img_elems", img.numel())
    ctx.value("ld_z_elems", z.numel())
    ctx.value("ld_ratio", img.numel() / z.numel())
    ctx.value("ld_pos_ratio", (h * h) / ((h // f) ** 2))
    ctx.value("ld_attn_ratio", ((h * h) / ((h // f) ** 2)) ** 2)


def compute(ctx):
    schedules(ctx)
    eps_is_score(ctx)
    toy_models(ctx)
    latent(ctx)
