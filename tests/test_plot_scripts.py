"""Summaries and figures: method order and styles, bootstrap statistics, budgets, queries to the optimum,
configuration grouping, and the plotting entry points' file names and errors."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plot_scripts import methods, stats
from plot_scripts.plot_search_curves import main as plot_curves
from plot_scripts.summarize import report, summary_rows
from search_methods import results, run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("logs")
    for method in ("evolution", "random"):
        args, module = run.parse_args(["--method", method, "--seeds", "4", "--queries", "60", "--workers", "1",
                                       "--datasets", "cifar10", "--out", str(out), "--quiet"])
        run.run_grid(args, module)
    return out


def test_every_method_of_sixteen_and_more_gets_its_own_colour_and_line_style():
    names = [*methods.METHOD_ORDER, "moonshot", "zzz_new", "evolution [population=30]"]
    look = methods.styles(names)
    assert len(methods.METHOD_ORDER) >= 16
    assert len({(s["color"], s["linestyle"]) for s in look.values()}) == len(names)
    # a method looks the same whatever else is in the figure
    assert methods.styles(["weaknas", "random"])["weaknas"] == look["weaknas"]


def test_rows_are_ordered_by_family_then_name():
    order = methods.ordered(["zeta", "gmae", "weaknas_ei", "random", "arch2vec_bo", "evolution", "metad2a",
                             "bananas", "agnet", "evolution [population=30]"])
    assert order == ["random", "evolution", "evolution [population=30]", "bananas", "arch2vec_bo", "weaknas_ei",
                     "gmae", "agnet", "metad2a", "zeta"]


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(3).normal(94.0, 0.3, 50)
    first, second = stats.describe(values), stats.describe(values)
    assert first == second
    assert first["ci_low"] < values.mean() < first["ci_high"]
    assert first["ci_high"] - first["ci_low"] < 4 * values.std() / np.sqrt(50)


def test_beats_only_where_the_intervals_separate():
    rng = np.random.default_rng(0)
    low, high = stats.describe(rng.normal(0, 1, 40)), stats.describe(rng.normal(3, 1, 40))
    close = stats.describe(rng.normal(0.1, 1, 40))
    assert stats.compare(high, low) == "beats" and stats.beats(high, low)
    assert stats.compare(low, high) == "trails"
    assert stats.compare(close, low) == "overlaps" and not stats.beats(close, low)


def _log(method, config, seed=0, trajectory=None, identity=None, dataset="cifar10"):
    """A minimal log; ``identity`` = (identity_digest, config_label) as the runner writes them."""
    trajectory = trajectory or [{"query": 1, "arch": "a", "valid": 1.0, "best_valid": 1.0, "best_test": 2.0,
                                 "best_arch": "a", "sim_time_s": 1.0}]
    log = {"method": method, "config": config, "seed": seed, "protocol": "q1", "space": "nb201",
           "dataset": dataset, "n_queries": len(trajectory), "trajectory": trajectory,
           "final": {k: trajectory[-1][k] for k in ("best_arch", "best_valid", "best_test")},
           "budget": {"queries": len(trajectory), "sim_time_s": None}}
    if identity:
        log["identity_digest"], log["config_label"] = identity
    return log


def test_two_configurations_of_one_method_are_never_pooled():
    logs = [_log("evolution", {"population": 10, "tournament": 3}, s) for s in range(2)] + \
           [_log("evolution", {"population": 30, "tournament": 3}, s) for s in range(3)] + \
           [_log("random", {"x": 1}), _log("random", {})]  # a key an older log lacks is not a difference
    rows = {r["method"]: r["n"] for r in summary_rows(logs)}
    assert rows == {"evolution [population=10]": 2, "evolution [population=30]": 3, "random": 2}


def test_logged_identity_groups_runs_by_its_label():
    logs = [_log("evolution", {}, s, identity=("d1", "population=30")) for s in range(2)] + \
           [_log("evolution", {}, 5, identity=("d2", "")), _log("evolution", {}, 6, identity=("d3", "population=30"))]
    assert stats.group_name(logs) == ["evolution [population=30 d1]", "evolution [population=30 d1]", "evolution",
                                      "evolution [population=30 d3]"]  # one label, two identities: kept apart


def test_budget_cells_read_the_trajectory_prefix():
    traj = [{"query": q, "arch": str(q), "valid": q, "best_valid": q, "best_test": 10 * q, "best_arch": str(q),
             "sim_time_s": q} for q in range(1, 61)]
    logs = [_log("m", {}, s, trajectory=traj) for s in range(3)]
    assert stats.budget_cell(logs, 30, "test")["mean"] == 300
    assert stats.budget_cell(logs, 100, "test") is None  # runs too short: no cell rather than a wrong one
    finished = _log("m", {}, 9, trajectory=traj[:20]) | {"queries_to_optimum": 20}
    assert stats.prefix_result(finished, 50)["best_test"] == 200  # found the optimum at 20: stays


def test_queries_to_optimum_counts_a_run_that_missed_it_as_not_found(logs):
    (log, *_) = results.read_logs(logs, "q60", "nb201", "cifar10", "random")
    target = stats.target_arch(log)
    hit = {**log, "trajectory": [dict(t, arch=target if t["query"] == 7 else t["arch"]) for t in log["trajectory"]]}
    miss = {**log, "trajectory": [t for t in log["trajectory"] if t["arch"] != target]}
    assert stats.queries_to_optimum(hit) == 7 and stats.queries_to_optimum(miss) is None
    cell = stats.q2o_cell([hit, miss])
    assert (cell["found"], cell["runs"], cell["mean"]) == (1, 2, 7.0)
    assert cell["median_all"] == np.inf and cell["mean_capped"] == (7 + len(miss["trajectory"])) / 2


def test_report_has_final_budget_q2o_and_comparison_tables(logs):
    text = report(results.read_logs(logs), budgets=(30, 50), reference="random")
    assert text.index("| random |") < text.index("| evolution |")  # family order, not alphabetical
    assert "| evolution | 30 |" in text and "within 60" in text and "against `random`" in text
    assert "[" in text.split("| evolution |")[1].split("\n")[0]  # a confidence interval in the cell


def test_search_curves_name_their_selection_and_refuse_an_unnamed_subset(logs, tmp_path):
    plot_curves(["--root", str(logs), "--protocol", "q60", "--out", str(tmp_path)])
    plot_curves(["--root", str(logs), "--protocol", "q60", "--methods", "random", "--name", "rand",
                 "--out", str(tmp_path)])
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["search_curves_q60_nb201_cifar10_all.png", "search_curves_q60_nb201_cifar10_rand.png"]
    proc = subprocess.run([sys.executable, "-m", "plot_scripts.plot_search_curves", "--root", str(logs),
                           "--protocol", "q60", "--methods", "random", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error:") and "--name" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_queries_to_optimum_figure_for_every_method_of_an_ordinary_grid(logs, tmp_path):
    from plot_scripts.queries_to_optimum import main

    main(["--root", str(logs), "--protocol", "q60", "--random-seeds", "2", "--prefix-table", "0", "--out", str(tmp_path)])
    assert (tmp_path / "queries_to_optimum.png").read_bytes()[:4] == b"\x89PNG"
    table = (tmp_path / "queries_to_optimum.md").read_text()
    assert table.index("| random | cifar10 | 2 / 2 within 15625") < table.index("| evolution | cifar10 | ")
    assert "/ 4 within 60" in table  # the grid's 4 evolution runs, each looked 60 queries far


def test_nb101_figures_search_curves_in_validation_and_queries_to_optimum_on_its_own_table(tmp_path):
    """NB-101's embedded table has no test accuracy (logs keep best_test null): the curves draw validation,
    named by their space so that they never replace NB201's cifar10 figure of the same protocol; the
    queries-to-optimum figure reads NB-101's logs and simulates random search over its 30,001 cells."""
    from plot_scripts.queries_to_optimum import main as plot_q2o

    logs = tmp_path / "logs"
    args, module = run.parse_args(["--space", "nb101", "--method", "evolution", "--seeds", "2", "--queries", "12",
                                   "--workers", "1", "--out", str(logs), "--quiet"])
    run.run_grid(args, module)
    read = results.read_logs(logs, space="nb101")
    assert read and all(log["final"]["best_test"] is None for log in read)
    plot_curves(["--root", str(logs), "--protocol", "q12", "--space", "nb101", "--out", str(tmp_path)])
    figure = tmp_path / "search_curves_q12_nb101_cifar10_all.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
    plot_q2o(["--root", str(logs), "--protocol", "q12", "--space", "nb101", "--random-seeds", "2",
              "--prefix-table", "0", "--out", str(tmp_path / "q2o")])
    table = (tmp_path / "q2o" / "queries_to_optimum.md").read_text()
    assert "(nb101, 30,001 cells" in table and "| random | cifar10 | 2 / 2 within 30001" in table
    assert "| random (exact expectation) | any | - | 15001.0" in table
