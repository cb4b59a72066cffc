"""A space's graph codec in AG-Net's form: ``types (B, N)`` int, ``adj (B, N, N)``, ``n_nodes (B,)``.

The generator trains on :meth:`GeneratorCells.graphs` and its samples become keys again through
the space's own ``decode`` (``-1`` for an invalid graph), which is all that validity, uniqueness
and novelty need. A sample of ``n`` nodes is a cell only when its first output node is node ``n - 1``.
"""
from __future__ import annotations

import numpy as np

from preprocessing import spaces


class GeneratorCells:
    """AG-Net's view of a search space (any space with the graph codec of :mod:`preprocessing.spaces`)."""

    def __init__(self, space):
        spaces.require(space, "graphs", "AG-Net", single_cell=True)
        self.space = space
        self.name = space.name
        self.n_types = len(space.node_types)
        self.max_nodes = space.n_nodes

    def all_keys(self) -> np.ndarray:
        return self.space.keys()

    def graphs(self, keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        adj, ops = self.space.graphs(np.atleast_1d(np.asarray(keys, dtype=np.int64)))
        real = ops.sum(-1) > 0
        return ops.argmax(-1).astype(np.int64), adj.astype(np.float32), real.sum(1).astype(np.int64)

    def keys(self, types: np.ndarray, adj: np.ndarray, n_nodes: np.ndarray) -> np.ndarray:
        """(B,) keys of generated graphs; -1 where a graph is not a valid cell of the space."""
        types = np.array(types, dtype=np.int64)
        n_nodes = np.asarray(n_nodes, dtype=np.int64)
        positions = np.arange(types.shape[1])[None, :]
        types[positions >= n_nodes[:, None]] = -1  # beyond the sampled size: padding
        is_output = types == self.n_types - 1
        ends_right = is_output.any(1) & (is_output.argmax(1) == n_nodes - 1)
        keys = self.space.decode(types, np.asarray(adj))
        return np.where(ends_right, keys, -1)
