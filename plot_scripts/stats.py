"""Statistics of the result logs that every summary and figure shares.

* **Which runs belong together** (:func:`group_name`): logs are pooled by method *and* configuration.
  A log that carries the runner's config identity (``identity_digest`` and its human name
  ``config_label``, written by :mod:`search_methods.results`) is grouped by it; an older log without one is grouped by its
  ``config``. When one method has logs of several configurations, each group's name carries the
  settings that tell them apart (``evolution [population=30,tournament=10]``), so two configurations
  are never averaged under one name.
* **A cell** (:func:`describe`): n, mean, sample std (ddof 1) and a seeded 95% percentile-bootstrap
  confidence interval of the mean (:data:`RESAMPLES` resamples, seed :data:`BOOTSTRAP_SEED`, so the
  same logs always give the same interval).
* **"A beats B"** (:func:`compare`) only where the two intervals do not overlap.
* **Budgets** (:func:`prefix_result`): the best-by-valid cell among a run's first k queries and its
  test accuracy (validation where the log has no test accuracy), read from the trajectory.
* **Queries to the optimum** (:func:`queries_to_optimum`): the first query of the table's
  best-by-valid cell in a run's trajectory; a run that did not query it is "not found within" its
  length.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from functools import lru_cache

import numpy as np

from preprocessing.errors import InputError

LEVEL = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
BUDGETS = (30, 50, 100, 150)


# ---- grouping -------------------------------------------------------------------------------------
def _logged_identity(log: dict) -> tuple[str, str] | None:
    """(identity_digest, config_label) the runner wrote (search_methods.results), if the log has them."""
    digest = log.get("identity_digest")
    return (str(digest), str(log.get("config_label") or "")) if digest else None


def _config_digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _differing_label(configs: list[dict], this: dict) -> str:
    """The settings of ``this`` that differ between ``configs`` ('k=v,...'). A key some configs lack
    counts as equal to the others' value (a flag added after the older logs, whose default the
    runner also assumes for them)."""
    keys = sorted({k for c in configs for k in c})
    differing = [k for k in keys if len({json.dumps(c[k], sort_keys=True, default=str) for c in configs if k in c}) > 1]
    return ",".join(f"{k}={this.get(k, '?')}" for k in differing)


def group_name(logs: list[dict]) -> list[str]:
    """The row name of each log: its method, plus a bracketed label when the method's logs here
    come from more than one configuration (or carry a label of their own)."""
    by_method: dict[str, list[int]] = defaultdict(list)
    for i, log in enumerate(logs):
        by_method[log["method"]].append(i)
    names = [""] * len(logs)
    for method, idx in by_method.items():
        identities = [_logged_identity(logs[i]) for i in idx]
        if all(identities):
            labels_of: dict[str, set[str]] = defaultdict(set)
            for digest, label in identities:
                labels_of[label].add(digest)
            for i, (digest, label) in zip(idx, identities):
                if len(labels_of[label]) > 1:  # one label, two configurations: keep them apart
                    label = f"{label} {digest[:6]}".strip()
                names[i] = f"{method} [{label}]" if label else method
            continue
        # no (or not every log has an) identity: tell configurations apart by their config
        configs = [logs[i].get("config") or {} for i in idx]
        digests = [_config_digest(_normalised(c, configs)) for c in configs]
        for i, config, digest in zip(idx, configs, digests):
            names[i] = method if len(set(digests)) == 1 else \
                f"{method} [{_differing_label(configs, config) or digest[:6]}]"
    return names


def _normalised(config: dict, configs: list[dict]) -> dict:
    """``config`` with the keys it lacks filled from the others (see :func:`_differing_label`)."""
    out = dict(config)
    for other in configs:
        for key, value in other.items():
            out.setdefault(key, value)
    return out


def grouped(logs: list[dict]) -> dict[tuple, list[dict]]:
    """(protocol, space, name, dataset) -> logs, names from :func:`group_name`."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for log, name in zip(logs, group_name(logs)):
        groups[(log["protocol"], log["space"], name, log["dataset"])].append(log)
    return dict(groups)


# ---- one cell ------------------------------------------------------------------------------------
def bootstrap_ci(values, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean; seeded, so it is the same for the same values."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


def describe(values) -> dict:
    """n, mean, std (ddof 1; 0 for one value), and the bootstrap interval of the mean."""
    values = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(values)
    return {"n": len(values), "mean": float(values.mean()) if len(values) else float("nan"),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0, "ci_low": low, "ci_high": high}


def compare(a: dict, b: dict) -> str:
    """'beats' when a's interval lies above b's, 'trails' when below, else 'overlaps' (no claim)."""
    if a["ci_low"] > b["ci_high"]:
        return "beats"
    if a["ci_high"] < b["ci_low"]:
        return "trails"
    return "overlaps"


def beats(a: dict, b: dict) -> bool:
    return compare(a, b) == "beats"


def format_cell(stat: dict, digits: int = 2) -> str:
    return (f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f} "
            f"[{stat['ci_low']:.{digits}f}, {stat['ci_high']:.{digits}f}]")


# ---- budgets -------------------------------------------------------------------------------------
def reported_metric(logs: list[dict]) -> str:
    """'test' when every log reports a test accuracy, else 'valid' (e.g. the DARTS proxy)."""
    return "test" if all(log["final"].get("best_test") is not None for log in logs) else "valid"


def prefix_result(log: dict, queries: int) -> dict | None:
    """The log's best-by-valid entry after its first ``queries`` queries, or None when the run is
    shorter and did not stop because it had found the optimum (a queries-to-optimum run)."""
    trajectory = log["trajectory"]
    if len(trajectory) >= queries:
        return trajectory[queries - 1]
    if trajectory and log.get("queries_to_optimum") is not None:
        return trajectory[-1]  # the best by validation cannot change after the optimum
    return None


def budget_cell(logs: list[dict], queries: int, metric: str) -> dict | None:
    """Statistics of ``best_<metric>`` after ``queries`` queries, or None unless every run has that prefix."""
    entries = [prefix_result(log, queries) for log in logs]
    if any(e is None for e in entries):
        return None
    return describe([e[f"best_{metric}"] for e in entries])


# ---- queries to the optimum ----------------------------------------------------------------------
_TARGETS: dict[tuple, str] = {}


def logged_table(log: dict) -> str | None:
    """The table the run searched (its ``config['table']``; None = the space's embedded one)."""
    return (log.get("config") or {}).get("table")


@lru_cache(maxsize=4)
def search_setup(space: str, table: str | None):
    """The search setup of a space and table, loaded once: every log of a grid names the same one."""
    from search_methods.run import load_search_setup

    return load_search_setup(space, table)  # InputError for a space without a table


def target_arch(log: dict) -> str:
    """Architecture string of the table's best-by-valid cell (seed-mean validation) for the log's
    dataset, in the table the run searched (:func:`logged_table`)."""
    if log.get("target_arch"):
        return log["target_arch"]
    key = (log["space"], logged_table(log), log["dataset"])
    if key not in _TARGETS:
        from search_methods.queries_to_optimum import optimum

        setup = search_setup(log["space"], logged_table(log))
        _TARGETS[key] = setup.space.to_string(optimum(setup, log["dataset"]))
    return _TARGETS[key]


def queries_to_optimum(log: dict) -> int | None:
    """1-based query at which the run first queried the optimum, None when it never did."""
    if "queries_to_optimum" in log:
        return log["queries_to_optimum"]
    target = target_arch(log)
    for entry in log["trajectory"]:
        if entry["arch"] == target:
            return entry["query"]
    return None


def run_length(log: dict) -> int:
    """How far a run would have looked for the optimum: a queries-to-optimum run (which stops when it finds
    it) its query budget, an ordinary run its trajectory's length."""
    if "queries_to_optimum" in log and log["budget"].get("queries"):
        return int(log["budget"]["queries"])
    return len(log["trajectory"])


def q2o_cell(logs: list[dict]) -> dict:
    """found / runs, the shortest :func:`run_length` (every run looked at least this far), mean ± std and median
    over the runs that found it, the median with not-found runs counted as later than any found one
    (finite when more than half found it), and the mean with not-found runs counted at their length
    (a lower bound whenever a run did not find it)."""
    found = [queries_to_optimum(log) for log in logs]
    lengths = [run_length(log) for log in logs]
    hits = np.array([f for f in found if f is not None], dtype=float)
    censored = np.array([f if f is not None else np.inf for f in found], dtype=float)
    median_all = float(np.median(censored)) if len(hits) * 2 > len(found) else float("inf")
    return {"runs": len(logs), "found": len(hits), "within": min(lengths), "longest": max(lengths),
            "mean": float(hits.mean()) if len(hits) else float("nan"),
            "std": float(hits.std(ddof=1)) if len(hits) > 1 else 0.0,
            "median_all": median_all,
            "mean_capped": float(np.mean([f if f is not None else n for f, n in zip(found, lengths)]))}
