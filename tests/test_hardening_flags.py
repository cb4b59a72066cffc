"""Every runner flag validated; searches end on tables smaller than their population (issue 14, classes 3-4)."""
import subprocess
import sys
from pathlib import Path

import pytest

from search_methods import run

REPO = Path(__file__).resolve().parent.parent


def three_row_csv(path, times=True):
    from preprocessing.nb201_table import load_embedded

    bench = load_embedded()
    metrics = bench.metrics("cifar10")
    lines = ["arch,valid_acc,test_acc" + (",train_time_s" if times else "")]
    for i in (0, 100, 2000):
        lines.append(f"{bench.arch_strings[i]},{metrics.valid_mean[i]:.3f},{metrics.test_mean[i]:.3f}"
                     + (f",{metrics.train_time_s[i]:.1f}" if times else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("argv, fragment", [
    (["--time-budget", "nan"], "--time-budget nan: give a finite number"),
    (["--time-budget", "inf"], "--time-budget inf: give a finite number"),
    (["--population", "0"], "--population and --tournament must be at least 1"),
    (["--tournament", "0"], "--population and --tournament must be at least 1"),
    (["--mutation-tries", "-1"], "--mutation-tries"),
    (["--seeds=-1,2"], "--seeds '-1,2'"),
    (["--seeds", "1000000000000"], "more than 100,000 runs"),
    (["--seeds", "3,3"], "lists a seed twice"),
    (["--seeds", "5-2147483648"], "--seeds '5-2147483648'"),
    (["--protocol", "../../elsewhere"], "names a folder"),
    (["--queries", "0"], "--queries must be at least 1"),
])
def test_bad_flags_end_in_one_line_before_any_work(tmp_path, capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        run.main(["--method", "evolution", "--datasets", "cifar10", "--workers", "1", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and fragment in err
    assert not any(tmp_path.rglob("*.json"))


def test_a_time_budget_needs_training_times(tmp_path, capsys):
    table = three_row_csv(tmp_path / "no_times.csv", times=False)
    with pytest.raises(SystemExit) as info:
        run.main(["--method", "random", "--table", str(table), "--time-budget", "5000", "--workers", "1",
                  "--out", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "lacks them for 3 of its 3 cells" in err and err.count("\n") == 1
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("*.json"))


def test_evolution_ends_on_a_table_smaller_than_its_population(tmp_path):
    table = three_row_csv(tmp_path / "three.csv")
    proc = subprocess.run([sys.executable, "-m", "search_methods.run", "--method", "evolution", "--table", str(table),
                           "--seeds", "2", "--workers", "1", "--quiet", "--out", str(tmp_path / "logs")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    from search_methods import results

    logs = results.read_logs(tmp_path / "logs")
    assert len(logs) == 2 and all(g["n_queries"] == 3 for g in logs)


def test_agnet_and_gmae_end_on_a_three_cell_table(tmp_path, monkeypatch):
    import numpy as np

    from models.agnet_cells import GeneratorCells
    from models.pretrain_agnet import DEFAULTS, build_generator
    from search_methods import agnet_search, gmae_search, results
    from search_methods.oracle import BudgetExhausted, Oracle

    table = three_row_csv(tmp_path / "three.csv")
    setup = run.load_search_setup("nb201", str(table))
    bench, space = setup.benchmark, setup.space
    cells = GeneratorCells(space)
    config = {**DEFAULTS, "n_types": cells.n_types, "max_nodes": cells.max_nodes}
    untrained = agnet_search.context_from({"config": config, "state": build_generator(config).state_dict()})
    monkeypatch.setattr(agnet_search, "prepare", lambda args, bench, space: untrained)  # no pretraining here
    args, module = run.parse_args(["--method", "agnet", "--table", str(table), "--seeds", "1", "--workers", "1",
                                   "--quiet", "--out", str(tmp_path / "logs"), "--train-steps", "2"])
    (log,) = run.run_grid(args, module)
    assert log["n_queries"] == 3
    oracle = Oracle(bench, "custom", max_queries=150, to_string=space.to_string)
    gmae_search._query_initial(space, oracle, np.random.default_rng(0), 16)  # used to loop forever
    assert oracle.n_queries == 3
    with pytest.raises(BudgetExhausted):  # and the search loop's mutations then end the run
        gmae_search.mutated_candidates(space, oracle, np.random.default_rng(0), lambda: int(space.keys()[0]), 4)
    assert results.read_logs(tmp_path / "logs")[0]["method"] == "agnet"


@pytest.mark.parametrize("method, argv, fragment", [
    ("weaknas", ["--lr", "0"], "--lr must be positive"),
    ("weaknas", ["--top-decay", "1.5"], "--top-decay in (0, 1)"),
    ("gmae", ["--tournament", "0"], "--tournament must be >= 1"),
    ("supervised_rl", ["--gin-layers", "0"], "--gin-hidden and --gin-layers"),
    ("supervised_bo", ["--gin-hidden", "-1"], "--gin-hidden and --gin-layers"),
    ("agnet", ["--lr", "nan"], "--lr nan: give a finite number"),
])
def test_method_flags_are_checked_before_any_run(tmp_path, capsys, method, argv, fragment):
    with pytest.raises(SystemExit) as info:
        run.main(["--method", method, "--datasets", "cifar10", "--seeds", "1", "--workers", "1",
                  "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and fragment in err and err.count("\n") == 1
    assert not any(tmp_path.rglob("*.json"))
