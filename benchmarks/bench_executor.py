"""Ray's overhead on one machine: a P150 grid of weaknas (20 seeds x 3 datasets), local processes vs Ray.

    nice -n 10 python -m benchmarks.bench_executor [--seeds 20] [--workers 2]

Each grid is the protocol runner as a subprocess, from an empty output folder, with identical
arguments and ``--workers`` parallel runs:

* ``local``: ``--executor local`` (the baseline);
* ``ray cluster``: ``--executor ray --address`` a Ray head this script starts beforehand on
  127.0.0.1 with ``--workers`` CPUs (the case the executor is for: a running cluster; its start is
  not timed, the driver's connection, the workers' start and every task are);
* ``ray private``: ``--executor ray`` without an address, so the runner also starts and stops its
  own local Ray instance (timed).

Printed: wall seconds of each, and each Ray variant's time as a ratio of the local one (the
overhead goal: at most 1.15 for the cluster). The logs' ``final`` and ``trajectory`` are checked
identical across the three. The timings depend on the load of the machine: say what it was.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from search_methods.executor import REPO_ROOT
from search_methods.ray_head import RayHead


def timed_grid(out: Path, seeds: int, workers: int, extra: list[str], env: dict) -> float:
    command = [sys.executable, "-m", "search_methods.run", "--method", "weaknas", "--queries", "150",
               "--seeds", str(seeds), "--workers", str(workers), "--quiet", "--out", str(out), *extra]
    start = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True)
    return time.perf_counter() - start


def numbers(out: Path) -> dict:
    logs = {str(p.relative_to(out)): json.loads(p.read_text()) for p in sorted(out.rglob("seed_*.json"))}
    return {path: json.dumps([log["final"], log["trajectory"]]) for path, log in logs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per dataset (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="parallel runs, local and Ray alike (default 2)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seconds = {"local": timed_grid(tmp / "local", args.seeds, args.workers, [], dict(os.environ))}
        with RayHead(cpus=args.workers) as head:
            seconds["ray cluster"] = timed_grid(tmp / "cluster", args.seeds, args.workers,
                                                ["--executor", "ray", "--address", head.address], head.env)
        seconds["ray private"] = timed_grid(tmp / "private", args.seeds, args.workers, ["--executor", "ray"],
                                            dict(os.environ))
        reference = numbers(tmp / "local")
        assert len(reference) == 3 * args.seeds
        for name in ("cluster", "private"):
            assert numbers(tmp / name) == reference, f"ray {name} logs differ from local ones"
    runs = 3 * args.seeds
    for name, value in seconds.items():
        ratio = value / seconds["local"]
        print(f"{name:>12}: {value:6.1f} s for {runs} runs ({args.workers} parallel)  ratio to local {ratio:.3f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}; final and trajectory identical in all three")


if __name__ == "__main__":
    main()
