"""Plot Kendall tau (mean ± std over runs) against the number of training labels, one line per predictor.

    python -m plot_scripts.plot_predictor_eval saved_logs/predictor_eval/nb201-cifar10.json [--out figures/x.png]

Reads the JSON written by :mod:`search_methods.predictor_eval`; several files (e.g. two spaces) give
one panel each.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write

ROOT = Path(__file__).resolve().parent.parent


def load_results(path) -> dict:
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read predictor-eval results {path} ({exc}); run search_methods.predictor_eval") from None
    if not isinstance(results, dict) or "runs" not in results or "config" not in results:
        raise InputError(f"{path} is not a predictor-eval results file (no 'runs' / 'config')")
    return results


def curves(results: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """predictor -> (label counts, mean tau, std tau)."""
    out = {}
    for name in dict.fromkeys(r["predictor"] for r in results["runs"]):
        rows = [r for r in results["runs"] if r["predictor"] == name]
        labels = np.array(sorted({r["n_labels"] for r in rows}))
        taus = [np.array([r["kendall_tau"] for r in rows if r["n_labels"] == n]) for n in labels]
        out[name] = (labels, np.array([t.mean() for t in taus]), np.array([t.std() for t in taus]))
    return out


def plot(paths, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_results = [load_results(p) for p in paths]
    fig, axes = plt.subplots(1, len(all_results), figsize=(5.5 * len(all_results), 4), squeeze=False)
    for ax, results in zip(axes[0], all_results):
        for name, (labels, mean, std) in curves(results).items():
            ax.errorbar(labels, mean, yerr=std, marker="o", capsize=3, label=name)
        config = results["config"]
        ax.set_xscale("log")
        ax.set_xlabel("training labels")
        ax.set_ylabel("Kendall tau on held-out cells")
        ax.set_title(f"{config['space']} ({config['dataset']} validation), {config['test_size']} test cells")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return out


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Kendall tau vs number of labels from predictor_eval results.")
    parser.add_argument("results", nargs="+", help="results JSON files of search_methods.predictor_eval")
    parser.add_argument("--out", default=str(ROOT / "figures" / "predictor_eval.png"),
                        help="output PNG (default figures/predictor_eval.png)")
    args = parser.parse_args(argv)
    print(f"wrote {plot(args.results, Path(args.out))}")


if __name__ == "__main__":
    main()
