"""Dense graphs of a space's cells for the graph models (arch2vec, GMAE, AG-Net, the GIN baselines).

Every graph model builds its inputs from the space's one graph codec (:mod:`preprocessing.spaces`:
``node_types``, ``n_nodes``, ``graphs(keys)``, ``decode(types, adj)``); nothing here knows a space.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from preprocessing import spaces


@dataclass
class CellGraphs:
    """Dense cells: adj (G, N, N) float32 0/1, ops (G, N, T) float32 one-hot, mask (G, N) bool or None
    (None when no cell has padding nodes), keys (G,) the cells' keys in their space."""

    adj: torch.Tensor
    ops: torch.Tensor
    mask: torch.Tensor | None
    keys: np.ndarray

    def __len__(self) -> int:
        return len(self.adj)

    def subset(self, rows: torch.Tensor) -> "CellGraphs":
        return CellGraphs(self.adj[rows], self.ops[rows], None if self.mask is None else self.mask[rows],
                          self.keys[rows.numpy()])


def graphs_of(space, keys) -> CellGraphs:
    """The graphs of ``keys`` in ``space`` (padding nodes have all-zero one-hot rows)."""
    keys = np.atleast_1d(np.asarray(keys, dtype=np.int64))
    adj, ops = space.graphs(keys)
    real = ops.sum(-1) > 0
    return CellGraphs(torch.from_numpy(np.ascontiguousarray(adj, dtype=np.float32)),
                      torch.from_numpy(np.ascontiguousarray(ops, dtype=np.float32)),
                      None if real.all() else torch.from_numpy(real), keys)


def seeded_keys(space, limit: int | None, seed: int) -> np.ndarray:
    """All keys of ``space``, or a seeded random subset of ``limit`` of them (sorted, so subsets nest by seed)."""
    keys = np.asarray(space.keys())
    if limit is None or limit >= len(keys):
        return keys
    return np.sort(keys[np.random.default_rng(seed).permutation(len(keys))[:limit]])


def pretraining_graphs(space_name: str, limit: int | None = None, seed: int = 0) -> tuple[object, CellGraphs]:
    """(the space's full space, the graphs to pretrain an unsupervised model on): every cell, or ``limit``."""
    space = spaces.full_space(space_name)
    return space, graphs_of(space, seeded_keys(space, limit, seed))


def all_key_graphs(space) -> CellGraphs:
    """Graphs of keys ``0..max(keys)`` (row = key), for models that tabulate an input per key."""
    return graphs_of(space, np.arange(int(np.max(space.keys())) + 1))


def decoding_stats(space, types: np.ndarray, edges: np.ndarray) -> dict[str, float]:
    """Validity and uniqueness of hard decodings, as in the arch2vec paper's Table 1.

    valid: fraction of decodings that are legal cells of the space (its codec's rule);
    unique: distinct cells among the valid ones / number of valid ones.
    """
    keys = space.decode(np.asarray(types), np.asarray(edges, dtype=np.float32))
    valid_keys = keys[keys >= 0]
    return {"valid": len(valid_keys) / max(len(keys), 1),
            "unique": len(np.unique(valid_keys)) / max(len(valid_keys), 1)}
