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
    """

    def __init__(self, n_nodes: int, n_types: int, hidden: int = 32, latent: int = 16, n_layers: int = 4):
        super().__init__()
        self.n_nodes = n_nodes
        dims = [n_types] + [hidden] * n_layers
        self.layers = nn.ModuleList(GINLayer(dims[i], dims[i + 1]) for i in range(n_layers))
        self.to_latent = nn.Linear(hidden, latent)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        """cells (B, N, N + T) -> (B, latent)."""
        adj, h = cells[..., :self.n_nodes], cells[..., self.n_nodes:]
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


class TanhBasis(nn.Module):
    """DNGO body for the supervised BO: ``tanh(encoder(ops))`` (B, latent) basis functions."""

    def __init__(self, encoder: GraphEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.encoder(cells))


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
