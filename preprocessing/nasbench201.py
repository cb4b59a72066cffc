"""The NAS-Bench-201 cell space: 6 edges, 5 ops each, 15,625 cells.

An architecture is identified everywhere by its **official index** (0..15624, the row of the
official benchmark files); its official string round-trips exactly::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|

Edges, in string order, are ``1<-0 | 2<-0, 2<-1 | 3<-0, 3<-1, 3<-2``.

Encodings:

* ``onehot``: (30,) = 6 edges x 5 ops, the flat encoding of WeakNAS and most predictors.
* ``graph``: the op-node DAG arch2vec uses. 8 nodes: input, the 6 edge ops as nodes (in edge
  order), output; node types :data:`NODE_TYPES` (7). Edge-node ``j<-i`` reads the input node when
  ``i == 0``, otherwise every edge-node that ends in cell node ``i``; the output node reads every
  edge-node that ends in cell node 3. The adjacency is upper triangular (``adj[src, dst] = 1``).
"""
from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from preprocessing.errors import InputError

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "nasbench201"
MERGED_TABLE = DATA_DIR / "nb201_merged_per_arch.csv.gz"

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in arch-string order
NODE_TYPES = ("input",) + OPS + ("output",)
N_ARCHS = len(OPS) ** len(EDGES)
N_NODES = len(EDGES) + 2

_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_TOKEN = re.compile(r"^([a-z0-9_]+)~(\d)$")


def parse_arch_string(arch: str) -> tuple[str, ...]:
    """Official arch string -> the 6 op names in edge order; InputError when malformed."""
    if not isinstance(arch, str):
        raise InputError(f"NB201 arch must be a string, got {type(arch).__name__}")
    nodes = arch.split("+")
    if len(nodes) != 3:
        raise InputError(f"malformed NB201 arch string {arch!r}: expected 3 '+'-separated node groups")
    ops: list[str] = []
    for to_node, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise InputError(f"malformed NB201 arch string {arch!r}: node group {group!r} must be wrapped in '|'")
        tokens = group[1:-1].split("|")
        if len(tokens) != to_node:
            raise InputError(f"malformed NB201 arch string {arch!r}: node {to_node} needs {to_node} inputs")
        for from_node, token in enumerate(tokens):
            match = _TOKEN.match(token)
            if not match or int(match.group(2)) != from_node:
                raise InputError(f"malformed NB201 arch string {arch!r}: bad edge {token!r}, expected 'op~{from_node}'")
            if match.group(1) not in _OP_INDEX:
                raise InputError(f"unknown NB201 op {match.group(1)!r} in {arch!r}; known ops: {', '.join(OPS)}")
            ops.append(match.group(1))
    return tuple(ops)


def arch_string(ops) -> str:
    """6 op names (or op codes) in edge order -> official arch string."""
    names = [OPS[o] if isinstance(o, (int, np.integer)) else o for o in ops]
    if len(names) != len(EDGES):
        raise InputError(f"an NB201 cell has {len(EDGES)} edge ops, got {len(names)}")
    for name in names:
        if name not in _OP_INDEX:
            raise InputError(f"unknown NB201 op {name!r}; known ops: {', '.join(OPS)}")
    groups, k = [], 0
    for to_node in (1, 2, 3):
        groups.append("|" + "|".join(f"{names[k + i]}~{i}" for i in range(to_node)) + "|")
        k += to_node
    return "+".join(groups)


def _code(op_codes: np.ndarray) -> np.ndarray:
    """(..., 6) op codes -> mixed-radix integer code in 0..15624 (not the official index)."""
    return (op_codes * (len(OPS) ** np.arange(len(EDGES)))).sum(-1)


@lru_cache(maxsize=1)
def official_op_codes() -> np.ndarray:
    """(15625, 6) uint8 op codes in official index order, read from the embedded table."""
    if not MERGED_TABLE.exists():
        raise InputError(f"embedded NB201 table {MERGED_TABLE} is missing; restore data/ from the repository")
    with gzip.open(MERGED_TABLE, "rt") as f:
        header = f.readline().rstrip("\n").split(",")
        if header[:2] != ["arch_index", "arch_str"]:
            raise InputError(f"{MERGED_TABLE}: unexpected header {header[:2]}; restore data/ from the repository")
        codes = np.zeros((N_ARCHS, len(EDGES)), dtype=np.uint8)
        for line in f:
            index, arch, _ = line.split(",", 2)
            codes[int(index)] = [_OP_INDEX[op] for op in parse_arch_string(arch)]
    if len(np.unique(_code(codes))) != N_ARCHS:
        raise InputError(f"{MERGED_TABLE} does not list all {N_ARCHS} distinct cells; restore data/")
    return codes


@lru_cache(maxsize=1)
def _index_of_code() -> np.ndarray:
    inverse = np.empty(N_ARCHS, dtype=np.int64)
    inverse[_code(official_op_codes().astype(np.int64))] = np.arange(N_ARCHS)
    return inverse


def index_of_ops(ops) -> int:
    codes = np.array([_OP_INDEX[o] if isinstance(o, str) else int(o) for o in ops], dtype=np.int64)
    return int(_index_of_code()[_code(codes)])


def index_of_string(arch: str) -> int:
    """Official arch string -> official index."""
    return index_of_ops(parse_arch_string(arch))


def string_of_index(index: int) -> str:
    if not 0 <= int(index) < N_ARCHS:
        raise InputError(f"NB201 index {index} out of range 0..{N_ARCHS - 1}")
    return arch_string(official_op_codes()[int(index)])


@lru_cache(maxsize=1)
def arch_strings() -> tuple[str, ...]:
    """All 15,625 official strings in official index order."""
    return tuple(arch_string(c) for c in official_op_codes())


def _graph_adjacency() -> np.ndarray:
    adj = np.zeros((N_NODES, N_NODES), dtype=np.float32)
    for e, (to_node, from_node) in enumerate(EDGES):
        node = e + 1
        if from_node == 0:
            adj[0, node] = 1
        else:
            for src, (to_src, _) in enumerate(EDGES):
                if to_src == from_node:
                    adj[src + 1, node] = 1
        if to_node == 3:
            adj[node, N_NODES - 1] = 1
    return adj


GRAPH_ADJACENCY = _graph_adjacency()  # identical for every cell: ops, not wiring, vary in NB201


class NB201Space:
    """The search space seen by a search method: keys are official indices.

    ``allowed`` restricts the space to a subset (e.g. the rows a user's custom table measured);
    sampling, mutation and :meth:`keys` then only ever return allowed cells.
    """

    name = "nb201"
    node_types = NODE_TYPES
    n_nodes = N_NODES

    def __init__(self, allowed: np.ndarray | None = None):
        self.op_codes = official_op_codes()
        self.allowed = np.ones(N_ARCHS, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
        if self.allowed.shape != (N_ARCHS,) or not self.allowed.any():
            raise InputError("allowed mask must be a (15625,) boolean array with at least one cell")
        self._keys = np.flatnonzero(self.allowed)

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> np.ndarray:
        """All (allowed) official indices."""
        return self._keys

    def to_string(self, key: int) -> str:
        return string_of_index(key)

    def from_string(self, arch: str) -> int:
        return index_of_string(arch)

    def sample(self, rng: np.random.Generator, size: int | None = None, replace: bool = True):
        """Uniform sample of official indices."""
        if size is None:
            return int(rng.choice(self._keys))
        return rng.choice(self._keys, size=size, replace=replace)

    def neighbours(self, key: int) -> np.ndarray:
        """The allowed cells that differ from ``key`` in exactly one edge op (at most 24)."""
        base = self.op_codes[int(key)].astype(np.int64)
        variants = np.repeat(base[None], len(EDGES) * (len(OPS) - 1), axis=0)
        row = 0
        for e in range(len(EDGES)):
            for op in range(len(OPS)):
                if op != base[e]:
                    variants[row, e] = op
                    row += 1
        indices = _index_of_code()[_code(variants)]
        return indices[self.allowed[indices]]

    def mutate(self, key: int, rng: np.random.Generator) -> int:
        """Change one edge op uniformly at random (to another allowed cell)."""
        options = self.neighbours(key)
        if len(options) == 0:
            return self.sample(rng)
        return int(rng.choice(options))

    def onehot(self, keys=None) -> np.ndarray:
        """(len(keys), 30) float32 one-hot op encoding; all allowed cells when keys is None."""
        keys = self._keys if keys is None else np.atleast_1d(np.asarray(keys, dtype=np.int64))
        out = np.zeros((len(keys), len(EDGES), len(OPS)), dtype=np.float32)
        np.put_along_axis(out, self.op_codes[keys][..., None].astype(np.int64), 1.0, axis=2)
        return out.reshape(len(keys), -1)

    def graphs(self, keys=None) -> tuple[np.ndarray, np.ndarray]:
        """arch2vec DAGs: adjacency (B, 8, 8) and node-type one-hot (B, 8, 7), float32."""
        keys = self._keys if keys is None else np.atleast_1d(np.asarray(keys, dtype=np.int64))
        node_types = np.empty((len(keys), N_NODES), dtype=np.int64)
        node_types[:, 0] = 0
        node_types[:, 1:-1] = self.op_codes[keys] + 1
        node_types[:, -1] = len(NODE_TYPES) - 1
        ops = np.zeros((len(keys), N_NODES, len(NODE_TYPES)), dtype=np.float32)
        np.put_along_axis(ops, node_types[..., None], 1.0, axis=2)
        adj = np.broadcast_to(GRAPH_ADJACENCY, (len(keys), N_NODES, N_NODES)).copy()
        return adj, ops

    def decode(self, types: np.ndarray, adj: np.ndarray) -> np.ndarray:
        """(B,) official indices of decoded graphs, -1 where one is not an allowed cell.

        Valid: node 0 ``input``, node 7 ``output``, ops in the 6 middle nodes, and exactly the fixed
        wiring :data:`GRAPH_ADJACENCY` (read at > 0.5).
        """
        types, adj = np.asarray(types), np.asarray(adj)
        ops = types[:, 1:-1] - 1
        valid = ((types[:, 0] == 0) & (types[:, -1] == len(NODE_TYPES) - 1)
                 & np.all((ops >= 0) & (ops < len(OPS)), axis=1)
                 & np.all((adj > 0.5) == GRAPH_ADJACENCY.astype(bool), axis=(1, 2)))
        out = np.full(len(types), -1, dtype=np.int64)
        out[valid] = _index_of_code()[_code(ops[valid])]
        out[valid] = np.where(self.allowed[out[valid]], out[valid], -1)
        return out


# ---- the space's registry entry (preprocessing.spaces) ----------------------------------------
NAME = "nb201"
DESCRIPTION = ("NAS-Bench-201 (6 edges x 5 ops, 15,625 cells); default table: the embedded NB201 / NATS tables "
               "(cifar10, cifar100, ImageNet16-120), or --table (a converted official .npz, or your own CSV)")
SETTINGS = {
    "arch2vec": {"epochs": 10, "limit": None},
    "gmae": {"layers": 12, "dim": 64, "mask_ratio": 0.15, "epochs": 20, "limit": None},
    "agnet": {"epochs": 20, "limit": None},
    "predictor_eval": {"labels": (50, 100, 200, 400, 1000), "test_size": 2000},
    # MetaD2A: no settings, but its generator and meta-predictor are meta-trained on these cells only
    "metad2a": {},
}


def embedded_files() -> tuple:
    from preprocessing.nb201_table import PER_SEED_TABLE

    return (MERGED_TABLE, PER_SEED_TABLE)


def full_space() -> NB201Space:
    return NB201Space()


def load_search(table=None):
    """The cells the table measured as the space (keys = official indices, the table's rows)."""
    from preprocessing.nb201_table import load_benchmark
    from preprocessing.spaces import tabular_setup

    bench = load_benchmark(table)
    return tabular_setup(NB201Space(allowed=bench.extra.get("measured")), bench,
                         "embedded:nasbench201" if table is None else str(table))
