"""BANANAS's path encoding (White et al., 2021), computed from any space's graphs.

A cell's graph (``space.graphs``: node 0 = input, node N-1 = output, or the last node with a node
type where smaller cells are padded with all-zero type rows) has a set of paths from the input to the output; each path is labelled by the node-type sequence of its intermediate nodes.
The encoding has one binary feature per label sequence that occurs in some cell of the space
(the vocabulary is the space's own, so nothing here depends on which space it is).
The encodings of all the space's cells are computed once per process and cached.
"""
from __future__ import annotations

import numpy as np

_CACHE: dict[int, tuple[object, np.ndarray, np.ndarray]] = {}


def _node_paths(adjacency: np.ndarray, last: int) -> list[tuple[int, ...]]:
    """Intermediate-node sequences of every path 0 -> ``last`` of one DAG (bool adjacency)."""
    paths: list[tuple[int, ...]] = []
    stack: list[tuple[int, tuple[int, ...]]] = [(0, ())]
    while stack:
        node, inner = stack.pop()
        for nxt in np.flatnonzero(adjacency[node]).tolist():
            if nxt == last:
                paths.append(inner)
            elif nxt not in inner and nxt != 0:  # a DAG has no cycles; the guard keeps bad input finite
                stack.append((nxt, inner + (nxt,)))
    return paths


def encode_all(space) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys, binary path encodings (len(keys), n_paths) float32) of every cell of ``space``."""
    keys = np.asarray(space.keys(), dtype=np.int64)
    adjacency, ops = space.graphs(keys)
    adjacency = adjacency > 0.5
    types = ops.argmax(-1).astype(np.int64)
    n_types = ops.shape[-1]
    max_inner = adjacency.shape[1] - 2
    # A label sequence t_1..t_L -> one integer: offset(L) + sum t_i * T^(i-1); offsets keep lengths apart.
    offsets = np.cumsum([0] + [n_types ** length for length in range(max_inner + 1)])
    n_nodes = adjacency.shape[1]
    output = n_nodes - 1 - np.argmax(ops.sum(-1)[:, ::-1] > 0, axis=1)  # last node that has a type
    # Cells sharing a wiring (and output node) share their node paths: enumerate those once per wiring.
    wiring = np.concatenate([adjacency.reshape(len(keys), -1), output[:, None] == np.arange(n_nodes)], axis=1)
    patterns, group = np.unique(wiring, axis=0, return_inverse=True)
    group = group.reshape(-1)
    rows, codes = [], []
    for g, pattern in enumerate(patterns):
        members = np.flatnonzero(group == g)
        matrix = pattern[:n_nodes * n_nodes].reshape(n_nodes, n_nodes)
        for inner in _node_paths(matrix, int(np.flatnonzero(pattern[n_nodes * n_nodes:])[0])):
            code = np.full(len(members), offsets[len(inner)], dtype=np.int64)
            for position, node in enumerate(inner):
                code += types[members, node] * n_types ** position
            rows.append(members)
            codes.append(code)
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    vocabulary, column = np.unique(codes, return_inverse=True)
    encoding = np.zeros((len(keys), max(len(vocabulary), 1)), dtype=np.float32)
    encoding[rows, column.reshape(-1)] = 1.0
    order = np.argsort(keys, kind="stable")
    return keys[order], encoding[order]


def path_encoding(space, keys) -> np.ndarray:
    """Path encodings of ``keys`` (float32 (len(keys), n_paths)); the space's table is built on first use."""
    cached = _CACHE.get(id(space))
    if cached is None or cached[0] is not space:
        cached = (space, *encode_all(space))
        _CACHE[id(space)] = cached
    _, sorted_keys, encoding = cached
    keys = np.atleast_1d(np.asarray(keys, dtype=np.int64))
    return encoding[np.searchsorted(sorted_keys, keys)]
