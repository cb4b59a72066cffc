"""Queries needed to find the best-by-valid NB201 cell: table (Markdown + CSV) and box plot (PNG).

    python -m plot_scripts.queries_to_optimum [--root saved_logs] [--protocol q2o1000] [--out figures/weaknas]

Reads the logs of :mod:`search_methods.queries_to_optimum`. Per method and dataset: runs, how many
found the optimum within the cap, mean ± std and median of the queries over the runs that found it,
and the mean with unfinished runs counted at the cap (a lower bound when some did not finish).
Random search is simulated exactly and uncapped for ``--random-seeds`` seeds (its query order is
the run: see :func:`search_methods.queries_to_optimum.simulate_random`) and also gets its exact
expectation: the optimum sits at a uniform position of a random order of the N cells, so
E = (N + 1) / 2 and std = sqrt((N^2 - 1) / 12).

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

from plot_scripts.summarize import DATASET_ORDER, markdown_table, summary_rows
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from search_methods import results

METHOD_ORDER = ("weaknas", "weaknas_ei", "evolution", "random")
COLUMNS = ("method", "dataset", "runs", "found", "cap", "mean", "std", "median", "mean_capped")


def random_expectation(n_cells: int) -> tuple[float, float]:
    """Mean and std of the optimum's 1-based position in a uniform random order of n cells."""
    return (n_cells + 1) / 2, float(np.sqrt((n_cells ** 2 - 1) / 12))


def _order(method: str, dataset: str) -> tuple:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else 99, method,
            DATASET_ORDER.index(dataset) if dataset in DATASET_ORDER else 99, dataset)


def group_logs(logs: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for log in logs:
        if "queries_to_optimum" not in log:
            raise InputError(f"log of {log.get('method')} seed {log.get('seed')} has no queries_to_optimum; "
                             f"point --protocol at logs written by search_methods.queries_to_optimum")
        groups[(log["method"], log["dataset"])].append(log)
    return dict(sorted(groups.items(), key=lambda kv: _order(*kv[0])))


def table_rows(groups: dict[tuple[str, str], list[dict]]) -> list[dict]:
    rows = []
    for (method, dataset), group in groups.items():
        cap = group[0]["budget"]["queries"]
        found = np.array([g["queries_to_optimum"] for g in group if g["queries_to_optimum"] is not None], dtype=float)
        capped = np.array([g["queries_to_optimum"] or cap for g in group], dtype=float)
        rows.append({"method": method, "dataset": dataset, "runs": len(group), "found": len(found), "cap": cap,
                     "mean": found.mean() if len(found) else float("nan"),
                     "std": found.std() if len(found) else float("nan"),
                     "median": float(np.median(found)) if len(found) else float("nan"),
                     "mean_capped": capped.mean()})
    return rows


def markdown(rows: list[dict], n_cells: int) -> str:
    expected, spread = random_expectation(n_cells)
    lines = ["Queries until the best-by-valid cell is queried (NAS-Bench-201, seed-mean validation). mean ± std "
             "and median over the runs that found it within the cap; 'capped' counts unfinished runs at the cap.\n",
             "| method | dataset | found / runs | mean ± std | median | mean (capped) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['dataset']} | {r['found']} / {r['runs']} (cap {r['cap']}) | "
                     f"{r['mean']:.1f} ± {r['std']:.1f} | {r['median']:.0f} | {r['mean_capped']:.1f} |")
    lines.append(f"| random (exact expectation) | any | - | {expected:.1f} ± {spread:.1f} | {expected:.0f} | - |")
    return "\n".join(lines) + "\n"


def prefix_logs(logs: list[dict], queries: int) -> list[dict]:
    """The Q-query result of each queries-to-optimum run (see the module docstring)."""
    out = []
    for log in logs:
        traj = log["trajectory"]
        found = log["queries_to_optimum"]
        if found is not None and found <= queries:
            final = traj[found - 1]
        elif len(traj) >= queries:
            final = traj[queries - 1]
        else:
            raise InputError(f"{log['method']} seed {log['seed']} stopped at {len(traj)} queries without the "
                             f"optimum; it has no {queries}-query prefix")
        out.append({**log, "protocol": f"q{queries} (prefix of {log['protocol']})", "n_queries": queries,
                    "final": {k: final[k] for k in ("best_arch", "best_valid", "best_test")}})
    return out


def random_logs(datasets: list[str], n_seeds: int) -> list[dict]:
    """Random search's queries to the optimum for seeds 0..n-1, simulated exactly (no cap)."""
    from preprocessing import spaces
    from search_methods.queries_to_optimum import optimum, simulate_random

    setup = spaces.load_search("nb201")
    space = setup.space
    out = []
    for dataset in datasets:
        target = optimum(setup, dataset)
        out += [{"method": "random", "dataset": dataset, "seed": seed, "budget": {"queries": len(space)},
                 "queries_to_optimum": simulate_random(space, target, seed)} for seed in range(n_seeds)]
    return out


def box_plot(groups: dict[tuple[str, str], list[dict]], n_cells: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({d for _, d in groups}, key=lambda d: _order("", d))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        methods = [m for m, d in groups if d == dataset]
        data = [[g["queries_to_optimum"] or g["budget"]["queries"] for g in groups[(m, dataset)]] for m in methods]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(methods) + 1), methods, rotation=20)
        ax.axhline(random_expectation(n_cells)[0], ls="--", c="grey", lw=1, label="random, expected")
        ax.set_yscale("log")
        ax.set_title(dataset)
        ax.set_ylabel("queries to the best-by-valid cell")
    axes[0][0].legend(loc="upper left", fontsize=8)
    fig.suptitle("NAS-Bench-201: queries until the global best (by validation) is queried")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
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
    parser = argparse.ArgumentParser(description="Queries-to-optimum table (Markdown, CSV) and box plot (PNG).")
    parser.add_argument("--root", default=str(results.ROOT), help="root of the result logs (default saved_logs)")
    parser.add_argument("--protocol", default="q2o1000", help="protocol folder of the runs (default q2o1000)")
    parser.add_argument("--methods", nargs="+", default=list(METHOD_ORDER), help="methods to include")
    parser.add_argument("--random-seeds", type=int, default=100,
                        help="random search runs simulated per dataset (uncapped, exact; default 100)")
    parser.add_argument("--prefix-table", type=int, default=150,
                        help="also tabulate each run's result after this many queries (default 150; 0 = off)")
    parser.add_argument("--out", default="figures/weaknas", help="output folder (default figures/weaknas)")
    args = parser.parse_args(argv)
    logs = [log for method in args.methods if method != "random"
            for log in results.read_logs(args.root, args.protocol, "nb201", "*", method)]
    if not logs:
        raise InputError(f"no queries-to-optimum logs under {args.root}/{args.protocol}; run "
                         f"python -m search_methods.queries_to_optimum --method METHOD first")
    from preprocessing.nasbench201 import N_ARCHS

    runs = logs + (random_logs(sorted({log["dataset"] for log in logs}), args.random_seeds)
                   if "random" in args.methods else [])
    groups = group_logs(runs)
    rows = table_rows(groups)
    out = Path(args.out)
    text = markdown(rows, N_ARCHS)
    if args.prefix_table:
        capped = [log for log in logs if log["budget"]["queries"] >= args.prefix_table]
        text += "\n" + markdown_table(summary_rows(prefix_logs(capped, args.prefix_table)))
    atomic_write(out / "queries_to_optimum.md", lambda tmp: Path(tmp).write_text(text))
    write_csv(rows, out / "queries_to_optimum.csv")
    box_plot(groups, N_ARCHS, out / "queries_to_optimum.png")
    print(text)


if __name__ == "__main__":
    main()
