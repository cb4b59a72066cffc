"""The DARTS / NAS-Bench-301 space: genotypes, strings, arch2vec graphs, canonical hashes, sampling, the space objects.

A **cell** has 2 input states (``c_{k-2}`` = state 0, ``c_{k-1}`` = state 1) and 4 intermediate
nodes (states 2..5). Intermediate node ``k`` (state ``k + 2``) sums two ``(op, input_state)``
edges whose input states are two *distinct* states among ``0 .. k + 1``. The cell output concatenates
states 2..5 (``CONCAT``). A cell is written as a tuple of 8 ``(op_name, input_state)`` pairs; pairs
``2k`` and ``2k + 1`` feed node ``k`` -- exactly the layout of the DARTS repo's ``Genotype.normal``.

A **genotype** is :class:`Genotype` ``(normal, normal_concat, reduce, reduce_concat)``, field for
field the DARTS repo's namedtuple, so published genotypes paste in unchanged. Its canonical string
is the DARTS repr with lists, and round-trips::

    s = genotype_to_string(g)      # "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)"
    genotype_from_string(s) == g   # also accepts range(2, 6) concats and pt.darts' nested node lists

Ops (:data:`OPS`, 7): the DARTS primitives without ``none``.

Graph encoding (arch2vec's ``gen_isomorphism_graphs.py`` layout), per cell, 11 nodes::

    0: c_{k-2}   1: c_{k-1}   2..9: the 8 edge ops (pair order)   10: output

Node types :data:`NODE_TYPES` (11) are ``c_k-2, c_k-1, none, <7 ops>, output`` -- arch2vec's order;
``none`` is kept as a reserved, never-produced type so encodings stay column-compatible with
arch2vec's 11-wide one-hot. ``adj[src, dst] = 1`` (upper triangular): an op node reading input
state 0/1 gets an edge from node 0/1; one reading intermediate node ``j`` gets edges from *both* op
nodes of ``j`` (nodes ``2 + 2j`` and ``3 + 2j``); every op node feeds the output. The position of an
op node carries its pairing, so :func:`graph_to_cell` inverts :func:`cell_to_graph` exactly.

Canonical form and hash: two cells are isomorphic when one becomes the other by swapping the two
edges of a node and/or renumbering intermediate nodes (keeping inputs before consumers); they then
build the same network. :func:`canonical_cell` returns one representative per class (exact, not a
WL approximation), :func:`cell_hash` a 16-character code of it (collision-free: it *is* the
canonical cell), :func:`genotype_hash` ``"<normal>/<reduce>"``. Note arch2vec dedups on a WL hash
of the op-node graph, which additionally merges cells that differ only in how leaf op nodes pair
up; dedup here is on the network the cell builds.

Sampling: :func:`sample_cells` (uniform over cells: for each node 2 distinct inputs and 2 ops,
independently uniform -- arch2vec's sampler), :func:`sample_unique_cells` /
:func:`sample_unique_genotypes` (first ``n`` distinct classes in draw order), all driven by a
``numpy.random.Generator`` so the same seed gives the same list.

arch2vec searches a single cell and uses it as both normal and reduction cell:
:func:`shared_cell_genotype` builds that genotype.

Array form for files: :func:`cells_to_array` -> ``(N, 8, 2)`` int8 ``[op_index, input_state]``.

Integer codes: :func:`cell_code` writes a cell's canonical edges as base-35 digits (``op * 5 +
input`` per edge): an exact isomorphism key for *any* cell that :func:`code_to_cell` inverts.

The registered space (:mod:`preprocessing.spaces`, ``--space darts``):

* ``full_space()`` -> :class:`DartsCellSpace`: single cells keyed by code, what arch2vec pretrains
  on (keys = a seeded pool of :data:`PRETRAINING_CELLS` sampled cells; its codec decodes any cell);
* ``load_search(table)`` -> :class:`DartsGenotypeSpace`: a seeded pool of sampled genotypes (keys
  0..P-1, two cells per architecture) whose queries train the proxy network of
  :mod:`darts.proxy_evaluator` on real images (value = its validation accuracy, cost = its measured
  training seconds, no test accuracy). ``table`` is a *pool spec*, ``'key=value,...'`` overriding
  :data:`POOL_DEFAULTS` and the :class:`~darts.proxy_evaluator.ProxyConfig` fields, e.g.
  ``--table pool=500,epochs=1,workers=2``; it is part of every log's config.

Anything malformed raises :class:`~preprocessing.errors.InputError` naming the problem.
"""
from __future__ import annotations

import ast
import itertools
from collections import namedtuple
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from preprocessing.errors import InputError

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
INPUT_NAMES = ("c_k-2", "c_k-1")
NODE_TYPES = INPUT_NAMES + ("none",) + OPS + ("output",)
N_STEPS = 4  # intermediate nodes per cell
N_EDGES = 2 * N_STEPS
N_NODES = N_EDGES + 3  # 2 inputs + 8 op nodes + output
OUTPUT_NODE = N_NODES - 1
CONCAT = tuple(range(2, 2 + N_STEPS))

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_NODE_TYPE_INDEX = {t: i for i, t in enumerate(NODE_TYPES)}
_FIELDS = Genotype._fields


# ----------------------------------------------------------------------------- validation

def validate_cell(cell, what: str = "cell", allow_none: bool = False) -> tuple:
    """Check a cell and return it normalised to a tuple of 8 ``(op_name, int)`` pairs.

    ``allow_none`` also accepts DARTS' ``none`` (zero) op, which is outside the search space but
    appears in some published genotypes (the network builder accepts it).
    """
    if isinstance(cell, (str, bytes)) or not isinstance(cell, Iterable):
        raise InputError(f"{what} must be a list of 8 (op, input) pairs, got {type(cell).__name__}")
    pairs = list(cell)
    if len(pairs) != N_EDGES:
        raise InputError(f"{what} has {len(pairs)} (op, input) pairs; a DARTS cell needs {N_EDGES} "
                         f"(2 inputs for each of its {N_STEPS} nodes)")
    out = []
    for e, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InputError(f"{what} edge {e} must be an (op, input) pair, got {pair!r}")
        op, src = pair
        if op not in _OP_INDEX and not (allow_none and op == "none"):
            raise InputError(f"unknown DARTS op {op!r} in {what} edge {e}; known ops: {', '.join(OPS)}")
        if isinstance(src, bool) or not isinstance(src, (int, np.integer)):
            raise InputError(f"{what} edge {e} input must be an integer state index, got {src!r}")
        node = e // 2
        if not 0 <= src < node + 2:
            raise InputError(f"{what} edge {e} (node {node}) reads state {src}, out of range: "
                             f"node {node} may read states 0..{node + 1}")
        out.append((op, int(src)))
    for node in range(N_STEPS):
        if out[2 * node][1] == out[2 * node + 1][1]:
            raise InputError(f"{what} node {node} reads state {out[2 * node][1]} twice; "
                             f"each node takes 2 distinct inputs")
    return tuple(out)


def _validate_concat(concat, what: str) -> None:
    if isinstance(concat, range):
        concat = list(concat)
    if isinstance(concat, (str, bytes)) or not isinstance(concat, Iterable) or tuple(concat) != CONCAT:
        raise InputError(f"{what} must be {list(CONCAT)} (all 4 intermediate nodes), got {concat!r}")


def shared_cell_genotype(cell) -> Genotype:
    """The genotype using ``cell`` as both normal and reduction cell (arch2vec's DARTS search)."""
    cell = validate_cell(cell)
    return Genotype(cell, CONCAT, cell, CONCAT)


def validate_genotype(genotype, allow_none: bool = False) -> Genotype:
    """Check a genotype (any 4-field sequence) and return a normalised :class:`Genotype`."""
    if isinstance(genotype, (str, bytes)) or not isinstance(genotype, Sequence) or len(genotype) != 4:
        raise InputError("a genotype has 4 fields (normal, normal_concat, reduce, reduce_concat); "
                         f"got {genotype!r}")
    normal, normal_concat, reduce, reduce_concat = genotype
    _validate_concat(normal_concat, "normal_concat")
    _validate_concat(reduce_concat, "reduce_concat")
    return Genotype(validate_cell(normal, "normal cell", allow_none), CONCAT,
                    validate_cell(reduce, "reduce cell", allow_none), CONCAT)


# ----------------------------------------------------------------------------- strings

def _cell_repr(cell) -> str:
    return "[" + ", ".join(f"({op!r}, {src})" for op, src in cell) + "]"


def genotype_to_string(genotype) -> str:
    """Genotype -> canonical string, the DARTS repo's repr (lists, not ranges)."""
    g = validate_genotype(genotype)
    concat = list(CONCAT)
    return (f"Genotype(normal={_cell_repr(g.normal)}, normal_concat={concat}, "
            f"reduce={_cell_repr(g.reduce)}, reduce_concat={concat})")


def _literal(node: ast.AST, field: str, text: str):
    """Literal value of a keyword argument; ``range(a, b)`` is allowed for concats."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
            and not node.keywords and all(isinstance(a, ast.Constant) and type(a.value) is int for a in node.args)):
        return list(range(*[a.value for a in node.args]))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise InputError(f"malformed genotype string: {field}= is not a literal in {text!r}") from None


def _flatten_nested(cell):
    """pt.darts writes cells as 4 lists of 2 pairs; flatten to DARTS' 8 pairs."""
    if isinstance(cell, list) and cell and all(isinstance(node, list) for node in cell):
        return [pair for node in cell for pair in node]
    return cell


def genotype_from_string(text: str) -> Genotype:
    """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])``.

    Parsed with :mod:`ast` (no ``eval``); InputError when malformed or invalid.
    """
    if not isinstance(text, str):
        raise InputError(f"a genotype string must be a string, got {type(text).__name__}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise InputError(f"malformed genotype string (not valid syntax): {text!r}") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise InputError(f"malformed genotype string: expected 'Genotype(normal=..., normal_concat=..., "
                         f"reduce=..., reduce_concat=...)', got {text!r}")
    values = {}
    if call.args:
        if len(call.args) != 4 or call.keywords:
            raise InputError(f"malformed genotype string: give the 4 fields by keyword: {text!r}")
        values = dict(zip(_FIELDS, call.args))
    for kw in call.keywords:
        if kw.arg not in _FIELDS or kw.arg in values:
            raise InputError(f"malformed genotype string: unexpected or repeated field {kw.arg!r}; "
                             f"fields are {', '.join(_FIELDS)}")
        values[kw.arg] = kw.value
    missing = [f for f in _FIELDS if f not in values]
    if missing:
        raise InputError(f"malformed genotype string: missing field(s) {', '.join(missing)}")
    fields = {f: _literal(values[f], f, text) for f in _FIELDS}
    return validate_genotype((_flatten_nested(fields["normal"]), fields["normal_concat"],
                              _flatten_nested(fields["reduce"]), fields["reduce_concat"]))


# ----------------------------------------------------------------------------- graphs

def cell_to_graph(cell) -> tuple[np.ndarray, np.ndarray]:
    """Cell -> (adjacency (11, 11) int8, node-type labels (11,) int8) in arch2vec's layout."""
    adj, labels = array_to_graphs(cells_to_array([cell]))
    return adj[0], labels[0]


def array_to_graphs(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 8, 2) cell array -> adjacency (N, 11, 11) int8 and node-type labels (N, 11) int8, vectorised."""
    array = np.asarray(array)
    n = array.shape[0]
    adj = np.zeros((n, N_NODES, N_NODES), dtype=np.int8)
    labels = np.empty((n, N_NODES), dtype=np.int8)
    labels[:, 0], labels[:, 1], labels[:, OUTPUT_NODE] = 0, 1, _NODE_TYPE_INDEX["output"]
    labels[:, 2:OUTPUT_NODE] = array[:, :, 0] + _NODE_TYPE_INDEX[OPS[0]]
    rows = np.arange(n)
    for e in range(N_EDGES):
        dst = 2 + e
        src = array[:, e, 1].astype(np.int64)
        from_input = src < 2
        adj[rows[from_input], src[from_input], dst] = 1
        # reading intermediate node j means reading both of its op nodes, 2 + 2j and 3 + 2j
        first_op_node = 2 + 2 * (src[~from_input] - 2)
        adj[rows[~from_input], first_op_node, dst] = 1
        adj[rows[~from_input], first_op_node + 1, dst] = 1
    adj[:, 2:OUTPUT_NODE, OUTPUT_NODE] = 1
    return adj, labels


def labels_to_onehot(labels) -> np.ndarray:
    """(11,) node-type labels -> (11, 11) one-hot rows (columns = :data:`NODE_TYPES`)."""
    labels = np.asarray(labels)
    onehot = np.zeros((labels.shape[0], len(NODE_TYPES)), dtype=np.int8)
    onehot[np.arange(labels.shape[0]), labels] = 1
    return onehot


def graph_to_cell(adj, ops) -> tuple:
    """Inverse of :func:`cell_to_graph`; ``ops`` is (11,) labels or (11, 11) one-hot."""
    adj = np.asarray(adj)
    ops = np.asarray(ops)
    if adj.shape != (N_NODES, N_NODES):
        raise InputError(f"DARTS cell adjacency must be {N_NODES}x{N_NODES}, got shape {adj.shape}")
    if ops.shape == (N_NODES, len(NODE_TYPES)):
        if not np.all(ops.sum(axis=1) == 1):
            raise InputError("DARTS cell ops one-hot must have exactly one 1 per row")
        ops = ops.argmax(axis=1)
    if ops.shape != (N_NODES,):
        raise InputError(f"DARTS cell ops must be ({N_NODES},) labels or ({N_NODES}, {len(NODE_TYPES)}) one-hot, "
                         f"got shape {ops.shape}")
    cell = []
    for e in range(N_EDGES):
        dst = 2 + e
        label = int(ops[dst])
        if not 0 <= label < len(NODE_TYPES) or NODE_TYPES[label] not in _OP_INDEX:
            raise InputError(f"op node {dst} has type {label}, which is not one of the 7 DARTS ops")
        preds = tuple(np.flatnonzero(adj[:, dst]))
        if len(preds) == 1 and preds[0] < 2:
            src = int(preds[0])
        elif len(preds) == 2 and preds[0] >= 2 and preds[0] % 2 == 0 and preds[1] == preds[0] + 1:
            src = (int(preds[0]) - 2) // 2 + 2
        else:
            raise InputError(f"op node {dst} has predecessors {list(map(int, preds))}: not an arch2vec DARTS cell")
        cell.append((NODE_TYPES[label], src))
    cell = validate_cell(cell, "decoded cell")
    expected_adj, expected_ops = cell_to_graph(cell)
    if not (np.array_equal(expected_adj, adj.astype(np.int8)) and np.array_equal(expected_ops, ops.astype(np.int8))):
        raise InputError("adjacency/ops are not an arch2vec DARTS cell encoding (wrong input, output or extra edges)")
    return cell


# ----------------------------------------------------------------------------- canonical form

def _canonical_codes(codes: Sequence[tuple[int, int]]) -> tuple:
    """Canonical form of a cell given as 8 ``(op_index, input_state)`` pairs (already valid).

    Each node gets an unfolding key (its sorted edges with inputs replaced by their keys). A
    consumer's key strictly contains its inputs' keys, so ordering nodes by (length, key) is a
    topological order; nodes with equal keys are tried in every order and the smallest encoding
    wins, which makes the result exact (identical for exactly the isomorphic cells).
    """
    keys = ["a", "b"]
    for node in range(N_STEPS):
        (op1, s1), (op2, s2) = codes[2 * node], codes[2 * node + 1]
        keys.append("(" + ",".join(sorted((f"{op1}{keys[s1]}", f"{op2}{keys[s2]}"))) + ")")
    order = sorted(range(2, 2 + N_STEPS), key=lambda s: (len(keys[s]), keys[s]))
    groups = [list(g) for _, g in itertools.groupby(order, key=lambda s: keys[s])]
    best = None
    for choice in itertools.product(*(itertools.permutations(g) for g in groups)):
        new_state = {0: 0, 1: 1}
        for position, state in enumerate(s for group in choice for s in group):
            new_state[state] = position + 2
        encoded = []
        for state in (s for group in choice for s in group):
            node = state - 2
            edges = sorted(((codes[2 * node][0], new_state[codes[2 * node][1]]),
                            (codes[2 * node + 1][0], new_state[codes[2 * node + 1][1]])), key=lambda p: (p[1], p[0]))
            encoded.extend(edges)
        encoded = tuple(encoded)
        if best is None or encoded < best:
            best = encoded
    return best


def _to_codes(cell) -> list[tuple[int, int]]:
    return [(_OP_INDEX[op], src) for op, src in validate_cell(cell)]


def canonical_cell(cell) -> tuple:
    """The representative of the cell's isomorphism class (edges of a node sorted by input)."""
    return tuple((OPS[op], src) for op, src in _canonical_codes(_to_codes(cell)))


def _code_string(codes) -> str:
    return "".join(f"{op}{src}" for op, src in codes)


def cell_hash(cell) -> str:
    """16-character exact isomorphism-invariant code: ``op_index input_state`` per canonical edge."""
    return _code_string(_canonical_codes(_to_codes(cell)))


def genotype_hash(genotype) -> str:
    """``"<normal cell_hash>/<reduce cell_hash>"``; equal exactly for isomorphic genotypes."""
    g = validate_genotype(genotype)
    return f"{cell_hash(g.normal)}/{cell_hash(g.reduce)}"


# ----------------------------------------------------------------------------- arrays

def cells_to_array(cells) -> np.ndarray:
    """Cells -> (N, 8, 2) int8 array of ``[op_index, input_state]``."""
    return np.array([_to_codes(c) for c in cells], dtype=np.int8).reshape(-1, N_EDGES, 2)


def array_to_cells(array) -> list[tuple]:
    """Inverse of :func:`cells_to_array`; validates every cell."""
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[1:] != (N_EDGES, 2):
        raise InputError(f"DARTS cell array must have shape (N, {N_EDGES}, 2), got {array.shape}")
    if array.size and (array[:, :, 0].min() < 0 or array[:, :, 0].max() >= len(OPS)):
        raise InputError(f"DARTS cell array has op indices outside 0..{len(OPS) - 1}")
    return [validate_cell([(OPS[op], int(src)) for op, src in row]) for row in array.tolist()]


# ----------------------------------------------------------------------------- sampling

def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"sampling needs a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def _sample_code_batch(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, 8, 2) uniformly random valid cells as ``[op_index, input_state]``."""
    codes = np.empty((size, N_EDGES, 2), dtype=np.int64)
    codes[:, :, 0] = rng.integers(0, len(OPS), size=(size, N_EDGES))
    for node in range(N_STEPS):
        first = rng.integers(0, node + 2, size=size)
        second = rng.integers(0, node + 1, size=size)
        second += second >= first  # uniform over the states other than `first`
        codes[:, 2 * node, 1] = first
        codes[:, 2 * node + 1, 1] = second
    return codes


def sample_cells(n: int, rng: np.random.Generator) -> list[tuple]:
    """``n`` uniformly random cells (duplicates possible)."""
    _check_rng(rng)
    return [tuple((OPS[op], src) for op, src in row) for row in _sample_code_batch(rng, n).tolist()]


def _check_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"number of samples must be a non-negative integer, got {n!r}")
    return int(n)


def sample_unique_cells(n: int, rng: np.random.Generator, progress: bool = False,
                        batch_size: int = 4096) -> tuple[list[tuple], list[str]]:
    """First ``n`` pairwise non-isomorphic cells in draw order, and their :func:`cell_hash` codes."""
    n = _check_count(n)
    _check_rng(rng)
    seen: set[str] = set()
    cells, hashes = [], []
    with tqdm(total=n, desc="sampling DARTS cells", unit="cell", disable=not progress) as bar:
        while len(cells) < n:
            for row in _sample_code_batch(rng, batch_size).tolist():
                codes = [tuple(p) for p in row]
                key = _code_string(_canonical_codes(codes))
                if key in seen:
                    continue
                seen.add(key)
                cells.append(tuple((OPS[op], src) for op, src in codes))
                hashes.append(key)
                bar.update(1)
                if len(cells) == n:
                    break
    return cells, hashes


def sample_unique_genotypes(n: int, rng: np.random.Generator) -> list[Genotype]:
    """``n`` pairwise non-isomorphic genotypes with independently uniform normal and reduce cells."""
    n = _check_count(n)
    _check_rng(rng)
    seen: set[str] = set()
    out: list[Genotype] = []
    while len(out) < n:
        normal, reduce = sample_cells(2, rng)
        g = Genotype(normal, CONCAT, reduce, CONCAT)
        key = genotype_hash(g)
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


# ----------------------------------------------------------------------------- integer codes and flat encoding

_N_INPUTS = N_STEPS + 1  # an edge reads one of states 0..4 (node 3, the last, reads 0..4)
_EDGE_VALUES = len(OPS) * _N_INPUTS  # op * 5 + input: 35 values per edge
_PLACES = _EDGE_VALUES ** np.arange(N_EDGES - 1, -1, -1, dtype=np.int64)  # base-35 digits, edge 0 first
FLAT_WIDTH = N_EDGES * (len(OPS) + _N_INPUTS)  # 96: per edge an op one-hot (7) and an input one-hot (5)


def cell_code(cell) -> int:
    """Exact isomorphism-invariant integer code of a cell: its canonical edges as base-35 digits.

    Two cells get the same code exactly when they are isomorphic (:func:`canonical_cell`), and
    :func:`code_to_cell` returns the canonical cell, so a code is a key for *any* DARTS cell.
    """
    return int(np.dot([op * _N_INPUTS + src for op, src in _canonical_codes(_to_codes(cell))], _PLACES))


def codes_to_array(codes) -> np.ndarray:
    """(B,) cell codes -> (B, 8, 2) int8 cells ``[op_index, input_state]`` (not validated: see :func:`code_to_cell`)."""
    codes = np.atleast_1d(np.asarray(codes, dtype=np.int64))
    if np.any(codes < 0) or np.any(codes >= _EDGE_VALUES ** N_EDGES):
        raise InputError(f"DARTS cell codes lie in 0..{_EDGE_VALUES ** N_EDGES - 1}; got {codes.min()}..{codes.max()}")
    digits = (codes[:, None] // _PLACES) % _EDGE_VALUES
    return np.stack([digits // _N_INPUTS, digits % _N_INPUTS], axis=-1).astype(np.int8)


def _hash_codes(hashes) -> np.ndarray:
    """:func:`cell_hash` strings -> their :func:`cell_code` integers (the same canonical edges, vectorised)."""
    digits = np.frombuffer("".join(hashes).encode(), dtype=np.uint8).reshape(-1, N_EDGES, 2).astype(np.int64) - ord("0")
    return (digits[:, :, 0] * _N_INPUTS + digits[:, :, 1]) @ _PLACES


def code_to_cell(code: int) -> tuple:
    """The canonical cell of a :func:`cell_code`; InputError when ``code`` encodes no legal cell."""
    cell = array_to_cells(codes_to_array([code]))[0]
    if cell_code(cell) != code:
        raise InputError(f"{code} is not the code of a canonical DARTS cell (see darts_space.cell_code)")
    return cell


def flat_encoding(array: np.ndarray) -> np.ndarray:
    """(B, 8, 2) cells -> (B, 96) float32: per edge a one-hot of its op (7) and of its input state (5)."""
    array = np.asarray(array, dtype=np.int64)
    out = np.zeros((array.shape[0], N_EDGES, len(OPS) + _N_INPUTS), dtype=np.float32)
    np.put_along_axis(out, array[:, :, :1], 1.0, axis=2)
    np.put_along_axis(out, len(OPS) + array[:, :, 1:], 1.0, axis=2)
    return out.reshape(array.shape[0], FLAT_WIDTH)


def onehot_graphs(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 8, 2) cells -> adjacency (B, 11, 11) and node-type one-hot (B, 11, 11), float32 (the graph codec)."""
    adj, labels = array_to_graphs(array)
    ops = np.zeros(labels.shape + (len(NODE_TYPES),), dtype=np.float32)
    np.put_along_axis(ops, labels[..., None].astype(np.int64), 1.0, axis=-1)
    return adj.astype(np.float32), ops


def decode_cells(types, adj) -> np.ndarray:
    """(B,) :func:`cell_code` of each decoded graph (types (B, 11) int, adj (B, 11, 11) read at > 0.5); -1 where
    a graph is not a DARTS cell in arch2vec's layout (:func:`graph_to_cell` is the rule)."""
    types, adj = np.asarray(types), np.asarray(adj)
    out = np.full(len(types), -1, dtype=np.int64)
    for row, (t, a) in enumerate(zip(types, adj)):
        if t.shape != (N_NODES,) or np.any(t < 0) or np.any(t >= len(NODE_TYPES)):
            continue
        try:
            out[row] = cell_code(graph_to_cell((a > 0.5).astype(np.int8), t.astype(np.int8)))
        except InputError:
            pass
    return out


def one_edit_cells(cell) -> list[tuple]:
    """The cells one edge away from ``cell``: one edge's op or its input state changed (still a legal cell)."""
    cell = validate_cell(cell)
    out = []
    for e, (op, src) in enumerate(cell):
        sibling_src = cell[e ^ 1][1]
        variants = [(other, src) for other in OPS if other != op]
        variants += [(op, s) for s in range(e // 2 + 2) if s not in (src, sibling_src)]
        out.extend(cell[:e] + (v,) + cell[e + 1:] for v in variants)
    return out


# ----------------------------------------------------------------------------- the space objects

class DartsCellSpace:
    """Every DARTS cell, keyed by :func:`cell_code` (what arch2vec pretrains on; one cell per graph).

    ``keys()`` is the pretraining pool: the first ``n_cells`` pairwise non-isomorphic cells that
    :func:`sample_unique_cells` draws from ``seed`` (sorted by code; sampled on first use, about
    10 s for 100,000). All else works for any legal cell, in the pool or not: ``decode`` returns
    the code of every valid decoded graph (so decoding validity and uniqueness count every
    DARTS cell, not only pool members), ``neighbours`` the codes of the one-edit cells.
    """

    name = "darts"
    node_types = NODE_TYPES
    n_nodes = N_NODES

    def __init__(self, n_cells: int, seed: int = 0):
        self.n_cells = _check_count(n_cells)
        self.seed = seed
        self._keys = None

    def __len__(self) -> int:
        return self.n_cells

    def keys(self) -> np.ndarray:
        if self._keys is None:
            _, hashes = sample_unique_cells(self.n_cells, np.random.default_rng(self.seed), progress=self.n_cells > 20_000)
            self._keys = np.sort(_hash_codes(hashes))
        return self._keys

    def sample(self, rng: np.random.Generator, size: int | None = None, replace: bool = True):
        if size is None:
            return int(rng.choice(self.keys()))
        return rng.choice(self.keys(), size=size, replace=replace)

    def neighbours(self, key: int) -> np.ndarray:
        own = int(key)
        codes = {cell_code(c) for c in one_edit_cells(code_to_cell(own))}
        return np.array(sorted(codes - {own}), dtype=np.int64)

    def mutate(self, key: int, rng: np.random.Generator) -> int:
        return int(rng.choice(self.neighbours(key)))

    def to_string(self, key: int) -> str:
        return _cell_repr(code_to_cell(int(key)))

    def from_string(self, text: str) -> int:
        try:
            cell = ast.literal_eval(text.strip())
        except (ValueError, TypeError, SyntaxError, RecursionError, AttributeError):
            raise InputError(f"malformed DARTS cell string (want \"[('sep_conv_3x3', 0), ...]\"): {text!r}") from None
        return cell_code(cell)

    def _array(self, keys) -> np.ndarray:
        return codes_to_array(self.keys() if keys is None else keys)

    def onehot(self, keys=None) -> np.ndarray:
        return flat_encoding(self._array(keys))

    def graphs(self, keys=None) -> tuple[np.ndarray, np.ndarray]:
        return onehot_graphs(self._array(keys))

    def decode(self, types, adj) -> np.ndarray:
        return decode_cells(types, adj)


class DartsGenotypeSpace:
    """A fixed pool of pairwise non-isomorphic genotypes, keys ``0 .. P-1`` (what DARTS searches range over).

    Genotypes are held with canonical cells (:func:`canonical_cell`; the same networks as drawn).
    An architecture has 2 cells (``cells_per_arch``): ``graphs`` returns (B, 2, 11, 11) /
    (B, 2, 11, 11), normal cell first; ``onehot`` the two cells' :func:`flat_encoding` side by side
    (B, 192); ``decode`` takes (B, 2, 11) types / (B, 2, 11, 11) adjacency and returns the pool key,
    -1 where a cell is invalid or the genotype is not in the pool.

    Neighbours: a pool of random genotypes holds almost no pair one edge apart, so ``neighbours(key)``
    are the pool genotypes *nearest* to ``key``: those with the fewest of the 16 canonical edges
    (op, input) differing, all ties; ``mutate`` draws one of them uniformly.
    """

    name = "darts"
    node_types = NODE_TYPES
    n_nodes = N_NODES
    cells_per_arch = 2

    def __init__(self, genotypes):
        self.genotypes = [Genotype(canonical_cell(g.normal), CONCAT, canonical_cell(g.reduce), CONCAT)
                          for g in map(validate_genotype, genotypes)]
        self._arrays = np.stack([cells_to_array([g.normal for g in self.genotypes]),
                                 cells_to_array([g.reduce for g in self.genotypes])], axis=1)  # (P, 2, 8, 2)
        codes = [(cell_code(g.normal), cell_code(g.reduce)) for g in self.genotypes]
        self._key_of = {c: k for k, c in enumerate(codes)}
        if len(self._key_of) != len(codes):
            raise InputError("a DARTS genotype pool must not hold two isomorphic genotypes")
        self._keys = np.arange(len(self.genotypes))

    @classmethod
    def sampled(cls, n: int, seed: int) -> "DartsGenotypeSpace":
        """The first ``n`` non-isomorphic genotypes :func:`sample_unique_genotypes` draws from ``seed``."""
        return cls(sample_unique_genotypes(n, np.random.default_rng(seed)))

    def __len__(self) -> int:
        return len(self.genotypes)

    def keys(self) -> np.ndarray:
        return self._keys

    def genotype(self, key: int) -> Genotype:
        return self.genotypes[int(key)]

    def sample(self, rng: np.random.Generator, size: int | None = None, replace: bool = True):
        if size is None:
            return int(rng.integers(len(self.genotypes)))
        return rng.choice(self._keys, size=size, replace=replace)

    def neighbours(self, key: int) -> np.ndarray:
        key = int(key)
        flat = self._arrays.reshape(len(self._keys), -1, 2)
        distance = np.any(flat != flat[key], axis=-1).sum(-1)
        distance[key] = distance.max() + 1
        return np.flatnonzero(distance == distance.min()) if len(self._keys) > 1 else np.zeros(0, dtype=np.int64)

    def mutate(self, key: int, rng: np.random.Generator) -> int:
        options = self.neighbours(key)
        return int(rng.choice(options)) if len(options) else int(key)

    def to_string(self, key: int) -> str:
        return genotype_to_string(self.genotypes[int(key)])

    def from_string(self, text: str) -> int:
        g = genotype_from_string(text)
        key = self._key_of.get((cell_code(g.normal), cell_code(g.reduce)))
        if key is None:
            raise InputError(f"genotype {text!r} is not in this pool of {len(self)} DARTS genotypes")
        return key

    def _array(self, keys) -> np.ndarray:
        return self._arrays if keys is None else self._arrays[np.atleast_1d(np.asarray(keys, dtype=np.int64))]

    def onehot(self, keys=None) -> np.ndarray:
        array = self._array(keys)
        return np.concatenate([flat_encoding(array[:, 0]), flat_encoding(array[:, 1])], axis=1)

    def graphs(self, keys=None) -> tuple[np.ndarray, np.ndarray]:
        array = self._array(keys)
        adj, ops = onehot_graphs(array.reshape(-1, N_EDGES, 2))
        return adj.reshape(len(array), 2, N_NODES, N_NODES), ops.reshape(len(array), 2, N_NODES, len(NODE_TYPES))

    def decode(self, types, adj) -> np.ndarray:
        types, adj = np.asarray(types), np.asarray(adj)
        cells = decode_cells(types.reshape(-1, N_NODES), adj.reshape(-1, N_NODES, N_NODES)).reshape(-1, 2)
        return np.array([self._key_of.get((int(n), int(r)), -1) if n >= 0 and r >= 0 else -1 for n, r in cells],
                        dtype=np.int64)


# ---- the space's registry entry (preprocessing.spaces) ----------------------------------------
NAME = "darts"
DESCRIPTION = ("DARTS / NAS-Bench-301 cells (normal + reduce, 8 edges x 7 ops each); searched over a seeded pool of "
               "sampled genotypes, each query trains a small proxy network on real images (darts/proxy_evaluator.py); "
               "--table is a pool spec such as 'pool=2000,epochs=2' (see preprocessing/darts_space.py)")
PRETRAINING_CELLS = 100_000  # the paper sampled 600,000; 100,000 pretrain in minutes on a CPU
SETTINGS = {"arch2vec": {"epochs": 10, "limit": PRETRAINING_CELLS}}
PROXY_DATASETS = ("fashion_mnist", "digits")

# The search pool and the proxy training: ``--table`` overrides any of these as 'key=value,key=value'.
# Every key except `workers`, `gpus`, `address` and `cache` changes the numbers; the whole spec is in each log's config.
_PLACEMENT = ("workers", "gpus", "address", "cache")
POOL_DEFAULTS = {
    "pool": 2000,  # genotypes sampled into the search space
    "pool_seed": 0,  # seed of that sample
    "workers": 1,  # proxy trainings run in parallel within one search (answers do not depend on it)
    "gpus": 0.0,  # GPUs per proxy training: > 0 runs them on a Ray cluster's GPU workers (search_methods.executor)
    "address": "",  # that Ray cluster (HOST:PORT or auto; empty = a local Ray instance)
    "cache": "",  # JSON cache of answers; default data/cache/darts_proxy/<digest of the proxy settings>.json
}
CACHE_DIR = "data/cache/darts_proxy"


def _proxy_defaults() -> dict:
    """The proxy-training settings a spec may override: every :class:`darts.proxy_evaluator.ProxyConfig` field
    but ``dataset`` (that is ``--datasets``); ``image_size=0`` and an empty ``data_path`` mean None."""
    from dataclasses import fields

    from darts.proxy_evaluator import ProxyConfig

    values = {f.name: f.default for f in fields(ProxyConfig) if f.name != "dataset"}
    return {**values, "image_size": values["image_size"] or 0, "data_path": values["data_path"] or ""}


def parse_pool_spec(table) -> dict:
    """``None`` or ``'pool=500,epochs=1'`` -> every setting of the search pool and proxy, with the defaults."""
    spec = {**POOL_DEFAULTS, **_proxy_defaults()}
    if table is None:
        return spec
    for part in str(table).split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in spec:
            raise InputError(f"--table {table!r}: the darts space takes a pool spec 'key=value,...' with keys "
                             f"{', '.join(spec)} (e.g. --table pool=500,epochs=1)")
        kind = type(spec[name])
        try:
            spec[name] = kind(value.strip())
        except ValueError:
            raise InputError(f"--table: {name}={value!r} is not a {kind.__name__}") from None
    if spec["pool"] < 1 or spec["workers"] < 1:
        raise InputError("--table: pool and workers must be at least 1")
    return spec


def table_identity(table) -> dict:
    """What a DARTS run's numbers come from: the pool spec without where trainings run (result identity)."""
    import hashlib

    spec = parse_pool_spec(table)
    name = "proxy:" + ",".join(f"{k}={v}" for k, v in spec.items() if k not in _PLACEMENT)
    return {"name": name, "sha256": hashlib.sha256(name.encode()).hexdigest()}


def full_space() -> DartsCellSpace:
    """The cell space arch2vec pretrains on (keys: the seeded pool of :data:`PRETRAINING_CELLS` cells)."""
    return DartsCellSpace(PRETRAINING_CELLS, seed=0)


def load_search(table=None):
    """The genotype pool of the spec ``table`` searched against real proxy training (no tabular benchmark)."""
    import atexit
    import hashlib
    import json
    from dataclasses import asdict

    from darts.proxy_evaluator import ProxyConfig, ProxyEvaluator
    from preprocessing.spaces import SearchSetup
    from search_methods.executor import ExecutorOptions
    from search_methods.oracle import EvaluatorOracle

    spec = parse_pool_spec(table)
    proxy = {k: v for k, v in spec.items() if k not in POOL_DEFAULTS}
    proxy.update(image_size=proxy["image_size"] or None, data_path=proxy["data_path"] or None)
    configs = {}
    for dataset in PROXY_DATASETS:  # a bad setting is one error line here, before any work
        configs[dataset] = ProxyConfig(dataset=dataset, **proxy)
        configs[dataset].check()
    space = DartsGenotypeSpace.sampled(spec["pool"], spec["pool_seed"])
    evaluators = {}  # one per dataset and process: its worker processes and cache serve every run

    def make_oracle(dataset, signal, rng, max_queries, max_time_s, time_per_query=None):
        if dataset not in evaluators:
            config = configs[dataset]
            digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:16]
            cache = spec["cache"] or f"{CACHE_DIR}/{dataset}-{digest}.json"
            ray = spec["gpus"] > 0 or bool(spec["address"])
            options = ExecutorOptions(backend="ray" if ray else "local", workers=spec["workers"],
                                      address=spec["address"] or None, gpus=spec["gpus"])
            options.check()
            evaluators[dataset] = ProxyEvaluator(config, cache_path=cache, options=options, progress=False)
            atexit.register(evaluators[dataset].close)  # its training processes end cleanly with this one
        # one proxy training per genotype (seed `seed` of the spec): --signal mean and seed both read it
        return EvaluatorOracle(evaluators[dataset], space.genotype, dataset, max_queries, max_time_s, space.to_string,
                               batch=spec["workers"])

    table_id = table_identity(table)["name"]
    return SearchSetup(space=space, datasets=PROXY_DATASETS, make_oracle=make_oracle, table_id=table_id,
                       extra={"pool_spec": spec})
