"""arch2vec latent-space analysis figures on NAS-Bench-201 (the paper's Figs. 2-5, on our data).

    python -m plot_scripts.plot_arch2vec_analysis [--figures latent_map distance predictive decoded] [--out figures]

* ``latent_map``  -- PCA of the 15,625 embeddings to 2-D, one panel per dataset, coloured by test accuracy.
* ``distance``    -- distribution of the L2 distance between two cells' embeddings, per edit distance
  (number of the 6 edges whose op differs), on random pairs.
* ``predictive``  -- Pearson correlation between predicted and true cifar10 validation accuracy of a
  DNGO predictive mean trained on N random cells, on arch2vec embeddings vs the one-hot encoding.
* ``decoded``     -- cells decoded from evenly spaced points on the line between two cells' node
  latents (arch2vec's decoder), drawn as NB201 cells with their cifar10 test accuracy.

Embeddings and the model come from ``pretrained/dim-16`` (created on first use by
:func:`models.extract_arch2vec.space_embeddings`). Every figure is seeded.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from preprocessing.nasbench201 import EDGES, N_ARCHS, OPS, NB201Space
from preprocessing.nb201_table import DATASETS, load_embedded

FIGURES = ("latent_map", "distance", "predictive", "decoded")
OP_COLOURS = {"skip_connect": "tab:blue", "nor_conv_1x1": "tab:orange", "nor_conv_3x3": "tab:red",
              "avg_pool_3x3": "tab:green"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    _pyplot().close(fig)
    return path


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, d) -> (N, 2) projection on the top-2 principal axes, and their explained-variance ratios."""
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, singular[:2] ** 2 / np.sum(singular ** 2)


def edit_distances(codes_a: np.ndarray, codes_b: np.ndarray) -> np.ndarray:
    """NB201 graph edit distance between cells = number of edges whose op differs (0..6)."""
    return (np.asarray(codes_a) != np.asarray(codes_b)).sum(axis=-1)


def pearson_by_size(features: dict[str, np.ndarray], target: np.ndarray, sizes, repeats: int, seed: int,
                    n_test: int = 2000) -> dict[str, np.ndarray]:
    """{encoding: (len(sizes), repeats) Pearson r} of a DNGO mean trained on N random cells, on held-out cells."""
    from search_methods.dngo import standardize
    from models.dngo import DNGO, BasisRegressor, tanh_mlp

    rng = np.random.default_rng(seed)
    out = {name: np.zeros((len(sizes), repeats)) for name in features}
    for r in range(repeats):
        order = rng.permutation(len(target))
        test = order[:n_test]
        for i, size in enumerate(sizes):
            train = order[n_test:n_test + size]
            for name, x in features.items():
                x = torch.as_tensor(standardize(x))
                model = DNGO(lambda d=x.shape[1]: BasisRegressor(tanh_mlp(d), 50)).fit(x[train], target[train], seed=r)
                mean, _ = model.predict(x[test])
                out[name][i, r] = np.corrcoef(mean, target[test])[0, 1]
    return out


# ---- figures -------------------------------------------------------------------------------------
def plot_latent_map(embeddings: np.ndarray, bench, out: Path) -> Path:
    plt = _pyplot()
    xy, ratio = pca_2d(embeddings)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for ax, dataset in zip(axes, DATASETS):
        test = bench.metrics(dataset).test_mean
        order = np.argsort(test)  # best cells drawn last, on top
        low = np.percentile(test, 5)
        points = ax.scatter(xy[order, 0], xy[order, 1], c=np.clip(test[order], low, None), s=2, cmap="viridis")
        fig.colorbar(points, ax=ax, label=f"{dataset} test accuracy (%) (clipped at 5th percentile)")
        ax.set(title=f"{dataset}", xlabel=f"PC1 ({ratio[0]:.0%} of variance)", ylabel=f"PC2 ({ratio[1]:.0%})")
    fig.suptitle("arch2vec embeddings of all 15,625 NB201 cells (PCA to 2-D): accurate cells cluster")
    fig.tight_layout()
    return _save(fig, out / "arch2vec_latent_map.png")


def plot_distance(embeddings: np.ndarray, space: NB201Space, out: Path, n_pairs: int = 60_000, seed: int = 0) -> Path:
    plt = _pyplot()
    rng = np.random.default_rng(seed)
    a, b = rng.integers(N_ARCHS, size=n_pairs), rng.integers(N_ARCHS, size=n_pairs)
    # random pairs are rarely close: add one- and two-edit neighbours so every distance is populated
    near = rng.integers(N_ARCHS, size=4000)
    one = np.array([space.mutate(k, rng) for k in near])
    two = np.array([space.mutate(k, rng) for k in one])
    a, b = np.concatenate([a, near, near]), np.concatenate([b, one, two])
    edit = edit_distances(space.op_codes[a], space.op_codes[b])
    l2 = np.linalg.norm(embeddings[a] - embeddings[b], axis=1)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    levels = [d for d in range(1, len(EDGES) + 1) if np.any(edit == d)]
    ax.violinplot([l2[edit == d] for d in levels], positions=levels, showmedians=True)
    ax.set(xlabel="graph edit distance (edges with a different op)", ylabel="L2 distance of arch2vec embeddings",
           title="arch2vec: cells that differ in more edges lie further apart")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out / "arch2vec_distance_by_edit.png")


def plot_predictive(embeddings: np.ndarray, space: NB201Space, bench, out: Path,
                    sizes=(50, 100, 200, 500, 1000), repeats: int = 3, seed: int = 0) -> Path:
    plt = _pyplot()
    target = bench.metrics("cifar10").valid_mean
    scores = pearson_by_size({"arch2vec (16-d)": embeddings, "one-hot (30-d)": space.onehot(np.arange(N_ARCHS))},
                             target, sizes, repeats, seed)
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for name, r in scores.items():
        ax.errorbar(sizes, r.mean(1), yerr=r.std(1), marker="o", capsize=3, label=name)
    ax.set(xscale="log", xlabel="training cells (random)", ylabel="Pearson r on 2,000 held-out cells",
           title=f"Predicting cifar10 validation accuracy with DNGO (mean ± std over {repeats} draws)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, out / "arch2vec_predictive.png")


def _draw_cell(ax, key: int, space: NB201Space, title: str) -> None:
    """An NB201 cell: 4 nodes on a line, each non-'none' edge an arc coloured by its op."""
    from matplotlib.patches import FancyArrowPatch

    nodes = {i: (i, 0.0) for i in range(4)}
    for (to_node, from_node), op in zip(EDGES, space.op_codes[key]):
        name = OPS[op]
        if name == "none":
            continue
        bend = 0.35 * (to_node - from_node - 1) + 0.15
        ax.add_patch(FancyArrowPatch(nodes[from_node], nodes[to_node], connectionstyle=f"arc3,rad={-bend}",
                                     arrowstyle="-|>", mutation_scale=10, color=OP_COLOURS[name], lw=2))
    for i, (x, y) in nodes.items():
        ax.scatter([x], [y], s=160, color="white", edgecolors="black", zorder=3)
        ax.text(x, y, str(i), ha="center", va="center", fontsize=8, zorder=4)
    ax.set(xlim=(-0.4, 3.4), ylim=(-0.4, 1.2), title=title)
    ax.axis("off")


def plot_decoded(space: NB201Space, bench, out: Path, steps: int = 8, seed: int = 0) -> Path:
    from matplotlib.lines import Line2D

    from models.arch2vec import decoded_cells
    from models.extract_arch2vec import pretrained_model

    plt = _pyplot()
    model, _ = pretrained_model(space.name, dim=16)
    test = bench.metrics("cifar10").test_mean
    start = int(np.random.default_rng(seed).choice(np.flatnonzero(test < np.percentile(test, 20))))
    end = int(np.argmax(bench.metrics("cifar10").valid_mean))
    adj, ops = space.graphs([start, end])
    with torch.no_grad():
        mean, _ = model.encode(torch.as_tensor(adj), torch.as_tensor(ops))
        t = torch.linspace(0, 1, steps)[:, None, None]
        z = (1 - t) * mean[0] + t * mean[1]
        types, edges = decoded_cells(*model.decode(z))
    keys = space.decode(types.numpy(), edges.numpy())
    fig, axes = plt.subplots(1, steps, figsize=(2.3 * steps, 2.6))
    for i, (ax, key) in enumerate(zip(axes, keys)):
        label = f"t={i / (steps - 1):.2f}\n"
        if key < 0:
            ax.axis("off")
            ax.set_title(label + "invalid decoding")
        else:
            _draw_cell(ax, key, space, label + f"C10 test {test[key]:.2f}%")
    handles = [Line2D([], [], color=c, lw=2, label=op) for op, c in OP_COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Cells decoded along a line in arch2vec's latent space (a weak cell -> the best-by-valid cell; "
                 "'none' edges omitted)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.92))
    return _save(fig, out / "arch2vec_decoded_line.png")


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="arch2vec latent-space analysis figures on NAS-Bench-201 (PNG).")
    parser.add_argument("--figures", nargs="+", choices=FIGURES, default=list(FIGURES),
                        help="which figures to make (default: all)")
    parser.add_argument("--out", default="figures", help="output folder for the PNGs (default figures)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pairs / draws (default 0)")
    args = parser.parse_args(argv)
    if args.seed < 0:
        raise InputError("--seed must be non-negative")
    from models.extract_arch2vec import space_embeddings

    torch.set_num_threads(1)
    out = Path(args.out)
    space, bench = NB201Space(), load_embedded()
    embeddings = space_embeddings(space, dim=16, verbose=True)
    makers = {
        "latent_map": lambda: plot_latent_map(embeddings, bench, out),
        "distance": lambda: plot_distance(embeddings, space, out, seed=args.seed),
        "predictive": lambda: plot_predictive(embeddings, space, bench, out, seed=args.seed),
        "decoded": lambda: plot_decoded(space, bench, out, seed=args.seed),
    }
    for name in args.figures:
        print(makers[name]())


if __name__ == "__main__":
    main()
