"""GMAE: a graph masked autoencoder over cell graphs, and its fine-tuned accuracy predictor (Jing et al., IJCAI 2022).

Cells are dense batched DAGs, as in :mod:`models.arch2vec`: ``adj`` (B, N, N) upper-triangular 0/1
(``adj[b, src, dst] = 1``), ``ops`` (B, N, T) node-type one-hot, optional ``mask`` (B, N) bool for
the real nodes of padded cells (NB101). Node type 0 is the input, type T-1 the output.

Encoder (:class:`GMAEEncoder`): a linear node embedding, then ``layers`` blocks
``h <- PReLU(BN(h + GAT(h)))`` (skip connection, batch norm over real nodes, PReLU) and a mean readout
over real nodes. The GAT is multi-head attention restricted to the graph; half of the heads attend
along the edges (a node reads its predecessors), half against them (its successors), and every
node also attends to itself -- so the DAG's direction is kept while information flows both ways.
``kind='gin'`` swaps in arch2vec's GIN layers (the encoder ablation).

Masked pretraining (:func:`mask_nodes`, :class:`GMAE`): a ratio of the op nodes of every cell
(never the input/output node or padding) has its embedding replaced by a learned [MASK] vector;
the decoder predicts their op types. Decoders: ``linear`` (one linear layer on the node states)
or ``gat`` (GraphMAE's re-mask: masked node states are zeroed, one GAT block, then linear).
Objectives (:func:`pretrain_loss`): ``ce`` cross-entropy of the masked ops, ``sce`` GraphMAE's
scaled cosine error (gamma = 2) between the decoded and the one-hot types, ``ce_adj`` ``ce`` plus
a binary cross-entropy reconstruction of the upper-triangle adjacency from node-state inner products.

Predictor (:class:`GMAEPredictor`): encoder + a two-layer head on the readout, trained on few
labelled cells with the pairwise BPR ranking loss (:func:`bpr_loss`) by :func:`fine_tune`, in one
of the modes ``end2end`` (all weights), ``frozen`` (head only; encoder in eval mode) or
``scratch`` (all weights, random initialisation -- the caller just does not load pretrained ones).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.arch2vec import GINLayer

ENCODERS = ("gat", "gin")
DECODERS = ("linear", "gat")
OBJECTIVES = ("ce", "sce", "ce_adj")
FINETUNE_MODES = ("end2end", "frozen", "scratch")


def real_rows(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Flat indices (into B*N) of the real nodes, or None when every node is real."""
    return None if mask is None else mask.reshape(-1).nonzero().squeeze(1)


def attention_masks(adj: torch.Tensor) -> torch.Tensor:
    """adj (B, N, N) -> (B, 2, N, N) bool: [i attends to j] along edges (j -> i) and against them (i -> j), + self."""
    eye = torch.eye(adj.shape[-1], dtype=torch.bool, device=adj.device)
    edges = adj > 0
    return torch.stack([edges.transpose(1, 2) | eye, edges | eye], dim=1)


class DenseGATBlock(nn.Module):
    """``PReLU(BN(h + GAT(h)))`` on dense graphs; heads split evenly between the two edge directions.

    Shapes: ``forward(h (B, N, D), attend (B, 2, N, N) bool, rows)`` -> (B, N, D); padded nodes
    (outside ``rows``) come out zero and stay out of the batch-norm statistics.
    """

    def __init__(self, dim: int, heads: int = 4):
        super().__init__()
        if heads % 2 or dim % heads:
            raise ValueError(f"heads must be even and divide dim, got heads={heads}, dim={dim}")
        self.heads, self.head_dim = heads, dim // heads
        self.proj = nn.Linear(dim, dim, bias=False)
        self.att_src = nn.Parameter(torch.empty(heads, self.head_dim))
        self.att_dst = nn.Parameter(torch.empty(heads, self.head_dim))
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        self.norm = nn.BatchNorm1d(dim)
        self.act = nn.PReLU(dim)

    def forward(self, h: torch.Tensor, attend: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        batch, nodes, dim = h.shape
        x = self.proj(h).view(batch, nodes, self.heads, self.head_dim)
        score_src = (x * self.att_src).sum(-1)  # (B, N, H)
        score_dst = (x * self.att_dst).sum(-1)
        logits = F.leaky_relu(score_dst.unsqueeze(2) + score_src.unsqueeze(1), 0.2)  # (B, N_dst, N_src, H)
        allowed = attend.repeat_interleave(self.heads // 2, dim=1).permute(0, 2, 3, 1)  # (B, N, N, H)
        weights = torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=2)
        messages = torch.einsum("bijh,bjhd->bihd", weights, x).reshape(batch, nodes, dim)
        out = (h + messages).reshape(batch * nodes, dim)
        if rows is None:
            return self.act(self.norm(out)).view(batch, nodes, dim)
        real = self.act(self.norm(out[rows]))
        return real.new_zeros(batch * nodes, dim).index_copy(0, rows, real).view(batch, nodes, dim)


class GMAEEncoder(nn.Module):
    """Node embedding + ``layers`` GAT (or GIN) blocks; :meth:`readout` = mean over real nodes.

    Args:
        n_types: T, node types of the space.
        dim: hidden width D.
        layers: number of blocks.
        heads: attention heads (even; GAT only).
        kind: ``gat`` or ``gin``.

    Shapes: ``forward(adj, ops, mask=None, masked=None)`` -> node states (B, N, D); ``masked`` (B, N)
    bool marks nodes whose embedding is replaced by the learned [MASK] vector.
    """

    def __init__(self, n_types: int, dim: int = 64, layers: int = 12, heads: int = 4, kind: str = "gat"):
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
        self.kind = kind
        self.embed = nn.Linear(n_types, dim)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        if kind == "gat":
            self.blocks = nn.ModuleList(DenseGATBlock(dim, heads) for _ in range(layers))
        else:
            self.blocks = nn.ModuleList(GINLayer(dim, dim) for _ in range(layers))

    def initial(self, ops: torch.Tensor, mask: torch.Tensor | None = None,
                masked: torch.Tensor | None = None) -> torch.Tensor:
        """Node types (B, N, T) -> embedded node states (B, N, D), [MASK] where ``masked``, 0 on padding."""
        h = self.embed(ops)
        if masked is not None:
            h = torch.where(masked.unsqueeze(-1), self.mask_token.expand_as(h), h)
        return h if mask is None else h * mask.unsqueeze(-1)

    def propagate(self, h: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor | None = None, start: int = 0,
                  stop: int | None = None) -> torch.Tensor:
        """Run blocks ``start:stop`` on node states h (B, N, D) -> (B, N, D)."""
        rows = real_rows(mask)
        graph = attention_masks(adj) if self.kind == "gat" else adj + adj.transpose(1, 2)
        for block in self.blocks[start:stop]:
            h = block(h, graph, rows)
        return h

    def forward(self, adj: torch.Tensor, ops: torch.Tensor, mask: torch.Tensor | None = None,
                masked: torch.Tensor | None = None) -> torch.Tensor:
        return self.propagate(self.initial(ops, mask, masked), adj, mask)

    @staticmethod
    def readout(h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Node states (B, N, D) -> graph embedding (B, D): mean over real nodes."""
        if mask is None:
            return h.mean(1)
        weights = mask.to(h.dtype).unsqueeze(-1)
        return (h * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def maskable_nodes(ops: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, N) bool: real op nodes, i.e. neither the input (type 0), the output (type T-1) nor padding."""
    types = ops.argmax(-1)
    out = (types != 0) & (types != ops.shape[-1] - 1) & (ops.sum(-1) > 0)
    return out if mask is None else out & mask


def mask_nodes(ops: torch.Tensor, ratio: float, generator: torch.Generator,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, N) bool: ``max(1, round(ratio * m))`` of the m maskable nodes of each cell, uniformly at random."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"masking ratio must be in (0, 1], got {ratio}")
    candidates = maskable_nodes(ops, mask)
    counts = candidates.sum(1)
    k = torch.clamp(torch.round(counts * ratio), min=1).minimum(counts)
    scores = torch.rand(candidates.shape, generator=generator).masked_fill(~candidates, 2.0)
    ranks = scores.argsort(1).argsort(1)
    return ranks < k.unsqueeze(1)


class GMAE(nn.Module):
    """Encoder + op decoder for masked pretraining.

    Args:
        n_types, dim, layers, heads, encoder: see :class:`GMAEEncoder`.
        decoder: ``linear`` or ``gat`` (re-mask + one GAT block + linear).

    Shapes: ``forward(adj, ops, mask, masked)`` -> (op logits (B, N, T), node states (B, N, D)).
    """

    def __init__(self, n_types: int, dim: int = 64, layers: int = 12, heads: int = 4, encoder: str = "gat",
                 decoder: str = "linear"):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
        self.encoder = GMAEEncoder(n_types, dim, layers, heads, encoder)
        self.decoder_block = DenseGATBlock(dim, heads) if decoder == "gat" else None
        self.classify = nn.Linear(dim, n_types)

    def forward(self, adj, ops, mask=None, masked=None):
        h = self.encoder(adj, ops, mask, masked)
        z = h
        if self.decoder_block is not None:
            if masked is not None:
                z = z.masked_fill(masked.unsqueeze(-1), 0.0)
            z = self.decoder_block(z, attention_masks(adj), real_rows(mask))
        return self.classify(z), h


def pretrain_loss(model: GMAE, adj, ops, mask, masked, objective: str = "ce") -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, accuracy of the masked op types) for one batch."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    logits, h = model(adj, ops, mask, masked)
    target = ops[masked].argmax(-1)
    picked = logits[masked]
    if objective == "sce":
        cosine = F.cosine_similarity(picked, ops[masked], dim=-1)
        loss = ((1 - cosine) ** 2).mean()
    else:
        loss = F.cross_entropy(picked, target)
    if objective == "ce_adj":
        pair_logits = h @ h.transpose(1, 2) / math.sqrt(h.shape[-1])
        upper = torch.ones_like(adj[0], dtype=torch.bool).triu(1)
        pairs = upper.expand_as(adj) if mask is None else upper & mask.unsqueeze(2) & mask.unsqueeze(1)
        loss = loss + F.binary_cross_entropy_with_logits(pair_logits[pairs], adj[pairs])
    accuracy = (picked.argmax(-1) == target).float().mean()
    return loss, accuracy


class GMAEPredictor(nn.Module):
    """Encoder + two-layer PReLU head on the readout: ``forward(adj, x, mask)`` -> scores (B,).

    ``start`` = 0: ``x`` are node-type one-hots (B, N, T) and the whole encoder runs. ``start`` = k > 0:
    ``x`` are node states (B, N, D) after the encoder's first k blocks (precomputed once with the
    frozen encoder), and only blocks k.. and the head run -- cheap partial fine-tuning for search.
    """

    def __init__(self, encoder: GMAEEncoder, dim: int, start: int = 0):
        super().__init__()
        self.encoder = encoder
        self.start = int(start)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.PReLU(dim), nn.Linear(dim, 1))

    def features(self, adj, x, mask=None) -> torch.Tensor:
        """(B, D) the head's hidden layer: the learned basis the search's Bayesian regression uses."""
        h = self.encoder.initial(x, mask) if self.start == 0 else x
        h = self.encoder.readout(self.encoder.propagate(h, adj, mask, self.start), mask)
        return self.head[1](self.head[0](h))

    def forward(self, adj, x, mask=None) -> torch.Tensor:
        return self.head[2](self.features(adj, x, mask)).squeeze(-1)


def bpr_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking over all ordered pairs: mean of ``-log sigmoid(s_i - s_j)`` for y_i > y_j."""
    better = targets.unsqueeze(1) > targets.unsqueeze(0)
    if not better.any():
        return scores.sum() * 0.0
    return -F.logsigmoid(scores.unsqueeze(1) - scores.unsqueeze(0))[better].mean()


def fine_tune(predictor: GMAEPredictor, adj, ops, mask, targets, *, steps: int, generator: torch.Generator,
              mode: str = "end2end", lr: float = 1e-3, encoder_lr: float | None = None, batch_size: int | None = None,
              weight_decay: float = 1e-4, optimiser: torch.optim.Optimizer | None = None) -> torch.optim.Optimizer:
    """Train ``predictor`` in place with the BPR loss on the labelled cells; returns the optimiser (for warm restarts).

    ``batch_size`` None = full batch; mini-batches are drawn with ``generator``. In ``frozen`` mode
    the encoder is kept in eval mode (fixed batch-norm statistics) and gets no gradient.
    ``encoder_lr`` (default ``lr``) sets the encoder's learning rate in the other modes.
    """
    if mode not in FINETUNE_MODES:
        raise ValueError(f"unknown fine-tune mode {mode!r}; choose one of {', '.join(FINETUNE_MODES)}")
    frozen = mode == "frozen"
    predictor.train()
    predictor.encoder.requires_grad_(not frozen)
    if frozen:
        predictor.encoder.eval()
    if optimiser is None:
        groups = [{"params": predictor.head.parameters(), "lr": lr}]
        if not frozen:
            groups.append({"params": predictor.encoder.parameters(), "lr": encoder_lr or lr})
        optimiser = torch.optim.AdamW(groups, weight_decay=weight_decay)
    n = len(targets)
    for _ in range(steps):
        if batch_size is None or batch_size >= n:
            rows = slice(None)
        else:
            rows = torch.randperm(n, generator=generator)[:batch_size]
        optimiser.zero_grad(set_to_none=True)
        scores = predictor(adj[rows], ops[rows], None if mask is None else mask[rows])
        bpr_loss(scores, targets[rows]).backward()
        optimiser.step()
    predictor.eval()
    return optimiser


@torch.no_grad()
def predict(predictor: GMAEPredictor, adj, ops, mask=None, chunk: int = 4096) -> torch.Tensor:
    """Scores (B,) in eval mode, ``chunk`` cells per forward pass."""
    predictor.eval()
    parts = [predictor(adj[i:i + chunk], ops[i:i + chunk], None if mask is None else mask[i:i + chunk])
             for i in range(0, len(adj), chunk)]
    return torch.cat(parts) if parts else adj.new_zeros(0)
