"""The NAS-Bench-101 cell space: DAGs of at most 7 vertices and 9 edges, 3 candidate ops, 423,624 cells.

A cell is an upper-triangular adjacency matrix (``matrix[src, dst] = 1`` for an edge ``src -> dst``)
plus one op name per vertex: ``input`` first, ``output`` last, each vertex in between one of
:data:`CANDIDATE_OPS`. As in the official ``ModelSpec``, vertices that are not on an input -> output
path are pruned before anything is hashed or checked against the limits, so a 7-vertex matrix with
dangling vertices (or more than 9 edges, some of them dangling) can still be a valid cell.

Identity: :meth:`Cell.module_hash` is the official NAS-Bench-101 module hash (the key of the
official dataset), reproduced from the published algorithm: on the pruned cell, every vertex starts
from ``md5(str((out_degree, in_degree, label)))`` with integer degrees and the official labels
input = -1, output = -2, conv3x3-bn-relu = 0, conv1x1-bn-relu = 1, maxpool3x3 = 2; then, as many
rounds as there are vertices, each vertex becomes ``md5(sorted in-neighbour hashes + '|' + sorted
out-neighbour hashes + '|' + own hash)``; the module hash is ``md5(str(sorted(vertex hashes)))``.
It is invariant to relabelling the vertices, i.e. isomorphic cells share one hash.

Op codes: an op's code is its index in :data:`OPS`; the order is chosen so that a candidate op's
official hash label is ``code - 1``.

Padded array form (used by the encodings and by the tables that store many cells): a cell of
``n <= 7`` vertices becomes a (7, 7) uint8 adjacency with the cell in its top-left ``n x n`` block
and a (7,) int8 op-code row with ``-1`` for the padding vertices -- the output vertex stays at
index ``n - 1``, exactly as arch2vec's ``gen_json.py`` pads the official ``module_adjacency``.

Encodings:

* :func:`arch2vec_encoding`: adjacency (B, 7, 7) and op one-hot (B, 7, 5) float32 over arch2vec's
  column order :data:`ARCH2VEC_OPS` = input, conv1x1, conv3x3, maxpool, output; padding rows are 0.
* :func:`flat_encoding`: (B, 56) float32 = the 21 upper-triangle adjacency bits of the padded
  matrix (row-major: (0,1), (0,2), ..., (5,6)) followed by the 35 entries of the op one-hot.

Sampling and mutation follow the NAS-Bench-101 paper's random search / regularized evolution
(``example.py`` of google-research/nasbench): a random cell is a uniformly random 7x7
upper-triangular 0/1 matrix with uniformly random middle ops, redrawn until valid; a mutation flips
each of the 21 possible edges with probability ``rate / 7`` and resamples each middle op (to one of
the two other ops) with probability ``rate / 5``, redrawn until valid. Both are therefore uniform
over valid (matrix, ops) pairs, not over isomorphism classes; to sample uniformly over the 423,624
unique cells, draw rows of the enumerated space (:mod:`preprocessing.nb101_enumerate`), as
:class:`NB101Space` does.

:class:`NB101Space` is the interface search methods use (the same as ``NB201Space``): integer keys
(rows of the enumerated space, sorted by module hash), module hashes as arch strings, uniform
sampling, mutation, neighbours, flat / arch2vec encodings.
"""
from __future__ import annotations

import hashlib

import numpy as np

from preprocessing.errors import InputError

INPUT, OUTPUT = "input", "output"
CANDIDATE_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # official available_ops order
OPS = (INPUT,) + CANDIDATE_OPS + (OUTPUT,)
ARCH2VEC_OPS = (INPUT, "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3", OUTPUT)
MAX_VERTICES = 7
MAX_EDGES = 9
PAD = -1  # op code of a padding vertex in the padded array form
FLAT_DIM = MAX_VERTICES * (MAX_VERTICES - 1) // 2 + MAX_VERTICES * len(ARCH2VEC_OPS)

_OP_CODE = {op: code for code, op in enumerate(OPS)}
_ARCH2VEC_COLUMN = np.array([ARCH2VEC_OPS.index(op) for op in OPS], dtype=np.int64)
_TRIU_ROWS, _TRIU_COLS = np.triu_indices(MAX_VERTICES, k=1)
_FILLER_OP = CANDIDATE_OPS[0]  # op given to the isolated vertices :meth:`Cell.padded` adds


def hash_labels(op_codes) -> np.ndarray:
    """Op codes (indices into :data:`OPS`) -> official hash labels: input -1, output -2, candidates 0, 1, 2."""
    op_codes = np.asarray(op_codes, dtype=np.int64)
    return np.where(op_codes == 0, -1, np.where(op_codes == len(OPS) - 1, -2, op_codes - 1))


def op_codes_from_labels(labels) -> np.ndarray:
    """Inverse of :func:`hash_labels`."""
    labels = np.asarray(labels, dtype=np.int64)
    return np.where(labels == -1, 0, np.where(labels == -2, len(OPS) - 1, labels + 1)).astype(np.int8)


def module_hash_of(matrix: np.ndarray, labels) -> str:
    """Official module hash of an already pruned ``n x n`` 0/1 matrix with official integer labels.

    One cell at a time in plain Python (about 50 us for 7 vertices); the enumerator hashes
    hundreds of thousands of cells with a vectorised equivalent.
    """
    n = len(labels)
    edges = np.asarray(matrix, dtype=np.int64)
    # .tolist() gives Python ints: str() of numpy scalars would read 'np.int64(2)' and change the hash
    out_degree, in_degree = edges.sum(1).tolist(), edges.sum(0).tolist()
    predecessors = [[w for w in range(n) if edges[w, v]] for v in range(n)]
    successors = [[w for w in range(n) if edges[v, w]] for v in range(n)]
    hashes = [
        hashlib.md5(str((out_degree[v], in_degree[v], int(labels[v]))).encode()).hexdigest() for v in range(n)
    ]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in predecessors[v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in successors[v]))
                    + "|"
                    + hashes[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode()).hexdigest()


def _find_cycle_vertex(edges: np.ndarray) -> int | None:
    """A vertex on a directed cycle, or None for a DAG (Kahn's algorithm, n <= a few dozen)."""
    in_degree = edges.sum(0).astype(np.int64)
    remaining = set(range(len(edges)))
    ready = [v for v in remaining if in_degree[v] == 0]
    while ready:
        v = ready.pop()
        remaining.discard(v)
        for w in np.flatnonzero(edges[v]):
            in_degree[w] -= 1
            if in_degree[w] == 0:
                ready.append(int(w))
    return min(remaining) if remaining else None


class Cell:
    """An NB101 cell as given: ``matrix`` (n, n) uint8 upper triangular, ``ops`` n op names.

    The constructor checks the structure (shape, 0/1 entries, acyclic and upper triangular,
    known ops, input first and output last) and raises InputError naming the problem. Whether the
    cell is inside the NB101 space (connected, <= 7 vertices and <= 9 edges after pruning) is
    checked by :meth:`validate`. Cells are immutable, hashable and compare by exact matrix and
    ops (use :meth:`module_hash` to compare up to isomorphism).
    """

    __slots__ = ("matrix", "ops")

    def __init__(self, matrix, ops):
        raw = np.asarray(matrix)
        if raw.dtype.kind not in "biuf":
            raise InputError(f"NB101 cell matrix must hold 0/1 numbers, got dtype {raw.dtype}")
        if raw.ndim != 2 or raw.shape[0] != raw.shape[1]:
            raise InputError(f"NB101 cell matrix must be square n x n, got shape {raw.shape}")
        n = raw.shape[0]
        if n < 2:
            raise InputError(f"an NB101 cell needs at least an input and an output vertex, got {n} vertices")
        bad = np.flatnonzero((raw != 0) & (raw != 1))
        if len(bad):
            src, dst = divmod(int(bad[0]), n)
            raise InputError(f"NB101 cell matrix entries must be 0 or 1, got {raw[src, dst]} at [{src}, {dst}]")
        array = raw.astype(np.int64)
        ops = tuple(ops) if not isinstance(ops, str) else (ops,)
        if len(ops) != n:
            raise InputError(f"NB101 cell has a {n}x{n} matrix but {len(ops)} ops; give one op per vertex")
        for v, op in enumerate(ops):
            if op not in _OP_CODE:
                raise InputError(f"unknown NB101 op {op!r} at vertex {v}; known ops: {', '.join(OPS)}")
        if ops[0] != INPUT or ops[-1] != OUTPUT:
            raise InputError(f"NB101 cell ops must start with 'input' and end with 'output', got {ops[0]!r} ... {ops[-1]!r}")
        inner = [v for v in range(1, n - 1) if ops[v] in (INPUT, OUTPUT)]
        if inner:
            raise InputError(
                f"vertex {inner[0]} of an NB101 cell is {ops[inner[0]]!r}; middle vertices take one of {', '.join(CANDIDATE_OPS)}"
            )
        loops = np.flatnonzero(np.diag(array))
        if len(loops):
            raise InputError(f"NB101 cell matrix has a self-loop at vertex {int(loops[0])}")
        if np.tril(array).any():
            cycle_vertex = _find_cycle_vertex(array)
            if cycle_vertex is not None:
                raise InputError(f"NB101 cell graph contains a cycle (through vertex {cycle_vertex}); a cell must be a DAG")
            src, dst = (int(i) for i in np.argwhere(np.tril(array))[0])
            raise InputError(
                f"NB101 cell matrix is not upper triangular: edge {src}->{dst} points backwards; "
                "number the vertices in topological order"
            )
        self.matrix = array.astype(np.uint8)
        self.matrix.setflags(write=False)
        self.ops = ops

    # ---- value semantics -------------------------------------------------------------------
    def __eq__(self, other) -> bool:
        return isinstance(other, Cell) and self.ops == other.ops and np.array_equal(self.matrix, other.matrix)

    def __hash__(self) -> int:
        return hash((self.ops, self.matrix.tobytes()))

    def __repr__(self) -> str:
        rows = "".join(str(b) for b in self.matrix.ravel().tolist())
        return f"Cell(matrix={rows!r} ({len(self.ops)}x{len(self.ops)}), ops={list(self.ops)})"

    @property
    def n_vertices(self) -> int:
        return len(self.ops)

    @property
    def n_edges(self) -> int:
        return int(self.matrix.sum())

    # ---- pruning and validity --------------------------------------------------------------
    def _on_input_output_path(self) -> np.ndarray:
        """(n,) bool: vertices reachable from the input and reaching the output."""
        n = self.n_vertices
        from_input = np.zeros(n, dtype=bool)
        from_input[0] = True
        for v in range(1, n):  # topological order: predecessors are settled first
            from_input[v] = bool((self.matrix[:v, v].astype(bool) & from_input[:v]).any())
        to_output = np.zeros(n, dtype=bool)
        to_output[n - 1] = True
        for v in range(n - 2, -1, -1):
            to_output[v] = bool((self.matrix[v, v + 1:].astype(bool) & to_output[v + 1:]).any())
        return from_input & to_output

    def pruned(self) -> "Cell":
        """The cell without vertices off every input -> output path (official ModelSpec pruning).

        InputError when the input is not connected to the output.
        """
        keep = self._on_input_output_path()
        if not keep[-1]:
            raise InputError(f"NB101 cell is disconnected: no path from input to output in {self!r}")
        if keep.all():
            return self
        kept = np.flatnonzero(keep)
        return Cell(self.matrix[np.ix_(kept, kept)], [self.ops[v] for v in kept])

    def validate(self) -> "Cell":
        """The pruned cell, after checking it lies in the NB101 space; InputError naming the violation."""
        cell = self.pruned()
        if cell.n_vertices > MAX_VERTICES:
            raise InputError(
                f"NB101 cell has {cell.n_vertices} vertices after pruning; the space allows at most {MAX_VERTICES}"
            )
        if cell.n_edges > MAX_EDGES:
            raise InputError(f"NB101 cell has {cell.n_edges} edges after pruning; the space allows at most {MAX_EDGES}")
        return cell

    def is_valid(self) -> bool:
        try:
            self.validate()
        except InputError:
            return False
        return True

    def module_hash(self) -> str:
        """The official 32-hex NAS-Bench-101 module hash (computed on the pruned cell)."""
        cell = self.validate()
        return module_hash_of(cell.matrix, hash_labels(cell.op_codes()))

    def padded(self) -> "Cell":
        """An equivalent 7-vertex cell: isolated vertices (op conv3x3) inserted before the output.

        Pruning removes them again, so the module hash is unchanged; mutation works on this form
        so that cells with fewer vertices can grow.
        """
        n = self.n_vertices
        if n >= MAX_VERTICES:
            return self
        matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        matrix[: n - 1, : n - 1] = self.matrix[: n - 1, : n - 1]
        matrix[: n - 1, -1] = self.matrix[: n - 1, -1]
        ops = self.ops[:-1] + (_FILLER_OP,) * (MAX_VERTICES - n) + (OUTPUT,)
        return Cell(matrix, ops)

    # ---- conversions -----------------------------------------------------------------------
    def op_codes(self) -> np.ndarray:
        """(n,) int8 op codes (indices into :data:`OPS`)."""
        return np.array([_OP_CODE[op] for op in self.ops], dtype=np.int8)

    def to_padded_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Padded array form of the pruned, validated cell: (7, 7) uint8 adjacency, (7,) int8 op codes."""
        cell = self.validate()
        n = cell.n_vertices
        adjacency = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        adjacency[:n, :n] = cell.matrix
        codes = np.full(MAX_VERTICES, PAD, dtype=np.int8)
        codes[:n] = cell.op_codes()
        return adjacency, codes

    @classmethod
    def from_padded_arrays(cls, adjacency: np.ndarray, op_codes: np.ndarray) -> "Cell":
        """Inverse of :meth:`to_padded_arrays`: drops the padding vertices (op code -1)."""
        op_codes = np.asarray(op_codes)
        adjacency = np.asarray(adjacency)
        if op_codes.shape != (MAX_VERTICES,) or adjacency.shape != (MAX_VERTICES, MAX_VERTICES):
            raise InputError(
                f"padded NB101 arrays must have shapes (7, 7) and (7,), got {adjacency.shape} and {op_codes.shape}"
            )
        n = int((op_codes != PAD).sum())
        if (op_codes[n:] != PAD).any():
            raise InputError("padding vertices (op code -1) must come after all real vertices")
        if adjacency[n:].any() or adjacency[:, n:].any():
            raise InputError("padding vertices (op code -1) must have no edges")
        if (op_codes[:n] < 0).any() or (op_codes[:n] >= len(OPS)).any():
            raise InputError(f"NB101 op codes must be in 0..{len(OPS) - 1} (or -1 for padding), got {op_codes.tolist()}")
        return cls(adjacency[:n, :n], [OPS[c] for c in op_codes[:n]])


def padded_arrays(cells) -> tuple[np.ndarray, np.ndarray]:
    """Stack cells into the padded array form: (B, 7, 7) uint8 and (B, 7) int8."""
    pairs = [cell.to_padded_arrays() for cell in cells]
    if not pairs:
        return np.zeros((0, MAX_VERTICES, MAX_VERTICES), np.uint8), np.zeros((0, MAX_VERTICES), np.int8)
    return np.stack([a for a, _ in pairs]), np.stack([c for _, c in pairs])


def arch2vec_encoding(adjacency: np.ndarray, op_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Padded arrays (B, 7, 7), (B, 7) -> arch2vec inputs: adjacency (B, 7, 7), ops one-hot (B, 7, 5), float32."""
    op_codes = np.asarray(op_codes, dtype=np.int64)
    onehot = np.zeros(op_codes.shape + (len(ARCH2VEC_OPS),), dtype=np.float32)
    real = op_codes != PAD
    columns = _ARCH2VEC_COLUMN[np.where(real, op_codes, 0)]
    np.put_along_axis(onehot, columns[..., None], real[..., None].astype(np.float32), axis=-1)
    return np.asarray(adjacency, dtype=np.float32), onehot


def flat_encoding(adjacency: np.ndarray, op_codes: np.ndarray) -> np.ndarray:
    """Padded arrays -> (B, 56) float32: 21 upper-triangle adjacency bits, then the (7 x 5) op one-hot."""
    adjacency, onehot = arch2vec_encoding(adjacency, op_codes)
    bits = adjacency[:, _TRIU_ROWS, _TRIU_COLS]
    return np.concatenate([bits, onehot.reshape(len(onehot), -1)], axis=1)


def cell_from_arch2vec(adjacency: np.ndarray, ops_onehot: np.ndarray) -> Cell:
    """Decode one arch2vec (7, 7) adjacency + (7, 5) op scores back into a cell.

    The adjacency is thresholded at 0.5 (upper triangle only) and each op row is its argmax; the
    vertices after the first ``output`` are padding.
    """
    adjacency = np.asarray(adjacency)
    ops_onehot = np.asarray(ops_onehot)
    if adjacency.shape != (MAX_VERTICES, MAX_VERTICES) or ops_onehot.shape != (MAX_VERTICES, len(ARCH2VEC_OPS)):
        raise InputError(
            f"arch2vec NB101 arrays must have shapes (7, 7) and (7, 5), got {adjacency.shape} and {ops_onehot.shape}"
        )
    names = [ARCH2VEC_OPS[i] for i in ops_onehot.argmax(-1)]
    if OUTPUT not in names:
        raise InputError("decoded arch2vec cell has no output vertex")
    n = names.index(OUTPUT) + 1
    matrix = np.triu(adjacency[:n, :n] > 0.5, k=1).astype(np.uint8)
    return Cell(matrix, names[:n])


def random_cell(rng: np.random.Generator) -> Cell:
    """A random valid 7-vertex cell (NB101 paper's sampler, redrawn until valid; not pruned)."""
    while True:
        matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), k=1)
        middle = rng.integers(0, len(CANDIDATE_OPS), size=MAX_VERTICES - 2)
        cell = Cell(matrix, (INPUT,) + tuple(CANDIDATE_OPS[i] for i in middle) + (OUTPUT,))
        if cell.is_valid():
            return cell


def mutate_cell(cell: Cell, rng: np.random.Generator, rate: float = 1.0) -> Cell:
    """NB101 paper's evolution mutation on the 7-vertex form of ``cell``, redrawn until valid.

    In expectation ``rate`` of the 21 possible edges flip and ``rate`` of the 5 middle ops change.
    Like the official mutation, the result may be isomorphic to the parent (e.g. a flipped edge
    that pruning removes again).
    """
    if not 0 < rate <= MAX_VERTICES:
        raise InputError(f"mutation rate must be in (0, {MAX_VERTICES}], got {rate}")
    base = (cell if cell.n_vertices <= MAX_VERTICES else cell.validate()).padded()
    edge_probability = rate / MAX_VERTICES
    op_probability = rate / (MAX_VERTICES - 2)
    while True:
        matrix = base.matrix.copy()
        flips = rng.random(len(_TRIU_ROWS)) < edge_probability
        matrix[_TRIU_ROWS[flips], _TRIU_COLS[flips]] ^= 1
        ops = list(base.ops)
        for v in range(1, MAX_VERTICES - 1):
            if rng.random() < op_probability:
                others = [op for op in CANDIDATE_OPS if op != ops[v]]
                ops[v] = others[int(rng.integers(len(others)))]
        child = Cell(matrix, ops)
        if child.is_valid():
            return child


class NB101Space:
    """The search space seen by a search method: keys are the rows ``0..len-1`` of a space table.

    ``table`` is an :class:`~preprocessing.nb101_enumerate.NB101SpaceTable`: the shipped enumeration
    of all 423,624 unique cells (default, loaded once per process) or a sub-table of it (e.g. the
    cells a benchmark measured, :meth:`restricted_to`). Rows are sorted by module hash;
    :meth:`to_string` gives the module hash, the ``arch_string`` of every NB101 benchmark.
    """

    name = "nb101"
    node_types = ARCH2VEC_OPS
    n_nodes = MAX_VERTICES

    def __init__(self, table=None):
        from preprocessing.nb101_enumerate import N_CELLS, default_space  # that module builds on this one

        self.table = default_space() if table is None else table
        if len(self.table) == 0:
            raise InputError("an NB101 space needs at least one cell")
        self._keys = np.arange(len(self.table))
        self.complete = len(self.table) == N_CELLS  # every cell: mutations always land in the space
        self._neighbours: dict[int, np.ndarray] = {}

    @classmethod
    def restricted_to(cls, arch_strings, table=None) -> "NB101Space":
        """The space of the given module hashes (sorted by hash; e.g. ``benchmark.arch_strings``)."""
        from preprocessing.nb101_enumerate import default_space

        full = default_space() if table is None else table
        rows = np.unique(full.indices_of(arch_strings))
        return cls(table=full.subset(rows))

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> np.ndarray:
        return self._keys

    def to_string(self, key: int) -> str:
        return str(self.table.hashes[int(key)])

    def from_string(self, module_hash: str) -> int:
        return self.table.index_of(module_hash)

    def cell(self, key: int) -> Cell:
        return self.table.cell(int(key))

    def key_of_cell(self, cell: Cell) -> int:
        """Row of a valid cell; -1 when this (sub-)space does not hold it."""
        rows = self.table.find(np.array([cell.module_hash()]))
        return int(rows[0])

    def sample(self, rng: np.random.Generator, size: int | None = None, replace: bool = True):
        """Uniform sample over the unique cells of the space."""
        if size is None:
            return int(rng.choice(self._keys))
        return rng.choice(self._keys, size=size, replace=replace)

    def neighbours(self, key: int) -> np.ndarray:
        """Cells of the space one edge flip or one op change away from the 7-vertex form of ``key``."""
        key = int(key)
        if key not in self._neighbours:  # hashing the ~35 variants is the slow part; searches revisit parents
            self._neighbours[key] = self._find_neighbours(key)
        return self._neighbours[key]

    def _find_neighbours(self, key: int) -> np.ndarray:
        base = self.cell(key).padded()
        variants = []
        for src, dst in zip(_TRIU_ROWS.tolist(), _TRIU_COLS.tolist()):
            matrix = base.matrix.copy()
            matrix[src, dst] ^= 1
            variants.append(Cell(matrix, base.ops))
        for v in range(1, MAX_VERTICES - 1):
            for op in CANDIDATE_OPS:
                if op != base.ops[v]:
                    variants.append(Cell(base.matrix, base.ops[:v] + (op,) + base.ops[v + 1:]))
        hashes = np.array(sorted({c.module_hash() for c in variants if c.is_valid()}))
        rows = self.table.find(hashes) if len(hashes) else np.zeros(0, dtype=np.int64)
        return np.setdiff1d(rows[rows >= 0], [key])

    def mutate(self, key: int, rng: np.random.Generator) -> int:
        """NB101 paper mutation (:func:`mutate_cell`) in the complete space.

        A sub-space holds too few cells for random mutations to land in it, so there a mutation is a
        uniformly chosen neighbour in the space (a uniform sample when there is none).
        """
        if self.complete:
            return self.key_of_cell(mutate_cell(self.cell(key), rng))
        options = self.neighbours(key)
        return int(rng.choice(options)) if len(options) else self.sample(rng)

    def onehot(self, keys=None) -> np.ndarray:
        """(len(keys), 56) float32 :func:`flat_encoding`; every cell when keys is None."""
        return flat_encoding(*self._padded(keys))

    def graphs(self, keys=None) -> tuple[np.ndarray, np.ndarray]:
        """Graph codec: adjacency (B, 7, 7) and op one-hot (B, 7, 5) over :data:`ARCH2VEC_OPS`, float32."""
        return arch2vec_encoding(*self._padded(keys))

    def decode(self, types: np.ndarray, adj: np.ndarray) -> np.ndarray:
        """(B,) rows of decoded graphs, -1 where one is not a valid cell of this space.

        Vertices after the first ``output`` are padding; the adjacency is read at > 0.5 (upper
        triangle) and pruned like the official ``ModelSpec``.
        """
        types, adj = np.asarray(types), np.asarray(adj)
        hashes = []
        for t, a in zip(types, adj):
            hashes.append("")
            names = [ARCH2VEC_OPS[i] if 0 <= i < len(ARCH2VEC_OPS) else None for i in t.tolist()]
            if names[0] != INPUT or OUTPUT not in names:
                continue
            n = names.index(OUTPUT) + 1
            if any(name in (None, INPUT) for name in names[1:n - 1]):
                continue
            cell = Cell(np.triu(a[:n, :n] > 0.5, k=1).astype(np.uint8), names[:n])
            if cell.is_valid():
                hashes[-1] = cell.module_hash()
        return self.table.find(np.array(hashes))

    def _padded(self, keys) -> tuple[np.ndarray, np.ndarray]:
        keys = self._keys if keys is None else np.atleast_1d(np.asarray(keys, dtype=np.int64))
        return self.table.padded_arrays(keys)


# ---- the space's registry entry (preprocessing.spaces) ----------------------------------------
NAME = "nb101"
DESCRIPTION = ("NAS-Bench-101 (cells of <= 7 vertices / 9 edges, 423,624 unique); default table: 30,001 real cells "
               "with 108-epoch validation accuracy (data/nasbench101_30k), or --table from preprocessing.nb101_tfrecord")
# Pretraining reads a seeded 50,000 of the 423,624 cells (the papers use all; --limit raises it): on 2 CPU cores
# the whole space takes an hour per model, and reconstruction is already converged on the subset.
SETTINGS = {
    "arch2vec": {"epochs": 8, "limit": 50_000},
    "gmae": {"layers": 16, "dim": 32, "mask_ratio": 0.75, "epochs": 3, "limit": 50_000},
    "agnet": {"epochs": 5, "limit": 50_000},
    "predictor_eval": {"labels": (423, 846, 2115, 4230), "test_size": None},  # GMAE-NAS paper; test = the rest
}


def embedded_files() -> tuple:
    from preprocessing.nb101_enumerate import DEFAULT_PATH  # that module builds on this one
    from preprocessing.nb101_table import TABLE

    return (TABLE, DEFAULT_PATH)


def full_space() -> NB101Space:
    return NB101Space()


def load_search(table=None):
    """The cells a benchmark measured as the space (keys = benchmark rows); default: the embedded 30k table."""
    from preprocessing.nb101_table import load_benchmark
    from preprocessing.spaces import tabular_setup

    bench, table_id = load_benchmark(table)
    space = NB101Space.restricted_to(bench.arch_strings)
    if not np.array_equal(np.asarray(bench.arch_strings), space.table.hashes):  # keys = rows in hash order
        order = np.argsort(bench.arch_strings)
        rows = np.empty_like(order)
        rows[order] = np.arange(len(order))
        bench = bench.reindexed(rows, len(bench), bench.arch_strings[order])
    return tabular_setup(space, bench, table_id)
