"""A user's own search space in one file: 4-node DAG cells (input, two op nodes, output) with a table.

The worked example of README's "Bring your own space": this module is all a new tabular space
needs (``--space tests.toy_space``, or one line in ``preprocessing.spaces.SPACES``).

Cells: node 0 is the input, nodes 1 and 2 carry one of three ops, node 3 is the output; edges go
from lower to higher nodes; a cell is valid when every op node lies on an input -> output path.
The table is deterministic: a made-up accuracy that depends on the ops and the wiring plus seeded
noise, and a training time that grows with the number of convolutions.
"""
from __future__ import annotations

import itertools

import numpy as np

from preprocessing.benchmark_table import Benchmark, MetricTable
from preprocessing.errors import InputError
from preprocessing.spaces import tabular_setup

NAME = "toy"
DESCRIPTION = "toy 4-node DAG space (tests/toy_space.py, a worked example of a user's own space)"
OPS = ("conv", "pool", "skip")
NODE_TYPES = ("input",) + OPS + ("output",)
N_NODES = 4
PAIRS = tuple((i, j) for i in range(N_NODES) for j in range(i + 1, N_NODES))  # the 6 possible edges
SETTINGS = {
    "arch2vec": {"epochs": 2, "limit": None},
    "gmae": {"layers": 2, "dim": 16, "mask_ratio": 0.25, "epochs": 2, "limit": None},
    "agnet": {"epochs": 2, "limit": None},
}


def _valid(bits: tuple[int, ...]) -> bool:
    adj = np.zeros((N_NODES, N_NODES), dtype=bool)
    for (i, j), bit in zip(PAIRS, bits):
        adj[i, j] = bit
    reach_from_input, reach_output = {0}, {N_NODES - 1}
    for j in range(1, N_NODES):
        if any(adj[i, j] for i in reach_from_input):
            reach_from_input.add(j)
    for i in range(N_NODES - 2, -1, -1):
        if any(adj[i, j] for j in reach_output):
            reach_output.add(i)
    return all(v in reach_from_input and v in reach_output for v in range(N_NODES))


CELLS = tuple((ops, bits) for ops in itertools.product(range(len(OPS)), repeat=2)
              for bits in itertools.product((0, 1), repeat=len(PAIRS)) if _valid(bits))
_KEY = {cell: key for key, cell in enumerate(CELLS)}


def _string(key: int) -> str:
    ops, bits = CELLS[key]
    return "|".join(OPS[o] for o in ops) + ":" + "".join(map(str, bits))


class ToySpace:
    """The search interface and the graph codec of :mod:`preprocessing.spaces` over :data:`CELLS`."""

    name = NAME
    node_types = NODE_TYPES
    n_nodes = N_NODES

    def __init__(self):
        self._keys = np.arange(len(CELLS))

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> np.ndarray:
        return self._keys

    def to_string(self, key: int) -> str:
        return _string(int(key))

    def from_string(self, text: str) -> int:
        try:
            ops, bits = text.split(":")
            return _KEY[(tuple(OPS.index(o) for o in ops.split("|")), tuple(int(b) for b in bits))]
        except (ValueError, KeyError):
            raise InputError(f"{text!r} is not a toy cell (e.g. {_string(0)!r})") from None

    def sample(self, rng: np.random.Generator, size: int | None = None, replace: bool = True):
        if size is None:
            return int(rng.choice(self._keys))
        return rng.choice(self._keys, size=size, replace=replace)

    def neighbours(self, key: int) -> np.ndarray:
        ops, bits = CELLS[int(key)]
        variants = [(tuple(o if i != n else new for i, o in enumerate(ops)), bits)
                    for n in range(2) for new in range(len(OPS)) if new != ops[n]]
        variants += [(ops, tuple(b ^ (i == flip) for i, b in enumerate(bits))) for flip in range(len(PAIRS))]
        return np.array(sorted(_KEY[v] for v in variants if v in _KEY), dtype=np.int64)

    def mutate(self, key: int, rng: np.random.Generator) -> int:
        return int(rng.choice(self.neighbours(key)))

    def onehot(self, keys=None) -> np.ndarray:
        adj, ops = self.graphs(keys)
        return np.concatenate([adj[:, [i for i, _ in PAIRS], [j for _, j in PAIRS]], ops.reshape(len(ops), -1)], 1)

    def graphs(self, keys=None) -> tuple[np.ndarray, np.ndarray]:
        keys = self._keys if keys is None else np.atleast_1d(np.asarray(keys, dtype=np.int64))
        adj = np.zeros((len(keys), N_NODES, N_NODES), dtype=np.float32)
        types = np.zeros((len(keys), N_NODES), dtype=np.int64)
        for row, key in enumerate(keys.tolist()):
            ops, bits = CELLS[key]
            for (i, j), bit in zip(PAIRS, bits):
                adj[row, i, j] = bit
            types[row] = (0, ops[0] + 1, ops[1] + 1, len(NODE_TYPES) - 1)
        return adj, np.eye(len(NODE_TYPES), dtype=np.float32)[types]

    def decode(self, types: np.ndarray, adj: np.ndarray) -> np.ndarray:
        out = np.full(len(types), -1, dtype=np.int64)
        for row, (t, a) in enumerate(zip(np.asarray(types), np.asarray(adj))):
            if t[0] == 0 and t[-1] == len(NODE_TYPES) - 1 and all(1 <= v <= len(OPS) for v in t[1:-1]):
                cell = (tuple(int(v) - 1 for v in t[1:-1]), tuple(int(a[i, j] > 0.5) for i, j in PAIRS))
                out[row] = _KEY.get(cell, -1)
        return out


def _table() -> Benchmark:
    rng = np.random.default_rng(0)
    score = np.array([[2.0, 1.0, 0.5][ops[0]] + [2.0, 1.0, 0.5][ops[1]] + 0.7 * sum(bits) for ops, bits in CELLS])
    valid = 80 + 2 * score + rng.normal(0, 0.3, len(CELLS))
    test = valid + rng.normal(0, 0.2, len(CELLS))
    time = 100.0 * (1 + np.array([sum(o == 0 for o in ops) for ops, _ in CELLS]))
    strings = np.array([_string(k) for k in range(len(CELLS))])
    return Benchmark(space=NAME, arch_strings=strings, source="tests/toy_space.py",
                     datasets={"toy": MetricTable(valid_mean=valid, test_mean=test, train_time_s=time)})


def full_space() -> ToySpace:
    return ToySpace()


def load_search(table=None):
    if table is not None:
        raise InputError("the toy space has only its built-in table; drop --table")
    return tabular_setup(ToySpace(), _table(), "embedded:toy")
