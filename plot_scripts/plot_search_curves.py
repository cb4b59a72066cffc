"""Search curves and CDFs from the result logs, as PNG.

    python -m plot_scripts.plot_search_curves [--root saved_logs] [--protocol q150] [--methods a b ...] [--out figures]

Per dataset, three panels: best-by-valid test accuracy vs queries and vs simulated time (mean with
a ± std band over seeds), and the CDF over seeds of the final test accuracy.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from search_methods import results


def curves_by_query(logs: list[dict]) -> np.ndarray:
    """(seeds, max_queries) best_test after each query; runs that ended early carry their last value."""
    length = max(len(log["trajectory"]) for log in logs)
    out = np.full((len(logs), length), np.nan)
    for i, log in enumerate(logs):
        best = [t["best_test"] for t in log["trajectory"]]
        out[i, :len(best)] = best
        out[i, len(best):] = best[-1] if best else np.nan
    return out


def curves_by_time(logs: list[dict], grid: np.ndarray) -> np.ndarray:
    """(seeds, len(grid)) best_test at each simulated time (NaN before a run's first result)."""
    out = np.full((len(logs), len(grid)), np.nan)
    for i, log in enumerate(logs):
        times = np.array([t["sim_time_s"] for t in log["trajectory"]])
        best = np.array([t["best_test"] for t in log["trajectory"]])
        pos = np.searchsorted(times, grid, side="right") - 1
        out[i, pos >= 0] = best[pos[pos >= 0]]
    return out


def _band(ax, x, curves, label):
    # points before every run's first result stay NaN (drawn as a gap) instead of warning about empty slices
    seen = ~np.isnan(curves).all(axis=0)
    mean, std = np.full(len(x), np.nan), np.full(len(x), np.nan)
    mean[seen], std[seen] = np.nanmean(curves[:, seen], axis=0), np.nanstd(curves[:, seen], axis=0)
    line, = ax.plot(x, mean, label=label)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.18, linewidth=0)


def plot_dataset(logs_by_method: dict[str, list[dict]], dataset: str, protocol: str, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    max_time = max(log["trajectory"][-1]["sim_time_s"] for logs in logs_by_method.values() for log in logs if log["trajectory"])
    first_time = min(log["trajectory"][0]["sim_time_s"] for logs in logs_by_method.values() for log in logs if log["trajectory"])
    grid = np.linspace(first_time, max_time, 300)
    for method, logs in sorted(logs_by_method.items()):
        by_query = curves_by_query(logs)
        _band(axes[0], np.arange(1, by_query.shape[1] + 1), by_query, f"{method} (n={len(logs)})")
        _band(axes[1], grid, curves_by_time(logs, grid), method)
        final = np.sort([log["final"]["best_test"] for log in logs])
        axes[2].step(final, np.arange(1, len(final) + 1) / len(final), where="post", label=method)
    axes[0].set(xlabel="queries", ylabel="test accuracy of best-by-valid (%)", title=f"{dataset}: vs queries")
    axes[1].set(xlabel="simulated training time (s)", ylabel="test accuracy of best-by-valid (%)", title=f"{dataset}: vs time")
    axes[2].set(xlabel="final test accuracy (%)", ylabel="fraction of seeds ≤ x", title=f"{dataset}: CDF over seeds")
    # Zoom on the part where methods differ: from the mean after 10 queries to the best final band.
    curves = [curves_by_query(l) for l in logs_by_method.values()]
    low = min(np.nanmean(c[:, min(9, c.shape[1] - 1)]) for c in curves)
    high = max(np.nanmean(c[:, -1]) + np.nanstd(c[:, -1]) for c in curves)
    for ax in axes[:2]:
        ax.set_ylim(low - 0.3, high + 0.2)
    axes[0].set_xscale("log")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"NAS-Bench-201 {dataset}, protocol {protocol}: mean ± std over seeds")
    fig.tight_layout()
    path = out / f"search_curves_{protocol}_{dataset}.png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Plot best test accuracy vs queries / simulated time and final-accuracy CDFs.")
    parser.add_argument("--root", default=str(results.ROOT), help="root folder of the logs (default saved_logs)")
    parser.add_argument("--protocol", default="q150", help="protocol folder to plot (default q150)")
    parser.add_argument("--space", default="nb201", help="space folder (default nb201)")
    parser.add_argument("--methods", nargs="+", default=None, help="methods to include (default: all found)")
    parser.add_argument("--out", default="figures", help="output folder for the PNGs (default figures)")
    args = parser.parse_args(argv)
    logs = results.read_logs(args.root, protocol=args.protocol, space=args.space)
    if args.methods:
        logs = [log for log in logs if log["method"] in args.methods]
    if not logs:
        raise InputError(f"no logs under {args.root}/{args.protocol}/{args.space}; run a search first")
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for log in logs:
        grouped[log["dataset"]][log["method"]].append(log)
    for dataset, by_method in grouped.items():
        print(plot_dataset(by_method, dataset, args.protocol, Path(args.out)))


if __name__ == "__main__":
    main()
