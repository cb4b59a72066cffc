"""Regularized evolution's variant flags: each changes the search as its --help says.

The searches run in-process on the embedded NB201 table (what the runner does, without the logs). With
ageing (the default removal) the population after the random start is exactly the last `population`
queries, which lets a test name each child's parent from the query order alone.
"""
import numpy as np
import pytest

from preprocessing import spaces
from search_methods import evolution, run
from search_methods.oracle import BudgetExhausted

SETUP = spaces.load_search("nb201")
SPACE = SETUP.space


def queries(*flags, seed=0, budget=60, dataset="cifar10"):
    """(keys, values) of one run's queries, in order."""
    args, _ = run.parse_args(["--method", "evolution", *flags])
    oracle = SETUP.make_oracle(dataset, "mean", np.random.default_rng([seed, 1]), budget, None, None)
    try:
        evolution.search(SPACE, oracle, np.random.default_rng(seed), args, None)
    except BudgetExhausted:
        pass
    return oracle.history()


def edits(a, b) -> int:
    """Edges whose op differs between two NB201 cells (1 = neighbours)."""
    return int((SPACE.op_codes[int(a)] != SPACE.op_codes[int(b)]).sum())


def children(keys, values, start):
    """(child, best of the `start` queries before it, best of every query before it, cells queried before it)
    for each query from `start` on."""
    for i in range(start, len(keys)):
        window = slice(i - start, i)
        yield keys[i], keys[window][np.argmax(values[window])], keys[:i][np.argmax(values[:i])], set(keys[:i].tolist())


def mutated(child, parent, queried) -> bool:
    """Whether ``child`` is what one edit of ``parent`` gives: an unqueried neighbour of it while it has one,
    else (``--exhausted nearest``) a cell further out."""
    fresh = set(SPACE.neighbours(parent).tolist()) - queried
    return int(child) in fresh if fresh else edits(child, parent) >= 2


def share(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags)


def test_default_child_is_one_edit_from_the_best_of_the_ten_youngest():
    for seed in range(3):
        keys, values = queries(seed=seed)
        assert all(mutated(c, parent, seen) for c, parent, _, seen in children(keys, values, 10))


@pytest.mark.parametrize("law", ["fixed", "geometric", "poisson"])
def test_edit_count_follows_its_law(law):
    rng = np.random.default_rng(0)
    counts = np.array([evolution.edit_count(rng, 2, law) for _ in range(20_000)])
    assert counts.min() >= 1 and abs(counts.mean() - 2) < 0.05
    assert (counts == 2).all() == (law == "fixed")


def test_more_edits_move_children_further_from_their_parent():
    keys, values = queries("--edits", "3", budget=80)
    distances = [edits(c, parent) for c, parent, _, _ in children(keys, values, 10)]
    assert max(distances) <= 3 and np.mean(distances) > 2


def test_parent_best_mutates_the_best_cell_queried_so_far():
    for seed in range(3):
        best_parent = list(children(*queries("--parent", "best", seed=seed), 10))
        assert all(mutated(c, best, seen) for c, _, best, seen in best_parent)
        assert not all(mutated(c, best, seen) for c, _, best, seen in children(*queries(seed=seed), 10))


def test_tournament_with_replacement_sometimes_misses_the_best_member():
    drawn = [share(mutated(c, parent, seen) for c, parent, _, seen in
                   children(*queries("--tournament-draw", "replace", seed=s), 10)) for s in range(3)]
    assert max(drawn) < 0.9  # 10 draws with replacement miss the best of 10 with probability 0.35


def test_removing_the_worst_keeps_the_best_cells_as_parents():
    # Tournament 3 of 10: with removal of the worst, every parent is one of the 10 best cells so far.
    def from_top10(*flags):
        keys, values = queries("--tournament", "3", *flags, budget=80)
        return share(any(mutated(keys[i], m, set(keys[:i].tolist())) for m in keys[:i][np.argsort(values[:i])[-10:]])
                     for i in range(10, len(keys)))

    assert from_top10("--removal", "worst") == 1 and from_top10() < 1  # ageing lets a worse parent in


@pytest.mark.parametrize("initial", [3, 30])
def test_initial_sets_the_random_start(initial):
    for seed in range(3):
        keys, values = queries("--initial", str(initial), seed=seed)
        start = keys[:initial]
        # the first child mutates the best of the random start (tournament 10 covers the whole population)
        assert mutated(keys[initial], start[np.argmax(values[:initial])], set(start.tolist()))
        if initial > 10:  # the population is the 10 best of the start: the random start is not a chain
            assert share(min(edits(k, o) for o in start[:j]) == 1 for j, k in enumerate(start) if j) < 0.5


def test_variants_are_deterministic_and_seeded(tmp_path):
    flags = ["--edits", "1.5", "--edit-law", "poisson", "--tournament-draw", "replace", "--initial", "15"]
    logs = [run.run_grid(*run.parse_args(["--method", "evolution", "--seeds", "2", "--queries", "40", "--datasets",
                                          "cifar100", "--workers", "1", "--quiet", "--out", str(tmp_path / name),
                                          *flags])) for name in ("a", "b")]
    assert [log["trajectory"] for log in logs[0]] == [log["trajectory"] for log in logs[1]]
    assert logs[0][0]["trajectory"] != logs[0][1]["trajectory"]
    assert logs[0][0]["config"]["edit_law"] == "poisson" and logs[0][0]["n_requeries"] == 0


@pytest.mark.parametrize("argv, fragment", [
    (["--edits", "0"], "--edits 0: give at least 1"),
    (["--edits", "1.5"], "a whole number with --edit-law fixed"),
    (["--edits", "0.5", "--edit-law", "geometric"], "--edits 0.5: give at least 1"),
    (["--initial", "0"], "--initial must be at least 1"),
])
def test_bad_variant_flags_exit_2_with_one_line(tmp_path, capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        run.main(["--method", "evolution", *argv, "--seeds", "1", "--queries", "20", "--datasets", "cifar10",
                  "--out", str(tmp_path), "--quiet", "--workers", "1"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and fragment in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.json"))


def test_tournament_with_replacement_may_exceed_the_population():
    # 40 draws with replacement from 10 members almost always include the best: children follow it again
    drawn = share(mutated(c, parent, seen) for c, parent, _, seen in
                  children(*queries("--tournament-draw", "replace", "--tournament", "40"), 10))
    assert drawn > 0.9


def test_variant_sweep_summarises_the_runners_runs(tmp_path, capsys):
    from benchmarks import sweep_evolution_variants as sweep

    settings = tmp_path / "settings.txt"
    settings.write_text("# a comment\n--population 10 --tournament 10\n--edits 2  # two edits\n")
    sweep.main(["--seeds", "3-4", "--queries", "30", "--settings", str(settings)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("--edits 2: cifar10 ")
    logs = [run.run_one(*run.parse_args(["--method", "evolution", "--queries", "30"]), None, "cifar100", seed)
            for seed in (3, 4)]
    mean_test = np.mean([log["final"]["best_test"] for log in logs])
    assert f"cifar100 {mean_test:.3f} " in lines[0]


def test_variant_sweep_checks_every_setting_first(tmp_path, capsys):
    from benchmarks import sweep_evolution_variants as sweep

    settings = tmp_path / "settings.txt"
    settings.write_text("--population 10\n--edits 0\n")
    with pytest.raises(SystemExit) as info:
        sweep.main(["--seeds", "3", "--queries", "30", "--settings", str(settings)])
    captured = capsys.readouterr()
    assert info.value.code == 2 and captured.err.startswith("error: --edits 0") and captured.out == ""
