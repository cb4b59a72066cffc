"""NB101 space: official hashes, validity and pruning, sampling/mutation, encodings, enumeration."""
from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from preprocessing.errors import InputError
from preprocessing.nasbench101 import (
    ARCH2VEC_OPS,
    FLAT_DIM,
    PAD,
    Cell,
    NB101Space,
    arch2vec_encoding,
    cell_from_arch2vec,
    flat_encoding,
    hash_labels,
    module_hash_of,
    mutate_cell,
    padded_arrays,
    random_cell,
)
from preprocessing.nb101_enumerate import (
    DEFAULT_PATH,
    default_space,
    N_CELLS,
    enumerate_space,
    hex_strings,
    load_space,
    main as enumerate_main,
    module_hashes,
)
from search_methods.executor import ExecutorOptions

OFFICIAL_CSV = Path(__file__).resolve().parent.parent / "data" / "nasbench101" / "nb101_official_hashes.csv"


def _official_rows() -> list[tuple[str, Cell]]:
    with open(OFFICIAL_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        n = int(row["n_vertices"])
        matrix = np.array([int(c) for c in row["matrix_rowmajor"]]).reshape(n, n)
        out.append((row["module_hash"], Cell(matrix, row["ops"].split("|"))))
    return out


OFFICIAL = _official_rows()


@pytest.fixture(scope="module")
def space_table():
    return default_space()


def _random_topological_relabelling(cell: Cell, rng: np.random.Generator) -> Cell:
    """The same DAG with its middle vertices renumbered in a random topological order."""
    n = cell.n_vertices
    remaining_in = cell.matrix.sum(0).astype(int)
    ready, order = [0], []
    while ready:
        v = ready.pop(int(rng.integers(len(ready))))
        order.append(v)
        for w in np.flatnonzero(cell.matrix[v]):
            remaining_in[w] -= 1
            if remaining_in[w] == 0:
                ready.append(int(w))
    assert order[0] == 0 and order[-1] == n - 1
    order = np.array(order)
    return Cell(cell.matrix[np.ix_(order, order)], [cell.ops[v] for v in order])


# ---- hash ---------------------------------------------------------------------------------------
def test_all_official_hashes_reproduced_one_by_one():
    assert len(OFFICIAL) == 652
    mismatches = [h for h, cell in OFFICIAL if cell.module_hash() != h]
    assert mismatches == []


def test_vectorised_hash_matches_official_hashes():
    for n in sorted({cell.n_vertices for _, cell in OFFICIAL}):
        group = [(h, c) for h, c in OFFICIAL if c.n_vertices == n]
        matrices = np.stack([c.matrix for _, c in group])
        labels = np.stack([hash_labels(c.op_codes()) for _, c in group])
        assert hex_strings(module_hashes(matrices, labels)).tolist() == [h for h, _ in group]


def test_hash_is_invariant_to_relabelling_and_dangling_vertices():
    rng = np.random.default_rng(0)
    changed = 0
    for official_hash, cell in OFFICIAL:
        relabelled = _random_topological_relabelling(cell, rng)
        changed += relabelled != cell
        assert relabelled.module_hash() == official_hash
        assert cell.padded().module_hash() == official_hash
    assert changed > 100  # the relabellings really moved vertices


def test_label_convention_matters():
    # swapping the labels of conv3x3 and conv1x1 must change the hash of a cell that has both
    official_hash, cell = next((h, c) for h, c in OFFICIAL if {0, 1} <= set(hash_labels(c.op_codes()).tolist()))
    labels = hash_labels(cell.op_codes())
    swapped = np.where(labels == 0, 1, np.where(labels == 1, 0, labels))
    assert module_hash_of(cell.matrix, labels) == official_hash
    assert module_hash_of(cell.matrix, swapped) != official_hash


# ---- validity and pruning ---------------------------------------------------------------------
CHAIN = ("input", "conv3x3-bn-relu", "output")


def _chain(n: int) -> np.ndarray:
    return np.eye(n, k=1, dtype=int)


@pytest.mark.parametrize(
    "matrix, ops, message",
    [
        (np.zeros((2, 3)), ("input", "output"), "square"),
        (_chain(3), ("input", "output"), "ops"),
        (_chain(3), ("input", "conv5x5", "output"), "unknown NB101 op 'conv5x5' at vertex 1"),
        (_chain(3), ("conv3x3-bn-relu", "input", "output"), "start with 'input'"),
        (_chain(4), ("input", "output", "maxpool3x3", "output"), "vertex 1"),
        (_chain(3) * 2, CHAIN, "0 or 1"),
        (_chain(3) * 0.5, CHAIN, "got 0.5 at \\[0, 1\\]"),
        (np.array([["0", "1"], ["0", "0"]]), ("input", "output"), "0/1 numbers"),
        (np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0]]), CHAIN, "self-loop at vertex 0"),
        (np.array([[0, 1, 0], [0, 0, 1], [0, 1, 0]]), CHAIN, "cycle"),
        (np.array([[0, 1, 1], [0, 0, 0], [0, 1, 0]]), CHAIN, "not upper triangular"),
        (np.zeros((1, 1)), ("input",), "at least"),
    ],
)
def test_structural_errors(matrix, ops, message):
    with pytest.raises(InputError, match=message):
        Cell(matrix, ops)


def test_space_limits_and_disconnection():
    with pytest.raises(InputError, match="disconnected"):
        Cell(np.zeros((3, 3)), CHAIN).validate()
    eight = Cell(_chain(8), ("input",) + ("maxpool3x3",) * 6 + ("output",))
    with pytest.raises(InputError, match="8 vertices"):
        eight.module_hash()
    dense = np.triu(np.ones((7, 7), dtype=int), k=1)  # 21 edges, all on input->output paths
    with pytest.raises(InputError, match="21 edges"):
        Cell(dense, ("input",) + ("conv1x1-bn-relu",) * 5 + ("output",)).validate()
    assert not Cell(dense, ("input",) + ("conv1x1-bn-relu",) * 5 + ("output",)).is_valid()


def test_pruning_removes_vertices_off_input_output_paths():
    matrix = np.zeros((7, 7), dtype=int)
    for src, dst in [(0, 1), (1, 6), (0, 2), (2, 3), (4, 6), (0, 5)]:
        matrix[src, dst] = 1
    # 3 is a dead end (no path to output), 4 is unreachable from input, 5 is a dead end
    ops = ("input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "maxpool3x3", "conv1x1-bn-relu", "output")
    pruned = Cell(matrix, ops).validate()
    assert pruned.ops == ("input", "conv3x3-bn-relu", "output")
    assert np.array_equal(pruned.matrix, _chain(3))
    # more than 9 edges before pruning is fine when pruning brings it within the limit
    matrix[2:6, 2:6] = np.triu(np.ones((4, 4), dtype=int), k=1)
    matrix[0, 3] = matrix[0, 4] = 1
    assert matrix.sum() > 9 and Cell(matrix, ops).is_valid()


def test_cell_value_semantics():
    a = Cell(_chain(3), CHAIN)
    b = Cell(_chain(3).tolist(), list(CHAIN))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(ValueError):
        a.matrix[0, 1] = 0


# ---- sampling and mutation --------------------------------------------------------------------
def test_sampling_and_mutation_are_valid_and_deterministic():
    def run(seed):
        rng = np.random.default_rng(seed)
        cells = [random_cell(rng) for _ in range(20)]
        children = [mutate_cell(c, rng) for c in cells]
        return cells, children

    cells, children = run(7)
    again_cells, again_children = run(7)
    assert cells == again_cells and children == again_children
    assert run(8)[0] != cells
    assert all(c.is_valid() and c.n_vertices == 7 for c in cells + children)
    assert sum(p.module_hash() != c.module_hash() for p, c in zip(cells, children)) >= 10


def test_mutation_can_grow_a_small_cell():
    rng = np.random.default_rng(3)
    smallest = Cell(_chain(2), ("input", "output"))
    sizes = {mutate_cell(smallest, rng, rate=3.0).validate().n_vertices for _ in range(30)}
    assert max(sizes) > 2
    with pytest.raises(InputError, match="mutation rate"):
        mutate_cell(smallest, rng, rate=0.0)


# ---- encodings --------------------------------------------------------------------------------
def test_arch2vec_and_flat_encodings():
    matrix = np.zeros((5, 5), dtype=int)
    for src, dst in [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (0, 4)]:
        matrix[src, dst] = 1
    ops = ("input", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "output")
    cell = Cell(matrix, ops)
    adjacency, op_codes = padded_arrays([cell])
    assert adjacency.shape == (1, 7, 7) and op_codes.tolist() == [[0, 2, 3, 1, 4, PAD, PAD]]
    adj, onehot = arch2vec_encoding(adjacency, op_codes)
    assert adj.dtype == np.float32 and onehot.shape == (1, 7, 5)
    assert np.array_equal(adj[0, :5, :5], matrix) and not adj[0, 5:].any() and not adj[0, :, 5:].any()
    assert [ARCH2VEC_OPS[i] for i in onehot[0, :5].argmax(1)] == list(ops)  # output stays at row n - 1
    assert onehot[0, :5].sum() == 5 and not onehot[0, 5:].any()
    flat = flat_encoding(adjacency, op_codes)
    assert flat.shape == (1, FLAT_DIM) == (1, 56)
    iu = np.triu_indices(7, k=1)
    assert np.array_equal(flat[0, :21], adj[0][iu]) and np.array_equal(flat[0, 21:], onehot[0].ravel())
    assert cell_from_arch2vec(adj[0], onehot[0]) == cell
    assert Cell.from_padded_arrays(adjacency[0], op_codes[0]) == cell


def test_padded_array_errors():
    adjacency, op_codes = padded_arrays([Cell(_chain(3), CHAIN)])
    with pytest.raises(InputError, match="shapes"):
        Cell.from_padded_arrays(adjacency[0, :6], op_codes[0])
    bad = adjacency[0].copy()
    bad[2, 5] = 1
    with pytest.raises(InputError, match="no edges"):
        Cell.from_padded_arrays(bad, op_codes[0])
    with pytest.raises(InputError, match="no output"):
        cell_from_arch2vec(np.zeros((7, 7)), np.eye(5)[[0, 1, 1, 1, 1, 1, 1]])


# ---- enumeration ------------------------------------------------------------------------------
def _reference_enumeration(max_vertices: int, max_edges: int) -> dict[str, tuple[int, int, tuple]]:
    """The official generator, literally: every bit pattern, every labelling, keep the first per hash."""
    buckets = {}
    for n in range(2, max_vertices + 1):
        for bits in range(2 ** (n * (n - 1) // 2)):
            matrix = np.zeros((n, n), dtype=int)
            for dst in range(n):
                for src in range(dst):
                    matrix[src, dst] = (bits >> (src + dst * (dst - 1) // 2)) & 1
            full = matrix[:-1].any(1).all() and matrix[:, 1:].any(0).all()
            if not full or matrix.sum() > max_edges:
                continue
            for code, labeling in enumerate(itertools.product(range(3), repeat=n - 2)):
                key = module_hash_of(matrix, [-1, *labeling, -2])
                buckets.setdefault(key, (n, bits, code))
    return buckets


@pytest.mark.parametrize("max_edges, workers", [(9, 1), (5, 2)])
def test_vectorised_enumeration_matches_reference_on_small_space(max_edges, workers):
    reference = _reference_enumeration(5, max_edges)
    table = enumerate_space(max_vertices=5, max_edges=max_edges, options=ExecutorOptions(workers=workers), progress=False)
    assert len(table) == len(reference) and list(table.hashes) == sorted(reference)
    got = {h: (int(n), int(b), int(c)) for h, n, b, c in zip(table.hashes, table.n_vertices, table.bits, table.labeling)}
    assert got == reference  # same representative the official generator keeps


def test_shipped_space_file(space_table):
    assert DEFAULT_PATH.stat().st_size < 8_000_000
    table = space_table
    assert len(table) == N_CELLS
    assert (table.hashes[1:] > table.hashes[:-1]).all()  # sorted and therefore unique
    rows = table.indices_of([h for h, _ in OFFICIAL])
    assert [table.cell(r) for r in rows[:50]] == [c for _, c in OFFICIAL[:50]]  # the official specs
    adjacency, op_codes = table.padded_arrays(rows)
    official_adjacency, official_codes = padded_arrays([c for _, c in OFFICIAL])
    assert np.array_equal(adjacency, official_adjacency) and np.array_equal(op_codes, official_codes)
    sample = np.random.default_rng(0).choice(N_CELLS, size=100, replace=False)
    assert [table.cell(r).module_hash() for r in sample] == table.hashes[sample].tolist()
    assert table.n_vertices.max() == 7 and table.n_vertices.min() == 2
    with pytest.raises(InputError, match="not the module hash"):
        table.index_of("0" * 32)


def test_space_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_space(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="corrupt"):
        load_space(corrupt)


def test_enumerate_cli_rejects_bad_workers(tmp_path, capsys):
    out = tmp_path / "space.npz"
    with pytest.raises(SystemExit) as exc:
        enumerate_main(["--out", str(out), "--workers", "0"])
    assert exc.value.code == 2 and not out.exists()
    assert capsys.readouterr().err.startswith("error: --workers")


# ---- the space seen by search methods -----------------------------------------------------------
def test_nb101_space_interface(space_table):
    space = NB101Space(table=space_table)
    rng = np.random.default_rng(0)
    keys = space.sample(rng, size=5)
    assert np.array_equal(keys, NB101Space(table=space_table).sample(np.random.default_rng(0), size=5))
    for key in keys.tolist():
        assert space.from_string(space.to_string(key)) == key
        assert space.key_of_cell(space.cell(key)) == key
    children = [space.mutate(k, np.random.default_rng(k)) for k in keys.tolist()]
    assert children == [space.mutate(k, np.random.default_rng(k)) for k in keys.tolist()]
    assert children != keys.tolist() and all(0 <= c < len(space) for c in children)
    neighbours = space.neighbours(int(keys[0]))
    assert 0 < len(neighbours) <= 31 and int(keys[0]) not in neighbours
    adjacency, ops = space.graphs(keys)
    assert adjacency.shape == (5, 7, 7) and ops.shape == (5, 7, 5)
    assert space.decode(ops.argmax(-1), adjacency).tolist() == keys.tolist()
    no_output = ops.argmax(-1)
    no_output[no_output == len(space.node_types) - 1] = 1
    assert (space.decode(no_output, adjacency) == -1).all()
    assert space.onehot(keys).shape == (5, 56)
    assert NB101Space().table is space_table  # loaded once per process


def test_nb101_space_restricted_to_a_table(space_table):
    full = NB101Space(table=space_table)
    hashes = [full.to_string(k) for k in (400_000, 3, 10)]
    space = NB101Space.restricted_to(hashes, table=full.table)
    assert len(space) == 3 and space.keys().tolist() == [0, 1, 2] and not space.complete
    assert [space.to_string(k) for k in space.keys()] == sorted(hashes)  # rows in hash order
    rng = np.random.default_rng(1)
    assert {space.sample(rng) for _ in range(30)} <= {0, 1, 2}
    assert space.mutate(0, rng) in {1, 2} or len(space.neighbours(0)) == 0
    adjacency, ops = space.graphs([1])
    assert space.decode(ops.argmax(-1), adjacency).tolist() == [1]
    adjacency, ops = full.graphs([5])  # a valid cell this sub-space does not hold
    assert space.decode(ops.argmax(-1), adjacency).tolist() == [-1]
    with pytest.raises(InputError, match="1 of 1 hashes are not the module hash"):
        NB101Space.restricted_to(["0" * 32], table=full.table)


def test_nb101_embedded_table_is_the_default_search():
    from preprocessing import spaces

    setup = spaces.load_search("nb101")
    assert len(setup.space) == 30_001 and setup.datasets == ("cifar10",)
    metrics = setup.benchmark.metrics("cifar10")
    assert np.isnan(metrics.test_mean).all()  # the 30k file has no test accuracy
    assert abs(np.nanmax(metrics.valid_mean) - 94.91) < 0.01 and np.all(metrics.train_time_s > 0)
    keys = setup.space.sample(np.random.default_rng(0), size=3)
    assert [setup.benchmark.arch_strings[k] for k in keys] == [setup.space.to_string(k) for k in keys]
    assert set(metrics.extra) == {"valid_e4", "valid_e12", "valid_e36"}
