"""Result identity, resume, locking, migration, strict JSON and log validation (issue 14, classes 1 and 5)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from preprocessing.errors import InputError
from search_methods import results, run

REPO = Path(__file__).resolve().parent.parent


def grid(out, *extra, method="evolution"):
    args, module = run.parse_args(["--method", method, "--datasets", "cifar10", "--seeds", "2", "--queries", "20",
                                   "--workers", "1", "--out", str(out), "--quiet", *extra])
    return run.run_grid(args, module)


def strict(path):
    def refuse(name):
        raise ValueError(name)

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def csv_table(path, rows, times=True):
    from preprocessing.nb201_table import load_embedded

    bench = load_embedded()
    metrics = bench.metrics("cifar10")
    header = "arch,valid_acc,test_acc" + (",train_time_s" if times else "")
    lines = [header] + [f"{bench.arch_strings[i]},{metrics.valid_mean[i]:.3f},{metrics.test_mean[i]:.3f}"
                        + (f",{metrics.train_time_s[i]:.1f}" if times else "") for i in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_configurations_never_share_a_log(tmp_path):
    default = grid(tmp_path)
    other = grid(tmp_path, "--population", "5")
    assert default[0]["identity_digest"] != other[0]["identity_digest"]
    assert results.path_of(tmp_path, default[0]) != results.path_of(tmp_path, other[0])
    logs = results.read_logs(tmp_path)
    assert len(logs) == 4
    labels = {g["identity_digest"]: g["config_label"] for g in logs}
    assert sorted(labels.values()) == ["", "population=5"]
    # the first configuration's logs are untouched: a resume of it runs nothing
    stamp = results.path_of(tmp_path, default[0]).stat().st_mtime_ns
    again = grid(tmp_path)
    assert results.path_of(tmp_path, default[0]).stat().st_mtime_ns == stamp
    assert [g["trajectory"] for g in again] == [g["trajectory"] for g in default]


def test_a_table_is_identified_by_its_content(tmp_path):
    rows = np.random.default_rng(0).choice(15625, 40, replace=False)
    table = csv_table(tmp_path / "mine.csv", rows)
    first = grid(tmp_path / "logs", "--table", str(table), "--datasets", "custom")
    moved = table.rename(tmp_path / "moved.csv")  # same content elsewhere: the same runs
    stamp = results.path_of(tmp_path / "logs", first[0]).stat().st_mtime_ns
    grid(tmp_path / "logs", "--table", str(moved), "--datasets", "custom")
    assert results.path_of(tmp_path / "logs", first[0]).stat().st_mtime_ns == stamp
    csv_table(moved, rows[:30])  # rewritten in place: other numbers, so it re-runs elsewhere
    second = grid(tmp_path / "logs", "--table", str(moved), "--datasets", "custom")
    assert second[0]["table"]["sha256"] != first[0]["table"]["sha256"]
    assert len(results.read_logs(tmp_path / "logs")) == 4
    assert second[0]["config_label"].startswith("table=moved.csv@")


def test_claims_split_a_grid_between_two_runners(tmp_path):
    args, _ = run.parse_args(["--method", "random", "--datasets", "cifar10", "--seeds", "3", "--queries", "5",
                              "--out", str(tmp_path), "--quiet"])
    identity = run.run_identity(args, results.table_identity("nb201", None))
    held = results.log_path(tmp_path, identity, "cifar10", 1)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from search_methods.results import Claims; c = Claims(); "
         f"assert c.try_claim({str(held)!r}); print('held', flush=True); sys.stdin.read()"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with results.Claims() as claims:
            jobs, busy = run.pending_jobs(args, ["cifar10"], [0, 1, 2], identity, claims)
        assert jobs == [("cifar10", 0), ("cifar10", 2)] and busy == [held]
    finally:
        holder.communicate("")
    with results.Claims() as claims:  # the holder ended: its claim went with it
        jobs, busy = run.pending_jobs(args, ["cifar10"], [0, 1, 2], identity, claims)
    assert len(jobs) == 3 and busy == []


def test_stale_temp_files_are_removed_and_logs_are_strict_json(tmp_path):
    table = csv_table(tmp_path / "no_times.csv", range(0, 15625, 500), times=False)
    logs = grid(tmp_path / "logs", "--table", str(table), "--datasets", "custom")
    path = results.path_of(tmp_path / "logs", logs[0])
    stale = path.parent / f".{path.name}.k1ll3d.tmp"
    stale.write_text("{half a log")
    path.unlink()
    grid(tmp_path / "logs", "--table", str(table), "--datasets", "custom")
    assert not stale.exists() and path.exists()
    log = strict(path)  # NaN would fail here
    assert all(step["sim_time_s"] is None for step in log["trajectory"])


def test_migration_moves_old_layout_logs_and_read_logs_reads_both(tmp_path):
    logs = grid(tmp_path)
    old_paths = []
    for log in logs:
        new = results.path_of(tmp_path, log)
        old = results.old_log_path(tmp_path, log["protocol"], log["space"], log["dataset"], log["method"], log["seed"])
        legacy = {k: v for k, v in log.items() if k not in ("schema", "identity", "identity_digest", "config_label",
                                                           "table")}
        del legacy["config"]["time_per_query"]  # an old log lacks the flags added since
        old.write_text(json.dumps(legacy))
        new.unlink()
        old_paths.append(old)
    stale = old_paths[0].parent / ".seed_0.json.x1.tmp"
    stale.write_text("{")
    read = results.read_logs(tmp_path)
    assert [g["identity_digest"] for g in read] == [g["identity_digest"] for g in logs]
    proc = subprocess.run([sys.executable, "-m", "search_methods.results", "migrate", "--root", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0 and "moved 2 logs" in proc.stdout
    assert not any(p.exists() for p in old_paths) and not stale.exists()
    assert all(results.path_of(tmp_path, g).exists() for g in logs)
    assert results.read_logs(tmp_path)[0]["trajectory"] == logs[0]["trajectory"]


@pytest.mark.parametrize("mangle, fragment", [
    (lambda log: {k: v for k, v in log.items() if k != "final"}, "no 'final'"),
    (lambda log: {**log, "final": {**log["final"], "best_test": "ninety"}}, "'final.best_test'"),
    (lambda log: [log], "JSON list"),
    (lambda log: {**log, "trajectory": [{"arch": "x", "query": 1, "valid": "NaN"}]}, "trajectory entry 0"),
])
def test_bad_logs_give_one_line_everywhere(tmp_path, mangle, fragment):
    log = grid(tmp_path)[0]
    path = results.path_of(tmp_path, log)
    path.write_text(json.dumps(mangle(log)))
    with pytest.raises(InputError, match=fragment):
        results.read_log(path)
    for argv in (["plot_scripts.summarize", "--root", str(tmp_path)],
                 ["search_methods.run", "--method", "evolution", "--datasets", "cifar10", "--seeds", "2",
                  "--queries", "20", "--out", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_nan_in_a_log_file_is_refused(tmp_path):
    log = grid(tmp_path)[0]
    path = results.path_of(tmp_path, log)
    path.write_text(path.read_text().replace('"best_valid": ', '"best_valid": NaN, "x": ', 1))
    with pytest.raises(InputError, match="NaN"):
        results.read_log(path)
