"""Distributed training: the numbers on the cards come from real collectives and real sharded layers.

Sections (in card order):
  1. DDP: a real all-reduce between two CPU processes (gloo backend, started with subprocess and run
     in the background while the rest computes), DDP's buckets firing during backward, no_sync.
  2. DistributedSampler: shards, padding, and the same order every epoch without set_epoch.
  3. Ring all-reduce: simulated on N ranks, bytes each rank sends counted, cost of a stated model.
  4. Memory: the 16 bytes per parameter of mixed-precision Adam (real tensors), why an fp32 master
     copy, ZeRO stages 1/2/3 for the paper's 7.5B example and for GPT-3 175B.
  5. Tensor parallelism: column- and row-split Linear layers and the Megatron MLP, checked against
     the full layer.
  6. Pipeline parallelism: GPipe and 1F1B schedules simulated, bubble fraction and in-flight micro-batches.
  7. Activation checkpointing on a small Transformer: saved bytes (saved-tensor hooks) vs FLOPs.

compute() runs in a daemonic worker, and multiprocessing refuses to start children from a daemonic
process, so the two gloo ranks are separate Python processes started with subprocess. Their output is
captured (JSON on their stdout), never printed.
"""

import json
import os
import socket
import subprocess
import sys

import torch
from matplotlib.patches import Patch
from torch import nn
from torch.utils.checkpoint import checkpoint
from torch.utils.data import DistributedSampler
from torch.utils.flop_counter import FlopCounterMode

GB = 1e9
TOL = 1e-5  # "agree within" tolerance for float32 sums computed in a different order

# --------------------------------------------------------------------------------------------
# 1. A real all-reduce between two processes (gloo), and DDP
# --------------------------------------------------------------------------------------------
# Each rank: load the shared data and initial weights, compute its local gradient, all-reduce it;
# then wrap the model in DDP (tiny buckets so there are several), run two iterations recording the
# order of gradient and all-reduce events, and accumulate two micro-batches with no_sync.
RANK_SCRIPT = r'''
import json, os, sys
from datetime import timedelta
import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

torch.set_num_threads(1)
dist.init_process_group("gloo", init_method="env://", timeout=timedelta(seconds=30))
rank, world = dist.get_rank(), dist.get_world_size()
data = torch.load("gloo_data.pt")
x, y = data["x"][rank], data["y"][rank]  # this rank's shard of the batch
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
model.load_state_dict(data["state"])
loss_fn = nn.functional.mse_loss
names = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
out = {"rank": rank, "world": world, "env": {k: os.environ[k] for k in names}}


def flat(m):
    return torch.cat([p.grad.flatten() for p in m.parameters()])


loss_fn(model(x), y).backward()
g = flat(model)
out["local"] = g.tolist()
dist.all_reduce(g, op=dist.ReduceOp.SUM)
out["averaged"] = (g / world).tolist()
model.zero_grad()

ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=data["bucket_bytes"] / 2**20)
param_name = {p: n for n, p in model.named_parameters()}
events = []
for n, p in model.named_parameters():
    p.register_post_accumulate_grad_hook(lambda p, n=n: events.append(["grad", n]))


def hook(state, bucket):
    events.append(["allreduce", [param_name[p] for p in bucket.parameters()]])
    return allreduce_hook(state, bucket)


ddp.register_comm_hook(None, hook)
for it in range(2):
    ddp.zero_grad()
    events.clear()
    loss_fn(ddp(x), y).backward()
    out["events%d" % it] = list(events)
out["ddp_grad"] = flat(model).tolist()

half = x.shape[0] // 2
ddp.zero_grad()
events.clear()
with ddp.no_sync():
    loss_fn(ddp(x[:half]), y[:half]).backward()
out["nosync_grad"] = flat(model).tolist()
out["nosync_allreduces"] = sum(e[0] == "allreduce" for e in events)
events.clear()
loss_fn(ddp(x[half:]), y[half:]).backward()
out["sync_grad"] = flat(model).tolist()
out["sync_allreduces"] = sum(e[0] == "allreduce" for e in events)


class TwoHeads(nn.Module):  # the second head is never used
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(4, 1), nn.Linear(4, 1)

    def forward(self, inp):
        return self.used(inp)


two = nn.parallel.DistributedDataParallel(TwoHeads())
out["unused_error"] = "none"
for it in range(2):
    try:
        loss_fn(two(x), y).backward()
    except RuntimeError as exc:
        out["unused_error"] = str(exc).split(". ")[0]
        out["unused_error_iter"] = it
        break
dist.destroy_process_group()
sys.stdout.write(json.dumps(out))
sys.stdout.flush()
# Leave without running interpreter teardown: gloo's threads sometimes abort the process there
# ("terminate called without an active exception") after all the work is done.
os._exit(0)
'''

WORLD = 2
SHARD = 8  # examples per rank
BUCKET_BYTES = 200  # tiny buckets (the default is 25 MiB), so the 3-layer MLP gets several


def tiny_mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gloo():
    """Write the data and the rank script to the scratch directory and start both ranks."""
    torch.manual_seed(0)
    model = tiny_mlp()
    data = {"x": torch.randn(WORLD, SHARD, 4), "y": torch.randn(WORLD, SHARD, 1),
            "state": model.state_dict(), "bucket_bytes": BUCKET_BYTES}
    torch.save(data, "gloo_data.pt")
    with open("gloo_rank.py", "w") as f:
        f.write(RANK_SCRIPT)
    port = free_port()
    procs = []
    for rank in range(WORLD):
        # The variables torchrun would set for each worker.
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
                   LOCAL_WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, "gloo_rank.py"], env=env, cwd=os.getcwd(),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return procs, model, data


def collect(procs):
    """Wait for the ranks; return their results, or raise with the failing rank's stderr."""
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise RuntimeError("gloo ranks did not finish within 60 s") from None
        if p.returncode != 0:
            for q in procs:
                q.kill()
            raise RuntimeError(f"gloo rank failed ({p.returncode}): {err.decode()[-1500:]}")
        results.append(json.loads(out))
    return results


def finish_gloo(ctx, started):
    procs, _model, data = started
    try:
        results = collect(procs)
    except RuntimeError as exc:
        if "address already in use" not in str(exc).lower():
            raise
        results = collect(start_gloo()[0])  # another process took the free port first: once more
    r0, r1 = sorted(results, key=lambda r: r["rank"])

    def t(v):
        return torch.tensor(v)

    # The single-process gradient on the whole batch (both shards concatenated).
    full = tiny_mlp()
    full.load_state_dict(data["state"])
    x, y = data["x"].reshape(-1, 4), data["y"].reshape(-1, 1)
    nn.functional.mse_loss(full(x), y).backward()
    g_full = torch.cat([p.grad.flatten() for p in full.parameters()])

    local0, local1 = t(r0["local"]), t(r1["local"])
    avg0, avg1 = t(r0["averaged"]), t(r1["averaged"])
    mean_local = (local0 + local1) / 2
    ctx.value("gloo_world", r0["world"])
    ctx.value("gloo_shard", SHARD)
    ctx.value("gloo_total", WORLD * SHARD)
    ctx.value("gloo_micro", SHARD // 2)
    ctx.value("gloo_n_grads", g_full.numel())
    ctx.value("gloo_local_diff", (local0 - local1).abs().max())
    ctx.value("gloo_ranks_diff", (avg0 - avg1).abs().max())
    err_mean = (avg0 - mean_local).abs().max().item()
    err_full = (avg0 - g_full).abs().max().item()
    assert err_mean < TOL and err_full < TOL, (err_mean, err_full)
    ctx.value("gloo_tol", TOL)
    ctx.value("gloo_avg_is_mean", err_mean < TOL)
    ctx.value("gloo_avg_is_full", err_full < TOL)
    ctx.value("gloo_g0_first", local0[0])
    ctx.value("gloo_g1_first", local1[0])
    ctx.value("gloo_avg_first", avg0[0])
    ctx.value("gloo_env_names", list(r0["env"]))
    ctx.value("gloo_env_rank1", f"RANK={r1['env']['RANK']}, LOCAL_RANK={r1['env']['LOCAL_RANK']}, "
                                f"WORLD_SIZE={r1['env']['WORLD_SIZE']}")

    # DDP: the same averaged gradient, and the order of events in the second iteration.
    ddp_err = (t(r0["ddp_grad"]) - g_full).abs().max().item()
    assert ddp_err < TOL, ddp_err
    ctx.value("ddp_equals_full", ddp_err < TOL)

    def describe(events):
        steps = []
        for kind, what in events:
            if kind == "grad":
                steps.append(f"grad {what}")
            else:
                steps.append("all-reduce [" + ", ".join(what) + "]")
        return steps

    ev0, ev1 = r0["events0"], r0["events1"]
    assert r0["events1"] == r1["events1"]
    ctx.value("ddp_bucket_bytes", BUCKET_BYTES)
    ctx.value("ddp_iter1_buckets", sum(e[0] == "allreduce" for e in ev0))
    ctx.value("ddp_iter2_buckets", sum(e[0] == "allreduce" for e in ev1))
    ctx.value("ddp_iter2_events", "; ".join(describe(ev1)))
    first_ar = next(i for i, e in enumerate(ev1) if e[0] == "allreduce")
    last_grad = max(i for i, e in enumerate(ev1) if e[0] == "grad")
    ctx.value("ddp_overlap", first_ar < last_grad)  # a bucket went out before backward finished
    ctx.value("ddp_first_bucket", ", ".join(ev1[first_ar][1]))
    ctx.value("ddp_grads_after_first_bucket", ", ".join(e[1] for e in ev1[first_ar:] if e[0] == "grad"))

    # no_sync: local gradients (no all-reduce), then one synchronising backward.
    ns0, ns1 = t(r0["nosync_grad"]), t(r1["nosync_grad"])
    s0, s1 = t(r0["sync_grad"]), t(r1["sync_grad"])
    ctx.value("nosync_allreduces", r0["nosync_allreduces"])
    ctx.value("nosync_rank_diff", (ns0 - ns1).abs().max())
    ctx.value("sync_allreduces", r0["sync_allreduces"])
    ctx.value("sync_rank_diff", (s0 - s1).abs().max())
    # Expected: the average over ranks of (grad of micro-batch 1 + grad of micro-batch 2).
    half = SHARD // 2
    acc = torch.zeros_like(g_full)
    for rank in range(WORLD):
        for sl in (slice(0, half), slice(half, SHARD)):
            m = tiny_mlp()
            m.load_state_dict(data["state"])
            nn.functional.mse_loss(m(data["x"][rank][sl]), data["y"][rank][sl]).backward()
            acc += torch.cat([p.grad.flatten() for p in m.parameters()]) / WORLD
    acc_err = (s0 - acc).abs().max().item()
    assert acc_err < TOL, acc_err
    ctx.value("sync_is_avg_of_sums", acc_err < TOL)
    ctx.value("unused_error", r0["unused_error"])
    ctx.value("unused_error_iter", r0.get("unused_error_iter", -1) + 1)  # 1-based iteration


def ddp_defaults(ctx):
    import torch.distributed as dist
    import torch.nn.parallel.distributed as ddp_mod
    from torch.distributed.fsdp import ShardingStrategy

    ctx.value("ddp_default_bucket_mib", ddp_mod._DEFAULT_BUCKET_CAP_MB)
    ctx.value("ddp_first_bucket_mib", dist._DEFAULT_FIRST_BUCKET_BYTES / 2**20)
    ctx.value("fsdp_strategies", ", ".join(ShardingStrategy.__members__)
              .replace(", _HYBRID_SHARD_ZERO2", ""))


# --------------------------------------------------------------------------------------------
# 2. DistributedSampler
# --------------------------------------------------------------------------------------------
def sampler(ctx):
    n, replicas = 10, 4
    data = list(range(n))
    shards = [list(DistributedSampler(data, num_replicas=replicas, rank=r, shuffle=False)) for r in range(replicas)]
    flat = [i for s in shards for i in s]
    ctx.value("ds_n", n)
    ctx.value("ds_replicas", replicas)
    ctx.value("ds_per_rank", len(shards[0]))
    ctx.value("ds_total", len(flat))
    ctx.value("ds_duplicates", len(flat) - len(set(flat)))
    ctx.value("ds_rank0", shards[0])
    ctx.value("ds_rank1", shards[1])
    dl = DistributedSampler(data, num_replicas=replicas, rank=0, shuffle=False, drop_last=True)
    ctx.value("ds_droplast_per_rank", len(dl))

    # Without set_epoch every epoch repeats epoch 0's permutation; with it, each epoch reshuffles.
    n2 = 8
    s = DistributedSampler(list(range(n2)), num_replicas=2, rank=0, shuffle=True, seed=0)
    no_set = [list(s) for _ in range(2)]
    with_set = []
    for epoch in range(2):
        s.set_epoch(epoch)
        with_set.append(list(s))
    ctx.value("ds2_n", n2)
    ctx.value("ds2_epoch0", no_set[0])
    ctx.value("ds2_epoch1_noset", no_set[1])
    ctx.value("ds2_epoch1_set", with_set[1])
    ctx.value("ds2_same_without", no_set[0] == no_set[1])
    ctx.value("ds2_same_with", with_set[0] == with_set[1])


# --------------------------------------------------------------------------------------------
# 3. Ring all-reduce
# --------------------------------------------------------------------------------------------
def ring_allreduce(buffers):
    """Ring all-reduce (sum) of equal-length 1-D tensors, one per simulated rank.

    Reduce-scatter (N-1 steps): rank r sends chunk (r - step) to rank r+1, which adds it.
    All-gather (N-1 steps): the fully reduced chunks travel once more around the ring.
    Returns the results and the number of elements each rank sent."""
    n = len(buffers)
    chunks = [list(b.clone().chunk(n)) for b in buffers]
    sent = [0] * n
    for step in range(n - 1):  # reduce-scatter
        msgs = [(r, (r - step) % n, chunks[r][(r - step) % n].clone()) for r in range(n)]
        for r, c, data in msgs:
            chunks[(r + 1) % n][c] += data
            sent[r] += data.numel()
    for step in range(n - 1):  # all-gather: rank r owns the full sum of chunk (r + 1) % n
        msgs = [(r, (r + 1 - step) % n, chunks[r][(r + 1 - step) % n].clone()) for r in range(n)]
        for r, c, data in msgs:
            chunks[(r + 1) % n][c] = data
            sent[r] += data.numel()
    return [torch.cat(c) for c in chunks], sent


def ring(ctx):
    torch.manual_seed(0)
    n, d = 4, 1200
    bufs = [torch.randn(d) for _ in range(n)]
    out, sent = ring_allreduce(bufs)
    total = torch.stack(bufs).sum(0)
    err = max((o - total).abs().max().item() for o in out)
    assert err < TOL * 10, err
    ctx.value("ring_n", n)
    ctx.value("ring_d", d)
    ctx.value("ring_ok", err < TOL * 10)
    ctx.value("ring_tol", TOL * 10)
    ctx.value("ring_sent", sent[0])
    ctx.value("ring_factor", sent[0] / d)
    ctx.value("ring_steps", 2 * (n - 1))
    assert all(s == sent[0] for s in sent) and sent[0] == 2 * (n - 1) * d // n

    # The per-rank traffic for several N, from the simulation (d divisible by every N).
    d2 = 1680
    ns = [2, 3, 4, 6, 8, 12, 16]
    ring_frac = {}
    for k in ns:
        _, s = ring_allreduce([torch.ones(d2) for _ in range(k)])
        ring_frac[k] = s[0] / d2
    ctx.value("ring_frac_8", ring_frac[8])
    ctx.value("ring_frac_16", ring_frac[16])

    # Worked cost: a 7e9-parameter model's bf16 gradients, all-reduced across 8 GPUs, each GPU
    # sending at a stated 100 GB/s.
    params, gpus, bw = 7e9, 8, 100e9
    grad_bytes = params * 2
    per_gpu = 2 * (gpus - 1) / gpus * grad_bytes
    ctx.value("rc_params_b", params / 1e9)
    ctx.value("rc_gpus", gpus)
    ctx.value("rc_bw_gbs", bw / GB)
    ctx.value("rc_grad_gb", grad_bytes / GB)
    ctx.value("rc_factor", 2 * (gpus - 1) / gpus)
    ctx.value("rc_sent_gb", per_gpu / GB)
    ctx.value("rc_seconds", per_gpu / bw)
    ctx.value("rc_gpus_big", 64)
    ctx.value("rc_seconds_big", 2 * 63 / 64 * grad_bytes / bw)
    ctx.value("rc_root_gb", (gpus - 1) * grad_bytes / GB)

    def draw(fig):
        ax = fig.subplots()
        xs = list(range(2, 17))
        ax.plot(xs, [k - 1 for k in xs], color="C1", label="one root sums and sends back")
        ax.plot(xs, [2 * (k - 1) / k for k in xs], color="C0", label="ring: 2(N-1)/N")
        ax.plot(ns, [ring_frac[k] for k in ns], "o", color="C0", ms=5, label="ring, simulated")
        ax.set_xticks([2, 4, 8, 12, 16])
        ax.set_xlabel("number of GPUs N")
        ax.set_ylabel("data sent by the busiest GPU\n(multiples of the gradient size)")
        ax.set_title("All-reduce traffic per GPU")
        ax.legend(fontsize=9, loc="upper left")

    ctx.figure("dist_ring_traffic", draw)


# --------------------------------------------------------------------------------------------
# 4. Memory: 16 bytes per parameter, the fp32 master copy, ZeRO
# --------------------------------------------------------------------------------------------
def model_states(ctx):
    # Mixed-precision Adam as in Micikevicius et al. / ZeRO: bf16 weights and gradients for the
    # forward and backward, fp32 master weights and fp32 Adam moments for the update.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64)).to(torch.bfloat16)
    master = [p.detach().float().clone().requires_grad_() for p in model.parameters()]
    opt = torch.optim.Adam(master, lr=1e-3)
    model(torch.randn(8, 64, dtype=torch.bfloat16)).float().pow(2).mean().backward()
    for m, p in zip(master, model.parameters(), strict=True):
        m.grad = p.grad.float()
    opt.step()
    for m in master:
        m.grad = None  # the fp32 gradient copy is transient
    n = sum(p.numel() for p in model.parameters())
    parts = {
        "weights": sum(p.nbytes for p in model.parameters()),
        "grads": sum(p.grad.nbytes for p in model.parameters()),
        "master": sum(m.nbytes for m in master),
        "m": sum(opt.state[m]["exp_avg"].nbytes for m in master),
        "v": sum(opt.state[m]["exp_avg_sq"].nbytes for m in master),
    }
    for k, v in parts.items():
        ctx.value(f"mp_{k}_bpp", v / n)
    ctx.value("mp_total_bpp", sum(parts.values()) / n)
    ctx.value("mp_opt_bpp", (parts["master"] + parts["m"] + parts["v"]) / n)
    ctx.value("mp_nparams", n)

    # Why the fp32 master copy: a small update vanishes when added to a bf16 weight.
    w, upd = 1.0, 1e-3
    bf = (torch.tensor(w, dtype=torch.bfloat16) + torch.tensor(upd, dtype=torch.bfloat16)).item()
    fp = (torch.tensor(w) + torch.tensor(upd)).item()
    ctx.value("mw_w", w)
    ctx.value("mw_upd", upd)
    ctx.value("mw_bf16", bf)
    ctx.value("mw_fp32", fp)
    ctx.value("mw_bf16_eps", torch.finfo(torch.bfloat16).eps)
    steps = 1000
    wb, wf = torch.tensor(w, dtype=torch.bfloat16), torch.tensor(w)
    for _ in range(steps):
        wb = wb + torch.tensor(upd, dtype=torch.bfloat16)
        wf = wf + upd
    ctx.value("mw_steps", steps)
    ctx.value("mw_bf16_after", wb.item())
    ctx.value("mw_fp32_after", wf.item())

    # ZeRO, Rajbhandari et al. 2020, Figure 1: Psi = 7.5B parameters, N_d = 64, K = 12.
    psi, nd, k = 7.5e9, 64, 12
    stages = {
        "baseline": (2 * psi, 2 * psi, k * psi),
        "os": (2 * psi, 2 * psi, k * psi / nd),
        "os_g": (2 * psi, 2 * psi / nd, k * psi / nd),
        "os_g_p": (2 * psi / nd, 2 * psi / nd, k * psi / nd),
    }
    ctx.value("z_psi_b", psi / 1e9)
    ctx.value("z_nd", nd)
    ctx.value("z_k", k)
    for name, parts3 in stages.items():
        ctx.value(f"z_{name}_gb", sum(parts3) / GB)
    ctx.value("z_reduction", sum(stages["baseline"]) / sum(stages["os_g_p"]))

    # GPT-3 175B (Brown et al. 2020): model states alone.
    g3 = 175e9
    ctx.value("g3_params_b", g3 / 1e9)
    ctx.value("g3_states_tb", 16 * g3 / 1e12)
    ctx.value("g3_gpu_gb", 80)
    ctx.value("g3_min_gpus", 16 * g3 / 80e9)
    ctx.value("g3_nd", 64)
    ctx.value("g3_zero1_gb", (4 * g3 + 12 * g3 / 64) / GB)
    ctx.value("g3_zero3_gb", 16 * g3 / 64 / GB)

    labels = ["DDP", "ZeRO-1\n(optimizer)", "ZeRO-2\n(+ grads)", "ZeRO-3\n(+ params)"]
    values = list(stages.values())

    def draw(fig):
        ax = fig.subplots()
        xs = range(len(labels))
        bottom = [0.0] * len(labels)
        for i, (name, color) in enumerate([("16-bit params", "C0"), ("16-bit grads", "C1"),
                                           ("fp32 optimizer states", "C2")]):
            hs = [v[i] / GB for v in values]
            ax.bar(xs, hs, bottom=bottom, color=color, label=name, width=0.6)
            bottom = [b + h for b, h in zip(bottom, hs, strict=True)]
        for x, b in zip(xs, bottom, strict=True):
            ax.text(x, b + 2, f"{b:.1f}", ha="center", fontsize=10)
        ax.set_xticks(list(xs), labels, fontsize=9)
        ax.set_ylabel("GB per GPU (model states)")
        ax.set_ylim(0, 140)
        ax.set_title(f"{psi / 1e9:g}B parameters, {nd} GPUs")
        ax.legend(fontsize=9)

    ctx.figure("dist_zero_memory", draw)


# --------------------------------------------------------------------------------------------
# 5. Tensor parallelism
# --------------------------------------------------------------------------------------------
def tensor_parallel(ctx):
    torch.manual_seed(0)
    d_in, d_out, batch, tp = 16, 24, 5, 4
    full = nn.Linear(d_in, d_out)
    x = torch.randn(batch, d_in)
    y = full(x)
    W, b = full.weight.detach(), full.bias.detach()  # W: (out, in)

    # Column parallel: each GPU holds d_out / tp rows of W (output features) and that slice of b.
    cols = [x @ Wk.T + bk for Wk, bk in zip(W.chunk(tp, 0), b.chunk(tp, 0), strict=True)]
    y_col = torch.cat(cols, dim=-1)  # all-gather along features
    # Row parallel: each GPU holds d_in / tp columns of W and gets that slice of the input.
    parts = [xk @ Wk.T for xk, Wk in zip(x.chunk(tp, -1), W.chunk(tp, 1), strict=True)]
    y_row = torch.stack(parts).sum(0) + b  # all-reduce (sum), bias added once
    col_err = (y_col - y).abs().max().item()
    row_err = (y_row - y).abs().max().item()
    assert col_err < TOL and row_err < TOL, (col_err, row_err)
    ctx.value("tp_d_in", d_in)
    ctx.value("tp_d_out", d_out)
    ctx.value("tp_n", tp)
    ctx.value("tp_batch", batch)
    ctx.value("tp_tol", TOL)
    ctx.value("tp_col_ok", col_err < TOL)
    ctx.value("tp_row_ok", row_err < TOL)
    ctx.value("tp_col_shard", list(W.chunk(tp, 0)[0].shape))
    ctx.value("tp_row_shard", list(W.chunk(tp, 1)[0].shape))
    ctx.value("tp_col_out", list(cols[0].shape))
    ctx.value("tp_row_out", list(parts[0].shape))

    # Megatron MLP: first Linear column-parallel, GeLU on each GPU's slice, second row-parallel.
    d, hidden = 16, 64
    fc1, fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)
    act = nn.GELU()
    ref = fc2(act(fc1(x)))
    A, a = fc1.weight.detach(), fc1.bias.detach()
    B, bb = fc2.weight.detach(), fc2.bias.detach()
    partial = [act(x @ Ak.T + ak) @ Bk.T
               for Ak, ak, Bk in zip(A.chunk(tp, 0), a.chunk(tp, 0), B.chunk(tp, 1), strict=True)]
    mlp = torch.stack(partial).sum(0) + bb  # the one all-reduce of the forward pass
    mlp_err = (mlp - ref).abs().max().item()
    assert mlp_err < TOL, mlp_err
    ctx.value("tp_mlp_ok", mlp_err < TOL)
    ctx.value("tp_hidden", hidden)
    # Splitting fc1 by rows instead would need GeLU of partial sums: GeLU(sum) != sum of GeLUs.
    wrong = sum(act(xk @ Ak.T) for xk, Ak in zip(x.chunk(tp, -1), A.chunk(tp, 1), strict=True))
    right = act(x @ A.T)
    ctx.value("tp_gelu_split_err", (wrong - right).abs().max())
    ctx.value("tp_gelu_scale", right.abs().max())


# --------------------------------------------------------------------------------------------
# 6. Pipeline parallelism
# --------------------------------------------------------------------------------------------
def schedule(p, m, kind, tf=1.0, tb=2.0):
    """Simulate a pipeline schedule with a fixed op order per stage.

    Returns {(stage, op, microbatch): (start, end)}; op is "F" or "B"."""
    orders = []
    for s in range(p):
        if kind == "gpipe":
            order = [("F", i) for i in range(m)] + [("B", i) for i in range(m)]
        else:  # 1F1B (PipeDream-Flush): warm-up forwards, then alternate, then drain
            w = min(p - s - 1, m)
            order = [("F", i) for i in range(w)]
            for j in range(m - w):
                order += [("F", w + j), ("B", j)]
            order += [("B", i) for i in range(m - w, m)]
        orders.append(order)
    done, pos, free = {}, [0] * p, [0.0] * p
    while any(pos[s] < len(orders[s]) for s in range(p)):
        progressed = False
        for s in range(p):
            if pos[s] == len(orders[s]):
                continue
            op, i = orders[s][pos[s]]
            dep = (("F", s - 1, i) if s > 0 else None) if op == "F" else ("B", s + 1, i) if s < p - 1 else ("F", s, i)
            if dep is not None and (dep[1], dep[0], dep[2]) not in done:
                continue
            start = max(free[s], done[(dep[1], dep[0], dep[2])][1] if dep else 0.0)
            end = start + (tf if op == "F" else tb)
            done[(s, op, i)] = (start, end)
            free[s] = end
            pos[s] += 1
            progressed = True
        assert progressed, "deadlock in the schedule"
    return done


def pipeline_stats(p, m, kind):
    done = schedule(p, m, kind)
    span = max(e for _, e in done.values())
    busy = m * 3.0  # tf + tb per micro-batch on every stage
    bubble = 1 - busy / span
    # Peak number of micro-batches whose activations stage 0 holds (forward done, backward not).
    events = sorted([(done[(0, "F", i)][1], 1) for i in range(m)] + [(done[(0, "B", i)][1], -1) for i in range(m)])
    live = peak = 0
    for _, d in events:
        live += d
        peak = max(peak, live)
    return done, span, bubble, peak


def pipeline(ctx):
    p, m = 4, 8
    g_done, g_span, g_bubble, g_peak = pipeline_stats(p, m, "gpipe")
    f_done, _f_span, f_bubble, f_peak = pipeline_stats(p, m, "1f1b")
    formula = (p - 1) / (m + p - 1)
    assert abs(g_bubble - formula) < 1e-9 and abs(f_bubble - formula) < 1e-9
    ctx.value("pp_p", p)
    ctx.value("pp_m", m)
    ctx.value("pp_bubble_gpipe", g_bubble)
    ctx.value("pp_bubble_1f1b", f_bubble)
    ctx.value("pp_formula", formula)
    ctx.value("pp_peak_gpipe", g_peak)
    ctx.value("pp_peak_1f1b", f_peak)
    ctx.value("pp_span", g_span)
    ctx.value("pp_ideal", m * 3.0)
    for mm in (4, 32):
        _, _, bub, _ = pipeline_stats(p, mm, "1f1b")
        ctx.value(f"pp_bubble_m{mm}", bub)
    ctx.value("pp_bubble_over_ideal", (p - 1) / m)
    # Interleaved 1F1B (Narayanan et al. 2021): v model chunks per GPU divide the bubble by v.
    v = 2
    ctx.value("pp_v", v)
    ctx.value("pp_bubble_interleaved_over_ideal", (p - 1) / (v * m))

    def draw_gantt(fig):
        axes = fig.subplots(2, 1, sharex=True)
        for ax, done, title in ((axes[0], g_done, "GPipe: all forwards, then all backwards"),
                                (axes[1], f_done, "1F1B: one forward, one backward")):
            for (s, op, i), (a, b) in done.items():
                ax.barh(s, b - a, left=a, height=0.8, color="C0" if op == "F" else "C1",
                        edgecolor="white", linewidth=0.5)
                ax.text((a + b) / 2, s, str(i + 1), ha="center", va="center", fontsize=6, color="white")
            ax.set_yticks(range(p), [f"GPU {s}" for s in range(p)], fontsize=8)
            ax.invert_yaxis()
            ax.set_title(title, fontsize=10)
            ax.set_axisbelow(True)
        axes[1].set_xlabel("time (forward = 1, backward = 2)")
        handles = [Patch(color="C0", label="forward"), Patch(color="C1", label="backward")]
        axes[1].legend(handles=handles, fontsize=7, loc="lower right")

    ctx.figure("dist_pipeline_schedule", draw_gantt, height=3.6)

    ms = list(range(1, 33))
    sim = {pp: [pipeline_stats(pp, mm, "1f1b")[2] for mm in (1, 2, 4, 8, 16, 32)] for pp in (4, 8)}

    def draw_bubble(fig):
        ax = fig.subplots()
        for pp, color in ((4, "C0"), (8, "C1")):
            ax.plot(ms, [(pp - 1) / (mm + pp - 1) for mm in ms], color=color, label=f"(p-1)/(m+p-1), p = {pp}")
            ax.plot([1, 2, 4, 8, 16, 32], sim[pp], "o", color=color, ms=4)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1, 2, 4, 8, 16, 32], ["1", "2", "4", "8", "16", "32"])
        ax.set_xlabel("micro-batches per batch m")
        ax.set_ylabel("idle fraction of each GPU")
        ax.set_title("Pipeline bubble (dots: simulated 1F1B)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=9)

    ctx.figure("dist_pipeline_bubble", draw_bubble)


# --------------------------------------------------------------------------------------------
# 7. Activation checkpointing, measured
# --------------------------------------------------------------------------------------------
def checkpointing(ctx):
    torch.manual_seed(0)
    layers_n, d, heads, ff, batch, seq = 4, 64, 4, 256, 8, 32
    layers = nn.ModuleList([nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
                            for _ in range(layers_n)])
    head = nn.Linear(d, 10)
    x = torch.randn(batch, seq, d)
    params = {q.untyped_storage().data_ptr() for q in [*layers.parameters(), *head.parameters()]}

    def run(n_ckpt):
        """Forward + backward with the first n_ckpt layers checkpointed.

        Returns the bytes of activations kept for backward (distinct storages seen by saved-tensor
        hooks, weights excluded, plus the inputs that checkpoint keeps), forward FLOPs, total FLOPs."""
        storages = {}

        def pack(t):
            st = t.untyped_storage()
            if st.data_ptr() not in params:
                storages[st.data_ptr()] = st.nbytes()
            return t

        with FlopCounterMode(display=False) as fc:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                h = x
                kept_inputs = 0
                for i, layer in enumerate(layers):
                    if i < n_ckpt:
                        kept_inputs += h.nbytes  # checkpoint keeps the block's input, nothing inside
                        h = checkpoint(layer, h, use_reentrant=False)
                    else:
                        h = layer(h)
                loss = head(h).logsumexp(-1).mean()
            fwd = fc.get_total_flops()
            loss.backward()
            total = fc.get_total_flops()
        grads = torch.cat([q.grad.flatten() for q in layers.parameters()])
        layers.zero_grad()
        head.zero_grad()
        return sum(storages.values()) + kept_inputs, fwd, total, grads

    res = [run(k) for k in range(layers_n + 1)]
    base_bytes, fwd, base_total, base_grads = res[0]
    full_bytes, _, full_total, full_grads = res[-1]
    grad_err = (full_grads - base_grads).abs().max().item()
    assert grad_err < TOL, grad_err
    ctx.value("ck_layers", layers_n)
    ctx.value("ck_d", d)
    ctx.value("ck_heads", heads)
    ctx.value("ck_ff", ff)
    ctx.value("ck_batch", batch)
    ctx.value("ck_seq", seq)
    ctx.value("ck_plain_kib", base_bytes / 1024)
    ctx.value("ck_full_kib", full_bytes / 1024)
    ctx.value("ck_mem_ratio", base_bytes / full_bytes)
    ctx.value("ck_bwd_over_fwd", (base_total - fwd) / fwd)
    ctx.value("ck_flops_ratio", full_total / base_total)
    ctx.value("ck_extra_pct", 100 * (full_total / base_total - 1))
    ctx.value("ck_grads_ok", grad_err < TOL)
    ctx.value("ck_tol", TOL)
    ctx.value("ck_input_kib", x.nbytes / 1024)
    ctx.value("ck_layer_kib", (res[0][0] - res[1][0] + x.nbytes) / 1024)

    # Dropout inside a checkpointed block: checkpoint restores the RNG state for the recompute.
    drop_p = 0.1
    ctx.value("ck_drop_p", drop_p)
    drop_layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=drop_p, batch_first=True)

    def grad_with(ckpt):
        torch.manual_seed(1)
        out = checkpoint(drop_layer, x, use_reentrant=False) if ckpt else drop_layer(x)
        out.pow(2).mean().backward()
        g = torch.cat([q.grad.flatten() for q in drop_layer.parameters()])
        drop_layer.zero_grad()
        return g

    ctx.value("ck_dropout_diff", (grad_with(True) - grad_with(False)).abs().max())

    # Without an explicit use_reentrant, checkpoint warns.
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checkpoint(head, x)
    ctx.value("ck_warns", any("use_reentrant" in str(w.message) for w in caught))
    ctx.value("torch_version", torch.__version__.split("+")[0])

    pts = [(100 * (r[2] / base_total - 1), r[0] / 1024) for r in res]

    def draw(fig):
        ax = fig.subplots()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="C0")
        for k, (a, b) in enumerate(pts):
            ax.annotate(f"{k}", (a, b), textcoords="offset points", xytext=(6, 4), fontsize=9)
        ax.set_xlabel("extra FLOPs per training step (%)")
        ax.set_ylabel("activations kept for backward (KiB)")
        ax.set_title(f"Checkpointing k of {layers_n} layers (labels: k)")
        ax.set_ylim(0, pts[0][1] * 1.1)

    ctx.figure("dist_checkpoint_tradeoff", draw)


def parallel_3d(ctx):
    tp, pp, dp = 8, 4, 16
    ctx.value("p3_tp", tp)
    ctx.value("p3_pp", pp)
    ctx.value("p3_dp", dp)
    ctx.value("p3_gpus", tp * pp * dp)
    ctx.value("p3_nodes", tp * pp * dp // 8)


def compute(ctx):
    started = start_gloo()  # the two ranks import torch in the background while the rest runs
    try:
        ddp_defaults(ctx)
        sampler(ctx)
        ring(ctx)
        model_states(ctx)
        tensor_parallel(ctx)
        pipeline(ctx)
        checkpointing(ctx)
        parallel_3d(ctx)
    except BaseException:
        for p in started[0]:
            p.kill()
        raise
    finish_gloo(ctx, started)
