"""Queries needed to find a table's best-by-valid cell: table (Markdown + CSV) and box plot (PNG).

    python -m plot_scripts.queries_to_optimum [--root saved_logs] [--protocol q2o1000] [--space nb201] [--methods ...]
                                              [--out figures/weaknas]

Reads the logs of :mod:`search_methods.queries_to_optimum` (which stop at the optimum) or of any
ordinary grid (``--protocol q150``: the optimum's first position in each trajectory, see
:func:`plot_scripts.stats.queries_to_optimum`). Per method and dataset: runs, how many found the
optimum within their length, mean ± std over the runs that found it, the median over all runs (not
found = later than any found), and the mean with unfinished runs counted at their length (a lower
bound when some did not finish). Random search is simulated exactly and uncapped for
``--random-seeds`` seeds (its query order is the run: see
:func:`search_methods.queries_to_optimum.simulate_random`) and also gets its exact expectation: the
optimum sits at a uniform position of a random order of the N cells, so E = (N + 1) / 2 and
std = sqrt((N^2 - 1) / 12).

Because a queries-to-optimum run is the ordinary search cut short, its first Q queries are the
Q-query run itself (for methods whose choices do not depend on the budget: WeakNAS with a constant
top-N, regularized evolution). ``--prefix-table 150`` therefore also writes the P150 table of
these runs: final best-by-valid after 150 queries (or the optimum, if found sooner).
"""
from __future__ import annotations

import argparse
import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from plot_scripts import stats
from plot_scripts.methods import sort_key, styles
from plot_scripts.summarize import dataset_key, markdown_table, summary_rows
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from search_methods import results

COLUMNS = ("method", "dataset", "runs", "found", "within", "longest", "mean", "std", "median_all", "mean_capped")


def random_expectation(n_cells: int) -> tuple[float, float]:
    """Mean and std of the optimum's 1-based position in a uniform random order of n cells."""
    return (n_cells + 1) / 2, float(np.sqrt((n_cells ** 2 - 1) / 12))


def group_logs(logs: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(row name, dataset) -> logs, rows in the method order, configurations apart (stats.group_name)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for log, name in zip(logs, stats.group_name(logs)):
        groups[(name, log["dataset"])].append(log)
    return dict(sorted(groups.items(), key=lambda kv: (sort_key(kv[0][0]), dataset_key(kv[0][1]))))


def table_rows(groups: dict[tuple[str, str], list[dict]]) -> list[dict]:
    return [{"method": method, "dataset": dataset, **stats.q2o_cell(group)}
            for (method, dataset), group in groups.items()]


def markdown(rows: list[dict], n_cells: int, space: str = "nb201") -> str:
    expected, spread = random_expectation(n_cells)
    lines = [f"Queries until the best-by-valid cell is queried ({space}, {n_cells:,} cells, seed-mean validation). "
             "found / runs "
             "within w queries (w = the smallest budget), mean ± std over the runs that found it, median over all "
             "runs (not found = later), and the mean with not-found runs counted at their length (a lower bound).\n",
             "| method | dataset | found / runs | mean ± std | median | mean (not found at w) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        median = f"{r['median_all']:.0f}" if np.isfinite(r["median_all"]) else f"> {r['within']}"
        mean = f"{r['mean']:.1f} ± {r['std']:.1f}" if r["found"] else "–"
        lines.append(f"| {r['method']} | {r['dataset']} | {r['found']} / {r['runs']} within {r['within']} | "
                     f"{mean} | {median} | {r['mean_capped']:.1f} |")
    lines.append(f"| random (exact expectation) | any | - | {expected:.1f} ± {spread:.1f} | {expected:.0f} | - |")
    return "\n".join(lines) + "\n"


def prefix_logs(logs: list[dict], queries: int) -> list[dict]:
    """The Q-query result of each queries-to-optimum run (see the module docstring)."""
    out = []
    for log in logs:
        final = stats.prefix_result(log, queries)
        if final is None:
            raise InputError(f"{log['method']} seed {log['seed']} stopped at {len(log['trajectory'])} queries without "
                             f"the optimum; it has no {queries}-query prefix")
        out.append({**log, "protocol": f"q{queries} (prefix of {log['protocol']})", "n_queries": queries,
                    "final": {k: final[k] for k in ("best_arch", "best_valid", "best_test")}})
    return out


def random_logs(setup, datasets: list[str], n_seeds: int) -> list[dict]:
    """Random search's queries to the optimum for seeds 0..n-1 on a loaded search setup, simulated exactly (no cap)."""
    from search_methods.queries_to_optimum import optimum, simulate_random

    space = setup.space
    out = []
    for dataset in datasets:
        target = optimum(setup, dataset)
        out += [{"method": "random", "dataset": dataset, "seed": seed, "budget": {"queries": len(space)}, "config": {},
                 "queries_to_optimum": simulate_random(space, target, seed)} for seed in range(n_seeds)]
    return out


def box_plot(groups: dict[tuple[str, str], list[dict]], n_cells: int, path: Path, space: str = "nb201") -> None:
    """One panel per dataset: a box per method (runs that did not find the optimum drawn at their length,
    as crosses), the mean as a diamond, random search's exact expectation as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    datasets = sorted({d for _, d in groups}, key=dataset_key)
    names = sorted({m for m, _ in groups}, key=sort_key)
    look = styles(names)
    width = max(6.0, 0.55 * len(names) + 2.5)
    fig, axes = plt.subplots(len(datasets), 1, figsize=(width + 3.0, 3.6 * len(datasets)), squeeze=False,
                             layout="constrained")
    for ax, dataset in zip(axes[:, 0], datasets):
        methods = [m for m in names if (m, dataset) in groups]
        cells = [stats.q2o_cell(groups[(m, dataset)]) for m in methods]
        data = [[stats.queries_to_optimum(g) or stats.run_length(g) for g in groups[(m, dataset)]] for m in methods]
        boxes = ax.boxplot(data, showmeans=True, patch_artist=True, widths=0.6,
                           meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black"},
                           medianprops={"color": "black"}, flierprops={"marker": "o", "markersize": 3})
        for patch, method in zip(boxes["boxes"], methods):
            patch.set(facecolor=look[method]["color"], alpha=0.6)
        for i, method in enumerate(methods, start=1):
            missed = [stats.run_length(g) for g in groups[(method, dataset)] if stats.queries_to_optimum(g) is None]
            if missed:
                ax.scatter([i] * len(missed), missed, marker="x", color="red", s=30, zorder=3)
        ax.set_xticks(range(1, len(methods) + 1),
                      [f"{m}\n{c['found']}/{c['runs']}" for m, c in zip(methods, cells)], fontsize=8,
                      **({"rotation": 30, "ha": "right"} if len(methods) > 6 else {}))
        ax.axhline(random_expectation(n_cells)[0], ls="--", c="grey", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"{dataset} (under each method: runs that found it / runs)", fontsize=10)
        ax.set_ylabel("queries to the\nbest-by-valid cell")
        ax.grid(alpha=0.3, axis="y")
        handles = [Line2D([], [], color="black", label="median"),
                   Line2D([], [], marker="D", ls="", markerfacecolor="white", markeredgecolor="black", label="mean"),
                   Line2D([], [], marker="x", ls="", color="red", label="not found (at run length)"),
                   Line2D([], [], ls="--", color="grey", label="random, expected")]  # boxes: named by their ticks
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8,
                  frameon=False)
    fig.suptitle(f"{space} ({n_cells:,} cells): queries until the best cell by validation is queried")
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def write_csv(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)

    def write(tmp: str) -> None:
        Path(tmp).write_text(buffer.getvalue())

    atomic_write(path, write)


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m plot_scripts.queries_to_optimum", description="Queries-to-optimum table (Markdown, CSV) and box plot (PNG).")
    parser.add_argument("--root", default=str(results.ROOT), help="root of the result logs (default saved_logs)")
    parser.add_argument("--protocol", default="q2o1000", help="protocol folder of the runs (default q2o1000)")
    parser.add_argument("--space", default="nb201",
                        help="space of the logs (default nb201; nb101 = the embedded 30,001-cell table); random "
                             "search is simulated on the same space")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="methods to include (default: every method of the protocol, and random)")
    parser.add_argument("--random-seeds", type=int, default=100,
                        help="random search runs simulated per dataset (uncapped, exact; default 100)")
    parser.add_argument("--prefix-table", type=int, default=150,
                        help="also tabulate each run's result after this many queries (default 150; 0 = off)")
    parser.add_argument("--out", default="figures/weaknas", help="output folder (default figures/weaknas)")
    args = parser.parse_args(argv)
    logs = [log for log in results.read_logs(args.root, args.protocol, args.space)
            if log["method"] != "random" and (args.methods is None or log["method"] in args.methods)]
    if not logs:
        raise InputError(f"no queries-to-optimum logs under {args.root}/{args.protocol}/{args.space}; run "
                         f"python -m search_methods.queries_to_optimum --method METHOD first")
    tables = {stats.logged_table(log) for log in logs}  # random search runs on the logs' table
    if len(tables) > 1:
        raise InputError(f"the {args.protocol} logs searched {len(tables)} different {args.space} tables "
                         f"({', '.join(str(t) for t in tables)}); give a --root holding one table's logs")
    setup = stats.search_setup(args.space, tables.pop())  # the same load that finds the logs' optimum
    n_cells = len(setup.space)
    runs = logs + (random_logs(setup, sorted({log["dataset"] for log in logs}), args.random_seeds)
                   if args.methods is None or "random" in args.methods else [])
    groups = group_logs(runs)
    rows = table_rows(groups)
    out = Path(args.out)
    text = markdown(rows, n_cells, args.space)
    if args.prefix_table:
        capped = [log for log in logs if (log["budget"]["queries"] or 0) >= args.prefix_table]
        text += "\n" + markdown_table(summary_rows(prefix_logs(capped, args.prefix_table)))
    atomic_write(out / "queries_to_optimum.md", lambda tmp: Path(tmp).write_text(text))
    write_csv(rows, out / "queries_to_optimum.csv")
    box_plot(groups, n_cells, out / "queries_to_optimum.png", args.space)
    print(text)


if __name__ == "__main__":
    main()
