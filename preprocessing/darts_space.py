"""The DARTS / NAS-Bench-301 cell space: genotypes, strings, arch2vec graphs, canonical hashes, sampling.

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
