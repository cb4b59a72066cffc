import re

import numpy as np
import pytest

from preprocessing import nasbench201 as nb
from preprocessing.errors import InputError
from preprocessing.nb201_table import load_embedded

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_all_strings_round_trip_through_index():
    strings = nb.arch_strings()
    assert len(set(strings)) == nb.N_ARCHS
    for index, s in enumerate(strings):
        assert nb.arch_string(nb.parse_arch_string(s)) == s
        assert nb.index_of_string(s) == index


def test_example_string_and_table_agree():
    bench = load_embedded()
    index = nb.index_of_string(EXAMPLE)
    assert bench.arch_strings[index] == EXAMPLE
    assert nb.string_of_index(index) == EXAMPLE


def test_embedded_table_maxima_match_published_optima():
    bench = load_embedded()
    expected = {"cifar10": (91.61, 94.37), "cifar100": (73.49, 73.51), "ImageNet16-120": (46.73, 47.31)}
    for dataset, (valid, test) in expected.items():
        metrics = bench.metrics(dataset)
        assert round(metrics.valid_mean.max(), 2) == valid
        assert round(metrics.test_mean.max(), 2) == test
    c10 = bench.metrics("cifar10")
    assert int(np.argmax(c10.valid_mean)) == 6111
    assert np.all(c10.n_seeds >= 2)
    assert np.allclose(np.nanmean(c10.valid_seeds, axis=1), c10.valid_mean, atol=1e-6)


@pytest.mark.parametrize("bad, fragment", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 '+'-separated"),
    (EXAMPLE.replace("skip_connect", "conv_7x7"), "unknown NB201 op 'conv_7x7'"),
    (EXAMPLE.replace("~2|", "~1|"), "bad edge"),
    (EXAMPLE.replace("|+|skip", "+|skip"), "wrapped in '|'"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", "needs 2 inputs"),
])
def test_malformed_strings_raise_clear_errors(bad, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        nb.parse_arch_string(bad)


def test_onehot_and_graph_encodings():
    space = nb.NB201Space()
    key = nb.index_of_string(EXAMPLE)
    onehot = space.onehot([key])[0].reshape(6, 5)
    assert onehot.sum() == 6
    assert [nb.OPS[i] for i in onehot.argmax(1)] == list(nb.parse_arch_string(EXAMPLE))
    adj, ops = space.graphs([key, 0])
    assert adj.shape == (2, 8, 8) and ops.shape == (2, 8, 7)
    assert np.all(np.triu(adj[0], 1) == adj[0])  # a DAG in topological order
    assert adj[0].sum(0)[0] == 0 and adj[0].sum(1)[-1] == 0  # input has no parents, output no children
    assert space.decode(ops.argmax(-1), adj).tolist() == [key, 0]
    rewired = adj.copy()
    rewired[0, 0, -1] = 1  # an edge the NB201 wiring does not have
    assert space.decode(ops.argmax(-1), rewired).tolist() == [-1, 0]
    # edge 3<-1 reads both edges that end in node 1... i.e. only edge 1<-0 (node 1)
    assert adj[0][1, 5] == 1 and adj[0][:, 5].sum() == 1


def test_mutation_changes_exactly_one_op_and_sampling_is_seeded():
    space = nb.NB201Space()
    rng = np.random.default_rng(0)
    for key in space.sample(rng, 50):
        child = space.mutate(int(key), rng)
        assert (space.op_codes[child] != space.op_codes[key]).sum() == 1
    assert len(space.neighbours(0)) == 24
    a = space.sample(np.random.default_rng(3), 10)
    b = space.sample(np.random.default_rng(3), 10)
    assert np.array_equal(a, b)


def test_allowed_mask_restricts_sampling_and_mutation():
    allowed = np.zeros(nb.N_ARCHS, dtype=bool)
    allowed[[0, *nb.NB201Space().neighbours(0)[:3]]] = True
    space = nb.NB201Space(allowed=allowed)
    rng = np.random.default_rng(1)
    assert set(space.sample(rng, 100).tolist()) <= set(np.flatnonzero(allowed).tolist())
    assert set(space.neighbours(0).tolist()) <= set(np.flatnonzero(allowed).tolist())
    assert len(space) == 4
