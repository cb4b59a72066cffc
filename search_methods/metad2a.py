"""MetaD2A meta-test: generate candidate NB201 cells for a dataset, rank them with the meta-predictor.

    python -m search_methods.metad2a --dataset fmnist_heldout --train-eval
    python -m search_methods.metad2a --dataset cifar10 [--data /path/cifar-10-python.tar.gz]

No cell is trained during the search. Datasets (:data:`DATASETS`):

* ``fmnist_heldout`` -- Fashion-MNIST classes the meta-database never used (``--classes``, default
  6-9), drawn as the builder draws a task; ``--train-eval`` scores cells on the official test split
  of those classes.
* ``digits`` -- scikit-learn's 8x8 digits (train split for the dataset code; ``--train-eval`` scores
  on its test split).
* ``cifar10``, ``cifar100``, ``ImageNet16-120`` -- the NAS-Bench-201 datasets. The chosen cells are
  looked up in the NB201 table (test accuracy, 200 epochs). The dataset code comes from the images
  of ``--data`` (the official CIFAR python archive) when given; otherwise -- always for
  ImageNet16-120, whose images this project cannot read -- from no images at all: the generator
  samples from the mean posterior of the meta-training tasks and the predictor uses their mean code,
  i.e. a dataset-agnostic transfer from the meta-database (the JSON says which was used).

Search time = wall seconds from the dataset's images (already in memory) to the ranked list: image
features, dataset codes, generation, ranking. ``--train-eval`` then trains the top cell and
``--random-cells`` uniformly random NB201 cells with the meta-database's own short recipe, for a
real comparison. The result JSON goes to ``saved_logs/metad2a/<dataset>.json`` (atomically).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from darts.data import ImageArrays, load_cifar, load_digits
from models.metad2a import class_feature_sets, sample_class_features
from models.train_metad2a import default_checkpoint, load_metad2a
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write_json
from preprocessing.metad2a_database import (CellRecipe, class_subset, run_jobs, source_images, task_data,
                                            train_cell)
from preprocessing.nasbench201 import NB201Space, index_of_ops, string_of_index

REPO_ROOT = Path(__file__).resolve().parent.parent
NB201_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
DATASETS = ("fmnist_heldout", "digits") + NB201_DATASETS
HELDOUT_TASK_SEED = 10_000  # task-seed slot far from the database's task ids, so its draw is its own
EVAL_PER_CLASS = 250


def dataset_images(name: str, recipe: CellRecipe, classes: tuple[int, ...], data: str | None,
                   images_per_class: int) -> tuple[ImageArrays | None, ImageArrays | None, ImageArrays | None]:
    """(images for the dataset code, train split, evaluation split) -- None where not available."""
    if name == "fmnist_heldout":
        if recipe.source != "fashion_mnist":
            raise InputError(f"fmnist_heldout needs a Fashion-MNIST meta-database; this one used {recipe.source}")
        train, _ = task_data(recipe, classes, HELDOUT_TASK_SEED)
        test = source_images(recipe.source, recipe.data_path, recipe.image_size, False)
        return train, train, class_subset(test, classes, EVAL_PER_CLASS, recipe.seed)
    if name == "digits":
        train = load_digits(train=True)
        return train, train, load_digits(train=False)
    if name in ("cifar10", "cifar100") and data is not None:
        train = load_cifar(data, name, train=True)
        return class_subset(train, range(train.num_classes), images_per_class, recipe.seed), None, None
    return None, None, None


def dataset_code(models: tuple, images: ImageArrays | None, draw: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(generator posterior mu, logvar, predictor dataset code) of a dataset: from a seeded draw of its
    images' class feature sets, or -- without images -- the mean over the meta-training tasks."""
    checkpoint, cnn, generator_model, predictor = models
    if images is None:
        return checkpoint["mean_generator_mu"], checkpoint["mean_generator_logvar"], checkpoint["mean_predictor_code"]
    config = checkpoint["config"]
    with torch.no_grad():
        sets = class_feature_sets(cnn, images.images, images.labels, images.num_classes, config["feature_size"])
        features = sample_class_features(sets, config["images_per_class"], draw)
        mu, logvar = generator_model.posterior(features)
        return mu, logvar, predictor.dataset_encoder(features)


@torch.no_grad()
def generate_ranked(models: tuple, codes: tuple[torch.Tensor, ...], candidates: int, draw: torch.Generator,
                    temperature: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Generate ``candidates`` cells for a dataset's ``codes`` (:func:`dataset_code`), rank the distinct
    ones by the meta-predictor: (official indices best first, their predicted scores, cells generated)."""
    checkpoint, _, generator_model, predictor = models
    mu, logvar, code = codes
    ops = generator_model.generate(mu, logvar, candidates, draw, temperature)
    keys = np.array([index_of_ops(row) for row in ops.tolist()])
    unique_keys, first = np.unique(keys, return_index=True)
    standardised = predictor.predict_from_code(code, ops[torch.as_tensor(first)]).numpy()
    scores = checkpoint["target_mean"] + checkpoint["target_std"] * standardised
    order = np.argsort(-scores, kind="stable")
    return unique_keys[order], scores[order], len(keys)


def search(models: tuple, name: str, images: ImageArrays | None, candidates: int, top: int, seed: int,
           temperature: float) -> dict:
    """Generate ``candidates`` cells, rank the distinct ones; ``models`` = :func:`load_metad2a`'s result."""
    checkpoint = models[0]
    start = time.perf_counter()
    draw = torch.Generator().manual_seed(seed)
    codes = dataset_code(models, images, draw)
    ranked_keys, ranked_scores, n_valid = generate_ranked(models, codes, candidates, draw, temperature)
    unit = "within-dataset rank (0 worst, 1 best)" if checkpoint["target"] == "rank" else "accuracy (fraction)"
    seconds = time.perf_counter() - start
    return {"dataset": name, "dataset_code_from": "images" if images is not None else "mean of meta-training tasks",
            "predicted_unit": unit, "search_seconds": seconds, "candidates": candidates,
            "valid_cells": n_valid, "unique_cells": int(len(ranked_keys)),
            "top": [{"rank": r + 1, "arch_index": int(k), "arch": string_of_index(int(k)),
                     "predicted": float(s)} for r, (k, s) in enumerate(zip(ranked_keys[:top],
                                                                                       ranked_scores[:top]))]}


def nb201_lookup(result: dict, name: str) -> dict:
    """Table accuracies (200 epochs) of the top-1 cell and of the best of the ranked top cells."""
    from preprocessing.nb201_table import load_embedded

    table = load_embedded().metrics(name)
    keys = np.array([t["arch_index"] for t in result["top"]])
    test, valid = table.test_mean[keys], table.valid_mean[keys]
    for entry, t, v in zip(result["top"], test, valid):
        entry["table_test_acc"], entry["table_valid_acc"] = float(t), float(v)
    by_valid = int(np.nanargmax(valid))
    return {"top1_table_test_acc": float(test[0]),
            f"best_of_top{len(keys)}_table_test_acc": float(np.nanmax(test)),
            f"best_by_valid_of_top{len(keys)}_table_test_acc": float(test[by_valid]),
            "top1_test_percentile_in_space": float(100.0 * np.mean(table.test_mean <= test[0])),
            "table_best_test_acc": float(np.nanmax(table.test_mean))}


def _train_job(job: tuple[str, ImageArrays, ImageArrays, CellRecipe]) -> tuple[str, dict]:
    arch, train, evaluate, recipe = job
    return arch, train_cell(arch, train, evaluate, recipe)


def train_evaluation(chosen: str, train: ImageArrays, evaluate: ImageArrays, recipe: CellRecipe, n_random: int,
                     seed: int, workers: int, progress: bool) -> dict:
    """Train the chosen cell and ``n_random`` uniform random cells with the same recipe; compare."""
    rng = np.random.default_rng([seed, 1])
    randoms = [string_of_index(int(k)) for k in NB201Space().sample(rng, n_random, replace=False)]
    jobs = [(arch, train, evaluate, recipe) for arch in [chosen] + randoms]
    results = {}
    for arch, row in tqdm(run_jobs(_train_job, jobs, workers), total=len(jobs), desc="training cells",
                          unit="cell", disable=not progress):
        results[arch] = row
    random_accs = [results[a]["valid_acc"] for a in randoms]
    return {"chosen_arch": chosen, "chosen_acc": results[chosen]["valid_acc"],
            "random_archs": randoms, "random_accs": random_accs, "random_median_acc": float(np.median(random_accs)),
            "random_best_acc": float(np.max(random_accs)),
            "chosen_beats_random_median": bool(results[chosen]["valid_acc"] > np.median(random_accs)),
            "train_seconds": {a: r["train_seconds"] for a, r in results.items()},
            "recipe": recipe.settings(), "train_images": len(train), "eval_images": len(evaluate)}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", required=True, help=f"meta-test dataset: {', '.join(DATASETS)}")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="meta-trained MetaD2A checkpoint (default pretrained/metad2a/metad2a.pt)")
    p.add_argument("--data", default=None, help="CIFAR: the official python archive (or its folder) for the "
                   "dataset code; Fashion-MNIST: the IDX folder (default: the Debian package's)")
    p.add_argument("--classes", default="6,7,8,9", help="fmnist_heldout: the Fashion-MNIST classes of the task")
    p.add_argument("--candidates", type=int, default=500, help="cells to generate (paper: 500 for CIFAR)")
    p.add_argument("--top", type=int, default=30, help="ranked cells to report (paper: best of the top 30)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the generator")
    p.add_argument("--seed", type=int, default=0, help="seed of the image draw, generation and random cells")
    p.add_argument("--train-eval", action="store_true", help="train the top cell and --random-cells random cells "
                   "with the meta-database recipe (fmnist_heldout and digits)")
    p.add_argument("--random-cells", type=int, default=10, help="random cells for --train-eval")
    p.add_argument("--workers", type=int, default=2, help="processes for --train-eval (one thread each)")
    p.add_argument("--out", type=Path, default=None, help="result JSON (default saved_logs/metad2a/<dataset>.json)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _check(args) -> tuple[int, ...]:
    if args.dataset not in DATASETS:
        raise InputError(f"unknown dataset {args.dataset!r}; choose one of {', '.join(DATASETS)}")
    if args.candidates < 1 or args.top < 1 or args.random_cells < 1:
        raise InputError("--candidates, --top and --random-cells must be positive")
    if args.train_eval and args.dataset in NB201_DATASETS:
        raise InputError(f"--train-eval trains on fmnist_heldout or digits; {args.dataset} is scored by the NB201 table")
    try:
        classes = tuple(int(c) for c in args.classes.replace(",", " ").split())
    except ValueError:
        raise InputError(f"--classes must be class ids like 6,7,8,9, got {args.classes!r}") from None
    if args.dataset == "fmnist_heldout" and (len(set(classes)) < 2 or not all(0 <= c < 10 for c in classes)):
        raise InputError(f"--classes needs at least 2 distinct Fashion-MNIST classes in 0..9, got {args.classes!r}")
    return classes


@cli_entry
def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    classes = _check(args)
    torch.set_num_threads(1)
    load_start = time.perf_counter()
    models = load_metad2a(args.checkpoint if args.checkpoint is not None else default_checkpoint())
    load_seconds, checkpoint = time.perf_counter() - load_start, models[0]
    data_path = args.data if args.dataset == "fmnist_heldout" else None
    recipe = CellRecipe(data_path=data_path, **checkpoint["recipe"])
    if args.dataset == "fmnist_heldout" and set(classes) & set(checkpoint["class_pool"]):
        raise InputError(f"--classes {args.classes} overlap the meta-training classes {checkpoint['class_pool']}; "
                         f"a held-out task must use unseen classes")
    code_images, train, evaluate = dataset_images(args.dataset, recipe, classes, args.data,
                                                  checkpoint["config"]["images_per_class"])
    result = search(models, args.dataset, code_images, args.candidates, args.top, args.seed, args.temperature)
    result["checkpoint_load_seconds"] = load_seconds
    if args.dataset == "fmnist_heldout":
        result["classes"] = list(classes)
    if args.dataset in NB201_DATASETS:
        result.update(nb201_lookup(result, args.dataset))
    if args.train_eval:
        result["train_eval"] = train_evaluation(result["top"][0]["arch"], train, evaluate, recipe, args.random_cells,
                                                args.seed, args.workers, not args.no_progress)
    out = args.out or REPO_ROOT / "saved_logs" / "metad2a" / f"{args.dataset}.json"
    atomic_write_json(out, result, indent=1)
    print(summary(result) + f"\n-> {out}")
    return result


def summary(result: dict) -> str:
    lines = [f"{result['dataset']}: {result['unique_cells']} distinct of {result['valid_cells']} valid cells "
             f"(all {result['candidates']} generated are valid NB201 cells), ranked in "
             f"{result['search_seconds']:.1f} s (dataset code from {result['dataset_code_from']})"]
    for entry in result["top"][:5]:
        extra = f", table test {entry['table_test_acc']:.2f}" if "table_test_acc" in entry else ""
        lines.append(f"  #{entry['rank']} predicted {entry['predicted']:.3f}{extra}  {entry['arch']}")
    if "top1_table_test_acc" in result:
        n = len(result["top"])
        lines.append(f"  NB201 table test: top-1 {result['top1_table_test_acc']:.2f}, best of top {n} "
                     f"{result[f'best_of_top{n}_table_test_acc']:.2f}, best-by-valid of top {n} "
                     f"{result[f'best_by_valid_of_top{n}_table_test_acc']:.2f}")
    if "train_eval" in result:
        ev = result["train_eval"]
        lines.append(f"  trained for real: chosen {ev['chosen_acc']:.2f} vs random median {ev['random_median_acc']:.2f} "
                     f"(best random {ev['random_best_acc']:.2f}; beats median: {ev['chosen_beats_random_median']})")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
