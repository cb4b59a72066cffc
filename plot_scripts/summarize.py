"""Tables of the search logs: final result, result at each query budget, queries to the optimum.

    python -m plot_scripts.summarize [--root saved_logs] [--protocol q150] [--budgets 30 50 100 150]
                                     [--reference evolution] [--markdown OUT.md]

Reads only the result logs (see search_methods/results.py). Rows follow the method order of
:mod:`plot_scripts.methods` (family, then name); runs of different configurations of one method are
separate rows (see :func:`plot_scripts.stats.group_name`). Each cell is the test accuracy of the
best-by-valid architecture (validation where the logs have no test accuracy): mean ± std over seeds
and the 95% bootstrap interval of the mean in brackets.

* **final**: after the whole run.
* **budgets**: after the first k queries of each run (the trajectory's prefix). For a method whose
  choices do not depend on the budget this is the k-query run itself; for one that plans by its
  budget (WeakNAS's schedule reads it) it is the anytime result of the longer run.
* **queries to the optimum**: when each run first queried the table's best-by-valid cell.
* **--reference M**: which rows beat / trail M, only where the intervals do not overlap.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from plot_scripts import stats
from plot_scripts.methods import sort_key
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from search_methods import results

DATASET_ORDER = ("cifar10", "cifar100", "ImageNet16-120")


def dataset_key(dataset: str) -> tuple:
    return (DATASET_ORDER.index(dataset) if dataset in DATASET_ORDER else len(DATASET_ORDER), dataset)


def row_key(row: dict) -> tuple:
    return row["protocol"], row["space"], sort_key(row["method"]), dataset_key(row["dataset"])


def summary_rows(logs: list[dict], budgets=()) -> list[dict]:
    """One row per (protocol, space, method [label], dataset): the final result's statistics
    (``valid``, ``test``: :func:`plot_scripts.stats.describe`; ``test`` None without test accuracies),
    ``metric`` (what the table reports), mean queries, and ``budgets`` {k: stats or None}."""
    rows = []
    for (protocol, space, name, dataset), group in stats.grouped(logs).items():
        metric = stats.reported_metric(group)
        valid = stats.describe([g["final"]["best_valid"] for g in group])
        test = stats.describe([g["final"]["best_test"] for g in group]) if metric == "test" else None
        rows.append({"protocol": protocol, "space": space, "method": name, "dataset": dataset, "n": len(group),
                     "metric": metric, "valid": valid, "test": test, "reported": test or valid,
                     "queries": float(np.mean([g["n_queries"] for g in group])),
                     "budgets": {k: stats.budget_cell(group, k, metric) for k in budgets}, "logs": group})
    return sorted(rows, key=row_key)


def _tables(rows: list[dict]):
    """(protocol, space, rows) per table, in order."""
    for protocol, space in sorted({(r["protocol"], r["space"]) for r in rows}):
        yield protocol, space, [r for r in rows if (r["protocol"], r["space"]) == (protocol, space)]


def _datasets(rows: list[dict]) -> list[str]:
    return sorted({r["dataset"] for r in rows}, key=dataset_key)


def _methods(rows: list[dict]) -> list[str]:
    return sorted({r["method"] for r in rows}, key=sort_key)


def _find(rows, method, dataset):
    match = [r for r in rows if r["method"] == method and r["dataset"] == dataset]
    return match[0] if match else None


def _header(columns, lead=("method",)) -> list[str]:
    """The two header lines of a markdown table with the ``lead`` columns, then ``columns``."""
    names = [*lead, *columns]
    return ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]


def _metric_note(rows) -> str:
    metrics = {r["metric"] for r in rows}
    return "test accuracy" if metrics == {"test"} else "validation accuracy" if metrics == {"valid"} else \
        "test accuracy (validation where a cell says 'valid')"


def markdown_table(rows: list[dict]) -> str:
    """Final results: methods as rows, datasets as columns; 'mean ± std [95% CI] (valid mean; n)'."""
    lines = []
    for protocol, space, sub in _tables(rows):
        datasets = _datasets(sub)
        lines.append(f"Protocol `{protocol}` ({space}): {_metric_note(sub)} of the best-by-valid architecture at the "
                     f"end of the run, mean ± std over seeds [95% bootstrap CI of the mean] (validation mean; n = "
                     f"seeds)\n")
        lines += _header(datasets)
        for method in _methods(sub):
            cells = []
            for ds in datasets:
                r = _find(sub, method, ds)
                cells.append("–" if r is None else f"{stats.format_cell(r['reported'])}"
                             f"{' valid' if r['metric'] == 'valid' else ''} ({r['valid']['mean']:.2f}; n={r['n']})")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def budget_table(rows: list[dict], budgets) -> str:
    """Every method x budget x dataset: 'mean ± std [95% CI]' after the first k queries."""
    lines = []
    for protocol, space, sub in _tables(rows):
        datasets = _datasets(sub)
        lines.append(f"Protocol `{protocol}` ({space}) at query budgets: {_metric_note(sub)} of the best-by-valid "
                     f"architecture among each run's first k queries, mean ± std [95% bootstrap CI]; '–' = the "
                     f"runs are shorter than k\n")
        lines += _header(datasets, lead=("method", "k"))
        for method in _methods(sub):
            for k in budgets:
                cells = []
                for ds in datasets:
                    r = _find(sub, method, ds)
                    cell = None if r is None else r["budgets"].get(k)
                    cells.append("–" if cell is None else stats.format_cell(cell))
                lines.append(f"| {method} | {k} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def q2o_table(rows: list[dict]) -> str:
    """Queries until the table's best-by-valid cell is first queried, per method and dataset."""
    lines = []
    for protocol, space, sub in _tables(rows):
        if space == "darts":  # proxy-evaluated cells: no table knows the best one
            continue
        datasets = _datasets(sub)
        lines.append(f"Protocol `{protocol}` ({space}), queries to the optimum (the table's best cell by seed-mean "
                     f"validation): found / runs within the first w queries (w = the smallest budget), mean ± std "
                     f"over the runs that found it, median over all runs (not found = later; '> w' when half or more "
                     f"did not find it)\n")
        lines += _header(datasets)
        for method in _methods(sub):
            cells = []
            for ds in datasets:
                r = _find(sub, method, ds)
                if r is None:
                    cells.append("–")
                    continue
                try:
                    c = stats.q2o_cell(r["logs"])
                except InputError as exc:  # the table the run searched is not on this machine
                    cells.append(f"– ({exc})")
                    continue
                mean = f"{c['mean']:.0f} ± {c['std']:.0f}" if c["found"] else "–"
                median = f"{c['median_all']:.0f}" if np.isfinite(c["median_all"]) else f"> {c['within']}"
                cells.append(f"{c['found']}/{c['runs']} within {c['within']}: {mean}, median {median}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def comparison_table(rows: list[dict], reference: str, budgets) -> str:
    """Each method against ``reference`` per dataset and budget: '>' beats, '<' trails (intervals
    separate), '≈' the intervals overlap (no claim)."""
    symbol = {"beats": ">", "trails": "<", "overlaps": "≈"}
    lines = []
    for protocol, space, sub in _tables(rows):
        if reference not in {r["method"] for r in sub}:
            continue
        datasets = _datasets(sub)
        columns = [(ds, k) for ds in datasets for k in (*budgets, "final")]
        lines.append(f"Protocol `{protocol}` ({space}) against `{reference}`: '>' = the 95% intervals separate "
                     f"and the method is higher, '<' lower, '≈' they overlap (no claim)\n")
        lines += _header([f"{ds} @{k}" for ds, k in columns])
        for method in _methods(sub):
            if method == reference:
                continue
            cells = []
            for ds, k in columns:
                r, ref = _find(sub, method, ds), _find(sub, reference, ds)
                a = None if r is None else (r["reported"] if k == "final" else r["budgets"].get(k))
                b = None if ref is None else (ref["reported"] if k == "final" else ref["budgets"].get(k))
                cells.append("–" if a is None or b is None else symbol[stats.compare(a, b)])
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def report(logs: list[dict], budgets=stats.BUDGETS, reference: str | None = None, q2o: bool = True) -> str:
    rows = summary_rows(logs, budgets)
    parts = [markdown_table(rows)]
    if budgets:
        parts.append(budget_table(rows, budgets))
    if q2o:
        parts.append(q2o_table(rows))
    if reference:
        parts.append(comparison_table(rows, reference, budgets))
    return "\n".join(p for p in parts if p)


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m plot_scripts.summarize",
                                     description="Summarize search logs: final result, result at query budgets "
                                                 "and queries to the optimum, with bootstrap intervals.")
    parser.add_argument("--root", default=str(results.ROOT), help="root folder of the logs (default saved_logs)")
    parser.add_argument("--protocol", default="*", help="protocol folder name or glob (default: all)")
    parser.add_argument("--space", default="*", help="space: nb201, nb101, darts or a glob (default: all)")
    parser.add_argument("--budgets", type=int, nargs="*", default=list(stats.BUDGETS),
                        help="query budgets of the budgets table (default 30 50 100 150; none = no table)")
    parser.add_argument("--no-q2o", action="store_true", help="leave out the queries-to-optimum table")
    parser.add_argument("--reference", default=None, metavar="METHOD",
                        help="also tabulate which rows beat / trail this one (intervals separate)")
    parser.add_argument("--markdown", default=None, help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    if any(k < 1 for k in args.budgets):
        raise InputError(f"--budgets {args.budgets}: every budget must be at least 1 query")
    logs = results.read_logs(args.root, protocol=args.protocol, space=args.space)
    if not logs:
        raise InputError(f"no result logs under {args.root} for protocol {args.protocol!r}; run a search first "
                         "(bash run_scripts/run_nb201.sh random)")
    if args.reference and args.reference not in {name for name in stats.group_name(logs)}:
        raise InputError(f"--reference {args.reference!r} is not a row of these logs; rows: "
                         f"{', '.join(sorted(set(stats.group_name(logs)), key=sort_key))}")
    table = report(logs, tuple(args.budgets), args.reference, q2o=not args.no_q2o)
    print(table)
    if args.markdown:
        atomic_write(args.markdown, lambda tmp: Path(tmp).write_text(table))


if __name__ == "__main__":
    main()
