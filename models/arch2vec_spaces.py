"""What arch2vec needs from each cell space: all its cells as dense graphs, and a decoder back to cells.

Each space adapter has ``name``, ``node_types`` (the one-hot columns), ``n_nodes`` and

* ``cells(limit, seed) -> CellGraphs``: the cells to pretrain on (``limit`` = a seeded subset);
* ``decode(types (S, N) int, edges (S, N, N) bool) -> list[key | None]``: the cell each hard
  decoding stands for (its identity key, the same kind of key as :attr:`CellGraphs.keys`), or
  None when the decoding is not a legal cell of the space;
* ``types_valid(types) -> (S,) bool``: the node-type part of the rule alone (what the original
  arch2vec code checks for NB201, which never looks at the decoded adjacency).

Validity rules (``decode``):

* NB201: node 0 ``input``, node 7 ``output``, nodes 1-6 one of the 5 ops, and the decoded
  adjacency equal to the fixed NB201 wiring :data:`preprocessing.nasbench201.GRAPH_ADJACENCY`.
  Key: the official index.
* NB101: :func:`preprocessing.nasbench101.cell_from_arch2vec` (vertices after the first ``output``
  are padding) followed by the official validity check (connected, <= 7 vertices and <= 9 edges
  after pruning). Key: the official module hash.
* DARTS: :func:`preprocessing.darts_space.graph_to_cell` (the exact arch2vec 11-node layout: each op
  node reads one input state or both op nodes of one earlier intermediate node, every op node
  feeds the output). Key: :func:`preprocessing.darts_space.cell_hash` (isomorphism-invariant).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from preprocessing.errors import InputError


@dataclass
class CellGraphs:
    """Dense cells: adj (G, N, N) float32 0/1, ops (G, N, T) float32 one-hot, mask (G, N) bool or None."""

    adj: torch.Tensor
    ops: torch.Tensor
    mask: torch.Tensor | None
    keys: list

    def __len__(self) -> int:
        return len(self.adj)

    def subset(self, rows: torch.Tensor) -> "CellGraphs":
        rows_list = rows.tolist()
        return CellGraphs(self.adj[rows], self.ops[rows], None if self.mask is None else self.mask[rows],
                          [self.keys[i] for i in rows_list])


def _seeded_rows(total: int, limit: int | None, seed: int) -> np.ndarray:
    """All rows, or a seeded random subset of ``limit`` rows (sorted, so subsets nest by seed)."""
    if limit is None or limit >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).permutation(total)[:limit])


def _onehot(labels: np.ndarray, n_types: int) -> torch.Tensor:
    """(G, N) int labels, -1 = padding -> (G, N, T) float32 one-hot with zero padding rows."""
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    out = torch.zeros(*labels.shape, n_types)
    real = labels >= 0
    out[real] = torch.nn.functional.one_hot(labels[real], n_types).float()
    return out


class NB201Graphs:
    """NAS-Bench-201: all 15,625 cells as 8-node op graphs (keys = official indices)."""

    name = "nb201"

    def __init__(self):
        from preprocessing import nasbench201 as nb201

        self._nb201 = nb201
        self.node_types = nb201.NODE_TYPES
        self.n_nodes = nb201.N_NODES

    def cells(self, limit: int | None = None, seed: int = 0) -> CellGraphs:
        keys = _seeded_rows(self._nb201.N_ARCHS, limit, seed)
        adj, ops = self._nb201.NB201Space().graphs(keys)
        return CellGraphs(torch.from_numpy(adj), torch.from_numpy(ops), None, keys.tolist())

    def types_valid(self, types: np.ndarray) -> np.ndarray:
        types = np.asarray(types)
        last = len(self.node_types) - 1
        return (types[:, 0] == 0) & (types[:, -1] == last) & ((types[:, 1:-1] >= 1) & (types[:, 1:-1] < last)).all(1)

    def decode(self, types: np.ndarray, edges: np.ndarray) -> list:
        types, edges = np.asarray(types), np.asarray(edges, dtype=bool)
        wiring = self._nb201.GRAPH_ADJACENCY.astype(bool)
        valid = self.types_valid(types) & (edges == wiring).all((1, 2))
        return [self._nb201.index_of_ops(t[1:-1] - 1) if ok else None for t, ok in zip(types, valid)]


class NB101Graphs:
    """NAS-Bench-101: the enumerated 423,624 cells, padded to 7 nodes (keys = module hashes)."""

    name = "nb101"

    def __init__(self, space_path=None):
        from preprocessing import nasbench101 as nb101

        self._nb101 = nb101
        self._space_path = space_path
        self.node_types = nb101.ARCH2VEC_OPS
        self.n_nodes = nb101.MAX_VERTICES

    def cells(self, limit: int | None = None, seed: int = 0) -> CellGraphs:
        from preprocessing.nb101_enumerate import DEFAULT_PATH, load_space

        table = load_space(self._space_path or DEFAULT_PATH)
        rows = _seeded_rows(len(table), limit, seed)
        adjacency, op_codes = table.padded_arrays(rows)
        adj, ops = self._nb101.arch2vec_encoding(adjacency, op_codes)
        mask = torch.from_numpy(op_codes != self._nb101.PAD)
        return CellGraphs(torch.from_numpy(adj), torch.from_numpy(ops), mask, table.hashes[rows].tolist())

    def types_valid(self, types: np.ndarray) -> np.ndarray:
        types = np.asarray(types)
        output = len(self.node_types) - 1
        has_output = (types == output).any(1)
        first_output = np.where(has_output, (types == output).argmax(1), 0)
        middle = np.arange(types.shape[1])[None, :]
        middle = (middle > 0) & (middle < first_output[:, None])
        ops_ok = ~middle | ((types > 0) & (types < output))
        return (types[:, 0] == 0) & has_output & (first_output > 0) & ops_ok.all(1)

    def decode(self, types: np.ndarray, edges: np.ndarray) -> list:
        eye = np.eye(len(self.node_types), dtype=np.float32)
        keys = []
        for t, e, ok in zip(np.asarray(types), np.asarray(edges), self.types_valid(types)):
            if not ok:
                keys.append(None)
                continue
            try:
                keys.append(self._nb101.cell_from_arch2vec(e.astype(np.float32), eye[t]).module_hash())
            except InputError:
                keys.append(None)
        return keys


class DartsGraphs:
    """DARTS: ``limit`` (default 100,000) sampled non-isomorphic cells as 11-node graphs (keys = cell hashes).

    As in arch2vec, one cell graph per sample; a genotype's embedding is built from its normal and
    reduce cells' embeddings (see :func:`models.extract_arch2vec.embed_darts_genotypes`).
    """

    name = "darts"
    default_cells = 100_000

    def __init__(self):
        from preprocessing import darts_space

        self._darts = darts_space
        self.node_types = darts_space.NODE_TYPES
        self.n_nodes = darts_space.N_NODES

    def cells(self, limit: int | None = None, seed: int = 0) -> CellGraphs:
        cells, hashes = self._darts.sample_unique_cells(limit or self.default_cells, np.random.default_rng(seed),
                                                        progress=True)
        return self.graphs_of(cells, hashes)

    def graphs_of(self, cells, hashes=None) -> CellGraphs:
        adj, labels = self._darts.array_to_graphs(self._darts.cells_to_array(cells))
        keys = hashes if hashes is not None else [self._darts.cell_hash(c) for c in cells]
        return CellGraphs(torch.from_numpy(adj.astype(np.float32)), _onehot(labels, len(self.node_types)), None,
                          list(keys))

    def types_valid(self, types: np.ndarray) -> np.ndarray:
        types = np.asarray(types)
        first_op = self.node_types.index(self._darts.OPS[0])
        output = len(self.node_types) - 1
        ops_ok = ((types[:, 2:-1] >= first_op) & (types[:, 2:-1] < output)).all(1)
        return (types[:, 0] == 0) & (types[:, 1] == 1) & (types[:, -1] == output) & ops_ok

    def decode(self, types: np.ndarray, edges: np.ndarray) -> list:
        keys = []
        for t, e, ok in zip(np.asarray(types), np.asarray(edges), self.types_valid(types)):
            try:
                keys.append(self._darts.cell_hash(self._darts.graph_to_cell(e.astype(np.int8), t)) if ok else None)
            except InputError:
                keys.append(None)
        return keys


SPACES = {"nb201": NB201Graphs, "nb101": NB101Graphs, "darts": DartsGraphs}


def get_space(name: str):
    if name not in SPACES:
        raise InputError(f"unknown space {name!r}; choose one of {', '.join(SPACES)}")
    return SPACES[name]()


def decoding_stats(space, types: np.ndarray, edges: np.ndarray) -> dict[str, float]:
    """Validity and uniqueness of hard decodings, as in the arch2vec paper's Table 1.

    valid: fraction of decodings that are legal cells (the space's full rule);
    unique: distinct cells among the valid ones / number of valid ones;
    types_valid: fraction passing the node-type rule alone (the original code's NB201 check).
    """
    keys = space.decode(types, edges)
    valid_keys = [k for k in keys if k is not None]
    n = max(len(keys), 1)
    return {"valid": len(valid_keys) / n, "unique": len(set(valid_keys)) / max(len(valid_keys), 1),
            "types_valid": float(np.mean(space.types_valid(types))) if len(keys) else 0.0}
