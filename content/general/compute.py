"""Machine-learning fundamentals: every shape, count and figure on the cards comes from the code
below (real tensors and modules, synthetic data; no downloads)."""

import inspect
import itertools
import math

import matplotlib.patches
import torch
import torch.nn.functional as F
from _lib.nets import mlp, n_params
from torch import nn

# ---------------------------------------------------------------------------------------------
# Dataset facts. There is no network at build time, so these are the published facts, typed once
# here; everything on the cards is derived from them and checked for consistency.
# ---------------------------------------------------------------------------------------------
MNIST = {"side": 28, "channels": 1, "classes": 10, "train": 60_000, "test": 10_000}
CIFAR10 = {"side": 32, "channels": 3, "classes": 10, "train": 50_000, "test": 10_000, "per_class": 6_000}
CIFAR100 = {
    "side": 32,
    "channels": 3,
    "classes": 100,
    "superclasses": 20,
    "train_per_class": 500,
    "test_per_class": 100,
}


TOL = 1e-6  # "agree within": float32 results computed two ways (asserted, shown on cards)



def n_bytes(t):
    """Bytes held by a tensor's elements (works on the meta device)."""
    return t.numel() * t.element_size()


def connected_components(mask):
    """Label the 8-connected regions of a boolean (H, W) mask as 1..K (0 = background).

    Every foreground pixel starts with a unique id; repeated 3x3 max-pooling spreads the largest id
    through each region until nothing changes."""
    h, w = mask.shape
    ids = torch.arange(1, h * w + 1, dtype=torch.float32).view(1, 1, h, w) * mask
    while True:
        grown = F.max_pool2d(ids, 3, stride=1, padding=1) * mask
        if torch.equal(grown, ids):
            break
        ids = grown
    _, labels = torch.unique(ids.view(h, w), return_inverse=True)  # 0 stays 0 (smallest)
    return labels


def disc(h, w, cy, cx, r):
    """Boolean (H, W) mask of a disc centred at (cy, cx)."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * (r + 1)  # r(r+1): rounder pixel discs


# k-means (Lloyd's algorithm). Shown verbatim on a card (inspect.getsource).
def kmeans(X, C):  # C: (k, d) initial centroids
    while True:
        a = torch.cdist(X, C).argmin(1)  # assign step
        R = F.one_hot(a, len(C)).float()  # (n, k) 0/1
        M = (R.T @ X) / R.sum(0)[:, None]  # update step
        if torch.equal(M, C):  # means stopped moving
            return M, a
        C = M


def kmeans_trace(X, C):
    """Same algorithm as kmeans(), recording centroids and inertia after every update."""
    path, inertia = [C], []
    while True:
        a = torch.cdist(X, C).argmin(1)
        R = F.one_hot(a, len(C)).float()
        M = (R.T @ X) / R.sum(0)[:, None]
        inertia.append(((X - M[a]) ** 2).sum().item())
        if torch.equal(M, C):
            return M, a, path, inertia
        path.append(M)
        C = M


# A hand-written loss: autograd differentiates it, no backward needed. Shown on a card.
def huber(pred, target, delta=1.0):
    r = (pred - target).abs()
    quad = 0.5 * r**2
    lin = delta * (r - 0.5 * delta)
    return torch.where(r <= delta, quad, lin).mean()


def compute(ctx):
    datasets(ctx)
    data_structures(ctx)
    segmentation(ctx)
    layer_choice(ctx)
    kmeans_demo(ctx)
    custom_loss_and_loop(ctx)
    nested_fields_figure(ctx)
    leakage(ctx)
    mle_map(ctx)


# ---------------------------------------------------------------------------------------------
def datasets(ctx):
    # MNIST
    m = MNIST
    m_pixels = m["side"] * m["side"]
    ctx.value("mnist_side", m["side"])
    ctx.value("mnist_channels", m["channels"])
    ctx.value("mnist_classes", m["classes"])
    ctx.value("mnist_train", m["train"])
    ctx.value("mnist_test", m["test"])
    ctx.value("mnist_total", m["train"] + m["test"])
    ctx.value("mnist_pixels", m_pixels)
    ctx.value("mnist_values", m_pixels * m["channels"])
    mnist_train_u8 = torch.empty(m["train"], m["channels"], m["side"], m["side"], dtype=torch.uint8, device="meta")
    ctx.value("mnist_train_bytes", n_bytes(mnist_train_u8))
    ctx.value("mnist_train_mib", n_bytes(mnist_train_u8) / 2**20)
    ctx.value("u8_max", torch.iinfo(torch.uint8).max)
    ctx.value("f32_over_u8", torch.empty(0).element_size() // torch.empty(0, dtype=torch.uint8).element_size())
    # The original IDX image file starts with 4 big-endian int32: magic number, count, rows, cols.
    ctx.value("idx_header_bytes", 4 * torch.empty(0, dtype=torch.int32).element_size())
    # A DataLoader batch of MNIST as ToTensor() gives it: float32 in [0, 1], channels first.
    batch = torch.rand(64, m["channels"], m["side"], m["side"])
    ctx.value("mnist_batch", batch.shape[0])
    ctx.value("mnist_batch_shape", batch.shape)
    ctx.value("mnist_flat_shape", batch.flatten(1).shape)

    # CIFAR-10
    c = CIFAR10
    c_values = c["side"] * c["side"] * c["channels"]
    ctx.value("c10_side", c["side"])
    ctx.value("c10_channels", c["channels"])
    ctx.value("c10_classes", c["classes"])
    ctx.value("c10_train", c["train"])
    ctx.value("c10_test", c["test"])
    ctx.value("c10_total", c["train"] + c["test"])
    ctx.value("c10_per_class", c["per_class"])
    ctx.value("c10_train_per_class", c["train"] // c["classes"])
    ctx.value("c10_test_per_class", c["test"] // c["classes"])
    ctx.value("c10_per_class_consistent", c["per_class"] * c["classes"] == c["train"] + c["test"])
    ctx.value("c10_values", c_values)
    c10_train_u8 = torch.empty(c["train"], c["channels"], c["side"], c["side"], dtype=torch.uint8, device="meta")
    ctx.value("c10_train_bytes", n_bytes(c10_train_u8))
    ctx.value("c10_train_mib", n_bytes(c10_train_u8) / 2**20)
    ctx.value("c10_train_f32_mib", c["train"] * c_values * torch.empty(0).element_size() / 2**20)
    # The usual validation split is carved out of the 50,000 training images.
    val_frac = 0.1
    perm = torch.randperm(c["train"])
    n_val = int(val_frac * c["train"])
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    ctx.value("c10_val_frac", val_frac)
    ctx.value("c10_split_train", len(train_idx))
    ctx.value("c10_split_val", len(val_idx))
    ctx.value("c10_split_overlap", len(set(val_idx.tolist()) & set(train_idx.tolist())))

    # CIFAR-100
    h = CIFAR100
    per_class = h["train_per_class"] + h["test_per_class"]
    ctx.value("c100_classes", h["classes"])
    ctx.value("c100_superclasses", h["superclasses"])
    ctx.value("c100_fine_per_super", h["classes"] // h["superclasses"])
    ctx.value("c100_per_class", per_class)
    ctx.value("c100_train_per_class", h["train_per_class"])
    ctx.value("c100_test_per_class", h["test_per_class"])
    ctx.value("c100_train", h["classes"] * h["train_per_class"])
    ctx.value("c100_test", h["classes"] * h["test_per_class"])
    ctx.value("c100_total", h["classes"] * per_class)
    ctx.value("c100_values", h["side"] * h["side"] * h["channels"])
    ctx.value("c10_vs_c100_per_class_ratio", c["per_class"] / per_class)


# ---------------------------------------------------------------------------------------------
def data_structures(ctx):
    # Ranks: scalar, vector, matrix, 3-d tensor.
    examples = [torch.tensor(3.0), torch.arange(4.0), torch.zeros(2, 3), torch.zeros(2, 3, 4)]
    ctx.value("rank_ndims", [t.ndim for t in examples])
    for name, t in zip(["scalar", "vector", "matrix", "t3"], examples, strict=True):
        ctx.value(f"shape_{name}", str(tuple(t.shape)))

    # Image batch: (N, C, H, W), channels first.
    imgs = torch.rand(8, CIFAR10["channels"], CIFAR10["side"], CIFAR10["side"])
    conv = nn.Conv2d(imgs.shape[1], 16, 3, padding=1)
    ctx.value("img_batch_shape", imgs.shape)
    ctx.value("img_dtype", str(imgs.dtype).replace("torch.", ""))
    ctx.value("img_conv_cout", conv.out_channels)
    ctx.value("img_conv_k", conv.kernel_size[0])
    ctx.value("img_conv_pad", conv.padding[0])
    ctx.value("img_conv_out_shape", conv(imgs).shape)
    ctx.value("img_nhwc_shape", imgs.permute(0, 2, 3, 1).shape)
    ctx.value("img_nhwc_contiguous", imgs.permute(0, 2, 3, 1).is_contiguous())

    # Text batch: token ids (N, T) -> embeddings (N, T, D) -> a Transformer layer keeps the shape.
    vocab, dim = 1000, 64
    ids = torch.randint(0, vocab, (4, 12))
    emb = nn.Embedding(vocab, dim)
    e = emb(ids)
    enc = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=128, batch_first=True)
    pad_mask = torch.zeros(ids.shape, dtype=torch.bool)
    pad_mask[0, 9:] = True  # the first sequence is 3 tokens shorter, padded at the end
    enc.eval()
    with torch.no_grad():
        out = enc(e, src_key_padding_mask=pad_mask)
    ctx.value("txt_vocab", vocab)
    ctx.value("txt_dim", dim)
    ctx.value("txt_ids_shape", ids.shape)
    ctx.value("txt_ids_dtype", str(ids.dtype).replace("torch.", ""))
    ctx.value("txt_emb_shape", e.shape)
    ctx.value("txt_emb_dtype", str(e.dtype).replace("torch.", ""))
    ctx.value("txt_enc_out_shape", out.shape)
    ctx.value("txt_mask_shape", pad_mask.shape)

    # A small graph: node features (V, F), edge list (2, E), dense adjacency (V, V).
    edges = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 0], [0, 2]])
    edge_index = torch.cat([edges, edges.flip(1)]).T  # undirected: both directions
    v = 5
    x = torch.randn(v, 3)
    adj = torch.zeros(v, v)
    adj[edge_index[0], edge_index[1]] = 1.0
    ctx.value("g_nodes", v)
    ctx.value("g_undirected_edges", edges.shape[0])
    ctx.value("g_edge_index_shape", edge_index.shape)
    ctx.value("g_x_shape", x.shape)
    ctx.value("g_adj_shape", adj.shape)
    ctx.value("g_adj_symmetric", torch.equal(adj, adj.T))
    ctx.value("g_msg_shape", (adj @ x).shape)  # sum of neighbour features per node
    # Same aggregation from the edge list alone, with index_add (what GNN libraries do).
    agg = torch.zeros_like(x).index_add_(0, edge_index[1], x[edge_index[0]])
    ctx.value("g_edge_vs_dense_err", (agg - adj @ x).abs().max())
    assert (agg - adj @ x).abs().max() < TOL
    ctx.value("tol", TOL)

    # Sparse tensors: a large sparse graph in COO vs dense float32.
    n, per_node = 10_000, 5
    src = torch.arange(n).repeat_interleave(per_node)
    dst = (src + torch.arange(1, per_node + 1).repeat(n)) % n  # each node -> its next 5 nodes
    vals = torch.ones(src.numel())
    a_sp = torch.sparse_coo_tensor(torch.stack([src, dst]), vals, (n, n), check_invariants=True)
    a_sp = a_sp.coalesce()
    a_dense = torch.empty(n, n, device="meta")  # shape and size only, no memory
    sp_bytes = n_bytes(a_sp.indices()) + n_bytes(a_sp.values())
    feats = torch.randn(n, 8)
    ctx.value("sp_n", n)
    ctx.value("sp_per_node", per_node)
    ctx.value("sp_nnz", a_sp._nnz())
    ctx.value("sp_density", a_sp._nnz() / (n * n))
    ctx.value("sp_indices_shape", a_sp.indices().shape)
    ctx.value("sp_bytes", sp_bytes)
    ctx.value("sp_mb", sp_bytes / 1e6)
    ctx.value("dense_mb", n_bytes(a_dense) / 1e6)
    ctx.value("sp_ratio", n_bytes(a_dense) / sp_bytes)
    ctx.value("sp_mm_shape", torch.sparse.mm(a_sp, feats).shape)


# ---------------------------------------------------------------------------------------------
def segmentation(ctx):
    h, w = 24, 32
    cat1 = disc(h, w, 11, 8, 6)
    cat2 = disc(h, w, 12, 23, 7)
    semantic = (cat1 | cat2).long()  # 0 = background, 1 = "cat"
    instance = connected_components(semantic.bool())
    inst_ids = [int(i) for i in instance.unique() if i > 0]
    ctx.value("seg_h", h)
    ctx.value("seg_w", w)
    ctx.value("seg_classes_present", semantic.unique().numel())
    ctx.value("seg_fg_classes", int((semantic.unique() > 0).sum()))
    ctx.value("seg_instances", len(inst_ids))
    ctx.value("seg_inst_pixels", [int((instance == i).sum()) for i in inst_ids])
    ctx.value("seg_cat_pixels", int(semantic.sum()))
    ctx.value("seg_semantic_shape", semantic.shape)
    masks = torch.stack([instance == i for i in inst_ids])  # one boolean mask per object
    ctx.value("seg_masks_shape", masks.shape)
    ctx.value("seg_masks_dtype", str(masks.dtype).replace("torch.", ""))
    ctx.value("seg_masks_cover_semantic", torch.equal(masks.any(0).long(), semantic))
    # Two touching cats: the semantic map alone cannot separate them.
    touching = (disc(h, w, 12, 10, 6) | disc(h, w, 12, 21, 6)).bool()
    ctx.value("seg_touching_components", int(connected_components(touching).max()))

    # A semantic-segmentation head: logits (N, C, H, W), integer targets (N, H, W).
    n_classes = 3
    img = torch.rand(2, 3, h, w)
    head = nn.Conv2d(3, n_classes, 1)
    logits = head(img)
    target = torch.randint(0, n_classes, (2, h, w))
    loss = F.cross_entropy(logits, target)
    ctx.value("seg_n_classes", n_classes)
    ctx.value("seg_logits_shape", logits.shape)
    ctx.value("seg_target_shape", target.shape)
    ctx.value("seg_target_dtype", str(target.dtype).replace("torch.", ""))
    ctx.value("seg_pred_shape", logits.argmax(1).shape)
    ctx.value("seg_loss_shape", str(tuple(loss.shape)))  # () : one scalar, averaged over pixels

    sem_img, inst_img = semantic.tolist(), instance.tolist()
    n_show = len(inst_ids)

    def draw(fig):
        axes = fig.subplots(1, 2)
        for ax, data, title in [(axes[0], sem_img, "Semantic: class"), (axes[1], inst_img, "Instance: object id")]:
            ax.imshow(data, cmap="viridis", vmin=0, vmax=n_show, interpolation="nearest")
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
        cmap = matplotlib.colormaps["viridis"]

        def patch(v, label):
            return matplotlib.patches.Patch(color=cmap(v / n_show), label=label)

        legends = [[patch(0, "background"), patch(1, "cat")], [patch(1, "cat #1"), patch(2, "cat #2")]]
        for ax, handles in zip(axes, legends, strict=True):
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)

    ctx.figure("seg_semantic_vs_instance", draw, width=4.8, height=2.6)


# ---------------------------------------------------------------------------------------------
def layer_choice(ctx):
    # First layer with 64 features on a CIFAR-sized image: Linear on the flattened image vs Conv2d.
    feat, c, k = 64, CIFAR10["channels"], 3
    sides = [16, 32, 64, 128, 224]
    lin_counts, conv_counts = [], []
    for s in sides:
        lin_counts.append(n_params(nn.Linear(c * s * s, feat, device="meta")))
        conv_counts.append(n_params(nn.Conv2d(c, feat, k, device="meta")))
    i32, i224 = sides.index(32), sides.index(224)
    ctx.value("lc_feat", feat)
    ctx.value("lc_k", k)
    ctx.value("lc_big", sides[i224])
    ctx.value("lc_sides", sides)
    ctx.value("lc_in_shape", torch.Size([c, 32, 32]))
    ctx.value("lc_flat", c * 32 * 32)
    ctx.value("lc_lin_32", lin_counts[i32])
    ctx.value("lc_conv_32", conv_counts[i32])
    ctx.value("lc_ratio_32", lin_counts[i32] / conv_counts[i32])
    ctx.value("lc_lin_224", lin_counts[i224])
    ctx.value("lc_conv_224", conv_counts[i224])
    ctx.value("lc_ratio_224", lin_counts[i224] / conv_counts[i224])

    def draw(fig):
        ax = fig.subplots()
        ax.semilogy(sides, lin_counts, "o-", label=f"Linear(3·s·s, {feat})")
        ax.semilogy(sides, conv_counts, "s-", label=f"Conv2d(3, {feat}, {k})")
        ax.set_xticks(sides)
        ax.set_xlabel("image side s (pixels)")
        ax.set_ylabel("parameters")
        ax.set_title("First layer, 3×s×s input")
        ax.legend(loc="center right")

    ctx.figure("linear_vs_conv_params", draw)

    # Sets: per-element MLP + sum pooling (Deep Sets) is permutation-invariant; an MLP on the
    # concatenated elements is not.
    torch.manual_seed(0)
    n_el, d = 5, 2
    s = torch.randn(n_el, d)
    perm = torch.tensor([3, 0, 4, 1, 2])
    phi = mlp(d, 16, 16)
    rho = nn.Linear(16, 1)
    flat_mlp = mlp(n_el * d, 16, 1)
    with torch.no_grad():
        ds_a, ds_b = rho(phi(s).sum(0)), rho(phi(s[perm]).sum(0))
        fm_a, fm_b = flat_mlp(s.flatten()), flat_mlp(s[perm].flatten())
    ctx.value("set_n", n_el)
    ctx.value("set_perm", perm)
    ctx.value("set_deepsets_err", (ds_a - ds_b).abs().max())
    assert (ds_a - ds_b).abs().max() < TOL
    ctx.value("set_flat_diff", (fm_a - fm_b).abs().max())
    ctx.value("set_flat_out", fm_a.abs().max())

    # Graphs: a GCN-style layer H = relu(D^-1 (A + I) X W). Relabelling the nodes permutes the output.
    v = 6
    edges = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0], [0, 3]])
    adj = torch.zeros(v, v)
    adj[edges[:, 0], edges[:, 1]] = 1.0
    adj = adj + adj.T + torch.eye(v)
    a_hat = adj / adj.sum(1, keepdim=True)  # mean over each node's neighbourhood
    lin = nn.Linear(3, 4)
    x = torch.randn(v, 3)
    p = torch.randperm(v)
    with torch.no_grad():
        out = torch.relu(a_hat @ lin(x))
        out_p = torch.relu(a_hat[p][:, p] @ lin(x[p]))
    ctx.value("gnn_nodes", v)
    ctx.value("gnn_equiv_err", (out_p - out[p]).abs().max())
    assert (out_p - out[p]).abs().max() < TOL
    ctx.value("gnn_params", n_params(lin))

    # Sequences: attention weights are (N, T, T); an RNN carries a fixed-size state.
    t_len, dim = 64, 32
    mha = nn.MultiheadAttention(dim, num_heads=4, batch_first=True)
    seq = torch.randn(2, t_len, dim)
    with torch.no_grad():
        _, attn_w = mha(seq, seq, seq, need_weights=True)
        lstm = nn.LSTM(dim, 48, batch_first=True)
        _, (h_n, _) = lstm(seq)
    ctx.value("seq_t", t_len)
    ctx.value("seq_attn_w_shape", attn_w.shape)
    ctx.value("seq_lstm_h_shape", h_n.shape)
    t_long = 4096
    ctx.value("seq_t_long", t_long)
    ctx.value("seq_scores_long", t_long * t_long)
    ctx.value("seq_scores_long_mib", t_long * t_long * 4 / 2**20)
    ctx.value("seq_dim", dim)
    ctx.value("seq_kv_long_kib", 2 * t_long * dim * 4 / 2**10)  # K and V, one layer, float32
    ctx.value("seq_lstm_state_floats", 2 * h_n.shape[-1])  # h and c per sequence and layer


# ---------------------------------------------------------------------------------------------
def kmeans_demo(ctx):
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [3.0, 0.0], [8.0, 0.0], [8.0, 3.0]])
    per, k = 100, len(centres)
    X = torch.cat([c + 0.8 * torch.randn(per, 2) for c in centres])
    y = torch.arange(k).repeat_interleave(per)

    # Random restarts: k random data points as initial centroids (Forgy init), 10 seeds.
    inits = []
    for seed in range(10):
        g = torch.Generator().manual_seed(seed)
        inits.append(X[torch.randperm(len(X), generator=g)[:k]])
    results = []
    for C_init in inits:
        Ms, As = kmeans(X, C_init)
        results.append(((X - Ms[As]) ** 2).sum().item())
    ctx.value("km_restarts", len(results))
    ctx.value("km_restart_best", min(results))
    ctx.value("km_restart_worst", max(results))
    n_best = sum(r <= min(results) * (1 + 1e-4) for r in results)
    ctx.value("km_restart_n_best", n_best)
    ctx.value("km_restart_n_bad", len(results) - n_best)

    C0 = inits[0]  # the run shown in the figure
    M, a = kmeans(X, C0)
    M_t, a_t, path, inertia = kmeans_trace(X, C0)
    ctx.value("km_src", inspect.getsource(kmeans).strip())
    ctx.value("km_k", k)
    ctx.value("km_n", len(X))
    ctx.value("km_trace_matches", torch.equal(M, M_t) and torch.equal(a, a_t))
    ctx.value("km_iters", len(inertia))  # assign+update rounds; the last one changes nothing
    ctx.value("km_inertia_first", inertia[0])
    ctx.value("km_inertia", inertia[-1])
    ctx.value("km_inertia_monotone", all(b <= a_ + 1e-6 for a_, b in itertools.pairwise(inertia)))
    # Agreement with the true blob labels, under the best matching of cluster ids to blobs.
    agree = max((torch.tensor(pm)[a] == y).float().mean().item() for pm in itertools.permutations(range(k)))
    ctx.value("km_agreement", agree)
    # The worst restart, for the second panel.
    _, a_bad, path_bad, inertia_bad = kmeans_trace(X, inits[results.index(max(results))])

    pts = X.tolist()
    runs = [(a.tolist(), path, inertia[-1]), (a_bad.tolist(), path_bad, inertia_bad[-1])]

    def draw(fig):
        axes = fig.subplots(1, 2, sharey=True)
        for ax, (lab, pth, final) in zip(axes, runs, strict=True):
            for j in range(k):
                xs = [p for p, lj in zip(pts, lab, strict=True) if lj == j]
                ax.scatter([p[0] for p in xs], [p[1] for p in xs], s=5, alpha=0.4, color=f"C{j}")
                px, py = [q[j][0].item() for q in pth], [q[j][1].item() for q in pth]
                ax.plot(px, py, "-", color=f"C{j}", lw=1.5)
                ax.plot(px[0], py[0], "o", ms=7, mfc="none", mec=f"C{j}", mew=2)
                ax.plot(px[-1], py[-1], "X", ms=10, color=f"C{j}")
            ax.set_title(f"inertia {final:.0f}")
            ax.set_aspect("equal")
            ax.axis("off")
        axes[0].plot([], [], "o", ms=7, mfc="none", mec="C0", mew=2, label="start")
        axes[0].plot([], [], "X", ms=9, color="C0", label="end")
        axes[0].legend(loc="upper left", fontsize="small")

    ctx.figure("kmeans_clusters", draw, width=5.0, height=2.3)


# ---------------------------------------------------------------------------------------------
def custom_loss_and_loop(ctx):
    pred = torch.tensor([0.2, 1.5, -3.0, 0.9], requires_grad=True)
    target = torch.tensor([0.0, 0.0, 0.0, 1.0])
    mine = huber(pred, target)
    (g_mine,) = torch.autograd.grad(mine, pred)
    ref = F.huber_loss(pred, target, delta=1.0)
    (g_ref,) = torch.autograd.grad(ref, pred)
    ctx.value("cl_src", inspect.getsource(huber).strip())
    ctx.value("cl_loss", mine)
    ctx.value("cl_value_err", (mine - ref).abs())
    ctx.value("cl_grad_err", (g_mine - g_ref).abs().max())
    assert max((mine - ref).abs(), (g_mine - g_ref).abs().max()) < TOL

    # Argument order: Keras losses take (y_true, y_pred); PyTorch losses take (input, target).
    p = torch.tensor([0.9, 0.2])
    yt = torch.tensor([1.0, 0.0])
    ctx.value("bce_p", p)
    ctx.value("bce_y", yt)
    ctx.value("bce_right", F.binary_cross_entropy(p, yt))
    ctx.value("bce_swapped", F.binary_cross_entropy(yt, p))  # log(0) is clamped to -100

    # A custom loop with the custom loss: fit y = 2x + 1 (plus one gross outlier).
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    true_w, true_b = 2.0, 1.0
    y = true_w * x + true_b + 0.05 * torch.randn_like(x)
    y[5] += 20.0
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    steps = 200
    for _ in range(steps):
        opt.zero_grad()
        loss = huber(model(x), y)
        loss.backward()
        opt.step()
    ctx.value("loop_steps", steps)
    ctx.value("loop_true_w", true_w)
    ctx.value("loop_true_b", true_b)
    ctx.value("loop_n", len(x))
    ctx.value("loop_w", model.weight.item())
    ctx.value("loop_b", model.bias.item())
    # The same loop with MSE is dragged by the outlier.
    torch.manual_seed(0)
    m2 = nn.Linear(1, 1)
    opt2 = torch.optim.SGD(m2.parameters(), lr=0.5)
    for _ in range(steps):
        opt2.zero_grad()
        F.mse_loss(m2(x), y).backward()
        opt2.step()
    ctx.value("loop_mse_b", m2.bias.item())


# ---------------------------------------------------------------------------------------------
def nested_fields_figure(ctx):
    def draw(fig):
        ax = fig.subplots()
        rings = [
            ((0.0, 0.0), 4.0, 2.8, "Artificial intelligence", 2.25, "search, planning, rule-based systems"),
            ((0.25, -0.35), 3.0, 2.0, "Machine learning", 1.2, "trees, SVMs, logistic regression"),
            ((0.45, -0.85), 1.8, 1.1, "Deep learning", -0.55, "deep neural networks"),
        ]
        for i, (xy, wd, ht, name, ty, eg) in enumerate(rings):
            ax.add_patch(matplotlib.patches.Ellipse(xy, 2 * wd, 2 * ht, color=f"C{i}", alpha=0.25))
            ax.text(xy[0], ty, name, ha="center", fontsize="large", fontweight="bold")
            ax.text(xy[0], ty - 0.4, eg, ha="center", fontsize="small")
        ax.set_xlim(-4.2, 4.2)
        ax.set_ylim(-3.0, 3.0)
        ax.set_aspect("equal")
        ax.axis("off")

    ctx.figure("ai_ml_dl_nested", draw)


# ---------------------------------------------------------------------------------------------
# Cross-validation and leakage. Classifiers are deliberately simple (nearest centroid, 1-NN) so the
# effect of the split, not of the model, is what the numbers show.
# ---------------------------------------------------------------------------------------------
def top_features(x, y, k):
    """Indices of the k features with the largest |correlation| with the 0/1 labels."""
    xc = x - x.mean(0)
    yc = y.double() - y.double().mean()
    corr = (xc * yc[:, None]).sum(0) / (xc.norm(dim=0) * yc.norm())
    return corr.abs().topk(k).indices


def nearest_centroid_acc(xtr, ytr, xte, yte):
    c0, c1 = xtr[ytr == 0].mean(0), xtr[ytr == 1].mean(0)
    pred = ((xte - c1).pow(2).sum(1) < (xte - c0).pow(2).sum(1)).long()
    return (pred == yte).double().mean().item()


def cv_selected(x, y, folds, k, select_on_all):
    """k-fold CV accuracy of 'select the top-k features, then nearest centroid'.

    select_on_all=True screens the features on all the data once, before the folds (the leak);
    False repeats the screening inside every fold, on that fold's training part only."""
    fold = torch.arange(len(y)) % folds
    feats = top_features(x, y, k) if select_on_all else None
    accs = []
    for f in range(folds):
        tr, te = fold != f, fold == f
        fs = feats if select_on_all else top_features(x[tr], y[tr], k)
        accs.append(nearest_centroid_acc(x[tr][:, fs], y[tr], x[te][:, fs], y[te]))
    return sum(accs) / folds


def one_nn(xtr, ytr, xte):
    return ytr[torch.cdist(xte, xtr).argmin(1)]


def leakage(ctx):
    gen = torch.Generator().manual_seed(0)
    # 1. Feature selection before CV, on pure noise.
    n, p, k, folds, reps = 50, 5000, 100, 5, 20
    wrong, right = [], []
    for _ in range(reps):
        x = torch.randn(n, p, generator=gen, dtype=torch.float64)
        y = torch.randperm(n, generator=gen) % 2  # labels independent of x: 50% is the truth
        wrong.append(cv_selected(x, y, folds, k, True))
        right.append(cv_selected(x, y, folds, k, False))
    ctx.value("fs_n", n)
    ctx.value("fs_p", p)
    ctx.value("fs_k", k)
    ctx.value("fs_folds", folds)
    ctx.value("fs_reps", reps)
    ctx.value("fs_wrong_mean", sum(wrong) / reps)
    ctx.value("fs_wrong_min", min(wrong))
    ctx.value("fs_right_mean", sum(right) / reps)

    # 2. Grouped data: 20 patients x 10 scans; each patient has a strong signature, the label is
    #    per patient and unrelated to the signature.
    groups, per, d = 20, 10, 10
    rand_acc, group_acc = [], []
    for _ in range(reps):
        sig = 2 * torch.randn(groups, d, generator=gen)
        lab = torch.randperm(groups, generator=gen) % 2
        grp = torch.arange(groups).repeat_interleave(per)
        x = sig[grp] + 0.5 * torch.randn(groups * per, d, generator=gen)
        y = lab[grp]
        perm = torch.randperm(groups * per, generator=gen)
        a, b = [], []
        for f in range(folds):
            te = torch.zeros(groups * per, dtype=torch.bool)
            te[perm[f::folds]] = True  # random k-fold: scans of one patient on both sides
            a.append((one_nn(x[~te], y[~te], x[te]) == y[te]).double().mean().item())
            teg = grp % folds == f  # group k-fold: each patient entirely in one fold
            b.append((one_nn(x[~teg], y[~teg], x[teg]) == y[teg]).double().mean().item())
        rand_acc.append(sum(a) / folds)
        group_acc.append(sum(b) / folds)
    ctx.value("gs_groups", groups)
    ctx.value("gs_per", per)
    ctx.value("gs_random_acc", sum(rand_acc) / reps)
    ctx.value("gs_group_acc", sum(group_acc) / reps)

    # 3. Time series: a random walk; 1-NN regression on the time index (pure interpolation).
    t_len = 200
    walks_rand, walks_fwd = [], []
    for _ in range(reps):
        series = torch.randn(t_len, generator=gen).cumsum(0)
        tt = torch.arange(t_len, dtype=torch.float64)[:, None]
        perm = torch.randperm(t_len, generator=gen)
        e_rand = []
        for f in range(folds):
            te = torch.zeros(t_len, dtype=torch.bool)
            te[perm[f::folds]] = True
            pred = one_nn(tt[~te], series[~te], tt[te])
            e_rand.append((pred - series[te]).pow(2).mean().item())
        # Forward chaining: train on everything before a cut, test on the next block.
        block = t_len // (folds + 1)
        e_fwd = []
        for f in range(1, folds + 1):
            tr, te = slice(0, f * block), slice(f * block, (f + 1) * block)
            pred = one_nn(tt[tr], series[tr], tt[te])
            e_fwd.append((pred - series[te]).pow(2).mean().item())
        walks_rand.append(sum(e_rand) / folds)
        walks_fwd.append(sum(e_fwd) / folds)
    ctx.value("ts_len", t_len)
    ctx.value("ts_random_mse", sum(walks_rand) / reps)
    ctx.value("ts_forward_mse", sum(walks_fwd) / reps)
    ctx.value("ts_ratio", (sum(walks_fwd) / reps) / (sum(walks_rand) / reps))
    # The splits of forward chaining on 12 time steps, 3 folds (what TimeSeriesSplit produces).
    small, k3 = 12, 3
    blk = small // (k3 + 1)
    ctx.value("ts_small", small)
    ctx.value("ts_small_folds", k3)
    ctx.value(
        "ts_splits",
        "; ".join(f"train 0–{f * blk - 1}, test {f * blk}–{(f + 1) * blk - 1}" for f in range(1, k3 + 1)),
    )

    # 4. k-fold bookkeeping: every example is validated exactly once.
    n_cv, k_cv = 10, 5
    fold = torch.arange(n_cv) % k_cv
    ctx.value("kf_n", n_cv)
    ctx.value("kf_k", k_cv)
    ctx.value("kf_val_sizes", [int((fold == f).sum()) for f in range(k_cv)])
    ctx.value("kf_each_once", bool(torch.bincount(fold, minlength=k_cv).sum() == n_cv))

    results = [("select on all data", wrong), ("select inside each fold", right)]

    def draw(fig):
        ax = fig.subplots()
        for i, (_name, accs) in enumerate(results):
            jitter = [i + 0.12 * ((j % 5) - 2) / 2 for j in range(len(accs))]
            ax.plot(jitter, accs, "o", color=f"C{i}", alpha=0.6, ms=5)
            ax.plot([i - 0.25, i + 0.25], [sum(accs) / len(accs)] * 2, color=f"C{i}", lw=3)
        ax.axhline(0.5, ls="--", color="C7", lw=1.5)
        ax.text(1.45, 0.52, "chance", ha="right", fontsize="small")
        ax.set_xticks([0, 1], [name for name, _ in results])
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"{folds}-fold CV accuracy")
        ax.set_title(f"Labels are pure noise ({reps} datasets)", fontsize="medium")

    ctx.figure("cv_leakage", draw)


# ---------------------------------------------------------------------------------------------
# MLE vs MAP; L2 regularisation as a Gaussian prior.
# ---------------------------------------------------------------------------------------------
def mle_map(ctx):
    tol = 1e-8
    ctx.value("mm_tol", tol)
    # Coin: 3 heads in 3 flips; Beta(2, 2) prior. Maximise on a fine grid and compare with closed forms.
    heads, flips, a, b = 3, 3, 2.0, 2.0
    grid = torch.linspace(1e-6, 1 - 1e-6, 200_001, dtype=torch.float64)
    loglik = heads * grid.log() + (flips - heads) * (1 - grid).log()
    logprior = (a - 1) * grid.log() + (b - 1) * (1 - grid).log()
    mle = grid[loglik.argmax()].item()
    map_ = grid[(loglik + logprior).argmax()].item()
    ctx.value("coin_heads", heads)
    ctx.value("coin_flips", flips)
    ctx.value("coin_a", a)
    ctx.value("coin_b", b)
    ctx.value("coin_mle", heads / flips)
    ctx.value("coin_map_grid", map_)
    map_closed = (heads + a - 1) / (flips + a + b - 2)
    ctx.value("coin_map_closed", map_closed)
    ctx.value("coin_grid", len(grid))
    assert abs(map_ - map_closed) < 1e-5 and abs(mle - heads / flips) < 1e-5

    # As data grow the prior's pull fades: true p = 0.7, estimates after n flips.
    gen = torch.Generator().manual_seed(0)
    true_p = 0.7
    ctx.value("coin_true_p", true_p)
    flips_all = (torch.rand(1000, generator=gen) < true_p).double()
    ns = [3, 10, 30, 100, 300, 1000]
    mles = [flips_all[:n].mean().item() for n in ns]
    maps = [((flips_all[:n].sum() + a - 1) / (n + a + b - 2)).item() for n in ns]
    ctx.value("coin_ns", ns)
    ctx.value("coin_gap_small", abs(mles[0] - maps[0]))
    ctx.value("coin_n_small", ns[0])
    ctx.value("coin_n_big", ns[-1])
    ctx.value("coin_gap_big", abs(mles[-1] - maps[-1]))

    # Linear regression, Gaussian noise sigma and prior N(0, sigma_p^2 I): MAP = ridge with
    # lambda = sigma^2 / sigma_p^2. Minimise the negative log posterior with autograd + LBFGS.
    n, d, sigma, sigma_p = 30, 5, 0.5, 1.0
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    w_true = torch.randn(d, generator=gen, dtype=torch.float64)
    y = X @ w_true + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
    w = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1, max_iter=200, tolerance_grad=1e-14, tolerance_change=1e-16)

    def neg_log_post():
        opt.zero_grad()
        nll = ((y - X @ w) ** 2).sum() / (2 * sigma**2)
        nlp = (w**2).sum() / (2 * sigma_p**2)
        loss = nll + nlp
        loss.backward()
        return loss

    opt.step(neg_log_post)
    lam = sigma**2 / sigma_p**2
    ridge = torch.linalg.solve(X.T @ X + lam * torch.eye(d, dtype=torch.float64), X.T @ y)
    ols = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    err = (w.detach() - ridge).abs().max().item()
    assert err < tol, err
    ctx.value("rg_n", n)
    ctx.value("rg_d", d)
    ctx.value("rg_sigma", sigma)
    ctx.value("rg_sigma_p", sigma_p)
    ctx.value("rg_lambda", lam)
    ctx.value("rg_err", err)
    ctx.value("rg_norm_map", ridge.norm())
    ctx.value("rg_norm_mle", ols.norm())

    # Weight decay with a mean loss over N examples: lambda = 1 / (N sigma_p^2).
    n_ex, wd = 50_000, 5e-4
    ctx.value("wd_n", n_ex)
    ctx.value("wd_lambda", wd)
    ctx.value("wd_sigma_p", 1 / math.sqrt(n_ex * wd))

    def draw(fig):
        ax = fig.subplots()
        ax.semilogx(ns, mles, "o-", label="MLE (fraction of heads)")
        ax.semilogx(ns, maps, "s--", label=f"MAP, Beta({a:g}, {b:g}) prior")
        ax.axhline(true_p, color="C7", lw=1, ls=":")
        ax.text(ns[-1], 0.71, "true p", ha="right", va="bottom", fontsize="small")
        ax.set_xlabel("number of flips n")
        ax.set_ylabel("estimate of p(heads)")
        ax.set_ylim(0.4, 1.05)
        ax.set_title("The prior's pull fades as data grow", fontsize="medium")
        ax.legend(loc="lower right", fontsize="small")

    ctx.figure("mle_vs_map", draw)
