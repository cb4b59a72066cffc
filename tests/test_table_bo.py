import argparse

import numpy as np
import pytest

from preprocessing.benchmark_table import Benchmark, MetricTable
from preprocessing.errors import InputError
from search_methods import queries_to_optimum, run, table_bo
from search_methods.oracle import BudgetExhausted, Oracle

EDGES, OPS = 4, 4


class GridSpace:
    """A generic space of EDGES categorical edges with OPS ops each (keys 0..OPS**EDGES-1)."""

    def __init__(self):
        self.codes = np.array(np.unravel_index(np.arange(OPS ** EDGES), (OPS,) * EDGES)).T

    def __len__(self):
        return len(self.codes)

    def keys(self):
        return np.arange(len(self.codes))

    def onehot(self, keys=None):
        codes = self.codes if keys is None else self.codes[np.asarray(keys)]
        return np.eye(OPS, dtype=np.float32)[codes].reshape(len(codes), -1)

    def neighbours(self, key):
        variants = np.repeat(self.codes[key][None], EDGES * OPS, axis=0)
        variants[np.arange(EDGES * OPS), np.repeat(np.arange(EDGES), OPS)] = np.tile(np.arange(OPS), EDGES)
        keys = np.ravel_multi_index(variants.T, (OPS,) * EDGES)
        return keys[keys != key]


def grid_benchmark(seed=0):
    """Additive op effects plus a pairwise interaction and noise: one clear optimum."""
    rng = np.random.default_rng(seed)
    space = GridSpace()
    valid = space.onehot() @ rng.normal(size=EDGES * OPS) + 0.5 * (space.codes[:, 0] == space.codes[:, 1])
    valid += 0.05 * rng.normal(size=len(valid))
    metrics = MetricTable(valid_mean=valid, test_mean=valid, train_time_s=np.ones(len(valid)),
                          valid_seeds=np.stack([valid] * 3, axis=1))
    return Benchmark(space="toy", arch_strings=[str(i) for i in range(len(valid))], datasets={"d": metrics}), space


def method_args(*extra):
    parser = argparse.ArgumentParser()
    table_bo.add_arguments(parser)
    args = parser.parse_args(list(extra))
    args.method = "table_bo"
    return args


def run_until(bench, space, seed, args, target=None, max_queries=256):
    oracle = Oracle(bench, "d", max_queries=max_queries, to_string=str)
    if target is not None:
        oracle = queries_to_optimum.TargetOracle(oracle, target)
    try:
        table_bo.search(space, oracle, np.random.default_rng(seed), args, None)
    except BudgetExhausted:
        pass
    return oracle


def test_incremental_gp_matches_a_direct_solve():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 3))
    gp = table_bo.IncrementalGP(features, theta=0.7, noise=1e-2, capacity=2)  # grows past its capacity
    observed = [3, 17, 8, 41, 22]
    for p in observed:
        gp.add(p)
    targets = rng.normal(size=len(observed))
    mean, std = gp.posterior(targets, with_std=True)
    sq = ((features[:, None] - features[None]) ** 2).sum(-1)
    kernel = np.exp(-0.35 * sq)
    k_obs = kernel[np.ix_(observed, observed)] + 1e-2 * np.eye(len(observed))
    np.testing.assert_allclose(mean, kernel[:, observed] @ np.linalg.solve(k_obs, targets), atol=1e-9)
    var = 1 - np.einsum("ij,ji->i", kernel[:, observed], np.linalg.solve(k_obs, kernel[observed]))
    np.testing.assert_allclose(std, np.sqrt(np.maximum(var, 1e-12)), atol=1e-9)


def test_rank_scores_are_monotone_and_centred():
    scores = table_bo.rank_scores(np.array([5.0, -100.0, 7.0, 6.0]))
    assert list(np.argsort(scores)) == [1, 0, 3, 2]
    assert abs(scores.sum()) < 1e-12


@pytest.mark.parametrize("extra", [[], ["--acquisition", "ei", "--local-top", "0"],
                                   ["--acquisition", "ucb", "--local-max", "3", "--batch", "2"]])
def test_budget_respected_and_deterministic(extra):
    bench, space = grid_benchmark()
    args = method_args("--init-samples", "5", *extra)
    first = run_until(bench, space, 3, args, max_queries=40)
    again = run_until(bench, space, 3, args, max_queries=40)
    assert first.n_queries == 40 and first.n_requeries == 0  # never pays for a cell twice
    assert [t["arch"] for t in first.trajectory] == [t["arch"] for t in again.trajectory]
    other = run_until(bench, space, 4, args, max_queries=40)
    assert [t["arch"] for t in first.trajectory] != [t["arch"] for t in other.trajectory]


def test_finds_the_optimum_of_a_small_table_quickly():
    bench, space = grid_benchmark()
    target = int(np.argmax(bench.metrics("d").valid_mean))
    found = [run_until(bench, space, seed, method_args(), target=target).found_at for seed in range(10)]
    assert all(f is not None for f in found)
    # Random search needs (256 + 1) / 2 = 128.5 queries on average here.
    assert np.mean(found) < 40


def test_local_phase_walks_to_a_better_neighbour_first():
    bench, space = grid_benchmark()
    args = method_args("--init-samples", "3")
    oracle = Oracle(bench, "d", max_queries=4, to_string=str)
    try:
        table_bo.search(space, oracle, np.random.default_rng(0), args, None)
    except BudgetExhausted:
        pass
    keys, values = oracle.history()
    incumbent = keys[:3][np.argmax(values[:3])]
    assert keys[3] in space.neighbours(int(incumbent))


def test_bad_flags_fail_with_input_error():
    for extra in (["--batch", "0"], ["--theta", "0"], ["--local-top", "-1"], ["--kappa", "-1"]):
        with pytest.raises(InputError):
            table_bo.check_args(method_args(*extra))


def test_runs_under_the_protocol_runner(tmp_path):
    logs = run.run_grid(*run.parse_args(["--method", "table_bo", "--datasets", "cifar10", "--seeds", "2",
                                         "--queries", "20", "--workers", "1", "--out", str(tmp_path), "--quiet"]))
    assert len(logs) == 2 and all(log["n_queries"] == 20 for log in logs)


def test_similar_ops_make_a_convolution_swap_a_fraction_of_an_edit():
    from preprocessing.nasbench201 import NB201Space, index_of_ops

    space = NB201Space()
    base = ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1")
    conv_swap = base[:5] + ("nor_conv_3x3",)
    to_pool = base[:5] + ("avg_pool_3x3",)
    two_swaps = ("nor_conv_1x1",) + base[1:5] + ("nor_conv_3x3",)
    keys = [index_of_ops(c) for c in (base, conv_swap, to_pool, two_swaps)]
    positions = np.searchsorted(space.keys(), keys)

    def distances(features):
        x = features[positions].astype(np.float64)
        return ((x[1:] - x[0]) ** 2).sum(1) / 2

    np.testing.assert_allclose(distances(table_bo.kernel_features(space)), [1, 1, 2])
    similar = table_bo.kernel_features(space, ["nor_conv_1x1", "nor_conv_3x3"], 0.25)
    np.testing.assert_allclose(distances(similar), [0.25, 1, 0.5], atol=1e-6)
    with pytest.raises(InputError, match="not an op"):
        table_bo.kernel_features(space, ["nor_conv_1x1", "conv5x5"], 0.25)


def test_similar_ops_flags_are_checked():
    for extra in (["--similar-cost", "0"], ["--similar-cost", "1.5"], ["--similar-ops", "a", "a"]):
        with pytest.raises(InputError):
            table_bo.check_args(method_args(*extra))


def test_product_prior_samples_have_the_kernel_as_covariance_and_matheron_fits_the_answers():
    from preprocessing.nasbench201 import NB201Space

    space = NB201Space()
    theta = 0.3
    prior = table_bo.ProductPrior(space, theta, table_bo.op_embedding(space))
    rng = np.random.default_rng(0)
    samples = np.stack([prior.sample(rng) for _ in range(3000)])
    cells = [0, 1, 7, 777, 15624]
    features = space.onehot()[cells].astype(np.float64)
    edits = ((features[:, None] - features[None]) ** 2).sum(-1) / 2
    np.testing.assert_allclose(np.cov(samples[:, cells].T), np.exp(-theta * edits), atol=0.08)

    gp = table_bo.IncrementalGP(space.onehot(), theta, noise=1e-4, capacity=8)
    observed = [3, 500, 9000, 15000]
    for p in observed:
        gp.add(p)
    targets = np.array([1.0, -1.0, 0.5, 2.0])
    posterior = np.stack([gp.posterior_sample(targets, prior.sample(rng), rng) for _ in range(200)])
    np.testing.assert_allclose(posterior[:, observed], np.broadcast_to(targets, (200, 4)), atol=0.06)
    mean, _ = gp.posterior(targets, with_std=False)
    assert np.abs(posterior.mean(0) - mean).max() < 0.3  # 200 draws: the sample mean is the posterior mean


def test_escape_queries_a_thompson_sample_after_stagnation():
    from preprocessing.nasbench201 import NB201Space

    bench = Benchmark(space="nb201", arch_strings=list(map(str, range(15625))),
                      datasets={"d": MetricTable(valid_mean=-np.arange(15625.0), test_mean=np.zeros(15625),
                                                 train_time_s=np.ones(15625), valid_seeds=np.zeros((15625, 3)))})
    runs = []
    for escape in ("2", "2", "0"):
        args = method_args("--init-samples", "3", "--escape", escape)
        oracle = Oracle(bench, "d", max_queries=30, to_string=str)
        try:
            table_bo.search(NB201Space(), oracle, np.random.default_rng(5), args, None)
        except BudgetExhausted:
            pass
        runs.append(oracle)
    assert [t["arch"] for t in runs[0].trajectory] == [t["arch"] for t in runs[1].trajectory]
    assert runs[0].n_queries == 30 and runs[0].n_requeries == 0
    assert [t["arch"] for t in runs[0].trajectory] != [t["arch"] for t in runs[2].trajectory]  # it did escape
    with pytest.raises(InputError, match="differ only in node ops"):
        class Rewired(GridSpace):
            name, node_types, cells_per_arch = "rewired", ("in", "a", "out"), 1

            def graphs(self):
                adj = np.zeros((len(self), 3, 3), dtype=np.float32)
                adj[1:, 0, 1] = 1
                return adj, np.eye(3, dtype=np.float32)[np.zeros((len(self), 3), dtype=int)]
        table_bo.ProductPrior(Rewired(), 0.3, np.eye(3))


def test_escape_and_similar_ops_refuse_in_the_parent(tmp_path):
    common = ["--method", "table_bo", "--datasets", "cifar10", "--seeds", "1", "--queries", "5", "--workers", "1",
              "--out", str(tmp_path), "--quiet"]
    with pytest.raises(InputError, match="not an op"):
        run.run_grid(*run.parse_args(common + ["--similar-ops", "nor_conv_1x1", "conv5x5"]))
    assert not list(tmp_path.rglob("*.json"))
