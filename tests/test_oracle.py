import numpy as np
import pytest

from preprocessing.benchmark_table import Benchmark, MetricTable
from preprocessing.errors import InputError
from search_methods.oracle import BudgetExhausted, Oracle


def toy_benchmark(n=20):
    valid = np.arange(n, dtype=float)
    seeds = np.stack([valid - 1, valid + 1, np.full(n, np.nan)], axis=1)
    metrics = MetricTable(valid_mean=valid, test_mean=valid + 0.5, train_time_s=np.full(n, 10.0), valid_seeds=seeds)
    return Benchmark(space="toy", arch_strings=[f"a{i}" for i in range(n)], datasets={"d": metrics})


def test_query_budget_counts_new_architectures_only():
    oracle = Oracle(toy_benchmark(), "d", max_queries=3)
    assert oracle.query(5) == 5.0
    assert oracle.query(5) == 5.0  # re-query: free, recorded
    oracle.query(2)
    oracle.query(7)
    assert oracle.n_queries == 3 and oracle.n_requeries == 1 and oracle.exhausted
    assert oracle.query(2) == 2.0  # known answers stay available
    with pytest.raises(BudgetExhausted):
        oracle.query(9)
    best = [t["best_valid"] for t in oracle.trajectory]
    assert best == [5.0, 5.0, 7.0]
    assert [t["best_test"] for t in oracle.trajectory] == [5.5, 5.5, 7.5]
    assert [t["query"] for t in oracle.trajectory] == [1, 2, 3]
    assert oracle.trajectory[-1]["sim_time_s"] == 30.0


def test_time_budget_stops_after_crossing():
    oracle = Oracle(toy_benchmark(), "d", max_time_s=25.0)
    with pytest.raises(BudgetExhausted):
        oracle.query_many([1, 2, 3, 4])
    assert oracle.n_queries == 3 and oracle.sim_time_s == 30.0


def test_seed_signal_draws_one_available_seed_and_is_reproducible():
    values = [Oracle(toy_benchmark(), "d", signal="seed", rng=np.random.default_rng(s), max_queries=5).query(4)
              for s in range(20)]
    assert set(values) == {3.0, 5.0}
    again = Oracle(toy_benchmark(), "d", signal="seed", rng=np.random.default_rng(0), max_queries=5).query(4)
    assert again == values[0]


def test_bad_configuration_is_rejected():
    with pytest.raises(InputError, match="budget"):
        Oracle(toy_benchmark(), "d")
    with pytest.raises(InputError, match="unknown signal"):
        Oracle(toy_benchmark(), "d", signal="best", max_queries=1)
    with pytest.raises(InputError, match="dataset 'x'"):
        Oracle(toy_benchmark(), "x", max_queries=1)


def test_benchmark_npz_round_trip_and_corrupt_file(tmp_path):
    bench = toy_benchmark()
    path = tmp_path / "t.npz"
    bench.save(path)
    loaded = Benchmark.load(path)
    assert loaded.arch_strings.tolist() == bench.arch_strings.tolist()
    assert np.array_equal(loaded.metrics("d").valid_seeds, bench.metrics("d").valid_seeds, equal_nan=True)
    assert loaded.row("a3") == 3
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="corrupt"):
        Benchmark.load(path)
