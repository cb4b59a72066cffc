"""Search curves and CDFs from the result logs, as PNG.

    python -m plot_scripts.plot_search_curves [--root saved_logs] [--protocol q150] [--methods a b ... --name NAME]
                                              [--out figures]

Per dataset, one figure of three panels, each with its legend to the right of the data: the
best-by-valid test accuracy (validation where the logs have no test accuracy: NB-101's embedded table, the
DARTS proxy; as :mod:`plot_scripts.summarize` reports) vs queries (log axis, the budgets of the summary's budget table
marked) and vs simulated training time (hours), mean with a ± std band over seeds, and the CDF over
seeds of the final test accuracy. Methods keep one colour / line style in every figure and are
listed in the family order of :mod:`plot_scripts.methods`; different configurations of one method
are separate lines (:func:`plot_scripts.stats.group_name`).

Files are named ``search_curves_<protocol>_<space>_<dataset>_<name>.png`` (the space in the name: NB201's
and NB-101's cifar10 figures of one protocol must not replace each other): ``all`` when every method of the
logs is drawn, else the ``--name`` given with ``--methods`` (required then), so a figure of a subset
never replaces the figure of all methods.
"""
from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from plot_scripts import stats
from plot_scripts.methods import base_method, ordered, styles
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from search_methods import results

HOUR = 3600.0


def curves_by_query(logs: list[dict], metric: str = "test") -> np.ndarray:
    """(seeds, max_queries) ``best_<metric>`` after each query; runs that ended early carry their last value."""
    length = max(len(log["trajectory"]) for log in logs)
    out = np.full((len(logs), length), np.nan)
    for i, log in enumerate(logs):
        best = [t[f"best_{metric}"] for t in log["trajectory"]]
        out[i, :len(best)] = best
        out[i, len(best):] = best[-1] if best else np.nan
    return out


def curves_by_time(logs: list[dict], grid: np.ndarray, metric: str = "test") -> np.ndarray:
    """(seeds, len(grid)) ``best_<metric>`` at each simulated time in seconds (NaN before a run's first result)."""
    out = np.full((len(logs), len(grid)), np.nan)
    for i, log in enumerate(logs):
        times = np.array([t["sim_time_s"] for t in log["trajectory"]])
        best = np.array([t[f"best_{metric}"] for t in log["trajectory"]])
        pos = np.searchsorted(times, grid, side="right") - 1
        out[i, pos >= 0] = best[pos[pos >= 0]]
    return out


def _band(ax, x, curves, label, style, alpha):
    # points before every run's first result stay NaN (drawn as a gap) instead of warning about empty slices
    seen = ~np.isnan(curves).all(axis=0)
    mean, std = np.full(len(x), np.nan), np.full(len(x), np.nan)
    mean[seen], std[seen] = np.nanmean(curves[:, seen], axis=0), np.nanstd(curves[:, seen], axis=0)
    # markers at a few evenly spread points (per axis scale) so lines stay apart in greyscale too
    ax.plot(x, mean, label=label, color=style["color"], linestyle=style["linestyle"], marker=style["marker"],
            markevery=0.1, markersize=5, linewidth=1.6)
    ax.fill_between(x, mean - std, mean + std, color=style["color"], alpha=alpha, linewidth=0)


def _legend(ax, fontsize=8):
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=fontsize, frameon=False)


def plot_dataset(logs_by_method: dict[str, list[dict]], dataset: str, protocol: str, out: Path,
                 name: str = "all") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    methods = ordered(logs_by_method)
    look = styles(methods)
    fig, axes = plt.subplots(3, 1, figsize=(10.5, 13.5), layout="constrained")
    alpha = max(0.04, 0.3 / len(methods))  # many overlapping bands would hide the lines
    all_logs = [log for logs in logs_by_method.values() for log in logs if log["trajectory"]]
    metric = stats.reported_metric(all_logs)  # one metric for every line of a figure
    measure = "test" if metric == "test" else "validation"
    space = all_logs[0]["space"]
    max_time = max(log["trajectory"][-1]["sim_time_s"] for log in all_logs)
    first_time = min(log["trajectory"][0]["sim_time_s"] for log in all_logs)
    grid = np.linspace(first_time, max_time, 300)
    by_query_of = {method: curves_by_query(logs_by_method[method], metric) for method in methods}
    for method in methods:
        logs, by_query = logs_by_method[method], by_query_of[method]
        label = f"{method} (n={len(logs)})"
        _band(axes[0], np.arange(1, by_query.shape[1] + 1), by_query, label, look[method], alpha)
        _band(axes[1], grid / HOUR, curves_by_time(logs, grid, metric), label, look[method], alpha)
        final = np.sort([log["final"][f"best_{metric}"] for log in logs])
        s = look[method]
        axes[2].step(final, np.arange(1, len(final) + 1) / len(final), where="post", label=label,
                     color=s["color"], linestyle=s["linestyle"], linewidth=1.6)
    longest = max(len(log["trajectory"]) for log in all_logs)
    for k in stats.BUDGETS:
        if k <= longest:
            axes[0].axvline(k, color="grey", linewidth=0.8, linestyle=(0, (1, 3)), zorder=0)
    axes[0].set(xlabel="queries (log scale; dotted: budgets " + " / ".join(map(str, stats.BUDGETS)) + ")",
                ylabel=f"{measure} acc. of best-by-valid (%)", title=f"{dataset}: vs queries")
    axes[1].set(xlabel="simulated training time (hours)", ylabel=f"{measure} acc. of best-by-valid (%)",
                title=f"{dataset}: vs simulated time")
    axes[2].set(xlabel=f"final {measure} accuracy (%)", ylabel="fraction of seeds ≤ x",
                title=f"{dataset}: CDF over seeds of the final result")
    # Zoom on the part where methods differ: from the mean after 10 queries to the best final band.
    low = min(np.nanmean(c[:, min(9, c.shape[1] - 1)]) for c in by_query_of.values())
    high = max(np.nanmean(c[:, -1]) + np.nanstd(c[:, -1]) for c in by_query_of.values())
    for ax in axes[:2]:
        ax.set_ylim(low - 0.3, high + 0.2)
    axes[0].set_xscale("log")
    axes[0].xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    for ax in axes:
        ax.grid(alpha=0.3)
        _legend(ax)
    fig.suptitle(f"{space} {dataset}, protocol {protocol} ({name}): mean ± std over seeds")
    path = out / f"search_curves_{protocol}_{space}_{dataset}_{name}.png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight"))
    plt.close(fig)
    return path


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m plot_scripts.plot_search_curves",
                                     description="Plot best test accuracy vs queries / simulated time and "
                                                 "final-accuracy CDFs.")
    parser.add_argument("--root", default=str(results.ROOT), help="root folder of the logs (default saved_logs)")
    parser.add_argument("--protocol", default="q150", help="protocol folder to plot (default q150)")
    parser.add_argument("--space", default="nb201",
                        help="space folder (default nb201); nb101's embedded table and the DARTS proxy have no test "
                             "accuracy, so their figures draw validation")
    parser.add_argument("--methods", nargs="+", default=None, help="methods to include (default: all found)")
    parser.add_argument("--name", default=None,
                        help="what the figure shows, part of the file name (required with --methods; "
                             "default 'all')")
    parser.add_argument("--out", default="figures", help="output folder for the PNGs (default figures)")
    args = parser.parse_args(argv)
    if args.methods and not args.name:
        raise InputError("--methods draws a subset: give it a --name (e.g. --name arch2vec) so its files do not "
                         "replace the figures of all methods")
    name = args.name or "all"
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise InputError(f"--name {name!r}: use letters, digits and _ . + - (it is part of a file name)")
    logs = results.read_logs(args.root, protocol=args.protocol, space=args.space)
    if args.methods:
        logs = [log for log in logs if log["method"] in args.methods]
    if not logs:
        raise InputError(f"no logs under {args.root}/{args.protocol}/{args.space}"
                         f"{' for ' + ', '.join(args.methods) if args.methods else ''}; run a search first")
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for log, row in zip(logs, stats.group_name(logs)):
        grouped[log["dataset"]][row].append(log)
    missing = sorted(set(args.methods or ()) - {base_method(m) for by in grouped.values() for m in by})
    if missing:
        print(f"note: no {args.protocol} logs of {', '.join(missing)}")
    for dataset, by_method in grouped.items():
        print(plot_dataset(by_method, dataset, args.protocol, Path(args.out), name))


if __name__ == "__main__":
    main()
