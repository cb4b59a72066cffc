"""Time the vectorised NB101 enumeration against the official per-matrix loop, in one process.

The baseline is the official generator's algorithm written as a plain Python loop: for every
upper-triangular bit pattern build the matrix and test "full DAG, <= 9 edges"; for every surviving
matrix hash all 3^(n-2) labellings one by one and keep the first per hash. Running it to the end
takes ~10 minutes, so it is timed on a fixed sample (``--sample-patterns`` bit patterns of 7-vertex
matrices, ``--sample-graphs`` labelled full DAGs) and extrapolated with the exact counts of the
space: ``sum_n 2^(n(n-1)/2) * t_pattern + (number of labelled full DAGs) * t_hash``.

Both wall time and CPU time (this process plus its worker processes) are reported: on a shared
machine the CPU-time ratio is the one that does not depend on what else is running.

    python -m benchmarks.bench_nb101_enumeration [--workers 2]
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from preprocessing.nasbench101 import MAX_EDGES, MAX_VERTICES, module_hash_of
from preprocessing.nb101_enumerate import N_CELLS, edge_bit, enumerate_space, full_dag_bits, matrices_from_bits
from search_methods.executor import ExecutorOptions


def _pattern_check(bits: int, n: int) -> bool:
    """One iteration of the official outer loop: build the matrix, test full DAG and edge count."""
    matrix = np.zeros((n, n), dtype=np.int8)
    for dst in range(1, n):
        for src in range(dst):
            matrix[src, dst] = (bits >> edge_bit(src, dst)) & 1
    full = not (matrix[: n - 1] == 0).all(axis=1).any() and not (matrix[:, 1:] == 0).all(axis=0).any()
    return full and matrix.sum() <= MAX_EDGES


def baseline_seconds(sample_patterns: int, sample_graphs: int, rng: np.random.Generator) -> float:
    n = MAX_VERTICES
    patterns = rng.integers(0, 2 ** (n * (n - 1) // 2), size=sample_patterns)
    start = time.process_time()
    for bits in patterns.tolist():
        _pattern_check(bits, n)
    per_pattern = (time.process_time() - start) / sample_patterns

    full = full_dag_bits(n)
    picks = rng.integers(0, len(full), size=sample_graphs)
    labelings = rng.integers(0, 3, size=(sample_graphs, n - 2))
    matrices = matrices_from_bits(full[picks], n)
    buckets: dict[str, tuple] = {}
    start = time.process_time()
    for matrix, labeling in zip(matrices, labelings.tolist()):
        labels = [-1, *labeling, -2]
        buckets.setdefault(module_hash_of(matrix, labels), (matrix, labels))
    per_graph = (time.process_time() - start) / sample_graphs

    n_patterns = sum(2 ** (k * (k - 1) // 2) for k in range(2, n + 1))
    n_graphs = sum(len(full_dag_bits(k)) * 3 ** (k - 2) for k in range(2, n + 1))
    print(f"baseline (CPU time): {per_pattern * 1e6:.1f} us per bit pattern x {n_patterns:,}, "
          f"{per_graph * 1e6:.1f} us per labelled graph x {n_graphs:,}")
    return per_pattern * n_patterns + per_graph * n_graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="hashing processes of the vectorised run")
    parser.add_argument("--sample-patterns", type=int, default=20_000, help="bit patterns timed for the baseline")
    parser.add_argument("--sample-graphs", type=int, default=3_000, help="labelled graphs hashed for the baseline")
    parser.add_argument("--seed", type=int, default=0, help="seed of the baseline sample")
    args = parser.parse_args()

    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    table = enumerate_space(options=ExecutorOptions(workers=args.workers), progress=False)
    wall = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before
    assert len(table) == N_CELLS, len(table)
    print(f"vectorised: {len(table):,} cells in {wall:.1f} s wall, {cpu:.1f} s CPU, {args.workers} worker(s)")
    baseline = baseline_seconds(args.sample_patterns, args.sample_graphs, np.random.default_rng(args.seed))
    print(f"baseline (extrapolated, 1 core): {baseline:.0f} s CPU")
    print(f"speed-up: {baseline / cpu:.1f}x in CPU time, {baseline / wall:.1f}x in wall time")


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the hashing workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
