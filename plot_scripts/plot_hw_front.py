"""Plot the accuracy-latency fronts of a hardware-aware search: the table's true front, and the
fronts found by AG-Net and by random search (the run with the median hypervolume of each).

    python -m plot_scripts.plot_hw_front --device pixel3 [--dataset cifar10] [--mode pareto]

Reads ``<root>/<dataset>/<device>/<mode>/summary.json`` and the run logs beside it (written by
:mod:`search_methods.hw_search`); writes ``<out>/hw_front_<dataset>_<device>_<mode>.png``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from plot_scripts.methods import ordered, styles  # noqa: E402
from preprocessing.errors import InputError, cli_entry  # noqa: E402
from preprocessing.io_utils import atomic_write  # noqa: E402
from search_methods.hw_search import ROOT  # noqa: E402
from search_methods.pareto import pareto_front  # noqa: E402

NAMES = {"agnet": "AG-Net", "random": "random search"}


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path} not found; run python -m search_methods.hw_search first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise InputError(f"{path} is not JSON; rerun python -m search_methods.hw_search --overwrite") from None


def median_run(folder: Path) -> dict:
    """The log with the median validation hypervolume fraction among a method's runs."""
    logs = [read_json(p) for p in sorted(folder.glob("seed_*.json"))]
    if not logs:
        raise InputError(f"no run logs in {folder}")
    order = np.argsort([log["hv_fraction_valid"] for log in logs], kind="stable")
    return logs[int(order[len(order) // 2])]


def _step(ax, front: np.ndarray, **style) -> None:
    """A front drawn as the staircase bounding the region it dominates."""
    ax.step(front[:, 1], front[:, 0], where="post", **style)


def plot_fronts(folder: Path, out: Path) -> Path:
    summary = read_json(folder / "summary.json")
    fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
    true_front = np.array(summary["true_front_valid"])
    _step(ax, true_front, color="black", lw=1.4, label="true front (table)")
    look = styles(summary["methods"])
    for method in ordered(summary["methods"]):
        entry, color, name = summary["methods"][method], look[method]["color"], NAMES.get(method, method)
        run = median_run(folder / method)
        acc, lat = np.array(run["valid"]), np.array(run["latency_ms"])
        ax.scatter(lat, acc, s=6, color=color, alpha=0.25)
        mean, std = entry["hv_fraction_valid"]
        _step(ax, pareto_front(acc, lat), color=color, lw=1.2, marker="o", ms=3,
              label=f"{name}: HV {mean:.4f} ± {std:.4f} ({entry['runs']} runs; median run shown)")
    ax.set_xscale("log")
    ax.set_xlabel(f"latency on {summary['device']} (ms, log scale)")
    ax.set_ylabel(f"{summary['dataset']} validation accuracy (%)")
    # the front's low end is a few degenerate (near-chance) cells: show the competitive part
    ax.set_ylim(np.percentile(true_front[:, 0], 25) - 2, true_front[:, 0].max() + 1)
    ax.set_title(f"NB201 {summary['mode']}: fronts after {summary['queries']} queries")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)  # below the data
    ax.grid(alpha=0.3)
    path = out / f"hw_front_{summary['dataset']}_{summary['device']}_{summary['mode']}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight"))
    plt.close(fig)
    return path


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m plot_scripts.plot_hw_front", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", required=True, help="device of the hw_search run (e.g. pixel3)")
    parser.add_argument("--dataset", default="cifar10", help="dataset of the hw_search run (default cifar10)")
    parser.add_argument("--mode", default="pareto", help="'pareto' or 'budget<MS>ms' (default pareto)")
    parser.add_argument("--root", default=str(ROOT), help="root of the hw_search logs (default saved_logs/hw)")
    parser.add_argument("--out", default="figures", help="output folder (default figures)")
    args = parser.parse_args(argv)
    print(plot_fronts(Path(args.root) / args.dataset / args.device / args.mode, Path(args.out)))


if __name__ == "__main__":
    main()
