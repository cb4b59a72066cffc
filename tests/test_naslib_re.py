"""benchmarks.naslib_re: NASLib's RE semantics (repeats cost an evaluation) against the tuned evolution."""
import numpy as np
import pytest

from benchmarks import naslib_re
from preprocessing import spaces

SETUP = spaces.load_search("nb201")
SPACE = SETUP.space


class CountingOracle:
    """The table's oracle, recording every evaluation the loop asks for (repeats included)."""

    def __init__(self, seed, budget=150):
        self.inner = SETUP.make_oracle("cifar10", "mean", np.random.default_rng([seed, 1]), budget, None, None)
        self.asked = []

    def query(self, key):
        self.asked.append(int(key))
        return self.inner.query(key)

    def history(self):
        return self.inner.history()


@pytest.mark.parametrize("seed", [0, 1])
def test_repeats_cost_an_evaluation_and_children_are_one_edit_from_the_tournament_winner(seed):
    oracle = CountingOracle(seed)
    best = naslib_re.naslib_re(SPACE, oracle, np.random.default_rng(seed), evaluations=150)
    asked = oracle.asked
    assert len(asked) == 150 and 100 < len(set(asked)) < 150  # about 120 distinct, as NASLib's runs
    for step in range(30, 150):
        window = asked[step - 30:step]  # the population: the 30 youngest evaluations
        assert any(int(asked[step]) in set(SPACE.neighbours(parent).tolist()) for parent in window)
    keys, values = oracle.history()
    assert best == int(keys[np.argmax(values)])


def test_same_seed_same_run():
    runs = [naslib_re.naslib_re(SPACE, CountingOracle(3), np.random.default_rng(3), 150) for _ in range(2)]
    assert runs[0] == runs[1]


def test_subset_share_counts_subsets_at_or_above_the_anchor():
    rng = np.random.default_rng(0)
    assert naslib_re.subset_share(np.full(20, 94.37), 94.37, rng) == 1.0
    assert naslib_re.subset_share(np.full(20, 94.30), 94.37, rng) == 0.0
    share = naslib_re.subset_share(np.array([94.37] * 9 + [93.0]), 94.37, rng)
    assert 0.45 < share < 0.55  # the 93.0 run left out of 5 of 10 distinct runs: C(9,5) / C(10,5) = 0.5


def test_main_prints_both_methods_per_dataset(capsys):
    naslib_re.main(["--seeds", "0-2", "--evaluations", "40"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["cifar10", "cifar100", "ImageNet16-120"]
    assert all("NASLib RE" in line and "| evolution" in line and "difference" in line for line in lines)
    assert "5-run subsets" in lines[0] and "5-run subsets" not in lines[2]  # anchors exist for two datasets


def test_too_few_evaluations_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        naslib_re.main(["--seeds", "0-1", "--evaluations", "20"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--evaluations 20" in err[0]
