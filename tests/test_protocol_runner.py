import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plot_scripts.summarize import markdown_table, summary_rows
from search_methods import results, run

REPO = Path(__file__).resolve().parent.parent


def grid(tmp_path, method, *extra):
    args, module = run.parse_args(["--method", method, "--seeds", "3", "--queries", "40", "--workers", "1",
                                   "--out", str(tmp_path), "--quiet", *extra])
    return run.run_grid(args, module)


@pytest.mark.parametrize("method", ["random", "evolution"])
def test_runs_write_complete_logs_within_budget(tmp_path, method):
    logs = grid(tmp_path, method, "--datasets", "cifar10", "cifar100")
    assert len(logs) == 6
    for log in logs:
        traj = log["trajectory"]
        assert len(traj) == 40 and log["n_queries"] == 40
        assert len({t["arch"] for t in traj}) == 40
        assert [t["query"] for t in traj] == list(range(1, 41))
        assert np.all(np.diff([t["best_valid"] for t in traj]) >= 0)
        assert np.all(np.diff([t["sim_time_s"] for t in traj]) > 0)
        assert log["final"]["best_valid"] == max(t["valid"] for t in traj)
        for key in ("method", "space", "dataset", "seed", "protocol", "budget", "config", "versions"):
            assert key in log
    path = results.path_of(tmp_path, logs[2])
    assert path.exists() and path.parent.parent.name == method and path.name == "seed_2.json"


def test_same_seed_same_result_and_resume_skips_finished(tmp_path):
    first = grid(tmp_path / "a", "evolution", "--datasets", "cifar10")
    second = grid(tmp_path / "b", "evolution", "--datasets", "cifar10")
    assert [l["trajectory"] for l in first] == [l["trajectory"] for l in second]
    path = results.path_of(tmp_path / "a", first[0])
    stamp = path.stat().st_mtime_ns
    grid(tmp_path / "a", "evolution", "--datasets", "cifar10")
    assert path.stat().st_mtime_ns == stamp


def test_resume_treats_a_flag_missing_from_old_logs_as_its_default(tmp_path):
    logs = grid(tmp_path, "evolution", "--datasets", "cifar10")
    path = results.path_of(tmp_path, logs[0])
    log = json.loads(path.read_text())
    for key in ("schema", "identity", "identity_digest", "config_label", "table"):  # the layout before identities
        del log[key]
    del log["config"]["space"]  # a log written before --space existed
    old = results.old_log_path(tmp_path, "q40", "nb201", "cifar10", "evolution", 0)
    old.write_text(json.dumps(log))
    path.unlink()
    again = grid(tmp_path, "evolution", "--datasets", "cifar10")
    assert not old.exists() and path.exists()  # resume migrated it instead of re-running it
    assert again[0]["trajectory"] == logs[0]["trajectory"] and again[0]["wall_time_s"] == logs[0]["wall_time_s"]
    log["config"]["population"] = 5  # an old log of a different config is not this run's
    old.write_text(json.dumps(log))
    path.unlink()
    grid(tmp_path, "evolution", "--datasets", "cifar10")
    assert old.exists() and json.loads(path.read_text())["config"]["population"] == 10


def test_evolution_beats_random_on_average(tmp_path):
    args = ["--datasets", "cifar100", "--seeds", "20", "--queries", "100"]
    rnd = grid(tmp_path, "random", *args)
    evo = grid(tmp_path, "evolution", *args)
    assert np.mean([l["final"]["best_valid"] for l in evo]) > np.mean([l["final"]["best_valid"] for l in rnd])


def test_summary_table_lists_methods_and_datasets(tmp_path):
    logs = grid(tmp_path, "random", "--datasets", "cifar10")
    rows = summary_rows(logs)
    assert rows[0]["n"] == 3 and rows[0]["method"] == "random"
    assert "| random |" in markdown_table(rows)


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "nope"], "unknown method 'nope'"),
    (["--method", "random", "--datasets", "cifar1000"], "dataset 'cifar1000'"),
    (["--method", "random", "--seeds", "x"], "--seeds 'x'"),
    (["--method", "random", "--table", "missing.csv"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line_and_no_log(tmp_path, argv, fragment):
    proc = subprocess.run([sys.executable, "-m", "search_methods.run", *argv, "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert fragment in proc.stderr and proc.stderr.count("\n") == 1
    assert not any(tmp_path.rglob("*.json"))


def test_parallel_workers_match_in_process_results(tmp_path):
    subprocess.run([sys.executable, "-m", "search_methods.run", "--method", "evolution", "--datasets", "cifar10",
                    "--seeds", "3", "--queries", "30", "--workers", "2", "--quiet", "--out", str(tmp_path / "p")],
                   cwd=REPO, check=True)
    serial = grid(tmp_path / "s", "evolution", "--datasets", "cifar10", "--queries", "30")
    for log in serial:
        parallel = json.loads(results.path_of(tmp_path / "p", log).read_text())
        assert parallel["trajectory"] == log["trajectory"]


def test_custom_table_is_searched_only_where_measured(tmp_path):
    from preprocessing.nb201_table import load_embedded

    bench = load_embedded()
    metrics = bench.metrics("cifar100")
    rows = np.random.default_rng(0).choice(len(bench), 300, replace=False)
    csv = tmp_path / "mine.csv"
    lines = ["arch,valid_acc,test_acc,train_time_s"] + [
        f"{bench.arch_strings[i]},{metrics.valid_mean[i]:.4f},{metrics.test_mean[i]:.4f},{metrics.train_time_s[i]:.1f}"
        for i in rows]
    csv.write_text("\n".join(lines) + "\n")
    logs = grid(tmp_path, "evolution", "--table", str(csv))
    measured = {bench.arch_strings[i] for i in rows}
    for log in logs:
        assert log["dataset"] == "custom"
        assert {t["arch"] for t in log["trajectory"]} <= measured
    best = max(rows, key=lambda i: metrics.valid_mean[i])
    assert max(log["final"]["best_valid"] for log in logs) <= round(metrics.valid_mean[best], 4)


def test_nb101_search_on_a_converted_table(tmp_path):
    from preprocessing.nb101_tfrecord import load_nb101_subset

    subset = load_nb101_subset()
    subset.save(tmp_path / "nb101.npz")
    args, module = run.parse_args(["--method", "evolution", "--space", "nb101", "--table", str(tmp_path / "nb101.npz"),
                                   "--seeds", "1", "--queries", "20", "--workers", "1", "--out", str(tmp_path),
                                   "--quiet"])
    (log,) = run.run_grid(args, module)
    assert log["space"] == "nb101" and log["n_queries"] == 20
    hashes = set(subset.arch_strings.tolist())
    assert {t["arch"] for t in log["trajectory"]} <= hashes
    best = max(log["trajectory"], key=lambda t: t["valid"])
    assert log["final"]["best_arch"] == best["arch"]
    assert best["valid"] == subset.metrics("cifar10").valid_mean[subset.row(best["arch"])]
