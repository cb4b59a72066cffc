import argparse

import numpy as np
import pytest

from preprocessing.benchmark_table import Benchmark, MetricTable
from preprocessing.errors import InputError
from search_methods import queries_to_optimum, results, run, weaknas
from search_methods.oracle import BudgetExhausted, Oracle


class ToySpace:
    """A generic space: cells 0..n-1 encoded by their binary digits (stands in for NB101 too)."""

    def __init__(self, n=256):
        self.n = n

    def __len__(self):
        return self.n

    def keys(self):
        return np.arange(self.n)

    def onehot(self, keys=None):
        keys = np.arange(self.n) if keys is None else np.asarray(keys)
        return ((keys[:, None] >> np.arange(8)) & 1).astype(np.float32)


def toy_benchmark(n=256, seed=0):
    rng = np.random.default_rng(seed)
    bits = ToySpace(n).onehot()
    valid = bits @ rng.normal(size=8) + 0.1 * rng.normal(size=n)
    metrics = MetricTable(valid_mean=valid, test_mean=valid, train_time_s=np.ones(n),
                          valid_seeds=np.stack([valid, valid, valid], axis=1))
    return Benchmark(space="toy", arch_strings=[str(i) for i in range(n)], datasets={"d": metrics})


def method_args(method="weaknas", *extra):
    parser = argparse.ArgumentParser()
    weaknas.add_arguments(parser)
    args = parser.parse_args(["--hidden", "16", "16", "--train-steps", "20", *extra])
    args.method = method
    return args


class TruthPredictor:
    """Stands in for the MLP: 'predicts' a fixed score per cell (mean) and a fixed spread."""

    def __init__(self, score, spread):
        self.score, self.spread = score, spread
        self.fits = 0

    def fit(self, X, y, seed):
        self.fits += 1
        return self

    def _rows(self, X):
        return (X.astype(np.int64) << np.arange(8)).sum(1)

    def predict(self, X):
        return self.score[self._rows(X)]

    def predict_dist(self, X):
        return self.score[self._rows(X)], self.spread[self._rows(X)]


def test_top_n_schedule_decays_from_start_to_end():
    sched = weaknas.top_n_schedule(20, 1000, 100, 0.96)
    assert len(sched) == 20 and sched[0] == 1000 and sched[-1] == 100
    assert np.all(np.diff(sched) <= 0) and sched[1] < 1000
    np.testing.assert_array_equal(weaknas.top_n_schedule(14, 100, 100, 0.96), np.full(14, 100))
    assert list(weaknas.top_n_schedule(1, 50, 10, 0.9)) == [50]
    with pytest.raises(InputError):
        weaknas.top_n_schedule(5, 100, 10, 1.0)


def test_expected_improvement_prefers_higher_mean_and_more_spread_below_the_incumbent():
    ei = weaknas.expected_improvement(np.array([0.0, 1.0, 0.0, 0.0]), np.array([1.0, 1.0, 2.0, 0.0]), best=0.5)
    assert ei[1] > ei[0] and ei[2] > ei[0] and ei[3] == pytest.approx(0.0, abs=1e-9)
    assert np.all(ei >= 0)
    np.testing.assert_allclose(weaknas.expected_improvement(np.array([2.0]), np.array([1e-9]), best=0.5), [1.5])


def test_uniform_variant_samples_only_unqueried_cells_of_the_predicted_top_n():
    space, bench = ToySpace(), toy_benchmark()
    score = np.random.default_rng(1).normal(size=256)
    oracle = Oracle(bench, "d", max_queries=80)
    run_ = weaknas.WeakNAS(space, oracle, np.random.default_rng(0), method_args("weaknas", "--top-start", "25",
                                                                                 "--top-end", "25"), "uniform")
    run_.predictor = TruthPredictor(score, np.zeros(256))
    run_.run()
    assert oracle.n_queries == 80 and len(run_.iterations) == 8 and run_.predictor.fits == 7
    queried = set(run_.iterations[0].tolist())
    ranked = np.argsort(-score)
    fallbacks = 0
    for batch in run_.iterations[1:]:
        pool = [k for k in ranked[:25] if k not in queried]
        if len(pool) >= 10:  # a uniform draw from the unqueried part of the top-25
            assert set(batch.tolist()) <= set(pool) and len(set(batch.tolist())) == 10
        else:  # the top-25 is used up: the best-ranked unqueried cells
            fallbacks += 1
            assert batch.tolist() == [k for k in ranked if k not in queried][:10]
        queried |= set(batch.tolist())
    assert fallbacks > 0


def test_ei_variant_queries_the_highest_expected_improvement():
    space, bench = ToySpace(), toy_benchmark()
    rng = np.random.default_rng(2)
    mean, spread = rng.normal(size=256), rng.uniform(0.1, 2.0, size=256)
    oracle = Oracle(bench, "d", max_queries=30)
    run_ = weaknas.WeakNAS(space, oracle, np.random.default_rng(0), method_args("weaknas_ei"), "ei")
    run_.predictor = TruthPredictor(mean, spread)
    run_.run()
    queried = set(run_.iterations[0].tolist())
    for batch in run_.iterations[1:]:
        best = max(bench.metrics("d").valid_mean[list(queried)])
        unqueried = np.setdiff1d(np.arange(256), list(queried))
        ei = weaknas.expected_improvement(mean[unqueried], spread[unqueried] / 5.0, best)
        assert set(batch.tolist()) == set(unqueried[np.argsort(-ei)[:10]].tolist())
        queried |= set(batch.tolist())


@pytest.mark.parametrize("method", ["weaknas", "weaknas_ei"])
def test_budget_is_spent_exactly_and_exhaustion_mid_batch_propagates(method):
    space, bench = ToySpace(), toy_benchmark()
    oracle = Oracle(bench, "d", max_queries=35)
    with pytest.raises(BudgetExhausted):
        weaknas.search(space, oracle, np.random.default_rng(0), method_args(method, "--ensemble", "3"), None)
    keys, _ = oracle.history()
    assert oracle.n_queries == 35 and len(set(keys.tolist())) == 35 and oracle.n_requeries == 0


def test_large_space_scores_a_sample_of_the_unqueried_cells():
    space, bench = ToySpace(), toy_benchmark()
    oracle = Oracle(bench, "d", max_queries=40)
    run_ = weaknas.WeakNAS(space, oracle, np.random.default_rng(0), method_args("weaknas", "--score-pool", "50"),
                           "uniform")
    assert run_.features is None
    pool = run_.candidates()
    assert len(pool) == 50 and not run_.queried[pool].any()
    run_.run()
    assert oracle.n_queries == 40


def test_search_is_deterministic_and_finds_good_cells():
    space, bench = ToySpace(), toy_benchmark()
    trajectories = []
    for _ in range(2):
        oracle = Oracle(bench, "d", max_queries=60)
        weaknas.search(space, oracle, np.random.default_rng(5), method_args(), None)
        trajectories.append(oracle.history()[0])
    np.testing.assert_array_equal(*trajectories)
    valid = bench.metrics("d").valid_mean
    # 60 of 256 cells, guided by the predictor: the best found is in the top 5% of the space.
    assert valid[trajectories[0]].max() >= np.quantile(valid, 0.95)


def test_bad_flags_are_input_errors():
    for extra in (["--batch", "0"], ["--top-start", "10", "--top-end", "20"], ["--ei-calibration", "0"]):
        with pytest.raises(InputError):
            weaknas.check_args(method_args("weaknas", *extra))
    with pytest.raises(InputError):
        weaknas.check_args(method_args("weaknas_ei", "--ensemble", "1"))


def test_protocol_runner_and_queries_to_optimum_on_nb201(tmp_path):
    common = ["--datasets", "cifar10", "--seeds", "1", "--workers", "1", "--out", str(tmp_path), "--quiet",
              "--hidden", "8", "--train-steps", "5"]
    args, module = run.parse_args(["--method", "weaknas_ei", "--queries", "25", "--ensemble", "2", *common])
    log = run.run_grid(args, module)[0]
    assert log["n_queries"] == 25 and log["config"]["hidden"] == [8]
    queries_to_optimum.main(["--method", "random", "--queries", "15625", "--datasets", "cifar10", "--seeds", "2",
                             "--workers", "1", "--out", str(tmp_path), "--quiet"])
    setup = queries_to_optimum._STATE["setup"]
    target = queries_to_optimum.optimum(setup, "cifar10")
    space = setup.space
    for seed in range(2):
        (log,) = results.read_logs(tmp_path, "q2o15625", "nb201", "cifar10", "random", seed=seed)
        order = np.random.default_rng(seed).permutation(space.keys())
        assert log["queries_to_optimum"] == int(np.flatnonzero(order == target)[0]) + 1
        assert log["trajectory"][-1]["best_arch"] == log["target_arch"]
        assert queries_to_optimum.simulate_random(space, target, seed) == log["queries_to_optimum"]


def test_queries_to_optimum_table_and_prefix_results():
    from plot_scripts import queries_to_optimum as plot

    def log(seed, found, n):
        traj = [{"query": i + 1, "best_arch": f"a{i}", "best_valid": float(i), "best_test": float(i) + 0.5}
                for i in range(n)]
        return {"method": "weaknas", "dataset": "cifar10", "seed": seed, "protocol": "q2o1000", "space": "nb201",
                "budget": {"queries": 1000}, "queries_to_optimum": found, "trajectory": traj, "n_queries": n}

    logs = [log(0, 40, 40), log(1, 300, 300), log(2, None, 1000)]
    (row,) = plot.table_rows(plot.group_logs(logs))
    # median over all runs, the one that did not find it counted as later than any that did
    assert (row["runs"], row["found"], row["mean"], row["median_all"], row["within"]) == (3, 2, 170.0, 300.0, 1000)
    assert row["mean_capped"] == pytest.approx((40 + 300 + 1000) / 3)
    finals = [p["final"]["best_valid"] for p in plot.prefix_logs(logs, 150)]
    assert finals == [39.0, 149.0, 149.0]  # found early: the optimum; else the state after 150 queries
    assert plot.random_expectation(15625) == pytest.approx((7813.0, 4510.5), abs=0.1)


def test_search_dynamics_iterations_follow_the_batches():
    from plot_scripts.search_dynamics import iteration_of_queries

    assert iteration_of_queries(35, 10, 10).tolist() == [0] * 10 + [1] * 10 + [2] * 10 + [3] * 5
