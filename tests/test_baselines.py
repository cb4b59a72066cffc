"""The peer baselines (local search, BANANAS, NPENAS) and the tuned evolution through the runner."""
import numpy as np
import pytest

from preprocessing.nasbench201 import arch_strings
from search_methods import run
from search_methods.path_encoding import encode_all

# Small predictors keep the tests fast; the search logic is the one the defaults run.
FAST = {"bananas": ["--epochs", "40", "--layers", "3"], "npenas": ["--epochs", "40"]}
METHODS = ["evolution", "local_search", "bananas", "npenas"]


def grid(tmp_path, method, *extra, seeds="2", queries="30"):
    args, module = run.parse_args(["--method", method, "--seeds", seeds, "--queries", queries, "--workers", "1",
                                   "--out", str(tmp_path), "--quiet", *FAST.get(method, []), *extra])
    return run.run_grid(args, module)


@pytest.mark.parametrize("method", METHODS)
def test_spends_the_budget_on_distinct_cells_deterministically(tmp_path, method):
    first = grid(tmp_path / "a", method, "--datasets", "cifar10")
    again = grid(tmp_path / "b", method, "--datasets", "cifar10")
    for log, twin in zip(first, again):
        archs = [t["arch"] for t in log["trajectory"]]
        assert log["n_queries"] == 30 and len(set(archs)) == 30
        assert log["n_requeries"] == 0
        assert log["trajectory"] == twin["trajectory"]
    assert first[0]["trajectory"] != first[1]["trajectory"]  # the seed matters


@pytest.mark.parametrize("method", METHODS)
def test_ends_on_a_table_smaller_than_its_population(tmp_path, method):
    strings = list(arch_strings())
    rows = {6111: 91.5, 0: 80.0, 15624: 10.0}
    csv = tmp_path / "tiny.csv"
    csv.write_text("arch,valid_acc,test_acc\n" + "".join(f"{strings[i]},{v},{v}\n" for i, v in rows.items()))
    (log,) = grid(tmp_path, method, "--table", str(csv), seeds="1", queries="150")
    assert log["n_queries"] == 3 and {t["arch"] for t in log["trajectory"]} == {strings[i] for i in rows}
    assert log["final"]["best_valid"] == 91.5


def test_runs_on_nb101_without_naming_a_space(tmp_path):
    from preprocessing.nb101_tfrecord import load_nb101_subset

    subset = load_nb101_subset()
    subset.save(tmp_path / "nb101.npz")
    hashes = set(subset.arch_strings.tolist())
    for method in ("local_search", "bananas", "npenas"):
        (log,) = grid(tmp_path, method, "--space", "nb101", "--table", str(tmp_path / "nb101.npz"), seeds="1",
                      queries="25")
        assert log["n_queries"] == 25 and {t["arch"] for t in log["trajectory"]} <= hashes


@pytest.mark.parametrize("method", ["local_search", "bananas", "npenas"])
def test_beats_random_search_on_average(tmp_path, method):
    common = ("--datasets", "cifar10")
    rnd = grid(tmp_path, "random", *common, seeds="10", queries="50")
    found = grid(tmp_path, method, *common, seeds="10", queries="50")
    mean_valid = lambda logs: np.mean([log["final"]["best_valid"] for log in logs])  # noqa: E731
    assert mean_valid(found) > mean_valid(rnd) + 0.1


class ToySpace:
    """Three 4-node cells (input, two typed nodes, output) with different wirings, for the encoding."""

    def keys(self):
        return np.array([0, 1, 2])

    def graphs(self, keys=None):
        adjacency = np.zeros((3, 4, 4), dtype=np.float32)
        adjacency[0][[0, 1, 2], [1, 2, 3]] = 1  # chain 0 -> 1 -> 2 -> 3
        adjacency[1][[0, 0, 1, 2], [1, 2, 3, 3]] = 1  # two parallel one-node paths
        adjacency[2][[0, 1, 0], [1, 3, 3]] = 1  # one-node path and the skip 0 -> 3; node 2 unused
        types = np.zeros((3, 4, 4), dtype=np.float32)
        for cell, inner in enumerate([(1, 2), (1, 1), (2, 1)]):
            types[cell, 0, 0] = types[cell, 3, 3] = 1
            types[cell, 1, inner[0]] = types[cell, 2, inner[1]] = 1
        return adjacency, types


def test_path_encoding_one_feature_per_labelled_path():
    keys, encoding = encode_all(ToySpace())
    assert keys.tolist() == [0, 1, 2]
    # Paths by intermediate labels: cell 0 {(1, 2)}; cell 1 {(1,), (1,)} = {(1,)}; cell 2 {(2,), ()}.
    assert encoding.sum(1).tolist() == [1, 1, 2]
    assert encoding.shape[1] == 4  # (), (1,), (2,), (1, 2)
    assert (encoding[1] * encoding[0]).sum() == 0 and (encoding[1] * encoding[2]).sum() == 0


def test_path_encoding_tells_every_nb201_cell_apart():
    from preprocessing.nasbench201 import NB201Space

    keys, encoding = encode_all(NB201Space())
    assert len(keys) == 15625 and len(np.unique(encoding, axis=0)) == 15625
    assert set(encoding.sum(1).tolist()) <= {1.0, 2.0, 3.0, 4.0}  # a cell has 4 input -> output paths


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "evolution", "--population", "0"], "--population and --tournament must be at least 1"),
    (["--method", "local_search", "--initial", "0"], "--initial must be at least 1"),
    (["--method", "bananas", "--epochs", "0"], "--epochs must be at least 1"),
    (["--method", "npenas", "--gin-width", "0"], "--gin-width must be at least 1"),
])
def test_bad_flags_exit_2_with_one_line_before_any_run(tmp_path, capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        run.main([*argv, "--seeds", "1", "--queries", "20", "--datasets", "cifar10", "--out", str(tmp_path),
                  "--quiet", "--workers", "1"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and fragment in err
    assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("method, flags", [("evolution", ["--exhausted", "--tournament"]),
                                           ("local_search", ["--initial", "--move"]),
                                           ("bananas", ["--ensemble", "--candidates", "--parents"]),
                                           ("npenas", ["--candidates", "--gin-layers"])])
def test_help_lists_the_method_flags(method, flags):
    text = run.build_parser(run.load_method(method)).format_help()
    assert all(flag in text for flag in flags)
