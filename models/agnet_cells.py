"""Search-space cells <-> AG-Net's dense graphs (``types (B, N)``, ``adj (B, N, N)``, ``n_nodes (B,)``).

A codec gives the generator its training graphs (:meth:`graphs`) and turns generated graphs back
into the space's keys (:meth:`keys`, ``-1`` for an invalid graph), which is all that validity,
uniqueness and novelty need.
"""
from __future__ import annotations

import numpy as np

from preprocessing.errors import InputError
from preprocessing.nasbench201 import EDGES, GRAPH_ADJACENCY, N_NODES, NODE_TYPES, OPS, NB201Space


class NB201Cells:
    """NAS-Bench-201: 8-node op graphs with the fixed wiring :data:`GRAPH_ADJACENCY`.

    Node types are :data:`NODE_TYPES` (input, the 5 ops, output). A generated graph is a valid
    cell when it has all 8 nodes, ops in the 6 middle nodes, exactly the fixed wiring, and is an
    allowed cell of ``space``.
    """

    name = "nb201"
    n_types = len(NODE_TYPES)
    max_nodes = N_NODES

    def __init__(self, space: NB201Space):
        self.space = space
        self._radix = len(OPS) ** np.arange(len(EDGES))
        key_of_code = np.full(len(OPS) ** len(EDGES), -1, dtype=np.int64)
        keys = space.keys()
        key_of_code[space.op_codes[keys].astype(np.int64) @ self._radix] = keys
        self._key_of_code = key_of_code  # -1 for cells outside the allowed subset

    def all_keys(self) -> np.ndarray:
        return self.space.keys()

    def graphs(self, keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys = np.atleast_1d(np.asarray(keys, dtype=np.int64))
        types = np.empty((len(keys), N_NODES), dtype=np.int64)
        types[:, 0] = 0
        types[:, 1:-1] = self.space.op_codes[keys].astype(np.int64) + 1
        types[:, -1] = self.n_types - 1
        adj = np.broadcast_to(GRAPH_ADJACENCY, (len(keys), N_NODES, N_NODES)).astype(np.float32)
        return types, adj, np.full(len(keys), N_NODES, dtype=np.int64)

    def keys(self, types: np.ndarray, adj: np.ndarray, n_nodes: np.ndarray) -> np.ndarray:
        """(B,) keys of generated graphs; -1 where a graph is not a valid allowed cell."""
        ops = np.asarray(types)[:, 1:-1] - 1
        valid = ((np.asarray(n_nodes) == N_NODES)
                 & np.all((ops >= 0) & (ops < len(OPS)), axis=1)
                 & np.all(np.asarray(adj) == GRAPH_ADJACENCY, axis=(1, 2)))
        out = np.full(len(valid), -1, dtype=np.int64)
        out[valid] = self._key_of_code[ops[valid] @ self._radix]
        return out


class NB101Cells:
    """NAS-Bench-101: up to 7 vertices, types = :data:`preprocessing.nasbench101.OPS` codes (input,
    conv3x3, conv1x1, maxpool, output); keys = rows of the enumerated space
    (:mod:`preprocessing.nb101_enumerate`). A generated graph is valid when, after pruning the
    vertices off every input -> output path, it is an NB101 cell (connected, at most 9 edges); its
    key is the row of its module hash, so isomorphic graphs share one key.
    """

    name = "nb101"

    def __init__(self, table=None, allowed: np.ndarray | None = None):
        from preprocessing import nasbench101, nb101_enumerate

        self._nb101 = nasbench101
        self.table = nb101_enumerate.load_space() if table is None else table
        self.allowed = np.ones(len(self.table), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        self.n_types = len(nasbench101.OPS)
        self.max_nodes = nasbench101.MAX_VERTICES

    def all_keys(self) -> np.ndarray:
        return np.flatnonzero(self.allowed)

    def graphs(self, keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        adjacency, op_codes = self.table.padded_arrays(keys)
        n_nodes = (op_codes != self._nb101.PAD).sum(1).astype(np.int64)
        types = np.where(op_codes == self._nb101.PAD, 0, op_codes).astype(np.int64)  # padding: masked by n_nodes
        return types, adjacency.astype(np.float32), n_nodes

    def keys(self, types: np.ndarray, adj: np.ndarray, n_nodes: np.ndarray) -> np.ndarray:
        out = np.full(len(types), -1, dtype=np.int64)
        for i, (t, a, n) in enumerate(zip(types, adj, n_nodes)):
            try:
                cell = self._nb101.Cell(np.asarray(a)[:n, :n].astype(np.uint8), [self._nb101.OPS[c] for c in t[:n]])
                key = self.table.index_of(cell.module_hash())
            except InputError:
                continue
            out[i] = key if self.allowed[key] else -1
        return out


def cells_for(space) -> NB201Cells | NB101Cells:
    """The codec of a search space object of the protocol runner (NB201 or NB101)."""
    if isinstance(space, NB201Space):
        return NB201Cells(space)
    if getattr(space, "name", None) == "nb101":
        return NB101Cells(space.table, space.allowed)
    raise InputError(f"AG-Net has no cell codec for the {getattr(space, 'name', type(space).__name__)} space")
