"""DARTS cell space: strings, graphs, canonical hashes, sampling, and the graph-file CLI."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from darts.genotypes import GENOTYPES
from preprocessing import darts_space as ds
from preprocessing import gen_isomorphism_graphs
from preprocessing.errors import InputError

CELL = (("sep_conv_3x3", 0), ("dil_conv_3x3", 1), ("max_pool_3x3", 0), ("sep_conv_5x5", 2),
        ("skip_connect", 2), ("avg_pool_3x3", 3), ("dil_conv_5x5", 1), ("sep_conv_3x3", 4))


def _genotype(normal=CELL, reduce=CELL):
    return ds.Genotype(normal, [2, 3, 4, 5], reduce, [2, 3, 4, 5])


# ----------------------------------------------------------------------------- strings

@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_published_genotypes_round_trip_through_strings(name):
    g = ds.validate_genotype(GENOTYPES[name])
    text = ds.genotype_to_string(g)
    assert ds.genotype_from_string(text) == g
    assert ds.genotype_to_string(ds.genotype_from_string(text)) == text


def test_sampled_genotypes_round_trip():
    for g in ds.sample_unique_genotypes(50, np.random.default_rng(3)):
        assert ds.genotype_from_string(ds.genotype_to_string(g)) == ds.validate_genotype(g)


def test_string_is_the_darts_repr_and_other_spellings_parse():
    g = ds.validate_genotype(_genotype())
    text = ds.genotype_to_string(g)
    assert text.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('dil_conv_3x3', 1),")
    assert "normal_concat=[2, 3, 4, 5]" in text
    assert ds.genotype_from_string(text.replace("[2, 3, 4, 5]", "range(2, 6)")) == g
    nested = [[CELL[2 * i], CELL[2 * i + 1]] for i in range(4)]
    assert ds.genotype_from_string(f"Genotype(normal={nested}, normal_concat=range(2, 6), "
                                   f"reduce={nested}, reduce_concat=range(2, 6))") == g
    positional = f"Genotype({list(CELL)}, [2, 3, 4, 5], {list(CELL)}, [2, 3, 4, 5])"
    assert ds.genotype_from_string(positional) == g


@pytest.mark.parametrize("text, fragment", [
    ("Genotype(normal=[", "syntax"),
    ("Foo(normal=[], normal_concat=[], reduce=[], reduce_concat=[])", "expected 'Genotype("),
    ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5])", "missing field"),
    ("Genotype(normal=x, normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])", "not a literal"),
    ("Genotype(normal=[], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5], extra=1)", "extra"),
])
def test_malformed_strings_are_rejected(text, fragment):
    with pytest.raises(InputError, match="malformed genotype string") as info:
        ds.genotype_from_string(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("cell, fragment", [
    (CELL[:6], "has 6 (op, input) pairs"),
    (CELL[:7] + (("conv_7x1_1x7", 0),), "unknown DARTS op 'conv_7x1_1x7'"),
    (CELL[:7] + (("sep_conv_3x3", 6),), "reads state 6, out of range"),
    ((("sep_conv_3x3", 2),) + CELL[1:], "reads state 2, out of range"),
    (CELL[:2] + (("skip_connect", 2), ("sep_conv_3x3", 2)) + CELL[4:], "reads state 2 twice"),
    (CELL[:7] + (("sep_conv_3x3", "1"),), "must be an integer"),
    (CELL[:7] + (("sep_conv_3x3",),), "must be an (op, input) pair"),
    (CELL[:7] + (("none", 0),), "unknown DARTS op 'none'"),
])
def test_invalid_cells_are_rejected_with_the_problem_named(cell, fragment):
    with pytest.raises(InputError) as info:
        ds.genotype_to_string(_genotype(normal=cell))
    assert fragment in str(info.value)


def test_shared_cell_genotype_matches_the_arch2vec_genotypes():
    for name in ("arch2vec_rl", "arch2vec_bo"):
        g = ds.validate_genotype(GENOTYPES[name])
        assert ds.shared_cell_genotype(g.normal) == g


def test_wrong_concat_is_rejected():
    with pytest.raises(InputError, match="normal_concat must be"):
        ds.validate_genotype(ds.Genotype(CELL, [2, 3, 4], CELL, [2, 3, 4, 5]))


# ----------------------------------------------------------------------------- graphs

def test_graph_follows_the_arch2vec_layout():
    adj, labels = ds.cell_to_graph(CELL)
    assert adj.shape == (11, 11) and labels.shape == (11,)
    assert [ds.NODE_TYPES[t] for t in labels] == ["c_k-2", "c_k-1"] + [op for op, _ in CELL] + ["output"]
    assert np.all(np.triu(adj, 1) == adj)
    assert adj[0, 2] == 1 and adj[1, 3] == 1  # node 0 reads the two inputs
    assert adj[2, 5] == 1 and adj[3, 5] == 1 and adj[:, 5].sum() == 2  # ('sep_conv_5x5', 2): both ops of node 0
    assert np.all(adj[2:10, 10] == 1) and adj[:, 10].sum() == 8
    onehot = ds.labels_to_onehot(labels)
    assert onehot.shape == (11, 11) and np.all(onehot.sum(axis=1) == 1)


def test_graph_round_trip_and_vectorised_encoding_agree():
    cells = ds.sample_cells(300, np.random.default_rng(1))
    adj, labels = ds.array_to_graphs(ds.cells_to_array(cells))
    for cell, a, l in zip(cells, adj, labels):
        assert ds.graph_to_cell(a, l) == cell
        assert ds.graph_to_cell(a, ds.labels_to_onehot(l)) == cell
    assert ds.array_to_cells(ds.cells_to_array(cells)) == cells


def test_graph_to_cell_rejects_non_cell_graphs():
    adj, labels = ds.cell_to_graph(CELL)
    broken = adj.copy()
    broken[1, 4] = 1  # op node 4 already reads c_{k-2}; a second input is not a cell
    with pytest.raises(InputError, match="predecessors"):
        ds.graph_to_cell(broken, labels)
    no_output = adj.copy()
    no_output[2, 10] = 0
    with pytest.raises(InputError, match="not an arch2vec DARTS cell encoding"):
        ds.graph_to_cell(no_output, labels)
    with pytest.raises(InputError, match="must be 11x11"):
        ds.graph_to_cell(adj[:10, :10], labels)
    bad_labels = labels.copy()
    bad_labels[4] = ds.NODE_TYPES.index("none")
    with pytest.raises(InputError, match="not one of the 7 DARTS ops"):
        ds.graph_to_cell(adj, bad_labels)


# ----------------------------------------------------------------------------- canonical hash

def _swap_node_inputs(cell, node):
    cell = list(cell)
    cell[2 * node], cell[2 * node + 1] = cell[2 * node + 1], cell[2 * node]
    return tuple(cell)


def _relabel(cell, order):
    """Renumber intermediate nodes: new node i is old node order[i]; None when not topological."""
    new_state = {0: 0, 1: 1, **{old + 2: new + 2 for new, old in enumerate(order)}}
    out = []
    for old in order:
        for op, src in cell[2 * old:2 * old + 2]:
            if new_state[src] >= new_state[old + 2]:
                return None
            out.append((op, new_state[src]))
    return tuple(out)


def _brute_force_key(cell):
    """Independent exact canonical form: minimum over every valid renumbering and edge order."""
    best = None
    for order in itertools.permutations(range(4)):
        relabelled = _relabel(cell, order)
        if relabelled is None:
            continue
        key = tuple(tuple(sorted(relabelled[2 * i:2 * i + 2], key=lambda p: (p[1], p[0]))) for i in range(4))
        best = key if best is None or key < best else best
    return best


def test_hash_is_invariant_under_input_swaps_and_node_renumbering():
    rng = np.random.default_rng(5)
    for cell in ds.sample_cells(200, rng):
        h = ds.cell_hash(cell)
        assert len(h) == 16
        for node in range(4):
            assert ds.cell_hash(_swap_node_inputs(cell, node)) == h
        for order in itertools.permutations(range(4)):
            relabelled = _relabel(cell, order)
            if relabelled is not None:
                assert ds.cell_hash(relabelled) == h
        canonical = ds.canonical_cell(cell)
        assert ds.cell_hash(canonical) == h and ds.canonical_cell(canonical) == canonical


def test_hash_separates_exactly_the_non_isomorphic_cells():
    # few op kinds and shallow inputs make isomorphic and near-isomorphic pairs common
    rng = np.random.default_rng(11)
    cells = [c for c in ds.sample_cells(3000, rng)
             if all(op in ("skip_connect", "sep_conv_3x3") for op, _ in c)][:400]
    cells += [tuple(("sep_conv_3x3", src) for _, src in c) for c in ds.sample_cells(400, rng)]
    by_hash, by_brute = {}, {}
    for c in cells:
        by_hash.setdefault(ds.cell_hash(c), set()).add(c)
        by_brute.setdefault(_brute_force_key(c), set()).add(c)
    assert sorted(map(sorted, by_hash.values())) == sorted(map(sorted, by_brute.values()))
    assert len(by_hash) < len(set(cells))  # the check above did see isomorphic pairs


def test_genotype_hash_depends_on_both_cells():
    other = _swap_node_inputs(CELL, 0)[:7] + (("sep_conv_5x5", 4),)
    assert ds.genotype_hash(_genotype()) == ds.genotype_hash(_genotype(normal=_swap_node_inputs(CELL, 2)))
    assert ds.genotype_hash(_genotype()) != ds.genotype_hash(_genotype(reduce=other))
    assert ds.genotype_hash(_genotype()) != ds.genotype_hash(_genotype(normal=other))


# ----------------------------------------------------------------------------- sampling

def test_unique_sampling_is_unique_valid_and_seeded():
    cells, hashes = ds.sample_unique_cells(2000, np.random.default_rng(7), batch_size=512)
    assert len(cells) == 2000 and len(set(hashes)) == 2000
    assert [ds.cell_hash(c) for c in cells] == hashes
    for c in cells[:100]:
        assert ds.validate_cell(c) == c
    again, _ = ds.sample_unique_cells(2000, np.random.default_rng(7), batch_size=512)
    assert again == cells
    other, _ = ds.sample_unique_cells(2000, np.random.default_rng(8), batch_size=512)
    assert other != cells
    assert ds.sample_unique_cells(0, np.random.default_rng(7)) == ([], [])


def test_sampler_covers_ops_and_inputs_uniformly():
    codes = ds.cells_to_array(ds.sample_cells(7000, np.random.default_rng(0)))
    op_counts = np.bincount(codes[:, :, 0].ravel(), minlength=7)
    assert op_counts.min() > 0.9 * op_counts.mean()
    last_node_inputs = np.bincount(codes[:, 6:, 1].ravel(), minlength=5)  # node 3 reads states 0..4
    assert last_node_inputs.shape == (5,)
    assert last_node_inputs.min() > 0.85 * last_node_inputs.mean()


def test_genotype_sampling_is_unique_and_seeded():
    gs = ds.sample_unique_genotypes(100, np.random.default_rng(2))
    assert len({ds.genotype_hash(g) for g in gs}) == 100
    assert gs == ds.sample_unique_genotypes(100, np.random.default_rng(2))


def test_sampling_rejects_bad_arguments():
    with pytest.raises(InputError, match="numpy.random.Generator"):
        ds.sample_unique_cells(3, 0)
    with pytest.raises(InputError, match="non-negative integer"):
        ds.sample_unique_genotypes(-1, np.random.default_rng(0))
    with pytest.raises(InputError, match=r"shape \(N, 8, 2\)"):
        ds.array_to_cells(np.zeros((2, 4, 2)))


# ----------------------------------------------------------------------------- CLI

def test_graph_file_cli_writes_consistent_arrays(tmp_path, capsys):
    out = tmp_path / "graphs.npz"
    gen_isomorphism_graphs.main(["--num", "300", "--seed", "4", "--out", str(out), "--no-progress"])
    data = gen_isomorphism_graphs.load_graph_file(out)
    assert data["cells"].shape == (300, 8, 2) and data["adj"].shape == (300, 11, 11) and data["ops"].shape == (300, 11)
    assert len(set(data["hashes"].tolist())) == 300
    cells = ds.array_to_cells(data["cells"])
    assert [ds.cell_hash(c) for c in cells] == data["hashes"].tolist()
    adj, ops = ds.array_to_graphs(data["cells"])
    assert np.array_equal(adj, data["adj"]) and np.array_equal(ops, data["ops"])
    assert tuple(data["node_types"]) == ds.NODE_TYPES
    expected, _ = ds.sample_unique_cells(300, np.random.default_rng(4))
    assert cells == expected


def test_graph_file_cli_rejects_bad_flags_without_writing(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        gen_isomorphism_graphs.main(["--num", "0", "--out", str(tmp_path / "g.npz")])
    assert info.value.code == 2 and "--num must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gen_isomorphism_graphs.main(["--num", "5", "--out", str(tmp_path / "g.json")])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="not found"):
        gen_isomorphism_graphs.load_graph_file(tmp_path / "missing.npz")


# ----------------------------------------------------------------------------- the space objects (preprocessing.spaces)

def test_cell_codes_are_exact_isomorphism_keys_for_any_cell():
    for cell in ds.sample_cells(100, np.random.default_rng(3)):
        code = ds.cell_code(cell)
        assert ds.cell_code(_swap_node_inputs(cell, 2)) == code
        assert ds.code_to_cell(code) == ds.canonical_cell(cell)
        assert (ds.cell_code(cell) == ds.cell_code(CELL)) == (ds.cell_hash(cell) == ds.cell_hash(CELL))
    canonical = ds.canonical_cell(CELL)
    swapped = _swap_node_inputs(canonical, 3)  # the same cell with its edges in another order
    raw_code = int(np.dot([op * 5 + src for op, src in ds.cells_to_array([swapped])[0].tolist()], ds._PLACES))
    assert raw_code != ds.cell_code(swapped)
    with pytest.raises(InputError, match="not the code of a canonical"):
        ds.code_to_cell(raw_code)
    with pytest.raises(InputError, match="codes lie in"):
        ds.codes_to_array([-3])


def test_cell_space_pool_is_seeded_and_its_codec_covers_every_cell():
    space = ds.DartsCellSpace(200, seed=4)
    keys = space.keys()
    assert len(space) == 200 and len(np.unique(keys)) == 200 and np.array_equal(keys, np.sort(keys))
    assert np.array_equal(ds.DartsCellSpace(200, seed=4).keys(), keys)
    assert not np.array_equal(ds.DartsCellSpace(200, seed=5).keys(), keys)
    key = int(keys[7])
    assert space.from_string(space.to_string(key)) == key
    neighbours = space.neighbours(key)
    assert key not in neighbours and len(neighbours) > 0
    cell = ds.code_to_cell(key)
    edits = ds.one_edit_cells(cell)
    assert len(edits) == 8 * 6 + 2 * (0 + 1 + 2 + 3)  # 6 other ops per edge; node k's edges have k other inputs
    assert all(sum(a != b for a, b in zip(e, cell)) == 1 and ds.validate_cell(e) == e for e in edits)
    assert neighbours.tolist() == sorted({ds.cell_code(e) for e in edits} - {key})
    flat = space.onehot(keys[:5])
    assert flat.shape == (5, ds.FLAT_WIDTH) and np.all(flat.sum(1) == 2 * ds.N_EDGES)


def test_genotype_pool_space():
    genotypes = ds.sample_unique_genotypes(30, np.random.default_rng(6))
    space = ds.DartsGenotypeSpace.sampled(30, 6)
    assert len(space) == 30 and np.array_equal(space.keys(), np.arange(30))
    assert [ds.genotype_hash(g) for g in space.genotypes] == [ds.genotype_hash(g) for g in genotypes]
    assert space.from_string(ds.genotype_to_string(genotypes[5])) == 5  # as drawn, not canonical: same key
    with pytest.raises(InputError, match="not in this pool"):
        space.from_string(ds.genotype_to_string(_genotype()))
    adj, ops = space.graphs([5, 6])
    assert adj.shape == (2, 2, 11, 11) and ops.shape == (2, 2, 11, 11) and space.cells_per_arch == 2
    assert space.decode(ops.argmax(-1), adj).tolist() == [5, 6]
    flat = space.onehot([5])
    assert flat.shape == (1, 2 * ds.FLAT_WIDTH)
    cells = ds.DartsCellSpace(1)
    normal, reduce = ds.cell_code(genotypes[5].normal), ds.cell_code(genotypes[5].reduce)
    assert np.array_equal(flat[0], np.concatenate([cells.onehot([normal])[0], cells.onehot([reduce])[0]]))
    distance = lambda a, b: sum(x != y for x, y in zip(space.genotypes[a].normal + space.genotypes[a].reduce,  # noqa: E731
                                                       space.genotypes[b].normal + space.genotypes[b].reduce))
    near = space.neighbours(5)
    assert 5 not in near and len({distance(5, k) for k in near}) == 1
    assert distance(5, near[0]) == min(distance(5, k) for k in range(30) if k != 5)
    assert space.mutate(5, np.random.default_rng(0)) in near


def test_pool_spec():
    assert ds.parse_pool_spec(None)["pool"] == 2000 and ds.parse_pool_spec(None)["epochs"] == 2
    spec = ds.parse_pool_spec("pool=12, epochs=1,lr=0.1")
    assert (spec["pool"], spec["epochs"], spec["lr"], spec["channels"]) == (12, 1, 0.1, 8)
    for bad in ("pool=0", "pool", "nodes=4", "epochs=1.5"):
        with pytest.raises(InputError):
            ds.parse_pool_spec(bad)
