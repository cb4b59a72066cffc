"""Search dynamics of one run: a 2-D t-SNE of the whole NB201 space with each iteration's queries on top.

    python -m plot_scripts.search_dynamics [--method weaknas] [--dataset cifar10] [--seed 0]
                                           [--protocol q2o1000] [--out figures/weaknas]

Writes ``search_dynamics_<method>_<dataset>_seed<k>.png`` (every queried cell coloured by its
iteration, the space underneath coloured by validation accuracy, the best-by-valid cell starred)
and, unless ``--no-gif``, an animated ``.gif`` with one frame per iteration (Pillow). The t-SNE of
the 15,625 one-hot encodings is computed once and cached (``--cache``), as it is the slow part.
Iterations are read back from the log: the first ``init_samples`` queries, then ``batch`` each.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from search_methods import results

DEFAULT_CACHE = Path("data/cache/nb201_tsne_onehot.npz")


def tsne_embedding(cache: Path, seed: int = 0) -> np.ndarray:
    """(15625, 2) t-SNE of the NB201 one-hot encodings, in official index order (cached)."""
    from preprocessing.nasbench201 import NB201Space

    if cache.exists():
        with np.load(cache) as data:
            return data["xy"]
    from sklearn.manifold import TSNE

    features = NB201Space().onehot()
    xy = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30.0).fit_transform(features)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare path
            np.savez(f, xy=xy.astype(np.float32))

    atomic_write(cache, write)
    return xy


def iteration_of_queries(n_queries: int, init_samples: int, batch: int) -> np.ndarray:
    """Iteration index of each query: 0 for the initial sample, then one per batch."""
    q = np.arange(n_queries)
    return np.where(q < init_samples, 0, (q - init_samples) // batch + 1)


def _background(ax, xy, valid):
    ax.scatter(xy[:, 0], xy[:, 1], c=valid, cmap="Greys", s=1, alpha=0.35, vmin=np.nanpercentile(valid, 5),
               linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])


def render(xy, valid, keys, iterations, optimum, title, path: Path, gif: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(7, 6))
    _background(ax, xy, valid)
    points = ax.scatter(xy[keys, 0], xy[keys, 1], c=iterations, cmap="viridis", s=14, edgecolors="k", linewidths=0.3)
    ax.scatter(*xy[optimum], marker="*", s=260, c="red", edgecolors="k", label="best by valid")
    fig.colorbar(points, ax=ax, label="iteration")
    ax.legend(loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    atomic_write(path.with_suffix(".png"), lambda tmp: fig.savefig(tmp, format="png", dpi=130))
    written.append(path.with_suffix(".png"))
    plt.close(fig)
    if gif:
        from PIL import Image

        frames = []
        for it in range(int(iterations.max()) + 1):
            fig, ax = plt.subplots(figsize=(5, 4.5))
            _background(ax, xy, valid)
            old, new = iterations < it, iterations == it
            ax.scatter(xy[keys[old], 0], xy[keys[old], 1], c="tab:blue", s=8, alpha=0.6, linewidths=0)
            ax.scatter(xy[keys[new], 0], xy[keys[new], 1], c="orange", s=30, edgecolors="k", linewidths=0.5)
            ax.scatter(*xy[optimum], marker="*", s=200, c="red", edgecolors="k")
            ax.set_title(f"{title}\niteration {it}: {int((iterations <= it).sum())} queries", fontsize=9)
            fig.tight_layout()
            fig.canvas.draw()
            frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("P", palette=Image.ADAPTIVE))
            plt.close(fig)
        atomic_write(path.with_suffix(".gif"), lambda tmp: frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=600, loop=0))
        written.append(path.with_suffix(".gif"))
    return written


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="t-SNE of the NB201 space with one search run's queries drawn "
                                                 "over it, per iteration (PNG and animated GIF).")
    parser.add_argument("--root", default=str(results.ROOT), help="root of the result logs (default saved_logs)")
    parser.add_argument("--protocol", default="q2o1000", help="protocol folder of the run (default q2o1000)")
    parser.add_argument("--method", default="weaknas", help="method id of the run (default weaknas)")
    parser.add_argument("--dataset", default="cifar10", help="dataset of the run (default cifar10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    parser.add_argument("--config", default=None, metavar="DIGEST",
                        help="identity digest (prefix) of the run, when the method ran with several configurations")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"t-SNE cache file (default {DEFAULT_CACHE})")
    parser.add_argument("--no-gif", action="store_true", help="skip the animated GIF")
    parser.add_argument("--out", default="figures/weaknas", help="output folder (default figures/weaknas)")
    args = parser.parse_args(argv)
    runs = [g for g in results.read_logs(args.root, args.protocol, "nb201", args.dataset, args.method, seed=args.seed)
            if args.config is None or g["identity_digest"].startswith(args.config)]
    if not runs:
        raise InputError(f"no {args.method} log of seed {args.seed} under {args.root}/{args.protocol}/nb201/"
                         f"{args.dataset}; run that method/seed first or pick --protocol/--method/--seed/--config")
    if len(runs) > 1:
        found = ", ".join(f"{g['identity_digest'][:8]} ({g['config_label'] or 'defaults'})" for g in runs)
        raise InputError(f"{args.method} seed {args.seed} ran with several configurations: {found}; pick one with --config")
    log = runs[0]
    config = log["config"]
    if "init_samples" not in config:
        raise InputError(f"{args.method} logs carry no init_samples/batch; search dynamics needs a WeakNAS run")
    from preprocessing.nasbench201 import index_of_string
    from preprocessing.nb201_table import load_embedded

    keys = np.array([index_of_string(t["arch"]) for t in log["trajectory"]])
    iterations = iteration_of_queries(len(keys), config["init_samples"], config["batch"])
    valid = load_embedded().metrics(args.dataset).valid_mean
    xy = tsne_embedding(Path(args.cache))
    title = f"{args.method} on {args.dataset} (seed {args.seed}): {len(keys)} queries"
    out = Path(args.out) / f"search_dynamics_{args.method}_{args.dataset}_seed{args.seed}"
    for written in render(xy, valid, keys, iterations, int(np.nanargmax(valid)), title, out, not args.no_gif):
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
