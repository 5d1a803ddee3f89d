"""Autoencoders, VAEs, GANs, generative vs discriminative models, and contrastive learning.

All data is tiny and synthetic; every model trains in a fraction of a second.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from _lib.checks import agree
from _lib.nets import mlp
from torch.distributions import Normal, kl_divergence


# ---------------------------------------------------------------------- helpers
def manifold_data(n, A, gen, noise=0.02):
    """Points near a curved 2-D surface in 8-D: x = tanh(z A) + noise, z uniform in [-1, 1]^2."""
    z = torch.rand(n, 2, generator=gen) * 2 - 1
    return torch.tanh(z @ A) + noise * torch.randn(n, A.shape[1], generator=gen)


def train_ae(model, x, steps, lr):
    """Full-batch Adam on the mean squared reconstruction error; returns the final loss."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.mse_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def recon_error(model, x):
    """Per-point mean squared reconstruction error."""
    with torch.no_grad():
        return (model(x) - x).pow(2).mean(dim=1)


class TinyVAE(nn.Module):
    """A minimal VAE; forward() holds the lines shown on the card."""

    def __init__(self, d_in, d_hidden, latent_dim):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU())
        self.mu = nn.Linear(d_hidden, latent_dim)
        self.log_var = nn.Linear(d_hidden, latent_dim)
        self.dec = nn.Sequential(nn.Linear(latent_dim, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_in), nn.Sigmoid())

    def forward(self, x):
        h = self.enc(x)
        mu, log_var = self.mu(h), self.log_var(h)
        eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * log_var) * eps
        x_hat = self.dec(z)
        rec = F.binary_cross_entropy(x_hat, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp())
        loss = rec + kl
        return loss, rec, kl, mu


def nt_xent(z1, z2, tau):
    """SimCLR's NT-Xent loss: z1[i] and z2[i] are the two views of example i."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # 2N unit vectors
    sim = z @ z.T / tau  # cosine similarities / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool)
    sim = sim.masked_fill(self_mask, float("-inf"))  # drop self-pairs
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])  # index of each row's positive
    return F.cross_entropy(sim, pos)


def nt_xent_loop(z1, z2, tau):
    """The same loss written term by term from the formula, to check the vectorised version."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = z.shape[0]
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        num = torch.exp(z[i] @ z[j] / tau)
        den = sum(torch.exp(z[i] @ z[k] / tau) for k in range(n2) if k != i)
        total = total - torch.log(num / den)
    return total / n2


def compute(ctx):
    gen = torch.Generator().manual_seed(0)

    # ------------------------------------------------------------------ the 784 -> 32 autoencoder
    d_in, d_code = 784, 32
    dense_ae = nn.Sequential(nn.Linear(d_in, d_code), nn.ReLU(), nn.Linear(d_code, d_in), nn.Sigmoid())
    ctx.value("ae_in", d_in)
    ctx.value("ae_code", d_code)
    ctx.value("ae_factor", d_in / d_code)
    ctx.value("ae_params", sum(p.numel() for p in dense_ae.parameters()))
    ctx.value("ae_enc_params", sum(p.numel() for p in dense_ae[0].parameters()))
    ctx.value("ae_dec_params", sum(p.numel() for p in dense_ae[2].parameters()))

    # ------------------------------------------------------------------ anomaly detection by reconstruction error
    dim = 8
    A = 1.5 * torch.randn(2, dim, generator=gen)
    x_train = manifold_data(500, A, gen)
    x_normal = manifold_data(300, A, gen)
    # Anomalies: same per-feature mean and spread as normal data, but off the surface.
    x_anom = x_train.mean(0) + x_train.std(0) * torch.randn(300, dim, generator=gen)

    code_dim = 2
    encoder = mlp(dim, 32, code_dim, act=nn.Tanh)
    decoder = mlp(code_dim, 32, dim, act=nn.Tanh)
    ae = nn.Sequential(encoder, decoder)
    ae_steps = 400
    ctx.value("anom_dim", dim)
    ctx.value("anom_manifold_dim", A.shape[0])
    ctx.value("ae_code_dim", code_dim)
    ctx.value("anom_n_train", x_train.shape[0])
    ctx.value("anom_steps", ae_steps)
    ctx.value("anom_train_mse", train_ae(ae, x_train, ae_steps, lr=1e-2))
    err_train = recon_error(ae, x_train)
    err_normal = recon_error(ae, x_normal)
    err_anom = recon_error(ae, x_anom)
    q = 0.99
    thr = torch.quantile(err_train, q)
    ctx.value("anom_q", q)
    ctx.value("anom_thr", thr)
    ctx.value("anom_err_normal", err_normal.median())
    ctx.value("anom_err_anom", err_anom.median())
    ctx.value("anom_err_ratio", err_anom.median() / err_normal.median())
    ctx.value("anom_detect", (err_anom > thr).float().mean())
    ctx.value("anom_false_alarm", (err_normal > thr).float().mean())
    ctx.value("anom_n_test", x_normal.shape[0])
    ctx.value("anom_n_anom", x_anom.shape[0])

    # Linear autoencoder vs PCA with the same 2-D code, on centred data.
    xc = x_train - x_train.mean(0)
    _, _, V = torch.linalg.svd(xc, full_matrices=False)
    pca_rec = xc @ V[:code_dim].T @ V[:code_dim]
    pca_mse = F.mse_loss(pca_rec, xc).item()
    lin_ae = nn.Sequential(nn.Linear(dim, code_dim), nn.Linear(code_dim, dim))
    lin_mse = train_ae(lin_ae, xc, 300, lr=1e-2)
    nonlin_mse = F.mse_loss(ae(x_train), x_train).item()
    ctx.value("pca_mse", pca_mse)
    ctx.value("linear_ae_mse", lin_mse)
    ctx.value("linear_ae_vs_pca", lin_mse / pca_mse)
    ctx.value("nonlinear_ae_mse", nonlin_mse)

    def draw_anomaly(fig):
        ax = fig.subplots()
        lo = math.log10(min(err_normal.min(), err_anom.min()).item())
        hi = math.log10(max(err_normal.max(), err_anom.max()).item())
        bins = torch.logspace(lo, hi, 40).tolist()
        ax.hist(err_normal.tolist(), bins=bins, alpha=0.7, label="normal (held out)")
        ax.hist(err_anom.tolist(), bins=bins, alpha=0.7, label="anomalous")
        ax.axvline(thr.item(), color="C3", ls="--", label=f"threshold ({q:.0%} of train)")
        ax.set_xscale("log")
        ax.set_xlabel("reconstruction error (MSE)")
        ax.set_ylabel("count")
        ax.set_title("Autoencoder reconstruction error")
        ax.set_ylim(top=ax.get_ylim()[1] * 1.4)  # room for the legend above the bars
        ax.legend(fontsize="small", loc="upper center")

    ctx.figure("ae_anomaly_hist", draw_anomaly, height=3.2)

    # ------------------------------------------------------------------ VAE: reparameterisation and KL
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    log_var = torch.tensor([-1.0, 0.4], requires_grad=True)
    eps = torch.randn(2, generator=gen)
    z = mu + torch.exp(log_var / 2) * eps
    z.sum().backward()  # z_i depends only on mu_i, log_var_i: these are the diagonal derivatives
    ctx.value("rp_dz_dmu", mu.grad)
    ctx.value("rp_dz_dlogvar", log_var.grad)
    expected = 0.5 * torch.exp(log_var.detach() / 2) * eps
    ctx.value("rp_formula_err", (log_var.grad - expected).abs().max())
    agree(ctx, "rp_formula_tol", (log_var.grad - expected).abs().max(), 1e-6)
    dist = Normal(mu, torch.exp(log_var / 2))
    s = dist.sample()
    r = dist.rsample()
    ctx.value("sample_requires_grad", s.requires_grad)
    ctx.value("sample_has_grad_fn", s.grad_fn is not None)
    ctx.value("rsample_requires_grad", r.requires_grad)

    kl_mu = torch.tensor([0.5, -1.0])
    kl_lv = torch.tensor([-1.0, 0.4])
    kl_closed = -0.5 * torch.sum(1 + kl_lv - kl_mu**2 - kl_lv.exp())
    kl_torch = kl_divergence(Normal(kl_mu, torch.exp(kl_lv / 2)), Normal(0.0, 1.0)).sum()
    ctx.value("kl_mu", kl_mu)
    ctx.value("kl_logvar", kl_lv)
    ctx.value("kl_closed", kl_closed)
    ctx.value("kl_torch", kl_torch)
    ctx.value("kl_diff", (kl_closed - kl_torch).abs())
    agree(ctx, "kl_tol", (kl_closed - kl_torch).abs(), 1e-6)
    ctx.value("kl_at_prior", kl_divergence(Normal(0.0, 1.0), Normal(0.0, 1.0)))

    # The card's VAE code runs: a forward/backward pass on a batch of "images" in [0, 1].
    vae_latent = 2
    vae = TinyVAE(d_in, 64, vae_latent)
    xb = torch.rand(16, d_in, generator=gen)
    loss, _, _, mu_b = vae(xb)
    loss.backward()
    ctx.value("vae_latent", vae_latent)
    ctx.value("vae_mu_shape", mu_b.shape)
    ctx.value("vae_grad_ok", all(p.grad is not None for p in vae.parameters()))
    # Mean-reduced BCE divides the reconstruction term by batch x pixels; summed KL does not.
    rec_mean = F.binary_cross_entropy(vae.dec(mu_b).detach(), xb)
    rec_sum = F.binary_cross_entropy(vae.dec(mu_b).detach(), xb, reduction="sum")
    ctx.value("vae_batch", xb.shape[0])
    ctx.value("vae_rec_sum_over_mean", rec_sum / rec_mean)

    # ------------------------------------------------------------------ GAN: saturating vs non-saturating loss
    d_small = 0.01
    a = torch.logit(torch.tensor(d_small)).requires_grad_(True)  # discriminator logit on a fake
    torch.log(1 - torch.sigmoid(a)).backward()
    g_sat = a.grad.item()
    a.grad = None
    (-torch.log(torch.sigmoid(a))).backward()
    g_ns = a.grad.item()
    ctx.value("gan_d_small", d_small)
    ctx.value("gan_grad_saturating", g_sat)
    ctx.value("gan_grad_nonsat", g_ns)
    ctx.value("gan_grad_ratio", g_ns / g_sat)

    d_grid = torch.linspace(0.005, 0.995, 199)

    def draw_gen_losses(fig):
        ax = fig.subplots()
        ax.plot(d_grid.tolist(), torch.log(1 - d_grid).tolist(), label="minimax: log(1 - D)")
        ax.plot(d_grid.tolist(), (-torch.log(d_grid)).tolist(), label="non-saturating: -log D")
        ax.axvspan(0, 0.1, color="C2", alpha=0.15)
        ax.annotate("early training:\nD(G(z)) near 0", (0.12, 3.0), fontsize="small")
        ax.set_xlabel("D(G(z))")
        ax.set_ylabel("generator loss (minimised)")
        ax.set_title("Generator losses")
        ax.legend(fontsize="small", loc="lower left")

    ctx.figure("gan_generator_losses", draw_gen_losses, height=3.2)

    # Optimal discriminator and the Jensen-Shannon link, on two 1-D Gaussians (numerical integration).
    xs = torch.linspace(-10, 12, 20001, dtype=torch.float64)
    dx = (xs[1] - xs[0]).item()
    p_data = Normal(torch.tensor(0.0, dtype=torch.float64), 1.0).log_prob(xs).exp()
    mu_g = 2.0
    p_g = Normal(torch.tensor(mu_g, dtype=torch.float64), 1.0).log_prob(xs).exp()
    d_star = p_data / (p_data + p_g)
    value = ((p_data * d_star.log() + p_g * (1 - d_star).log()) * dx).sum()
    m = (p_data + p_g) / 2
    jsd = 0.5 * ((p_data * (p_data / m).log()) * dx).sum() + 0.5 * ((p_g * (p_g / m).log()) * dx).sum()
    ctx.value("dstar_mu_g", mu_g)
    ctx.value("dstar_value", value)
    ctx.value("dstar_jsd", jsd)
    ctx.value("dstar_identity_err", (value - (2 * jsd - math.log(4))).abs())
    agree(ctx, "dstar_identity_tol", (value - (2 * jsd - math.log(4))).abs(), 1e-9)
    ctx.value("log4", math.log(4))
    # At p_g = p_data: D* = 1/2 everywhere and the value is -log 4.
    ctx.value("dstar_equal", 0.5)

    # Disjoint supports: JS divergence is stuck at log 2 while Wasserstein-1 grows with the gap.
    grid = torch.linspace(-1, 6, 7001, dtype=torch.float64)
    gdx = (grid[1] - grid[0]).item()

    box_width = 0.5

    def box(center, width=box_width):
        """A uniform density of the given width on the grid."""
        dens = ((grid - center).abs() <= width / 2).double()
        return dens / (dens.sum() * gdx)

    shifts = torch.linspace(0, 4, 41, dtype=torch.float64)
    js_list, w1_list = [], []
    p = box(0.0)
    for t in shifts.tolist():
        qd = box(t)
        mm = (p + qd) / 2
        kl_pm = torch.where(p > 0, p * (p / mm).log(), torch.zeros_like(p)).sum() * gdx
        kl_qm = torch.where(qd > 0, qd * (qd / mm).log(), torch.zeros_like(qd)).sum() * gdx
        js_list.append((0.5 * kl_pm + 0.5 * kl_qm).item())
        w1_list.append(((p.cumsum(0) - qd.cumsum(0)).abs().sum() * gdx * gdx).item())
    ctx.value("js_far", js_list[-1])
    ctx.value("js_mid", js_list[20])
    ctx.value("w1_mid", w1_list[20])
    ctx.value("w1_far", w1_list[-1])
    ctx.value("shift_mid", shifts[20])
    ctx.value("shift_far", shifts[-1])
    ctx.value("log2", math.log(2))
    ctx.value("box_width", box_width)

    def draw_js_w1(fig):
        ax = fig.subplots()
        ax.plot(shifts.tolist(), js_list, label="JS divergence")
        ax.plot(shifts.tolist(), w1_list, label="Wasserstein-1")
        ax.axhline(math.log(2), color="C0", ls=":", lw=1)
        ax.annotate("log 2", (3.3, math.log(2)), xytext=(0, 5), textcoords="offset points", color="C0")
        ax.set_xlabel("shift between real and fake")
        ax.set_ylabel("distance")
        ax.set_title(f"Two uniform boxes of width {box_width:g}")
        ax.legend(loc="upper left")

    ctx.figure("gan_js_vs_wasserstein", draw_js_w1, height=3.2)

    # Spectral normalisation: the largest singular value of the used weight becomes about 1.
    torch.manual_seed(0)
    lin = nn.Linear(64, 64)
    lin.weight.data.mul_(5)
    sigma_before = torch.linalg.matrix_norm(lin.weight.detach(), ord=2)
    sn = nn.utils.parametrizations.spectral_norm(lin)
    for _ in range(10):  # each training-mode forward runs one power iteration
        sn(torch.randn(4, 64))
    sigma_after = torch.linalg.matrix_norm(sn.weight.detach(), ord=2)
    ctx.value("sn_sigma_before", sigma_before)
    ctx.value("sn_sigma_after", sigma_after)
    ctx.value("sn_dense_d", 64)
    # A convolution: spectral_norm normalises the weight reshaped to (out, in * k * k), whose largest
    # singular value is not the Lipschitz constant of the convolution operator. Measure the operator
    # norm by power iteration on conv / conv_transpose for a 16 x 16 input.
    conv = nn.Conv2d(8, 8, 3, padding=1)
    conv.weight.data.mul_(5)
    sn_conv = nn.utils.parametrizations.spectral_norm(conv)
    for _ in range(20):
        sn_conv(torch.randn(2, 8, 16, 16))
    wc = sn_conv.weight.detach()
    xv = torch.randn(1, 8, 16, 16)
    for _ in range(200):
        xv = F.conv_transpose2d(F.conv2d(xv, wc, padding=1), wc, padding=1)
        xv = xv / xv.norm()
    ctx.value("sn_conv_matrix_sigma", torch.linalg.matrix_norm(wc.reshape(8, -1), ord=2))
    ctx.value("sn_conv_operator_norm", F.conv2d(xv, wc, padding=1).norm() / xv.norm())

    # ------------------------------------------------------------------ generative vs discriminative
    # Gaussian naive Bayes with shared per-feature variances: Bayes' rule gives exactly a logistic model.
    mu0, mu1 = torch.tensor([0.0, 1.0], dtype=torch.float64), torch.tensor([2.0, -1.0], dtype=torch.float64)
    sd = torch.tensor([1.0, 2.0], dtype=torch.float64)
    prior1 = 0.3
    xq = torch.randn(1000, 2, dtype=torch.float64, generator=gen) * 3
    lp0 = Normal(mu0, sd).log_prob(xq).sum(1) + math.log(1 - prior1)  # log p(x, y=0)
    lp1 = Normal(mu1, sd).log_prob(xq).sum(1) + math.log(prior1)
    post_bayes = torch.softmax(torch.stack([lp0, lp1], 1), 1)[:, 1]  # p(y=1 | x) by Bayes' rule
    w = (mu1 - mu0) / sd**2
    b = ((mu0**2 - mu1**2) / (2 * sd**2)).sum() + math.log(prior1 / (1 - prior1))
    post_logistic = torch.sigmoid(xq @ w + b)
    ctx.value("nb_logistic_diff", (post_bayes - post_logistic).abs().max())
    agree(ctx, "nb_logistic_tol", (post_bayes - post_logistic).abs().max(), 1e-12)
    ctx.value("nb_n_points", xq.shape[0])

    # ------------------------------------------------------------------ contrastive learning: NT-Xent
    n_pairs, emb_dim, tau = 4, 8, 0.5
    z1 = torch.randn(n_pairs, emb_dim, generator=gen)
    z_rand = torch.randn(n_pairs, emb_dim, generator=gen)  # unrelated "views"
    z_close = z1 + 0.1 * torch.randn(n_pairs, emb_dim, generator=gen)  # views that agree
    ctx.value("cl_pairs", n_pairs)
    ctx.value("cl_views", 2 * n_pairs)
    ctx.value("cl_negatives", 2 * n_pairs - 2)
    ctx.value("cl_dim", emb_dim)
    ctx.value("cl_tau", tau)
    ctx.value("cl_loss_random", nt_xent(z1, z_rand, tau))
    ctx.value("cl_loss_aligned", nt_xent(z1, z_close, tau))
    ctx.value("cl_chance", math.log(2 * n_pairs - 1))
    ctx.value("cl_loop_diff", (nt_xent(z1, z_close, tau) - nt_xent_loop(z1, z_close, tau)).abs())
    agree(ctx, "cl_loop_tol", (nt_xent(z1, z_close, tau) - nt_xent_loop(z1, z_close, tau)).abs(), 1e-5)
    same = torch.ones(n_pairs, emb_dim)  # every vector identical: all similarities equal
    ctx.value("cl_loss_collapsed", nt_xent(same, same, tau))

    # Loss as the positives move from unrelated (alpha = 0) to identical (alpha = 1).
    alphas = torch.linspace(0, 1, 21)
    taus = [0.1, 0.5, 1.0]
    curves = {t: [nt_xent(z1, (1 - a_) * z_rand + a_ * z1, t).item() for a_ in alphas.tolist()] for t in taus}
    ctx.value("cl_taus", taus)
    ctx.value("cl_end_losses", [curves[t][-1] for t in taus])

    def draw_ntxent(fig):
        ax = fig.subplots()
        for t in taus:
            ax.plot(alphas.tolist(), curves[t], label=f"τ = {t:g}")
        ax.axhline(math.log(2 * n_pairs - 1), color="C3", ls=":", lw=1.5)
        ax.annotate(
            f"chance: log(2N-1), N = {n_pairs}",
            (0.45, math.log(2 * n_pairs - 1)),
            xytext=(0, 4),
            textcoords="offset points",
            color="C3",
            fontsize="small",
        )
        ax.set_xlabel("positive alignment α (1 = identical views)")
        ax.set_ylabel("NT-Xent loss")
        ax.set_title("Contrastive loss as positives align")
        ax.legend(fontsize="small", loc="lower left")

    ctx.figure("ntxent_alignment", draw_ntxent, height=3.2)

    # Temperature: how much of the push on the negatives goes to the hardest one, for anchor 0.
    def hardest_share(t):
        z = F.normalize(torch.cat([z1, z_close]), dim=1)
        sims = z[0] @ z.T
        neg = torch.ones(2 * n_pairs, dtype=torch.bool)
        neg[0] = False
        neg[n_pairs] = False  # the positive
        wts = torch.softmax(sims[neg] / t, 0)  # gradient weight on each negative
        return wts.max()

    ctx.value("cl_share_low_tau", hardest_share(0.1))
    ctx.value("cl_share_high_tau", hardest_share(1.0))
    ctx.value("cl_tau_low", 0.1)
    ctx.value("cl_tau_high", 1.0)
    ctx.value("cl_uniform_share", 1 / (2 * n_pairs - 2))
