"""The flags that express AG-Net's and WeakNAS's own NB201 protocols (issue 16): each changes the search, bad
values end in one error line, the runner script rejects what it does not know."""
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from models.predictors import MLPPredictor
from search_methods import agnet_search, run, weaknas
from tests.test_agnet import context_of, run_search, search_args, small_generator, SPACE
from tests.test_weaknas import ToySpace, method_args, toy_benchmark
from search_methods.oracle import Oracle

REPO = Path(__file__).resolve().parent.parent


def trained_predictions(**flags):
    """Predicted scores of 20 fixed cells after one retraining on 12 queried ones (same seed, same data)."""
    args = search_args(agnet_search, **flags)
    searcher = agnet_search.AGNetSearcher(SPACE, args, context_of(small_generator()), np.random.default_rng(0))
    keys = np.arange(0, 15625, 1302)[:12]
    values = np.linspace(60, 92, 12)
    searcher.train(keys, agnet_search.rank_weights(values, args.weight_factor),
                   agnet_search.search_targets(values, args.targets))
    return searcher.predict(np.arange(20))


def test_train_passes_scale_the_retraining_with_the_queried_cells():
    args = search_args(agnet_search, train_passes=30, batch_size=16)
    searcher = agnet_search.AGNetSearcher(SPACE, args, context_of(small_generator()), np.random.default_rng(0))
    # The original: 30 passes of N cells in batches of 16 -> 30 N / 16 steps (rounded up).
    assert [searcher.n_steps(n) for n in (16, 17, 160)] == [30, 32, 300]
    assert agnet_search.AGNetSearcher(SPACE, search_args(agnet_search), context_of(small_generator()),
                                      np.random.default_rng(0)).n_steps(160) == 3  # --train-steps otherwise


@pytest.mark.parametrize("flags", [{"train_passes": 2}, {"loss_weighting": "both"}, {"targets": "fraction"},
                                   {"beta1": 0.5}])
def test_each_agnet_protocol_flag_changes_the_retraining(flags):
    default = trained_predictions()
    np.testing.assert_array_equal(default, trained_predictions())  # deterministic: a difference is the flag's
    assert not np.allclose(default, trained_predictions(**flags), rtol=0, atol=1e-6)


def test_fraction_targets_are_accuracy_over_100():
    values = np.array([90.0, 45.0])
    assert np.allclose(agnet_search.search_targets(values, "fraction"), [[0.9], [0.45]])
    assert np.allclose(agnet_search.search_targets(values, "standardised"), [[1.0], [-1.0]])


def test_mini_batch_epochs_differ_from_full_batch_only_when_the_batch_is_smaller():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)).astype(np.float32), rng.normal(size=40)
    full = MLPPredictor(hidden=(16,), steps=10).fit(X, y, seed=1).predict(X)
    whole = MLPPredictor(hidden=(16,), steps=10, batch_size=40).fit(X, y, seed=1).predict(X)
    mini = MLPPredictor(hidden=(16,), steps=10, batch_size=8).fit(X, y, seed=1).predict(X)
    again = MLPPredictor(hidden=(16,), steps=10, batch_size=8).fit(X, y, seed=1).predict(X)
    np.testing.assert_array_equal(full, whole)
    np.testing.assert_array_equal(mini, again)
    # 5 steps per epoch fit the labels closer than one full-batch step per epoch.
    assert np.mean((mini - y) ** 2) < np.mean((full - y) ** 2)


@pytest.mark.parametrize("extra", [["--fit-batch", "16"], ["--weight-decay", "0.5"]])
def test_each_weaknas_protocol_flag_changes_the_search(extra):
    space, bench = ToySpace(), toy_benchmark()

    def trajectory(*flags):
        oracle = Oracle(bench, "d", max_queries=60)
        weaknas.search(space, oracle, np.random.default_rng(5), method_args("weaknas", *flags), None)
        return oracle.history()[0]

    assert not np.array_equal(trajectory(), trajectory(*extra))


@pytest.mark.parametrize("method, argv, fragment", [
    ("agnet", ["--train-passes", "-1"], "--train-passes -1.0 must be in [0, 1000]"),
    ("agnet", ["--beta1", "1"], "--beta1 1.0 must be in [0, 1)"),
    ("agnet_xgb", ["--beta1", "-0.1"], "--beta1 -0.1 must be in [0, 1)"),
    ("weaknas", ["--fit-batch", "-5"], "--fit-batch (-5) must not be negative"),
    ("weaknas", ["--weight-decay", "-1"], "--weight-decay (-1.0)"),
])
def test_bad_protocol_flags_end_in_one_line_before_any_work(tmp_path, capsys, method, argv, fragment):
    with pytest.raises(SystemExit) as info:
        run.main(["--method", method, "--datasets", "cifar10", "--workers", "1", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and fragment in err
    assert not any(tmp_path.rglob("*.json"))


def test_runner_script_rejects_an_unknown_method_in_one_line():
    proc = subprocess.run(["bash", str(REPO / "run_scripts" / "run_paper_protocols.sh"), "bogus"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
