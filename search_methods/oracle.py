"""The benchmark oracle: answers ``query(key)`` with the search signal and counts what asking cost.

A search method sees only :meth:`Oracle.query` (and the history of its own answers). Test
accuracy never reaches the method: the oracle keeps it for the trajectory's reporting columns.

Cost model: every *new* architecture costs one query plus its simulated training time
(``MetricTable.train_time_s``, or ``time_per_query`` overriding it). Re-querying an
architecture already seen returns the same value, costs nothing and is counted in
``n_requeries``. When the budget (queries and/or simulated seconds) is spent, further queries
raise :class:`BudgetExhausted`, which the protocol runner treats as the normal end of a run.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

from preprocessing.benchmark_table import Benchmark
from preprocessing.errors import InputError

SIGNALS = ("mean", "seed")


class BudgetExhausted(Exception):
    """Raised by :meth:`Oracle.query` once the query or time budget is spent."""


class BudgetedOracle(ABC):
    """Query accounting shared by every oracle: budget, history, re-queries and the trajectory.

    Subclasses say what one architecture is worth: :meth:`_signal` (the validation value a search
    sees), :meth:`_time` (its simulated cost in seconds) and :meth:`_test` (reporting only).

    Args:
        max_queries / max_time_s: budgets; a query is allowed while both are unspent.
        to_string: ``key -> canonical architecture string`` for the trajectory.
    """

    dataset = ""

    def __init__(self, max_queries: int | None, max_time_s: float | None, to_string: Callable[[int], str]):
        if max_queries is None and max_time_s is None:
            raise InputError("an oracle needs a budget: max_queries and/or max_time_s")
        self.max_queries = max_queries
        self.max_time_s = max_time_s
        self._to_string = to_string
        self._answers: dict[int, float] = {}
        self.n_requeries = 0
        self.sim_time_s = 0.0
        self.trajectory: list[dict] = []
        self._best_key: int | None = None

    @abstractmethod
    def _signal(self, key: int) -> float:
        """The validation value a search sees for ``key``."""

    @abstractmethod
    def _time(self, key: int) -> float:
        """Simulated cost of evaluating ``key``, seconds."""

    def _test(self, key: int) -> float | None:
        return None

    # ---- what a search method uses --------------------------------------------------------
    @property
    def n_queries(self) -> int:
        return len(self._answers)

    @property
    def exhausted(self) -> bool:
        return ((self.max_queries is not None and self.n_queries >= self.max_queries)
                or (self.max_time_s is not None and self.sim_time_s >= self.max_time_s))

    @property
    def remaining_queries(self) -> int | None:
        return None if self.max_queries is None else self.max_queries - self.n_queries

    def seen(self, key: int) -> bool:
        return int(key) in self._answers

    def history(self) -> tuple[np.ndarray, np.ndarray]:
        """(keys, signal values) of every architecture queried so far, in query order."""
        keys = np.fromiter(self._answers.keys(), dtype=np.int64, count=len(self._answers))
        values = np.fromiter(self._answers.values(), dtype=float, count=len(self._answers))
        return keys, values

    def query(self, key) -> float:
        key = int(key)
        if key in self._answers:
            self.n_requeries += 1
            return self._answers[key]
        if self.exhausted:
            raise BudgetExhausted
        value = self._signal(key)
        if not np.isfinite(value):
            raise InputError(f"architecture {self._to_string(key)} has no {self.dataset} value in this oracle")
        self._answers[key] = value
        self.sim_time_s += self._time(key)
        if self._best_key is None or value > self._answers[self._best_key]:
            self._best_key = key
        self.trajectory.append({
            "query": self.n_queries,
            "arch": self._to_string(key),
            "valid": value,
            "sim_time_s": self.sim_time_s,
            "best_arch": self._to_string(self._best_key),
            "best_valid": self._answers[self._best_key],
            "best_test": self._test(self._best_key),
        })
        return value

    def query_many(self, keys) -> np.ndarray:
        """Query in order (an evaluator may run the new ones in parallel); like :meth:`query`, raises
        :class:`BudgetExhausted` once the budget runs out part-way."""
        return np.asarray([self.query(key) for key in keys], dtype=float)


class Oracle(BudgetedOracle):
    """One dataset of a tabular benchmark, seen through a query budget.

    Args:
        benchmark: the table (rows = architecture keys).
        dataset: which of its datasets answers.
        signal: ``"mean"`` -- seed-mean validation accuracy; ``"seed"`` -- the validation accuracy
            of one training seed drawn at random per architecture (arch2vec / WeakNAS protocol).
        rng: draws the seed for ``signal="seed"``.
        max_queries / max_time_s: budgets; a query is allowed while both are unspent.
        time_per_query: optional ``key -> seconds`` replacing the table's training time.
        to_string: ``key -> canonical architecture string`` for the trajectory.
    """

    def __init__(self, benchmark: Benchmark, dataset: str, signal: str = "mean",
                 rng: np.random.Generator | None = None, max_queries: int | None = None,
                 max_time_s: float | None = None, time_per_query: Callable[[int], float] | None = None,
                 to_string: Callable[[int], str] | None = None):
        super().__init__(max_queries, max_time_s, to_string or (lambda key: str(benchmark.arch_strings[key])))
        if signal not in SIGNALS:
            raise InputError(f"unknown signal {signal!r}; choose one of {', '.join(SIGNALS)}")
        self.metrics = benchmark.metrics(dataset)
        if signal == "seed" and self.metrics.valid_seeds.shape[1] == 0:
            raise InputError(f"signal 'seed' needs per-seed values, which this {dataset} table lacks; use --signal mean")
        self.dataset = dataset
        self.signal = signal
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._time_per_query = time_per_query

    def _time(self, key: int) -> float:
        if self._time_per_query is not None:
            return self._time_per_query(key)
        return float(self.metrics.train_time_s[key])

    def _test(self, key: int) -> float | None:
        """Test accuracy for the trajectory's reporting column (None where the source has none)."""
        value = float(self.metrics.test_mean[key])
        return value if np.isfinite(value) else None

    def _signal(self, key: int) -> float:
        if self.signal == "mean":
            return float(self.metrics.valid_mean[key])
        seeds = self.metrics.valid_seeds[key]
        return float(self.rng.choice(seeds[np.isfinite(seeds)]))


class EvaluatorOracle(BudgetedOracle):
    """Answers by running a real evaluator (e.g. :class:`darts.proxy_evaluator.ProxyEvaluator`): the value is
    what it measures, the cost its measured seconds (no test accuracy: ``best_test`` stays None).

    Args:
        evaluator: ``evaluate(items) -> [(value, seconds), ...]``, in order (it may cache and parallelise).
        item_of: ``key -> item`` the evaluator takes (a DARTS genotype).
        batch: how many new architectures :meth:`query_many` hands the evaluator at once (its parallel
            workers); never more than the query budget has left, so no training is wasted under a query budget.
    """

    def __init__(self, evaluator, item_of: Callable[[int], object], dataset: str, max_queries: int | None,
                 max_time_s: float | None, to_string: Callable[[int], str], batch: int = 1):
        super().__init__(max_queries, max_time_s, to_string)
        self.evaluator = evaluator
        self.item_of = item_of
        self.dataset = dataset
        self.batch = max(1, int(batch))
        self._results: dict[int, tuple[float, float]] = {}

    def _evaluate(self, keys) -> None:
        new = [k for k in dict.fromkeys(int(k) for k in keys) if k not in self._results]
        for key, result in zip(new, self.evaluator.evaluate([self.item_of(k) for k in new])):
            self._results[key] = (float(result[0]), float(result[1]))

    def _signal(self, key: int) -> float:
        self._evaluate([key])
        return self._results[key][0]

    def _time(self, key: int) -> float:
        return self._results[key][1]

    def query_many(self, keys) -> np.ndarray:
        keys = [int(k) for k in keys]
        values = []
        for position, key in enumerate(keys):
            if not self.seen(key) and key not in self._results and not self.exhausted:
                # the next new architectures the budget can still pay for, evaluated together
                upcoming = [k for k in dict.fromkeys(keys[position:]) if not self.seen(k)]
                limit = self.batch if self.remaining_queries is None else min(self.remaining_queries, self.batch)
                self._evaluate(upcoming[:limit])
            values.append(self.query(key))
        return np.asarray(values, dtype=float)
