"""The experiment executor: local processes and a real Ray cluster give the same logs, survive dead
workers, and stop at the first bad input.

The Ray tests start their own head node on 127.0.0.1 (:class:`search_methods.ray_head.RayHead`: a
private temp dir, free ports, a random auth token) and stop it by killing exactly its processes:
``ray stop`` would kill every Ray process on the machine. They share one module-scoped cluster and one xdist group (pytest.ini runs xdist
with ``--dist loadgroup``), so a ``-n 2`` run starts one cluster, not two.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from preprocessing.errors import InputError
from search_methods import run
from search_methods.executor import Executor, ExecutorOptions, TasksFailed
from search_methods.ray_head import RayHead

REPO = Path(__file__).resolve().parent.parent
# P150, 10 seeds x 3 datasets; WeakNAS with a small, fast predictor (identical under both backends).
GRID = ["--queries", "150", "--seeds", "10", "--quiet"]
METHOD_ARGS = {"evolution": [], "weaknas": ["--hidden", "16", "16", "--train-steps", "5"]}


# ----------------------------------------------------------------------------- task functions (workers import them)

def report_worker(shared, item):
    """(item, the worker's BLAS thread variable, torch threads); dies once on item ``shared[1]``."""
    import torch

    marker, die_on = shared
    if item == die_on and not marker.exists():
        marker.write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    return item, os.environ.get("OPENBLAS_NUM_THREADS"), torch.get_num_threads()


def sleep_or_refuse(seconds, item):
    """Sleeps ``seconds``; item 2 is bad input, item 5 a bug."""
    if item == 2:
        raise InputError("task 2 got bad input; fix it")
    if item == 5:
        raise RuntimeError("a bug in task 5")
    time.sleep(seconds)
    return item


# ----------------------------------------------------------------------------- the local backend

def test_local_workers_limit_threads_and_a_dead_worker_is_retried(tmp_path):
    before = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    with Executor(ExecutorOptions(workers=2), shared=(tmp_path / "died", 3)) as executor:
        got = dict(executor.map(report_worker, range(6)))
    assert (tmp_path / "died").exists()  # item 3's first worker was killed; the task ran again
    assert sorted(got) == list(range(6))
    assert {(blas, threads) for _, blas, threads in got.values()} == {("1", 1)}
    # the thread limits live in the workers only
    assert {name: os.environ.get(name) for name in before} == before


def test_in_process_run_restores_the_callers_threads():
    import torch

    threads = torch.get_num_threads()
    with Executor(ExecutorOptions(workers=1), shared=(Path("/nonexistent"), None)) as executor:
        ((_, (_, _, inside)),) = executor.map(report_worker, [0])
    assert inside == 1 and torch.get_num_threads() == threads


def test_local_input_error_stops_at_once_and_other_failures_are_summarised():
    done = []
    with pytest.raises(InputError, match="task 2 got bad input"):
        with Executor(ExecutorOptions(workers=2), shared=1.0) as executor:
            for item, _ in executor.map(sleep_or_refuse, range(40)):
                done.append(item)
    assert len(done) <= 2  # the other 37 tasks were cancelled, not run first
    done = []
    with pytest.raises(TasksFailed, match=r"1 of 3 tasks failed.*\n  task 5: RuntimeError: a bug in task 5") as failed:
        with Executor(ExecutorOptions(workers=2), shared=0.0) as executor:
            for item, result in executor.map(sleep_or_refuse, [4, 5, 6], label=lambda i: f"task {i}"):
                done.append(result)
    assert sorted(done) == [4, 6]
    assert 'in sleep_or_refuse\n    raise RuntimeError("a bug in task 5")' in str(failed.value)  # the worker's traceback


def test_executor_flags_are_grid_flags_not_run_config():
    args, _ = run.parse_args(["--method", "random", "--executor", "ray", "--address", "10.0.0.1:6379"])
    plain, _ = run.parse_args(["--method", "random"])
    assert run.run_config(args) == run.run_config(plain)
    with pytest.raises(InputError, match="add --executor ray"):
        ExecutorOptions(address="10.0.0.1:6379").check()
    with pytest.raises(InputError, match="needs --executor ray"):
        ExecutorOptions(gpus=1).check()


def test_every_grid_entry_point_documents_the_executor_flags(capsys):
    from preprocessing import metad2a_database, nb101_enumerate
    from search_methods import hw_search, predictor_eval

    helps = {"run / queries_to_optimum": run.build_parser().format_help(),
             "hw_search": hw_search.build_parser().format_help(),
             "predictor_eval": predictor_eval.build_parser().format_help(),
             "metad2a_database": metad2a_database.parser().format_help()}
    with pytest.raises(SystemExit):
        nb101_enumerate.main(["--help"])
    helps["nb101_enumerate"] = capsys.readouterr().out
    for name, text in helps.items():
        assert "--executor {local,ray}" in text and "--address HOST:PORT" in text and "--workers" in text, name
    assert "--gpus-per-task" in helps["metad2a_database"]


# ----------------------------------------------------------------------------- a real Ray cluster

@pytest.fixture(scope="module")
def cluster():
    with RayHead(cpus=2) as head:
        yield head


def _runner(out: Path, method: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "search_methods.run", "--method", method, *METHOD_ARGS[method], *GRID,
            "--out", str(out), *extra]


def _logs(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in sorted(out.rglob("seed_*.json"))}


@pytest.fixture(scope="module")
def local_logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    for method in METHOD_ARGS:
        subprocess.run(_runner(out, method, "--workers", "2"), cwd=REPO, check=True)
    logs = _logs(out)
    assert len(logs) == 2 * 30
    return logs


def _same_numbers(logs: dict, reference: dict) -> None:
    assert sorted(logs) == sorted(reference)
    for path, log in logs.items():
        for key in ("final", "trajectory"):
            assert json.dumps(log[key]) == json.dumps(reference[path][key]), (path, key)


@pytest.mark.xdist_group("ray")
def test_a_grid_gives_identical_logs_under_local_and_ray(cluster, local_logs, tmp_path):
    for method in METHOD_ARGS:
        subprocess.run(_runner(tmp_path, method, "--executor", "ray", "--address", cluster.address),
                       cwd=REPO, env=cluster.env, check=True)
    _same_numbers(_logs(tmp_path), local_logs)


@pytest.mark.xdist_group("ray")
def test_a_killed_ray_worker_is_retried_and_every_log_is_intact(cluster, local_logs, tmp_path):
    grid = subprocess.Popen(_runner(tmp_path, "weaknas", "--datasets", "cifar10", "--executor", "ray",
                                    "--address", cluster.address),
                            cwd=REPO, env=cluster.env, stderr=subprocess.PIPE, text=True)
    killed, logs_at_kill = None, None
    deadline = time.monotonic() + 120
    while killed is None and grid.poll() is None and time.monotonic() < deadline:
        busy = cluster.busy_workers()
        if busy:
            logs_at_kill = len(list(tmp_path.rglob("seed_*.json")))
            os.kill(busy[0], signal.SIGKILL)
            killed = busy[0]
        time.sleep(0.02)
    _, stderr = grid.communicate(timeout=300)
    assert killed is not None and logs_at_kill < 10, "no task was caught running"
    assert grid.returncode == 0, stderr
    assert not list(tmp_path.rglob("*.tmp"))
    weaknas = {path: log for path, log in local_logs.items() if "/cifar10/weaknas/" in path}
    _same_numbers(_logs(tmp_path), weaknas)  # every seed, and each log complete


@pytest.mark.xdist_group("ray")
def test_an_input_error_in_one_ray_task_fails_the_grid_at_once_with_one_line(cluster):
    script = (
        "import json\n"
        "from preprocessing.errors import cli_entry\n"
        "from search_methods.executor import Executor, ExecutorOptions, TasksFailed\n"
        "from tests.test_executor import sleep_or_refuse\n"
        "@cli_entry\n"
        "def main():\n"
        f"    with Executor(ExecutorOptions(backend='ray', address='{cluster.address}'), shared=3.0) as executor:\n"
        "        try:\n"
        "            list(executor.map(sleep_or_refuse, [4, 5]))\n"
        "        except TasksFailed as failed:\n"
        "            summary = str(failed)\n"
        "        done = []\n"
        "        try:\n"
        "            for item, _ in executor.map(sleep_or_refuse, [0, 1, 2] + list(range(6, 26))):\n"
        "                done.append(item)\n"
        "        finally:\n"
        "            print(json.dumps([summary, len(done)]))\n"
        "main()\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=cluster.env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "error: task 2 got bad input; fix it\n"
    summary, finished = json.loads(proc.stdout)
    assert finished < 10  # of 22 good tasks: the rest were cancelled, not run first (2 CPUs, 3 s each)
    # any other failure is summarised per task, with the worker's traceback
    assert summary.startswith("1 of 2 tasks failed") and "\n  5: RuntimeError: a bug in task 5" in summary
    assert 'raise RuntimeError("a bug in task 5")' in summary
