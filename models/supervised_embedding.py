"""The "supervised architecture representation" of arch2vec's baselines: a GIN encoder whose only
training signal is the accuracy of the architectures the search has queried.

arch2vec (NeurIPS 2020, Sec. 4.2; its ``supervised_reinforce.py`` / ``pybnn/dngo_supervised.py``)
compares its pretrained, frozen embeddings with the same searches run on an encoder of the same
shape trained *during* the search: for RL the encoder feeds the policy and is updated by the
policy-gradient loss; for BO it is DNGO's feature network, retrained from scratch by MSE on the
queried accuracies before every acquisition. Both searches build on :class:`GraphEncoder`.

Encoder: arch2vec's GIN layers (:class:`models.arch2vec.GINLayer`), a linear map of each node to
the latent size, and the mean over the real nodes. Its input packs each cell's graph from the
space's codec into one tensor, ``cells`` (B, N, N + T) = adjacency next to the node-type one-hot
(:func:`search_methods.supervised_reinforce.all_cell_inputs`), so a search can index the inputs of
its candidates like any feature table.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from models.arch2vec import GINLayer


class GraphEncoder(nn.Module):
    """GIN over each cell's own graph -> (B, latent) architecture representation.

    n_nodes: N.  n_types: node types T.  hidden: GIN width.  latent: output size.  n_layers: GIN layers.
    wiring: the symmetric (N, N) adjacency that every input cell has (:func:`shared_wiring` of the whole
    space's cells: NB201), so a batch need not be checked for it; None = check each batch.
    """

    def __init__(self, n_nodes: int, n_types: int, hidden: int = 32, latent: int = 16, n_layers: int = 4,
                 wiring: torch.Tensor | None = None):
        super().__init__()
        self.n_nodes = n_nodes
        self.register_buffer("wiring", wiring, persistent=False)  # follows .to(device); not a weight
        self._folded: tuple[tuple, list] | None = None  # (weight versions, folded weights) of the last folded()
        dims = [n_types] + [hidden] * n_layers
        self.layers = nn.ModuleList(GINLayer(dims[i], dims[i + 1]) for i in range(n_layers))
        self.to_latent = nn.Linear(hidden, latent)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """cells (B, N, N + T) -> (B, latent)."""
        adj, h = cells[..., :self.n_nodes], cells[..., self.n_nodes:]
        mix = self._wiring_of(adj, h)
        if mix is not None:
            return self._forward_shared(mix, h)
        adj_sym = adj + adj.transpose(1, 2)
        real = h.sum(-1) > 0
        rows = None if bool(real.all()) else real.flatten().nonzero().squeeze(1)
        for layer in self.layers:
            h = layer(h, adj_sym, rows)
        out = self.to_latent(h)
        if rows is None:
            return out.mean(1)
        weights = real.float()[..., None]
        return (out * weights).sum(1) / weights.sum(1).clamp(min=1)

    def _wiring_of(self, adj: torch.Tensor, ops: torch.Tensor) -> torch.Tensor | None:
        """The batch's shared symmetric wiring: the one given at construction, else :func:`shared_wiring`."""
        return self.wiring if self.wiring is not None else shared_wiring(adj, ops)

    def _forward_shared(self, mix: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` for a batch whose cells share one wiring (NB201: every cell), equal up to
        float rounding. Node-major features (N, B * F) turn each layer's neighbourhood sum into one
        (N, N) x (N, B * F) product instead of B tiny ones, and the node mean is taken before the
        (linear) latent map: about 1.2x faster to train, 2x faster to score than the general path."""
        batch, nodes, _ = ops.shape
        h = ops.transpose(0, 1).reshape(nodes, -1)
        eye = torch.eye(nodes, dtype=ops.dtype, device=ops.device)
        for layer in self.layers:
            aggregated = ((1 + layer.eps) * eye + mix) @ h  # (1 + eps) h_i + sum of the neighbours of i
            h = layer.transform(aggregated.view(nodes * batch, -1)).view(nodes, -1)
        return self.to_latent(h.view(nodes, batch, -1).mean(0))

    @torch.no_grad()
    def folded(self, cells: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` in eval mode, about 2x faster (equal up to float rounding): each batch
        norm is folded into the linear map before it, and the node mean is taken before the (linear)
        latent map. DNGO scores every cell of the space with it after every fit."""
        if self.training:
            raise RuntimeError("GraphEncoder.folded uses the running batch-norm statistics: call eval() first")
        adj, h = cells[..., :self.n_nodes], cells[..., self.n_nodes:]
        batch, nodes, _ = h.shape
        mix = self._wiring_of(adj, h)
        if mix is not None:  # node-major, as in _forward_shared
            eye = torch.eye(nodes, dtype=h.dtype, device=h.device)
            h = h.transpose(0, 1).reshape(nodes, -1)
            for layer, (_, b1, _, b2, w1_t, w2_t) in zip(self.layers, self._folded_weights()):
                aggregated = (((1 + layer.eps) * eye + mix) @ h).view(nodes * batch, -1)
                x = torch.mm(aggregated, w1_t).add_(b1).relu_()
                h = torch.mm(x, w2_t).add_(b2).relu_().view(nodes, -1)
            return self.to_latent(h.view(nodes, batch, -1).mean(0))
        real = (h.sum(-1) > 0).float()[..., None]
        mix = (adj + adj.transpose(1, 2)) + torch.eye(nodes)
        for layer, (w1, b1, w2, b2, _, _) in zip(self.layers, self._folded_weights()):
            aggregated = (mix + layer.eps * torch.eye(nodes)) @ h
            x = torch.addmm(b1, aggregated.reshape(batch * nodes, -1), w1.T).relu_()
            h = torch.addmm(b2, x, w2.T).relu_().view(batch, nodes, -1) * real  # padding stays zero
        return self.to_latent((h * real).sum(1) / real.sum(1).clamp(min=1))


    def _folded_weights(self) -> list[tuple[torch.Tensor, ...]]:
        """Per layer (w1, b1, w2, b2, w1^T, w2^T): the linear maps with the batch norms folded in
        (:func:`_fold`), weights (out, in), and their transposes made contiguous for the node-major
        path (MKL: 1.4x faster there than a transposed view).
        Computed once per set of weights: DNGO scores the space in chunks between two fits; a tensor's
        version counter moves with every in-place update (Adam, the running statistics) and its data
        pointer with a move to another device."""
        versions = tuple((t._version, t.data_ptr()) for t in (*self.parameters(), *self.buffers()))
        if self._folded is None or self._folded[0] != versions:
            weights = []
            for layer in self.layers:
                w1, b1 = _fold(layer.mlp[0], layer.mlp[1])
                w2, b2 = _fold(layer.mlp[3], layer.norm)
                weights.append((w1, b1, w2, b2, w1.T.contiguous(), w2.T.contiguous()))
            self._folded = (versions, weights)
        return self._folded[1]


def shared_wiring(adj: torch.Tensor, ops: torch.Tensor) -> torch.Tensor | None:
    """The symmetric (N, N) adjacency of a batch whose cells all have the same wiring and no padded
    node, else None (NB-101 cells differ in both)."""
    if len(adj) == 0 or not bool((adj == adj[:1]).all()) or not bool((ops.sum(-1) > 0).all()):
        return None
    return adj[0] + adj[0].T


def _fold(linear: nn.Linear, norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of ``norm(linear(x))`` with the norm's running statistics, as one linear map."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return linear.weight * scale[:, None], (linear.bias - norm.running_mean) * scale + norm.bias


class TanhBasis(nn.Module):
    """DNGO body for the supervised BO: ``tanh(encoder(ops))`` (B, latent) basis functions."""

    def __init__(self, encoder: GraphEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        inference = not self.training and not torch.is_grad_enabled()
        return torch.tanh(self.encoder.folded(cells) if inference else self.encoder(cells))


class EncoderEmbedding:
    """A :class:`GraphEncoder` seen as the embedding of the RL search (``table``, ``state``, ``dim``).

    The encoder stays in eval mode: its batch-norm layers use their (initial) running statistics,
    so one cell's state and the whole table are computed the same way; gradients still reach every
    weight through :meth:`state`.
    """

    def __init__(self, encoder: GraphEncoder, cells: torch.Tensor, chunk: int = 4096):
        self.encoder = encoder.eval()
        self.cells = cells
        self.chunk = chunk
        self.dim = encoder.to_latent.out_features

    def parameters(self):
        return self.encoder.parameters()

    @torch.no_grad()
    def table(self) -> np.ndarray:
        """(n_cells, latent) representation of every cell under the current weights."""
        return torch.cat([self.encoder(self.cells[i:i + self.chunk])
                          for i in range(0, len(self.cells), self.chunk)]).numpy()

    def state(self, key: int) -> torch.Tensor:
        """(1, latent), differentiable w.r.t. the encoder."""
        return self.encoder(self.cells[int(key)][None])
