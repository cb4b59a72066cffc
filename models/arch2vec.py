"""arch2vec: the variational graph autoencoder of Yan et al. (NeurIPS 2020), on dense batched cells.

A cell is a DAG of ``N`` nodes (7-11) given as dense tensors: ``adj`` (B, N, N) upper-triangular
0/1 (``adj[b, src, dst] = 1``), ``ops`` (B, N, T) node-type one-hot, and an optional ``mask``
(B, N) bool marking the real nodes of padded cells (NB101 cells with fewer than 7 vertices;
padding rows of ``adj`` / ``ops`` are zero).

Encoder: 4 GIN layers ``h <- ReLU(BN(MLP((1 + eps_l) h + A_sym h)))`` with ``A_sym = adj + adj^T``
(the DAG seen in both directions; the ``(1 + eps)`` term is GIN's self loop), each MLP
Linear-BN-ReLU-Linear of width 128, learnable ``eps`` per layer; then two linear heads give each
node a ``latent_dim`` mean and log-variance. Batch-norm statistics use real nodes only.

Decoder (on each node latent ``z_i``, after dropout): op logits ``W z_i + b`` (softmax over the
node types) and edge logits ``z_i . z_j`` (sigmoid), of which only the upper triangle is used.

Loss (:func:`vae_loss`): cross-entropy of the ops (mean over real nodes) + binary cross-entropy
of the upper-triangle adjacency (mean over pairs of real nodes) + KL(q(z|G) || N(0, I)) summed over
latent dims, averaged over real nodes and divided by the number of real nodes in the batch -- the
VGAE normalisation arch2vec uses, which keeps the KL a light regulariser.

Two corrections to the original code (documented for the README): it decodes ops with a sigmoid
and a binary cross-entropy per type, here a softmax cross-entropy (exactly one type per node); and
it samples ``z = mu + eps * exp(logvar)``, treating ``logvar`` as a log-std in one place and a
log-variance in another, here consistently ``std = exp(0.5 * logvar)`` with the matching KL.

Architecture embedding (:meth:`Arch2Vec.embed`): the mean over real nodes of the node means.
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn


class GINLayer(nn.Module):
    """One GIN layer: ``ReLU(BN(MLP((1 + eps) h + A h)))``, MLP = Linear-BN-ReLU-Linear."""

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(()))
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self.norm = nn.BatchNorm1d(hidden_dim)

    def forward(self, h: torch.Tensor, adj_sym: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """h (B, N, F), adj_sym (B, N, N), rows: flat indices of the real nodes or None -> (B, N, H)."""
        batch, nodes, _ = h.shape
        aggregated = ((1 + self.eps) * h + adj_sym @ h).reshape(batch * nodes, -1)
        if rows is None:
            return self.transform(aggregated).view(batch, nodes, -1)
        # padded nodes stay exactly zero and never enter the batch-norm statistics
        real = self.transform(aggregated[rows])
        out = real.new_zeros(batch * nodes, real.shape[1]).index_copy(0, rows, real)
        return out.view(batch, nodes, -1)

    def transform(self, aggregated: torch.Tensor) -> torch.Tensor:
        """(rows, F) aggregated node features -> (rows, H): ``ReLU(BN(MLP(.)))``."""
        return F.relu(self.norm(self.mlp(aggregated)))


class Arch2Vec(nn.Module):
    """GIN variational encoder + inner-product decoder over node latents.

    n_types:    node types T (NB201 7, NB101 5, DARTS 11).
    hidden_dim: GIN width (128).  latent_dim: per-node latent size (16).
    n_layers:   GIN layers (4).   dropout: on the latents before decoding (0.3, as arch2vec).
    """

    def __init__(self, n_types: int, hidden_dim: int = 128, latent_dim: int = 16, n_layers: int = 4,
                 dropout: float = 0.3):
        super().__init__()
        dims = [n_types] + [hidden_dim] * n_layers
        self.layers = nn.ModuleList(GINLayer(dims[i], dims[i + 1]) for i in range(n_layers))
        self.to_mean = nn.Linear(hidden_dim, latent_dim)
        self.to_logvar = nn.Linear(hidden_dim, latent_dim)
        self.to_ops = nn.Linear(latent_dim, n_types)
        self.dropout = dropout

    @staticmethod
    def _real_rows(mask: torch.Tensor | None) -> torch.Tensor | None:
        if mask is None or bool(mask.all()):
            return None
        return mask.reshape(-1).nonzero().squeeze(1)

    def encode(self, adj: torch.Tensor, ops: torch.Tensor, mask: torch.Tensor | None = None):
        """adj (B, N, N), ops (B, N, T), mask (B, N) | None -> node mean, logvar (B, N, D)."""
        adj_sym = adj + adj.transpose(1, 2)
        rows = self._real_rows(mask)
        h = ops
        for layer in self.layers:
            h = layer(h, adj_sym, rows)
        return self.to_mean(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor):
        """z (B, N, D) -> op logits (B, N, T), edge logits (B, N, N) (read the upper triangle)."""
        z = F.dropout(z, p=self.dropout, training=self.training)
        return self.to_ops(z), z @ z.transpose(1, 2)

    def forward(self, adj: torch.Tensor, ops: torch.Tensor, mask: torch.Tensor | None = None):
        """-> op logits (B, N, T), edge logits (B, N, N), mean (B, N, D), logvar (B, N, D).

        Training decodes a reparameterised sample ``mean + eps * exp(0.5 logvar)``; eval the mean.
        """
        mean, logvar = self.encode(adj, ops, mask)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar) if self.training else mean
        ops_logits, adj_logits = self.decode(z)
        return ops_logits, adj_logits, mean, logvar

    @torch.no_grad()
    def embed(self, adj: torch.Tensor, ops: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) architecture embeddings: mean over real nodes of the node means.

        Always computed in eval mode (batch norm on its running statistics), so a cell's embedding
        does not depend on the batch it comes in.
        """
        was_training = self.training
        self.eval()
        mean, _ = self.encode(adj, ops, mask)
        self.train(was_training)
        if mask is None:
            return mean.mean(1)
        weights = mask.to(mean.dtype).unsqueeze(-1)
        return (mean * weights).sum(1) / weights.sum(1)


@lru_cache(maxsize=None)
def upper_pairs(n_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the P = N (N - 1) / 2 upper-triangle pairs (i < j)."""
    rows, cols = torch.triu_indices(n_nodes, n_nodes, offset=1)
    return rows, cols


def vae_loss(ops_logits, adj_logits, mean, logvar, adj, ops, mask=None):
    """Reconstruction (ops CE + adjacency BCE) + normalised KL -> (loss, {'ops', 'adj', 'kl'} detached).

    ops CE is averaged over real nodes, the adjacency BCE over upper-triangle pairs of real nodes.
    """
    rows, cols = upper_pairs(ops.shape[1])
    edge_logits, edge_targets = adj_logits[:, rows, cols], adj[:, rows, cols]
    kl_per_node = -0.5 * (1 + logvar - mean.pow(2) - logvar.exp()).sum(-1)
    if mask is None:
        loss_ops = F.cross_entropy(ops_logits.flatten(0, 1), ops.flatten(0, 1).argmax(-1))
        loss_adj = F.binary_cross_entropy_with_logits(edge_logits, edge_targets)
    else:
        loss_ops = F.cross_entropy(ops_logits[mask], ops[mask].argmax(-1))
        pairs = mask[:, rows] & mask[:, cols]
        loss_adj = F.binary_cross_entropy_with_logits(edge_logits[pairs], edge_targets[pairs])
        kl_per_node = kl_per_node[mask]
    kl = kl_per_node.mean() / kl_per_node.numel()
    return loss_ops + loss_adj + kl, {"ops": loss_ops.detach(), "adj": loss_adj.detach(), "kl": kl.detach()}


def decoded_cells(ops_logits: torch.Tensor, adj_logits: torch.Tensor):
    """Hard decoding: node types (B, N) = argmax, adjacency (B, N, N) bool = sigmoid > 0.5, upper triangle."""
    return ops_logits.argmax(-1), (adj_logits > 0).triu(1)


@torch.no_grad()
def reconstruction_accuracy(model: Arch2Vec, adj, ops, mask=None, chunk: int = 4096) -> dict[str, float]:
    """Reconstruction from the posterior means (eval mode), four fractions in [0, 1].

    ops_node / adj_pair: per-element accuracy (over real nodes / over upper-triangle pairs of real
    nodes); ops_graph / adj_graph: per-graph exact match (every node / every pair of the graph right).
    """
    was_training = model.training
    model.eval()
    rows, cols = upper_pairs(adj.shape[1])
    right = {"ops_node": 0, "adj_pair": 0, "ops_graph": 0, "adj_graph": 0}
    n_nodes = n_pairs = 0
    for start in range(0, len(adj), chunk):
        a, o = adj[start:start + chunk], ops[start:start + chunk]
        m = torch.ones(o.shape[:2], dtype=torch.bool, device=o.device) if mask is None else mask[start:start + chunk]
        ops_logits, adj_logits, _, _ = model(a, o, None if mask is None else m)
        types, edges = decoded_cells(ops_logits, adj_logits)
        pairs = m[:, rows] & m[:, cols]
        ops_right = (types == o.argmax(-1)) | ~m
        adj_right = (edges[:, rows, cols] == a[:, rows, cols].bool()) | ~pairs
        right["ops_node"] += int((ops_right & m).sum())
        right["adj_pair"] += int((adj_right & pairs).sum())
        right["ops_graph"] += int(ops_right.all(1).sum())
        right["adj_graph"] += int(adj_right.all(1).sum())
        n_nodes += int(m.sum())
        n_pairs += int(pairs.sum())
    model.train(was_training)
    return {"ops_node": right["ops_node"] / n_nodes, "adj_pair": right["adj_pair"] / max(n_pairs, 1),
            "ops_graph": right["ops_graph"] / len(adj), "adj_graph": right["adj_graph"] / len(adj)}
