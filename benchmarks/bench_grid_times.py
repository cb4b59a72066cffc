"""P150 grid time of every registered method (300 runs: 3 NB201 datasets x 100 seeds, 2 worker processes).

    python -m benchmarks.bench_grid_times [--methods M ...] [--seeds-per-dataset 2] [--full METHOD ...]

Extrapolated (default): each method's ``prepare`` runs once (loading the pretrained models; a
missing model is pretrained first, and that time is reported but not counted), then
``--seeds-per-dataset`` runs per dataset are timed in this process exactly as a runner worker runs
them (one torch and one BLAS thread, :func:`search_methods.run.run_one`), after one untimed warm-up
run (lazy imports, the worker's one-off setup). A grid spreads its runs over 2 processes, one per core,
so its time on an idle 2-core machine is ``300 x CPU seconds per run / 2``; CPU seconds, not wall
seconds, because on a shared machine the wall time measures the other users. ``--full METHOD``
instead runs that method's whole grid with the runner (2 workers, into a temporary folder) and
reports its real wall time, which on a shared machine includes the waiting.

The limit of the project: no P150 grid above 10 minutes on 2 cores. Every line says the load
average of the machine while it was measured; above 1 per core the machine was shared.
``supervised_bo`` is also timed with ``--warm-epochs 10`` (refits continue the previous GIN instead of
retraining it from scratch: faster, but measured 0.1 worse on cifar10, so not the default) in the
same process: the printed ratio is its speed-up. CPU seconds on a heavily shared machine still
vary (up to 2x between measurements at load 20 on 2 cores): compare ratios from one run.

A virtual machine's speed also drifts with what shares its host, which its load average does not
show (the same supervised_bo code measured 3.17 and 6.61 CPU-s per run ten minutes apart on an idle
guest). So the first and last lines also time a fixed reference workload, one supervised-BO surrogate
fit (a GIN of width 32 trained for 50 full-batch epochs on 80 NB201 cells, the median of 5): when
it reads slower than usual, every figure of the run is slow by about as much.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

# Runner workers read these when numpy loads: one BLAS thread, as in a grid.
os.environ.update({name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})

import numpy as np  # noqa: E402

from preprocessing.errors import InputError, cli_entry  # noqa: E402
from search_methods import run  # noqa: E402
from search_methods.registry import METHODS  # noqa: E402

LIMIT_S = 600.0
GRID_RUNS = 300
WORKERS = 2
OPTIONS = {"supervised_bo": ["--warm-epochs", "10"]}  # method -> flags of a faster, non-default (weaker) setting


def reference_fit_ms(repeats: int = 5) -> float:
    """Median CPU milliseconds of one fixed supervised-BO surrogate fit (see the module docstring)."""
    import torch

    from models.dngo import DNGO, BasisRegressor
    from models.supervised_embedding import GraphEncoder, TanhBasis, shared_wiring
    from preprocessing import spaces
    from search_methods.supervised_reinforce import all_cell_inputs

    torch.set_num_threads(1)
    space = spaces.full_space("nb201")
    cells = all_cell_inputs(space)[:80]
    wiring = shared_wiring(cells[..., :space.n_nodes], cells[..., space.n_nodes:])
    targets = np.linspace(0.0, 1.0, len(cells))
    surrogate = DNGO(lambda: BasisRegressor(TanhBasis(GraphEncoder(space.n_nodes, len(space.node_types),
                                                                    wiring=wiring)), 16), epochs=50)
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.process_time()
        surrogate.fit(cells, targets, seed=0)
        times.append(time.process_time() - start)
    return float(np.median(times[1:]) * 1e3)


def load_note() -> str:
    """The machine's load (1-minute average) against its cores, and whether it was shared."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    shared = "shared machine" if load > cores else "idle machine"
    return f"load {load:.1f} on {cores} cores, {shared}"


def timed_runs(method: str, seeds_per_dataset: int, extra: list[str]) -> dict:
    """Prepare once, one warm-up run, then the timed runs: CPU and wall seconds per run."""
    import torch

    torch.set_num_threads(1)
    args, module = run.parse_args(["--method", method, "--workers", "1", "--quiet", *extra])
    setup = run.load_search_setup(args.space, args.table)
    args.datasets = list(setup.datasets)
    start = time.perf_counter()
    context = module.prepare(args, setup.benchmark, setup.space) if hasattr(module, "prepare") else None
    prepare_s = time.perf_counter() - start
    run.run_one(args, module, context, args.datasets[0], 10_000)  # warm-up: lazy imports, worker setup
    cpu, wall, tests = [], [], []
    for dataset in args.datasets:
        for seed in range(seeds_per_dataset):
            c, w = time.process_time(), time.perf_counter()
            log = run.run_one(args, module, context, dataset, seed)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
            tests.append(log["final"]["best_test"])
    return {"prepare_s": prepare_s, "cpu": np.array(cpu), "wall": np.array(wall), "tests": tests}


def full_grid_seconds(method: str) -> float:
    """Wall seconds of the method's whole P150 grid run by the runner with 2 workers (temporary logs)."""
    out = tempfile.mkdtemp(prefix="bench_grid_")
    try:
        args, module = run.parse_args(["--method", method, "--seeds", "100", "--workers", str(WORKERS),
                                       "--out", out, "--quiet"])
        start = time.perf_counter()
        run.run_grid(args, module)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def verdict(seconds: float) -> str:
    return "ok" if seconds <= LIMIT_S else "OVER the 10-minute limit"


@cli_entry
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_grid_times",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), metavar="METHOD",
                        help="methods to time (default: every registered method)")
    parser.add_argument("--seeds-per-dataset", type=int, default=2,
                        help="timed runs per dataset for the extrapolation (default 2, i.e. 6 runs per method)")
    parser.add_argument("--full", nargs="*", default=[], metavar="METHOD",
                        help="run these methods' whole 300-run grids instead and report the real wall time")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.methods + args.full) - set(METHODS))
    if unknown:
        raise InputError(f"unknown method(s) {', '.join(unknown)}; available: {', '.join(METHODS)}")
    if args.seeds_per_dataset < 1:
        raise InputError("--seeds-per-dataset must be at least 1")
    print(f"P150 grid = {GRID_RUNS} runs on {WORKERS} workers; limit {LIMIT_S / 60:.0f} min; start: {load_note()}; "
          f"reference fit {reference_fit_ms():.0f} CPU-ms", flush=True)
    grid_s = {}
    for method in args.methods:
        if method in args.full:
            seconds = full_grid_seconds(method)
            grid_s[method] = seconds
            print(f"{method:>14}: whole grid measured {seconds / 60:5.1f} min wall ({load_note()}) "
                  f"{verdict(seconds)}", flush=True)
            continue
        timing = timed_runs(method, args.seeds_per_dataset, [])
        per_run = float(timing["cpu"].mean())
        seconds = GRID_RUNS * per_run / WORKERS
        grid_s[method] = seconds
        pretrain = f", prepare {timing['prepare_s']:.0f} s (not counted)" if timing["prepare_s"] > 5 else ""
        print(f"{method:>14}: {seconds / 60:5.1f} min extrapolated from {len(timing['cpu'])} runs "
              f"({per_run:.2f} CPU-s per run, {timing['wall'].mean():.2f} s wall{pretrain}; {load_note()}) "
              f"{verdict(seconds)}", flush=True)
        if method in OPTIONS:
            fast = timed_runs(method, args.seeds_per_dataset, OPTIONS[method])
            fast_s = GRID_RUNS * float(fast["cpu"].mean()) / WORKERS
            print(f"{'':>14}  with {' '.join(OPTIONS[method])}: {fast_s / 60:5.1f} min; {seconds / fast_s:.2f}x "
                  f"faster than the default (same process, {load_note()})", flush=True)
    worst = max(grid_s, key=grid_s.get)
    print(f"slowest: {worst} {grid_s[worst] / 60:.1f} min; end: {load_note()}; reference fit {reference_fit_ms():.0f} CPU-ms")
    return grid_s


if __name__ == "__main__":
    main()
