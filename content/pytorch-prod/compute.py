"""PyTorch in production: every number on the cards comes from running the real APIs on CPU.

Sections (in card order):
  1. Checkpoints: state_dict vs pickled module, safe loading (weights_only), key prefixes, and an
     exact resume (model + optimizer + scheduler + RNG) against partial resumes.
  2. Mixed precision: float16 / bfloat16 / float32 ranges from torch.finfo, autocast output dtypes on
     CPU, gradient underflow and loss scaling, GradScaler's defaults and its skipped step on inf.
  3. Export: torch.jit.trace vs torch.jit.script on data-dependent control flow; deprecation
     warnings of this torch version; torch.onnx.export's default exporter.
  4. Quantization: int8 affine quantization by hand and with torch.quantize_per_tensor, memory per
     dtype, torch.ao.quantization.quantize_dynamic on a small MLP.
  5. A complete training loop (train/eval, no_grad validation, clipping, scheduler, bf16 autocast,
     best checkpoint, early stopping, seeding), run twice to show it is reproducible.
torch.compile is not run here (slow, needs a C compiler): its cards are text only.
"""

import inspect
import io
import math
import random
import sys
import types
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from _lib.nets import mlp
from torch import nn


def scalar(v):
    """A 0-d / one-element tensor as a plain float."""
    return float(v.detach().reshape(-1)[0])


def warning_messages(fn):
    """Run fn() and return [(category name, message)] of every warning it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [(w.category.__name__, str(w.message)) for w in caught]


def nbytes(obj):
    """Size in bytes of obj serialized with torch.save (to memory, no file)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes


def load_error(buf, **kwargs):
    """torch.load(buf) and return the exception type name it raises (or 'none')."""
    buf.seek(0)
    try:
        torch.load(buf, **kwargs)
    except Exception as e:  # we want to report whichever error it is
        return type(e).__name__
    return "none"


# --------------------------------------------------------------------------------------------
# 1. Checkpoints
# --------------------------------------------------------------------------------------------
N_FEAT, HIDDEN = 8, 32


def make_net():
    """A small MLP with dropout, so that training also consumes random numbers."""
    return nn.Sequential(nn.Linear(N_FEAT, HIDDEN), nn.ReLU(), nn.Dropout(0.2), nn.Linear(HIDDEN, 1))


def regression_data(n, seed):
    """Noisy non-linear regression data from a private generator (does not touch the global RNG)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, N_FEAT, generator=g)
    w = torch.randn(N_FEAT, 1, generator=g) / math.sqrt(N_FEAT)
    y = torch.tanh(2 * x @ w) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


class Run:
    """Model + Adam + cosine schedule; each step samples a random minibatch (global RNG) and uses dropout."""

    def __init__(self, total_steps, lr, batch):
        self.model = make_net()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=total_steps)
        self.batch = batch

    def step(self, x, y):
        """One training step; returns the full-data loss afterwards (eval mode, no RNG used)."""
        self.model.train()
        idx = torch.randint(0, x.shape[0], (self.batch,))
        self.opt.zero_grad()
        F.mse_loss(self.model(x[idx]), y[idx]).backward()
        self.opt.step()
        self.sched.step()
        self.model.eval()
        with torch.no_grad():
            return F.mse_loss(self.model(x), y).item()

    def checkpoint(self, step):
        """Everything needed to continue exactly where we are."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "step": step,
            "torch_rng": torch.get_rng_state(),
        }


def resume_experiment(ctx):
    """Train 2*half steps uninterrupted; save at `half` to memory; resume three ways and compare."""
    total, half, lr, batch = 80, 40, 0.01, 16
    x, y = regression_data(512, seed=1)
    torch.manual_seed(0)
    run = Run(total, lr, batch)
    losses = [run.step(x, y) for _ in range(half)]
    buf = io.BytesIO()
    torch.save(run.checkpoint(half), buf)  # the "interruption"
    losses += [run.step(x, y) for _ in range(total - half)]
    ref_params = torch.cat([p.detach().flatten() for p in run.model.parameters()])

    def resume(load_opt_sched, load_rng):
        """A fresh process: new objects, seed 0, then restore what the checkpoint provides."""
        torch.manual_seed(0)
        r = Run(total, lr, batch)
        buf.seek(0)
        ck = torch.load(buf)  # default weights_only=True: tensors and plain containers only
        r.model.load_state_dict(ck["model"])
        if load_opt_sched:
            r.opt.load_state_dict(ck["optimizer"])
            r.sched.load_state_dict(ck["scheduler"])
        if load_rng:
            torch.set_rng_state(ck["torch_rng"])
        out = [r.step(x, y) for _ in range(total - ck["step"])]
        params = torch.cat([p.detach().flatten() for p in r.model.parameters()])
        return out, (params - ref_params).abs().max().item()

    full, full_pdiff = resume(True, True)
    model_only, model_only_pdiff = resume(False, True)
    no_rng, no_rng_pdiff = resume(True, False)
    tail = losses[half:]

    def max_loss_diff(curve):
        return max(abs(a - b) for a, b in zip(curve, tail, strict=True))

    ctx.value("res_total", total)
    ctx.value("res_half", half)
    ctx.value("res_full_loss_diff", max_loss_diff(full))
    ctx.value("res_full_param_diff", full_pdiff)
    ctx.value("res_model_only_param_diff", model_only_pdiff)
    ctx.value("res_model_only_loss_diff", max_loss_diff(model_only))
    ctx.value("res_no_rng_param_diff", no_rng_pdiff)
    ctx.value("res_final_loss", tail[-1])
    ctx.value("res_model_only_final", model_only[-1])
    # lr right after a model-only resume: the fresh cosine schedule restarts at its peak.
    ctx.value("res_lr", lr)
    ckpt = torch.load(io.BytesIO(buf.getvalue()))
    ctx.value("res_lr_at_ckpt", ckpt["scheduler"]["_last_lr"][0])
    ctx.value("res_ckpt_keys", ", ".join(ckpt.keys()))

    # What Adam adds to a checkpoint: two moment tensors per parameter tensor, plus a step count.
    n_params = sum(p.numel() for p in run.model.parameters())
    adam_state = run.opt.state_dict()["state"]
    n_moments = sum(s["exp_avg"].numel() + s["exp_avg_sq"].numel() for s in adam_state.values())
    ctx.value("ck_n_params", n_params)
    ctx.value("ck_adam_numel", n_moments)
    ctx.value("ck_adam_ratio", n_moments / n_params)
    ctx.value("ck_adam_state_keys", ", ".join(sorted(next(iter(adam_state.values())).keys())))
    ctx.value("ck_weights_plus_adam", (n_params + n_moments) / n_params)
    return losses, full, model_only, no_rng


def checkpoint_facts(ctx):
    """state_dict keys, safe loading, a pickled module after a refactor, key-prefix mismatches."""
    torch.manual_seed(0)
    net = make_net()
    sd = net.state_dict()
    ctx.value("sd_keys", ", ".join(sd.keys()))
    ctx.value("sd_type", type(sd).__name__)
    ctx.value("torch_version", torch.__version__.split("+")[0])

    # weights_only=True (default since 2.6): a state_dict loads, a whole pickled module does not.
    buf = io.BytesIO()
    torch.save(sd, buf)
    ctx.value("load_sd_default_error", load_error(buf))
    buf = io.BytesIO()
    torch.save(net, buf)
    ctx.value("load_module_default_error", load_error(buf))
    ctx.value("load_module_unsafe_error", load_error(buf, weights_only=False))

    # A pickled module refers to its class by import path. Simulate a refactor that renames the class.
    mod = types.ModuleType("mylib_models")
    sys.modules["mylib_models"] = mod
    try:
        exec(
            "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.fc = nn.Linear(2, 1)\n",
            mod.__dict__,
        )
        buf = io.BytesIO()
        torch.save(mod.Net(), buf)
        mod.NetV2 = mod.Net  # the refactor: Net is renamed to NetV2
        del mod.Net
        ctx.value("refactor_load_error", load_error(buf, weights_only=False))
    finally:
        del sys.modules["mylib_models"]

    # NumPy RNG state in a checkpoint: the safe loader refuses NumPy's classes.
    buf = io.BytesIO()
    torch.save({"torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state()}, buf)
    ctx.value("np_rng_load_error", load_error(buf))
    buf.seek(0)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(buf)
    ctx.value("np_rng_unsafe_globals", ", ".join(sorted(unsafe)))
    ctx.value("py_rng_load_error", load_error(io.BytesIO(_saved({"python_rng": random.getstate()}))))

    # A checkpoint saved from an nn.DataParallel (or DDP) wrapper has a "module." prefix on every key.
    wrapped = nn.DataParallel(make_net())
    wrapped_keys = list(wrapped.state_dict().keys())
    ctx.value("dp_first_key", wrapped_keys[0])
    try:
        make_net().load_state_dict(wrapped.state_dict())
        ctx.value("dp_load_error", "none")
    except RuntimeError as e:
        ctx.value("dp_load_error", type(e).__name__)
    # strict=False silently skips every key instead: nothing is loaded.
    res = make_net().load_state_dict(wrapped.state_dict(), strict=False)
    ctx.value("dp_nonstrict_missing", len(res.missing_keys))
    ctx.value("dp_nonstrict_unexpected", len(res.unexpected_keys))
    fixed = {k.removeprefix("module."): v for k, v in wrapped.state_dict().items()}
    res = make_net().load_state_dict(fixed)
    ctx.value("dp_fixed_missing", len(res.missing_keys))


def _saved(obj):
    """obj serialized with torch.save, as bytes."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# 2. Mixed precision
# --------------------------------------------------------------------------------------------
def float_format(dtype):
    """Range and precision of a float dtype, from torch.finfo, checked against real tensors."""
    fi = torch.finfo(dtype)
    mant_bits = round(-math.log2(fi.eps))  # stored fraction bits
    emax = math.floor(math.log2(fi.max))
    exp_bits = round(math.log2(emax + 1)) + 1
    subnormal = fi.tiny * fi.eps  # 2^(emin - mantissa bits)
    # Check: the smallest subnormal is representable, half of it rounds to zero.
    assert torch.tensor(subnormal, dtype=dtype).item() > 0
    assert torch.tensor(subnormal / 2, dtype=dtype).item() == 0
    return {"max": fi.max, "normal": fi.tiny, "subnormal": subnormal, "eps": fi.eps, "mant": mant_bits, "exp": exp_bits}


def mixed_precision(ctx):
    fmts = {
        name: float_format(dt)
        for name, dt in [("fp16", torch.float16), ("bf16", torch.bfloat16), ("fp32", torch.float32)]
    }
    for name, f in fmts.items():
        for key, v in f.items():
            ctx.value(f"{name}_{key}", v)
    ctx.value("fp16_eps_over_bf16", fmts["bf16"]["eps"] / fmts["fp16"]["eps"])
    # Rounding near zero in float16: 2^-25 is exactly halfway between 0 and the smallest subnormal
    # 2^-24; it rounds to even (0), anything above it rounds up to 2^-24.
    half_sub = 2.0**-25
    ctx.value("fp16_half_subnormal", half_sub)
    ctx.value("fp16_half_rounds_to", torch.tensor(half_sub, dtype=torch.float32).half().item())
    ctx.value("fp16_above_half", 3.0e-8)
    ctx.value("fp16_above_half_rounds_to", torch.tensor(3.0e-8, dtype=torch.float32).half().item())
    ctx.value("fp16_below_half", 2.9e-8)
    ctx.value("fp16_below_half_rounds_to", torch.tensor(2.9e-8, dtype=torch.float32).half().item())
    # Why the weights stay float32: a small update to a weight of 1.0 vanishes in float16.
    upd = 1e-4
    ctx.value("fp16_update", upd)
    ctx.value("fp16_update_result", (torch.tensor(1.0, dtype=torch.float16) + upd).item())
    ctx.value("fp32_update_result", (torch.tensor(1.0, dtype=torch.float32) + upd).item())

    # A small gradient in each format, and the loss-scaling round trip fp32 -> x scale -> fp16 -> / scale.
    g = 1e-8
    scaler = torch.amp.GradScaler("cpu")
    scale = scaler.get_scale()
    ctx.value("tiny_g", g)
    ctx.value("tiny_g_fp16", torch.tensor(g, dtype=torch.float16).item())
    ctx.value("tiny_g_bf16", torch.tensor(g, dtype=torch.bfloat16).item())
    ctx.value("tiny_g_bf16_relerr", abs(torch.tensor(g, dtype=torch.bfloat16).item() - g) / g)
    scaled16 = torch.tensor(g * scale, dtype=torch.float16)
    ctx.value("scale_init", scale)
    ctx.value("scale_log2", math.log2(scale))
    ctx.value("tiny_g_scaled_fp16", scaled16.item())
    unscaled = scaled16.float() / scale  # GradScaler unscales in float32
    ctx.value("tiny_g_unscaled", unscaled.item())
    ctx.value("tiny_g_unscaled_relerr", abs(unscaled.item() - g) / g)

    # GradScaler's dynamic-scaling constants, straight from its state_dict.
    sd = scaler.state_dict()
    ctx.value("gs_growth", sd["growth_factor"])
    ctx.value("gs_backoff", sd["backoff_factor"])
    ctx.value("gs_interval", sd["growth_interval"])
    ctx.value("gs_state_keys", ", ".join(sd.keys()))

    # An overflowing step: the gradient is inf, the step is skipped and the scale is halved.
    p = nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.1)
    before = p.detach().clone()
    loss = (p * 1e30).sum() * 1e10  # finite in float32? no: overflows to inf on purpose
    scaler.scale(loss).backward()
    ctx.value("gs_grad_is_inf", bool(torch.isinf(p.grad).all()))
    scaler.step(opt)
    scaler.update()
    ctx.value("gs_step_skipped", bool(torch.equal(p.detach(), before)))
    ctx.value("gs_scale_after_inf", scaler.get_scale())
    # A normal step afterwards is applied (with gradients unscaled first).
    opt.zero_grad()
    scaler.scale(p.sum()).backward()
    ctx.value("gs_scaled_grad", p.grad[0].item())
    scaler.step(opt)
    scaler.update()
    ctx.value("gs_param_after_ok_step", p[0].item())

    # autocast on CPU with bfloat16: what runs in which dtype.
    torch.manual_seed(0)
    lin = nn.Linear(16, 4)
    x = torch.randn(8, 16)
    target = torch.randn(8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = lin(x)
        loss = F.mse_loss(out, target)
    loss.backward()
    ctx.value("ac_input_dtype", str(x.dtype).removeprefix("torch."))
    ctx.value("ac_out_dtype", str(out.dtype).removeprefix("torch."))
    ctx.value("ac_loss_dtype", str(loss.dtype).removeprefix("torch."))
    ctx.value("ac_weight_dtype", str(lin.weight.dtype).removeprefix("torch."))
    ctx.value("ac_grad_dtype", str(lin.weight.grad.dtype).removeprefix("torch."))

    # The old namespace: constructing torch.cuda.amp.autocast warns (on any machine).
    msgs = warning_messages(lambda: torch.cuda.amp.autocast())
    future = [m for c, m in msgs if c == "FutureWarning"]
    ctx.value("cuda_amp_warning", future[0] if future else "none")
    msgs = warning_messages(lambda: torch.cuda.amp.GradScaler())
    ctx.value("cuda_scaler_warns", any(c == "FutureWarning" for c, _ in msgs))
    return fmts


# --------------------------------------------------------------------------------------------
# 3. TorchScript and export
# --------------------------------------------------------------------------------------------
class SignGate(nn.Module):
    """Data-dependent control flow: doubles x if its sum is positive, else negates it."""

    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return -x


def export_facts(ctx):
    model = SignGate()
    example = torch.tensor([1.0, 2.0, 3.0])
    other = torch.tensor([-1.0, -2.0, -3.0])
    holder = {}

    def do_trace():
        holder["traced"] = torch.jit.trace(model, example)

    def do_script():
        holder["scripted"] = torch.jit.script(model)

    trace_msgs = warning_messages(do_trace)
    script_msgs = warning_messages(do_script)
    ctx.value("jit_example", example)
    ctx.value("jit_other", other)
    ctx.value("jit_eager_other", model(other))
    ctx.value("jit_traced_other", holder["traced"](other))
    ctx.value("jit_scripted_other", holder["scripted"](other))
    ctx.value("jit_traced_wrong", not torch.equal(holder["traced"](other), model(other)))
    ctx.value("jit_scripted_right", torch.equal(holder["scripted"](other), model(other)))
    ctx.value("jit_tracer_warned", any(c == "TracerWarning" for c, _ in trace_msgs))
    deprec = [m for c, m in script_msgs if c == "DeprecationWarning"]
    ctx.value("jit_script_deprecation", deprec[0] if deprec else "none")
    ctx.value("jit_script_deprecated", bool(deprec))
    # torch.onnx.export: which exporter is the default in this version (no onnx package needed).
    dyn_default = inspect.signature(torch.onnx.export).parameters["dynamo"].default
    ctx.value("onnx_dynamo_default", bool(dyn_default))


# --------------------------------------------------------------------------------------------
# 4. Quantization
# --------------------------------------------------------------------------------------------
def affine_qparams(lo, hi, qmin, qmax):
    """Scale and zero point that map [lo, hi] (widened to include 0) onto the integers [qmin, qmax]."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (qmax - qmin)
    zero_point = round(qmin - lo / scale)
    return scale, zero_point


def quantization(ctx):
    torch.manual_seed(0)
    w = 0.1 * torch.randn(4096)  # a weight-like tensor
    lo, hi = w.min().item(), w.max().item()
    scale, zp = affine_qparams(lo, hi, 0, 255)
    with warnings.catch_warnings():  # quantized tensor creation is deprecated in recent torch
        warnings.simplefilter("ignore")
        q = torch.quantize_per_tensor(w, scale, zp, torch.quint8)
    manual = torch.clamp(torch.round(w / scale) + zp, 0, 255).to(torch.uint8)
    deq = q.dequantize()
    err = deq - w
    ctx.value("q_n", w.numel())
    ctx.value("q_min", lo)
    ctx.value("q_max", hi)
    ctx.value("q_scale", scale)
    ctx.value("q_zero_point", zp)
    ctx.value("q_manual_matches", bool(torch.equal(q.int_repr(), manual)))
    ctx.value("q_max_err", err.abs().max())
    ctx.value("q_half_scale", scale / 2)
    ctx.value("q_max_err_steps", err.abs().max() / scale)  # in units of the step size s
    ctx.value("q_err_within_half_step", bool(err.abs().max().item() <= scale / 2 * (1 + 1e-6)))
    ctx.value("q_rel_rmse", err.pow(2).mean().sqrt() / w.pow(2).mean().sqrt())
    # Zero is exactly representable (it maps to the zero point), which padding and ReLU rely on.
    zero_back = torch.quantize_per_tensor(torch.zeros(1), scale, zp, torch.quint8).dequantize().item()
    ctx.value("q_zero_exact", zero_back == 0.0)
    # A worked single value.
    v = 0.123
    qv = torch.quantize_per_tensor(torch.tensor([v]), scale, zp, torch.quint8)
    ctx.value("q_v", v)
    ctx.value("q_v_int", int(qv.int_repr().item()))
    ctx.value("q_v_back", qv.dequantize().item())

    # Memory per element and for a model of a given size.
    f32 = torch.empty(0, dtype=torch.float32).element_size()
    i8 = torch.empty(0, dtype=torch.int8).element_size()
    i4_bytes = 0.5  # two 4-bit values per byte
    n_llm = 7e9
    ctx.value("bytes_fp32", f32)
    ctx.value("bytes_fp16", torch.empty(0, dtype=torch.float16).element_size())
    ctx.value("bytes_int8", i8)
    ctx.value("int8_mem_ratio", f32 / i8)
    ctx.value("llm_params_b", n_llm / 1e9)
    ctx.value("llm_gb_fp32", n_llm * f32 / 1e9)
    ctx.value("llm_gb_fp16", n_llm * 2 / 1e9)
    ctx.value("llm_gb_int8", n_llm * i8 / 1e9)
    ctx.value("llm_gb_int4", n_llm * i4_bytes / 1e9)

    # Dynamic post-training quantization of a small MLP.
    torch.manual_seed(0)
    dims = (256, 256, 10)
    mlp = nn.Sequential(nn.Linear(dims[0], dims[1]), nn.ReLU(), nn.Linear(dims[1], dims[2])).eval()
    holder = {}

    def do_quantize():
        holder["q"] = torch.ao.quantization.quantize_dynamic(mlp, {nn.Linear}, dtype=torch.qint8)

    msgs = warning_messages(do_quantize)
    qmlp = holder["q"]
    xq = torch.randn(64, dims[0])
    with torch.no_grad():
        ref, got = mlp(xq), qmlp(xq)
    ctx.value("qd_dims", list(dims))
    ctx.value("qd_module", qmlp[0]._get_name())
    ctx.value("qd_max_abs_err", (got - ref).abs().max())
    ctx.value("qd_out_scale", ref.abs().max())
    ctx.value("qd_rel_err", (got - ref).norm() / ref.norm())
    ctx.value("qd_argmax_agree", (got.argmax(1) == ref.argmax(1)).float().mean())
    ctx.value("qd_size_ratio", nbytes(mlp.state_dict()) / nbytes(qmlp.state_dict()))
    ctx.value("qd_deprecated", any("torchao" in m for _, m in msgs))
    return err, scale


# --------------------------------------------------------------------------------------------
# 5. A complete training loop
# --------------------------------------------------------------------------------------------
def seed_everything(seed):
    """Seed every RNG a training run may touch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA generators


def curve_data(n, seed):
    """1-D noisy sine: few points and a wide net overfit, so early stopping has work to do."""
    g = torch.Generator().manual_seed(seed)
    x = 4 * torch.rand(n, 1, generator=g) - 2
    y = torch.sin(3 * x) + NOISE * torch.randn(n, 1, generator=g)
    return x, y


NOISE = 0.3
LOOP = {
    "n_train": 32,
    "n_val": 100,
    "batch": 16,
    "val_batch": 32,
    "epochs": 100,
    "patience": 15,
    "lr": 3e-3,
    "clip": 1.0,
    "width": 128,
}


def train_loop(seed, epochs=None):
    """The full loop; returns per-epoch train/val loss, best epoch, stop epoch and the best val loss."""
    c = dict(LOOP, epochs=epochs or LOOP["epochs"])
    seed_everything(seed)
    xtr, ytr = curve_data(c["n_train"], seed=10)
    xva, yva = curve_data(c["n_val"], seed=11)
    w = c["width"]
    model = mlp(1, w, w, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=0.0)
    steps_per_epoch = math.ceil(c["n_train"] / c["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=c["lr"], total_steps=c["epochs"] * steps_per_epoch)
    best, best_epoch, wait, best_state = float("inf"), 0, 0, None
    train_hist, val_hist = [], []
    stop_epoch = c["epochs"]
    for epoch in range(1, c["epochs"] + 1):
        model.train()
        perm = torch.randperm(c["n_train"])
        total = 0.0
        for i in range(0, c["n_train"], c["batch"]):
            idx = perm[i : i + c["batch"]]
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.mse_loss(model(xtr[idx]), ytr[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        train_hist.append(total / c["n_train"])
        val = evaluate(model, xva, yva, c["val_batch"])[0]
        val_hist.append(val)
        if val < best:
            best, best_epoch, wait = val, epoch, 0
            best_state = _saved(model.state_dict())  # in memory; a file in real life
        else:
            wait += 1
            if wait >= c["patience"]:
                stop_epoch = epoch
                break
    model.load_state_dict(torch.load(io.BytesIO(best_state)))
    restored = evaluate(model, xva, yva, c["val_batch"])
    return {
        "train": train_hist,
        "val": val_hist,
        "best_epoch": best_epoch,
        "stop": stop_epoch,
        "best": best,
        "restored": restored,
        "params": torch.cat([p.flatten() for p in model.parameters()]),
    }


@torch.no_grad()
def evaluate(model, x, y, batch):
    """Validation loss averaged over examples (not over batches), plus the naive mean of batch means."""
    model.eval()
    total, batch_means = 0.0, []
    for i in range(0, x.shape[0], batch):
        per_example = F.mse_loss(model(x[i : i + batch]), y[i : i + batch], reduction="none").squeeze(1)
        total += per_example.sum().item()
        batch_means.append(per_example.mean().item())
    return total / x.shape[0], sum(batch_means) / len(batch_means)


def training_loop(ctx):
    a = train_loop(seed=0)
    # Reproducibility: two short runs from the same seed (short to save build time).
    short = 5
    b1, b2 = train_loop(seed=0, epochs=short), train_loop(seed=0, epochs=short)
    c = LOOP
    ctx.value("loop_n_train", c["n_train"])
    ctx.value("loop_n_val", c["n_val"])
    ctx.value("loop_batch", c["batch"])
    ctx.value("loop_val_batch", c["val_batch"])
    ctx.value("loop_max_epochs", c["epochs"])
    ctx.value("loop_patience", c["patience"])
    ctx.value("loop_clip", c["clip"])
    ctx.value("loop_best_epoch", a["best_epoch"])
    ctx.value("loop_stop_epoch", a["stop"])
    ctx.value("loop_best_val", a["best"])
    ctx.value("loop_last_val", a["val"][-1])
    ctx.value("loop_last_train", a["train"][-1])
    ctx.value("loop_restored_val", a["restored"][0])
    ctx.value("loop_restored_matches_best", abs(a["restored"][0] - a["best"]) < 1e-6)
    ctx.value("loop_stopped_early", a["stop"] < c["epochs"])
    ctx.value("loop_stop_gap_is_patience", a["stop"] - a["best_epoch"] == c["patience"])
    ctx.value("loop_naive_val", a["restored"][1])
    ctx.value("loop_val_last_batch", c["n_val"] % c["val_batch"])
    ctx.value("loop_rerun_epochs", short)
    ctx.value("loop_rerun_param_diff", (b1["params"] - b2["params"]).abs().max())
    ctx.value("loop_rerun_same_curve", b1["val"] == b2["val"])
    return a


# --------------------------------------------------------------------------------------------
# compute
# --------------------------------------------------------------------------------------------
def compute(ctx):
    checkpoint_facts(ctx)
    losses, full, model_only, no_rng = resume_experiment(ctx)
    fmts = mixed_precision(ctx)
    export_facts(ctx)
    err, scale = quantization(ctx)
    loop = training_loop(ctx)
    half = len(losses) - len(full)

    def draw_resume(fig):
        ax = fig.subplots()
        start = half // 2  # zoom in: the first steps are identical for every run anyway
        steps = list(range(start + 1, len(losses) + 1))
        after = steps[half - start :]
        ax.plot(steps, losses[start:], color="C0", lw=2, label="uninterrupted")
        ax.plot(after, full, "o", color="C1", ms=3, label="resumed: full checkpoint")
        ax.plot(after, model_only, color="C2", label="resumed: model only")
        ax.plot(after, no_rng, "--", color="C3", label="resumed: RNG not restored")
        ax.axvline(half, color="C4", ls=":", lw=1.5)
        ax.text(
            half + 1,
            0.03,
            "checkpoint",
            transform=ax.get_xaxis_transform(),
            ha="left",
            va="bottom",
            color="C4",
            fontsize="small",
        )
        ax.set_xlabel("training step")
        ax.set_ylabel("full-data MSE")
        ax.set_title("Resuming from a checkpoint")
        shown = losses[start:] + model_only + no_rng
        lo, hi = min(shown), max(shown)
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.6 * (hi - lo))  # headroom for the legend
        ax.legend(fontsize="x-small", loc="upper left")

    ctx.figure("resume_curves", draw_resume)

    def draw_ranges(fig):
        ax = fig.subplots()
        names = ["fp32", "bf16", "fp16"]
        for i, name in enumerate(names):
            f = fmts[name]
            ax.plot([f["subnormal"], f["normal"]], [i, i], color=f"C{i}", lw=3, alpha=0.45)
            ax.plot([f["normal"], f["max"]], [i, i], color=f"C{i}", lw=7, solid_capstyle="butt")
            ax.text(f["max"] * 4, i, f"max {f['max']:.3g}", va="center", fontsize="small")
        g = 1e-8
        ax.axvline(g, color="C3", ls="--", lw=1.2)
        ax.text(g, 2.45, "grad 1e-8", color="C3", ha="center", fontsize="small")
        ax.set_xscale("log")
        ax.set_xlim(1e-47, 1e48)
        ax.set_ylim(-0.6, 2.8)
        ax.set_yticks(range(len(names)), names)
        ax.set_xticks([1e-40, 1e-20, 1, 1e20, 1e40])
        ax.set_xlabel("magnitude (thin: subnormal)")
        ax.set_title("Representable positive magnitudes")

    ctx.figure("float_ranges", draw_ranges)

    def draw_quant(fig):
        ax1, ax2 = fig.subplots(1, 2)
        # Left: the quantize-dequantize staircase, with 4 bits so the steps are visible.
        xs = torch.linspace(-1, 1, 801)
        s4, z4 = affine_qparams(-1.0, 1.0, 0, 15)
        q4 = (torch.clamp(torch.round(xs / s4) + z4, 0, 15) - z4) * s4
        ax1.plot(xs.tolist(), xs.tolist(), color="C0", lw=1, ls="--", label="x")
        ax1.plot(xs.tolist(), q4.tolist(), color="C1", lw=2, label="dequant(quant(x))")
        ax1.set_title("4-bit staircase")
        ax1.set_xlabel("x")
        ax1.legend(fontsize="x-small", loc="upper left")
        # Right: int8 round-trip error of the weight tensor, in units of the step size.
        ax2.hist((err / scale).tolist(), bins=30, color="C2")
        ax2.axvline(-0.5, color="C3", ls="--")
        ax2.axvline(0.5, color="C3", ls="--")
        ax2.set_title("int8 error / scale")
        ax2.set_xlabel("error in steps")
        ax2.set_yticks([])

    ctx.figure("quant_error", draw_quant, width=4.6)

    def draw_loop(fig):
        ax = fig.subplots()
        ep = list(range(1, len(loop["val"]) + 1))
        ax.plot(ep, loop["train"], color="C0", label="train")
        ax.plot(ep, loop["val"], color="C1", label="validation")
        ax.axvline(loop["best_epoch"], color="C2", ls="--", lw=1.5, label=f"best (epoch {loop['best_epoch']})")
        ax.axvline(loop["stop"], color="C3", ls=":", lw=1.5, label=f"stopped (epoch {loop['stop']})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE")
        ax.set_title("Early stopping on validation loss")
        ax.legend(fontsize="x-small", loc="lower left")

    ctx.figure("loop_curves", draw_loop)
