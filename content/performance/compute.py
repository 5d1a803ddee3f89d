"""Performance engineering: FLOPs, bytes, profiles, graph breaks and errors all come from torch here.

Sections (in card order):
  1. MFU for a stated training run (PaLM's formula), and HFU with full recomputation.
  2. Arithmetic intensity: FLOPs counted by FlopCounterMode on meta tensors (nothing is computed),
     bytes from the tensors' sizes; the roofline of an A100 (datasheet peak and bandwidth).
  3. torch.profiler on one real Adam step of an MLP on the CPU: which ops, how many calls, FLOPs.
  4. Hidden host-device syncs: data-dependent output shapes, and the static-shape rewrite.
  5. torch.compile graph breaks, counted by torch._dynamo.explain; recompilation and dynamic shapes.
  6. The CUDA caching allocator's segment rules, simulated (the build has no GPU): fragmentation and
     expandable segments.
  7. In-place operations and autograd's version counter; the real error messages.
  8. Drill: weight memory per dtype, from the parameters of real (meta-device) modules built to
     published configurations, cross-checked on a small CPU module.
"""

import contextlib
import io
import logging
import math
import os
import sys
import warnings

import torch
import torch._dynamo
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

MiB = 2**20

# NVIDIA A100 80GB SXM datasheet: BF16 Tensor Core 312 TFLOP/s (dense), HBM2e 2,039 GB/s.
A100_PEAK = 312e12
A100_BW = 2039e9


def first_line(text):
    return str(text).strip().splitlines()[0]


# --------------------------------------------------------------------------------------------
# 1. MFU
# --------------------------------------------------------------------------------------------
def mfu(ctx):
    # A stated run: a 7B-parameter decoder (32 layers, d_model 4096 = 32 heads x 128, sequence 4096),
    # 64 A100s, observed throughput 190,000 tokens/s in total.
    n, layers, heads, head_dim, seq = 7e9, 32, 32, 128, 4096
    gpus, tokens_per_s = 64, 190_000
    dense = 6 * n
    attn = 12 * layers * heads * head_dim * seq  # PaLM, Appendix B
    peak = gpus * A100_PEAK
    ctx.value("mfu_n_b", n / 1e9)
    ctx.value("mfu_layers", layers)
    ctx.value("mfu_d", heads * head_dim)
    ctx.value("mfu_seq", seq)
    ctx.value("mfu_gpus", gpus)
    ctx.value("mfu_tps", tokens_per_s)
    ctx.value("a100_tflops", A100_PEAK / 1e12)
    ctx.value("a100_bw_gbs", A100_BW / 1e9)
    ctx.value("mfu_dense_gflop", dense / 1e9)
    ctx.value("mfu_attn_gflop", attn / 1e9)
    ctx.value("mfu_attn_share", attn / (dense + attn))
    ctx.value("mfu_achieved_pflops", (dense + attn) * tokens_per_s / 1e15)
    ctx.value("mfu_peak_pflops", peak / 1e15)
    ctx.value("mfu_6n", dense * tokens_per_s / peak)
    ctx.value("mfu_full", (dense + attn) * tokens_per_s / peak)
    # Full activation recomputation adds one forward (2N + 4LHQT per token): hardware FLOPs.
    hw = 8 * n + 16 * layers * heads * head_dim * seq
    ctx.value("hfu_full", hw * tokens_per_s / peak)
    # Time to train on 1T tokens at this throughput.
    ctx.value("mfu_days_1t", 1e12 / tokens_per_s / 86400)


# --------------------------------------------------------------------------------------------
# 2. Arithmetic intensity and the roofline
# --------------------------------------------------------------------------------------------
def matmul_intensity(m, k, n, dtype=torch.bfloat16):
    """FLOPs (counted by FlopCounterMode on meta tensors) and bytes of reading A, B and writing C."""
    a = torch.empty(m, k, dtype=dtype, device="meta")
    b = torch.empty(k, n, dtype=dtype, device="meta")
    with FlopCounterMode(display=False) as fc:
        c = a @ b
    flops = fc.get_total_flops()
    nbytes = a.nbytes + b.nbytes + c.nbytes
    return flops, nbytes


def roofline(ctx):
    ridge = A100_PEAK / A100_BW
    ctx.value("ridge", ridge)

    sizes = [256, 1024, 4096]
    mm = {}
    for s in sizes:
        f, b = matmul_intensity(s, s, s)
        mm[s] = (f, b, f / b)
    ctx.value("ai_mm_n", 4096)
    ctx.value("ai_mm_flops", mm[4096][0])
    ctx.value("ai_mm_bytes", mm[4096][1])
    ctx.value("ai_mm_4096", mm[4096][2])
    ctx.value("ai_mm_256", mm[256][2])
    ctx.value("ai_mm_1024", mm[1024][2])
    ctx.value("ai_mm_time_compute_us", mm[4096][0] / A100_PEAK * 1e6)
    ctx.value("ai_mm_time_memory_us", mm[4096][1] / A100_BW * 1e6)

    # Elementwise: FlopCounterMode counts only matmul-like ops, so an add's FLOPs are its output size.
    numel = 2**30
    x = torch.empty(numel, dtype=torch.bfloat16, device="meta")
    with FlopCounterMode(display=False) as fc:
        y = x + x
    ctx.value("ew_counted_flops", fc.get_total_flops())
    add_flops, add_bytes = y.numel(), 2 * x.nbytes + y.nbytes
    relu_flops, relu_bytes = y.numel(), x.nbytes + y.nbytes
    ctx.value("ew_numel", numel)
    ctx.value("ai_add", add_flops / add_bytes)
    ctx.value("ai_relu", relu_flops / relu_bytes)
    ctx.value("ew_time_memory_ms", add_bytes / A100_BW * 1e3)
    ctx.value("ew_time_compute_us", add_flops / A100_PEAK * 1e6)
    ctx.value("ew_gb", add_bytes / 1e9)
    ctx.value("ew_achievable_tflops", add_flops / add_bytes * A100_BW / 1e12)

    # Matrix-vector (batch-1 decoding through a d x d layer) vs a batch of B tokens.
    d = 4096
    f1, b1 = matmul_intensity(1, d, d)
    ctx.value("mv_d", d)
    ctx.value("ai_mv", f1 / b1)
    batch_ai = {}
    for bsz in (1, 8, 64, 256, 1024, 4096):
        f, b = matmul_intensity(bsz, d, d)
        batch_ai[bsz] = f / b
    b_needed = next(bsz for bsz in range(1, 4097) if (lambda fb: fb[0] / fb[1])(matmul_intensity(bsz, d, d)) >= ridge)
    ctx.value("lin_b_needed", b_needed)
    ctx.value("lin_ai_64", batch_ai[64])
    ctx.value("lin_ai_1024", batch_ai[1024])

    # Fusion: relu(x) * 2 + 1 as three separate elementwise kernels vs one fused kernel (bf16).
    n3 = 2**20
    t = torch.empty(n3, dtype=torch.bfloat16, device="meta")
    one = t.nbytes  # bytes of one tensor of this size
    unfused = 3 * 2 * one  # each of the 3 kernels reads one tensor and writes one
    fused = 2 * one
    ctx.value("fuse_ops", 3)
    ctx.value("fuse_unfused_mib", unfused / MiB)
    ctx.value("fuse_fused_mib", fused / MiB)
    ctx.value("fuse_ratio", unfused / fused)
    ctx.value("fuse_numel", n3)

    pts = [("add (bf16)", add_flops / add_bytes, "C1", (6, -12)), ("matrix-vector", f1 / b1, "C1", (6, -12)),
           ("matmul 256³", mm[256][2], "C0", (-72, -3)), ("matmul 4096³", mm[4096][2], "C0", (-30, -16))]

    def draw(fig):
        ax = fig.subplots()
        xs = [10 ** (e / 20) for e in range(-20, 81)]  # 0.1 .. 10^4 FLOP/byte
        ax.plot(xs, [min(A100_PEAK, x * A100_BW) / 1e12 for x in xs], color="black", lw=1.5)
        ax.axvline(ridge, color="grey", lw=0.8, ls="--")
        ax.text(ridge * 1.15, 0.5, f"ridge\n{ridge:.0f}", fontsize=9, color="grey")
        for label, ai, color, offset in pts:
            y = min(A100_PEAK, ai * A100_BW) / 1e12
            ax.plot(ai, y, "o", color=color, ms=6)
            ax.annotate(label, (ai, y), textcoords="offset points", xytext=offset, fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(0.08, 2e4)
        ax.set_ylim(0.1, 1000)
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("attainable TFLOP/s")
        ax.set_title("Roofline of an A100 (bf16)")

    ctx.figure("perf_roofline", draw)


# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _native_stderr_muted():
    """Kineto (the profiler's C++ side) prints `USDT: profiler_start/stop` on file descriptor 2 at every
    profile, whatever KINETO_LOG_LEVEL says; a build's stderr is for the author's warnings, so send
    those two lines to /dev/null for the profiled step alone."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# 3. torch.profiler on a training step
# --------------------------------------------------------------------------------------------
def profiler(ctx):
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    dims, batch = (256, 1024, 1024, 10), 512
    model = nn.Sequential(nn.Linear(dims[0], dims[1]), nn.ReLU(), nn.Linear(dims[1], dims[2]), nn.ReLU(),
                          nn.Linear(dims[2], dims[3]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, dims[0]), torch.randint(0, dims[3], (batch,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up: Adam's state is created on the first step
    with _native_stderr_muted(), profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        step()
    rows = list(prof.key_averages())
    by_name = {r.key: r for r in rows}
    mm, addmm = by_name["aten::mm"], by_name["aten::addmm"]
    total_flops = sum(r.flops for r in rows)
    ctx.value("prof_batch", batch)
    ctx.value("prof_dims", " → ".join(str(d) for d in dims))
    ctx.value("prof_mm_calls", mm.count)
    ctx.value("prof_addmm_calls", addmm.count)
    ctx.value("prof_mm_gflop", mm.flops / 1e9)
    ctx.value("prof_addmm_gflop", addmm.flops / 1e9)
    ctx.value("prof_matmul_flop_share", (mm.flops + addmm.flops) / total_flops)
    ctx.value("prof_n_ops", len(rows))
    # Which ops take the most self CPU time (timings vary run to run; only the ranking is shown).
    ranked = sorted((r for r in rows if r.key.startswith("aten::")), key=lambda r: -r.self_cpu_time_total)
    top2 = sorted(r.key for r in ranked[:2])
    ctx.value("prof_top2", ", ".join(top2))
    self_total = sum(r.self_cpu_time_total for r in rows)
    ctx.value("prof_matmul_majority", (mm.self_cpu_time_total + addmm.self_cpu_time_total) > self_total / 2)
    adam = next(r for r in rows if r.key.startswith("Optimizer.step#Adam"))
    ctx.value("prof_adam_key", adam.key)
    ctx.value("prof_adam_self_lt_total", adam.self_cpu_time_total < adam.cpu_time_total)
    # Expected matmul counts: forward one addmm per Linear; backward one mm for each weight gradient
    # and one for each input gradient except the first layer's (its input needs no gradient).
    n_lin = len(dims) - 1
    ctx.value("prof_n_linear", n_lin)
    assert mm.count == 2 * n_lin - 1 and addmm.count == n_lin


# --------------------------------------------------------------------------------------------
# 4. Hidden syncs: data-dependent shapes
# --------------------------------------------------------------------------------------------
def syncs(ctx):
    torch.manual_seed(0)
    a, b = torch.randn(8), torch.randn(8)
    ctx.value("sync_in_shape", list(a.shape))
    ctx.value("sync_mask_a", list(a[a > 0].shape))
    ctx.value("sync_mask_b", list(b[b > 0].shape))
    ctx.value("sync_nz_a", list(torch.nonzero(a > 0).shape))
    ctx.value("sync_where_shape", list(torch.where(a > 0, a, 0.0).shape))
    ok = torch.allclose(a[a > 0].sum(), torch.where(a > 0, a, 0.0).sum())
    ctx.value("sync_where_same_sum", bool(ok))
    ctx.value("sync_mask_sum", a[a > 0].sum())


# --------------------------------------------------------------------------------------------
# 5. torch.compile: graph breaks, recompilation
# --------------------------------------------------------------------------------------------
def branch(x):
    y = x * 2 if x.sum() > 0 else x  # a Python branch on a tensor's value
    return y.cos()


def printer(x):
    y = x.sin()
    print(y)
    return y.cos()


def item(x):
    y = x.sin()
    s = y.sum().item()
    return y.cos() * s


def masked(x):
    y = x[x > 0]  # output shape depends on the data
    return y.cos()


def branchless(x):
    y = torch.where(x.sum() > 0, x * 2, x)
    return y.cos()


@contextlib.contextmanager
def quiet_dynamo():
    """Dynamo logs a warning for each .item() graph break; the cards report the reasons instead."""
    log = logging.getLogger("torch._dynamo")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def compile_cards(ctx):
    x = torch.randn(8)
    fns = {"branch": branch, "print": printer, "item": item, "mask": masked, "where": branchless}
    for name, fn in fns.items():
        torch._dynamo.reset()
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), warnings.catch_warnings(), quiet_dynamo():
            warnings.simplefilter("ignore")
            out = torch._dynamo.explain(fn)(x)
        ctx.value(f"dx_{name}_graphs", out.graph_count)
        ctx.value(f"dx_{name}_breaks", out.graph_break_count)
        reason = first_line(out.break_reasons[0].reason) if out.break_reasons else "none"
        ctx.value(f"dx_{name}_reason", reason)
    # The branch-free rewrite computes the same thing.
    ctx.value("dx_where_same", bool(torch.allclose(branch(x), branchless(x))))

    # Recompilation: a new input size after the first call recompiles once, with a dynamic size.
    torch._dynamo.reset()
    frames = []

    def counting_backend(gm, example_inputs):
        frames.append(len(example_inputs))
        return gm.forward

    f = torch.compile(lambda t: (t.sin() * 2).sum(), backend=counting_backend)
    sizes = [4, 8, 16, 32]
    counts = []
    for n in sizes:
        f(torch.randn(n))
        counts.append(len(frames))
    ctx.value("rc_sizes", sizes)
    ctx.value("rc_counts", counts)
    torch._dynamo.reset()


# --------------------------------------------------------------------------------------------
# 6. The CUDA caching allocator, simulated
# --------------------------------------------------------------------------------------------
def round_size(n):
    """Every request is rounded up to a multiple of 512 bytes."""
    return max(512, math.ceil(n / 512) * 512)


def segment_size(n):
    """Size of the cudaMalloc segment made for a request of n bytes when no cached block fits."""
    if n <= 1 * MiB:
        return 2 * MiB  # small pool
    if n < 10 * MiB:
        return 20 * MiB
    return math.ceil(n / (2 * MiB)) * 2 * MiB


class CachingAllocator:
    """The caching allocator's large pool in miniature: best-fit over cached free blocks, split a
    block when it is larger than needed, merge only with free neighbours in the same segment.

    expandable=True: one segment that grows in 20 MiB pages, so all blocks can merge."""

    def __init__(self, expandable=False, page=20 * MiB):
        self.segments = []  # each: list of [size, free] blocks, in address order
        self.expandable, self.page = expandable, page
        self.live = {}
        self.next_id = 0

    def reserved(self):
        return sum(sum(b[0] for b in seg) for seg in self.segments)

    def allocated(self):
        return sum(b[0] for seg in self.segments for b in seg if not b[1])

    def malloc(self, n):
        n = round_size(n)
        best = None
        for seg in self.segments:
            for i, (size, free) in enumerate(seg):
                if free and size >= n and (best is None or size < best[0][best[1]][0]):
                    best = (seg, i)
        if best is None:
            if self.expandable:
                if not self.segments:
                    self.segments.append([])
                seg = self.segments[0]
                grow = n - (seg[-1][0] if seg and seg[-1][1] else 0)
                pages = math.ceil(grow / self.page)
                if seg and seg[-1][1]:
                    seg[-1][0] += pages * self.page
                else:
                    seg.append([pages * self.page, True])
                best = (seg, len(seg) - 1)
            else:
                self.segments.append([[segment_size(n), True]])
                best = (self.segments[-1], 0)
        seg, i = best
        size = seg[i][0]
        block = [n, False]
        seg[i:i + 1] = [block] + ([[size - n, True]] if size > n else [])
        self.next_id += 1
        self.live[self.next_id] = block
        return self.next_id

    def free(self, handle):
        block = self.live.pop(handle)
        block[1] = True
        for seg in self.segments:  # merge adjacent free blocks inside each segment
            merged = []
            for b in seg:
                if merged and merged[-1][1] and b[1]:
                    merged[-1][0] += b[0]
                else:
                    merged.append(b)
            seg[:] = merged


def allocator(ctx):
    ctx.value("al_round_1000", round_size(1000))
    ctx.value("al_seg_small", segment_size(100_000) / MiB)
    ctx.value("al_seg_mid", segment_size(3 * MiB) / MiB)
    ctx.value("al_seg_big_req", 13)
    ctx.value("al_seg_big", segment_size(13 * MiB) / MiB)

    def scenario(first, second, expandable=False):
        al = CachingAllocator(expandable=expandable)
        hs = [al.malloc(first[1] * MiB) for _ in range(first[0])]
        for h in hs:
            al.free(h)
        hs = [al.malloc(second[1] * MiB) for _ in range(second[0])]
        return al.reserved() / MiB, al.allocated() / MiB, len(al.segments)

    small_large = scenario((8, 16), (4, 32))
    large_small = scenario((4, 32), (8, 16))
    expandable = scenario((8, 16), (4, 32), expandable=True)
    ctx.value("fr_sl_reserved", small_large[0])
    ctx.value("fr_sl_allocated", small_large[1])
    ctx.value("fr_sl_segments", small_large[2])
    ctx.value("fr_ls_reserved", large_small[0])
    ctx.value("fr_ex_reserved", expandable[0])
    ctx.value("fr_ex_segments", expandable[2])
    assert small_large[0] == 256 and large_small[0] == 128

    # Live blocks pin the splits: four 16 MiB tensors, free #0 and #2, then ask for 32 MiB.
    al = CachingAllocator(expandable=True)
    hs = [al.malloc(16 * MiB) for _ in range(4)]
    al.free(hs[0])
    al.free(hs[2])
    before = al.reserved()
    free_total = before - al.allocated()
    al.malloc(32 * MiB)
    ctx.value("pin_free_mib", free_total / MiB)
    ctx.value("pin_reserved_before", before / MiB)
    ctx.value("pin_reserved_after", al.reserved() / MiB)

    bars = [("small, then\nlarge", small_large[0]), ("large, then\nsmall", large_small[0]),
            ("small, then large\n(expandable)", expandable[0])]

    def draw(fig):
        ax = fig.subplots()
        xs = range(len(bars))
        ax.bar(xs, [b[1] for b in bars], width=0.55, color="C0", label="reserved")
        ax.bar(xs, [small_large[1]] * len(bars), width=0.3, color="C1", label="allocated (128 MiB)")
        for x, (_, r) in zip(xs, bars, strict=True):
            ax.text(x, r + 5, f"{r:.0f}", ha="center", fontsize=10)
        ax.set_xticks(list(xs), [b[0] for b in bars], fontsize=9)
        ax.set_ylabel("MiB")
        ax.set_ylim(0, 300)
        ax.set_title("Reserved memory after two rounds")
        ax.legend(fontsize=9, loc="upper right")

    ctx.figure("perf_fragmentation", draw)


# --------------------------------------------------------------------------------------------
# 7. In-place operations and the version counter
# --------------------------------------------------------------------------------------------
def inplace(ctx):
    x = torch.ones(3)
    versions = [x._version]
    x.add_(1)
    versions.append(x._version)
    x[0] = 5
    versions.append(x._version)
    v = x.view(3)
    v.mul_(2)
    versions.append(x._version)
    ctx.value("vc_start", versions[0])
    ctx.value("vc_steps", versions[1:])
    ctx.value("vc_view_version", v._version)
    ctx.value("vc_before_nograd", x._version)
    with torch.no_grad():
        x.add_(1)
    ctx.value("vc_after_nograd", x._version)
    x.data.add_(1)
    ctx.value("vc_after_data", x._version)

    # Modifying a tensor that autograd saved: exp saves its output.
    a = torch.randn(3, requires_grad=True)
    b = a.exp()
    b.add_(1)
    try:
        b.sum().backward()
        msg = "no error"
    except RuntimeError as e:
        msg = str(e)
    ctx.value("ip_error", msg.split(". Hint")[0])
    ctx.value("ip_error_hint", "Hint" in msg)

    # The same modification under no_grad still bumps the version: still an error.
    a = torch.randn(3, requires_grad=True)
    b = a.exp()
    with torch.no_grad():
        b.mul_(2)
    try:
        b.sum().backward()
        ctx.value("ip_nograd_raises", False)
    except RuntimeError:
        ctx.value("ip_nograd_raises", True)

    # relu_ in place right after a Linear is fine: relu's backward needs only its own output.
    torch.manual_seed(0)
    lin = nn.Linear(4, 4)
    inp = torch.randn(2, 4)
    out = lin(inp)
    out.relu_()
    out.sum().backward()
    ctx.value("ip_relu_ok", True)
    # sin saves its input: modifying that input afterwards breaks backward.
    a = torch.randn(3, requires_grad=True)
    h = a * 2
    s = h.sin()
    h.add_(1)
    try:
        s.sum().backward()
        ctx.value("ip_sin_input_raises", False)
    except RuntimeError:
        ctx.value("ip_sin_input_raises", True)

    # Through .data the version counter does not move: a silently wrong gradient.
    a = torch.tensor([0.0, 1.0], requires_grad=True)
    b = a.exp()
    b.data.mul_(2)
    b.sum().backward()
    ctx.value("data_a", a.detach())
    ctx.value("data_grad", a.grad)
    ctx.value("data_true_grad", a.detach().exp())
    ctx.value("data_factor", (a.grad / a.detach().exp())[0])


# --------------------------------------------------------------------------------------------
# 8. Drill: weight memory per dtype
# --------------------------------------------------------------------------------------------
# Decoder-only configurations: vocabulary, width, layers, MLP hidden size, query heads, KV heads, experts.
# Llama 2 (Touvron et al., 2023): 7B as LLaMA-7B (d 4096, 32 layers, 32 heads), SwiGLU hidden 11008;
# 70B: d 8192, 80 layers, 64 heads, 8 KV heads, hidden 28672. Untied input and output embeddings.
# Mistral 7B (Jiang et al., 2023, Table 1) and Mixtral 8x7B (Jiang et al., 2024, Table 1: 8 experts).
ARCHS = {
    "llama2-7b": ("Llama 2 7B", 32000, 4096, 32, 11008, 32, 32, 1,
                  "Touvron et al., 2023, *Llama 2*, which names it 7B"),
    "llama2-70b": ("Llama 2 70B", 32000, 8192, 80, 28672, 64, 8, 1,
                   "Touvron et al., 2023, *Llama 2*, which names it 70B"),
    "mistral-7b": ("Mistral 7B", 32000, 4096, 32, 14336, 32, 8, 1,
                   "Jiang et al., 2023, *Mistral 7B*, which names it 7B"),
    "mixtral-8x7b": ("Mixtral 8x7B", 32000, 4096, 32, 14336, 32, 8, 8,
                     "Jiang et al., 2024, *Mixtral of Experts*, which rounds it to 47B"),
}
DTYPE_BITS = {"float32": 32, "bfloat16": 16, "float16": 16, "int8": 8, "int4": 4}
DTYPE_LABEL = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "int8": "int8",
               "int4": "4-bit integers, two per byte (group scales not counted)"}


def decoder(vocab, d, layers, ffn, heads, kv_heads, experts):
    """The parameter tensors of a Llama-style decoder: embeddings, attention with (grouped) K/V, SwiGLU
    experts with a router when there are several, RMSNorm gains, an untied output layer."""
    hd = d // heads

    def lin(i, o):
        return nn.Linear(i, o, bias=False)

    def block():
        attn = [lin(d, d), lin(d, kv_heads * hd), lin(d, kv_heads * hd), lin(d, d)]
        mlp = [nn.ModuleList([lin(d, ffn), lin(d, ffn), lin(ffn, d)]) for _ in range(experts)]
        router = [lin(d, experts)] if experts > 1 else []
        return nn.ModuleList([*attn, *mlp, *router, nn.RMSNorm(d), nn.RMSNorm(d)])

    return nn.ModuleList([nn.Embedding(vocab, d), *[block() for _ in range(layers)], nn.RMSNorm(d),
                          lin(d, vocab)])


def weight_bytes(model, dtype):
    """Bytes of the weights stored in `dtype`: float dtypes through Module.to, int8 one byte per weight,
    int4 two 4-bit codes packed in each uint8 (scales and zero points not counted)."""
    params = list(model.parameters())
    if dtype in ("float32", "bfloat16", "float16"):
        model.to(getattr(torch, dtype))
        return sum(p.nbytes for p in model.parameters())
    if dtype == "int8":
        return sum(torch.empty_like(p, dtype=torch.int8).nbytes for p in params)
    assert all(p.numel() % 2 == 0 for p in params)
    return sum(torch.empty(p.numel() // 2, dtype=torch.uint8, device=p.device).nbytes for p in params)


def weight_memory(model, dtype):
    name, *config, source = ARCHS[model]
    bits = DTYPE_BITS[dtype]
    with torch.device("meta"):  # shapes and dtypes only: no memory, no initialisation cost
        big = decoder(*config)
    n = sum(p.numel() for p in big.parameters())
    got = weight_bytes(big, dtype)
    assert got == n * bits // 8, (got, n, bits)  # the closed form: params x bits / 8
    small = decoder(64, 16, 2, 48, 4, 2, config[-1])  # the same rule on a real CPU module
    n_small = sum(p.numel() for p in small.parameters())
    assert weight_bytes(small, dtype) == n_small * bits // 8
    return {"name": name, "params": n, "bits": bits, "source": source, "fmt": DTYPE_LABEL[dtype],
            "gib": got / 2**30, "gb": got / 1e9, "gb_excess": 2**30 / 1e9 - 1}


def compute(ctx):
    mfu(ctx)
    roofline(ctx)
    profiler(ctx)
    syncs(ctx)
    compile_cards(ctx)
    allocator(ctx)
    inplace(ctx)
