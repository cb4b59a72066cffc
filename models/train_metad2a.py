"""Meta-train MetaD2A on a meta-database: feature CNN, then meta-predictor, then cell generator.

    python -m models.train_metad2a --database data/metad2a/fmnist_db.csv.gz --out pretrained/metad2a/metad2a.pt

1. **Image features.** A small CNN (:class:`~models.metad2a.ImageFeatureCNN`) is trained to classify the
   source images of every class the database's tasks use; its penultimate layer is the image feature.
2. **Tasks.** Each task's images are redrawn exactly as the builder drew them (the table stores the
   recipe), embedded by the CNN and kept per class; every step draws ``--images-per-class`` of them
   per class, so the dataset encoders see a new sample of each dataset every time.
3. **Meta-predictor** (dataset code + graph code -> the cell's rank within its task, or its
   standardised accuracy with ``--target accuracy``; MSE). The last ``--valid-tasks``
   tasks are held out; the epoch with the best mean within-task Pearson correlation on them is kept.
4. **Generator** (cross-modal VAE): each task is paired with its top ``--top-fraction`` cells; loss =
   cell reconstruction + ``--kl-weight`` x KL(q(z|D) || N(0, I)); the epoch with the lowest held-out
   reconstruction loss is kept.

The checkpoint (``weights_only``-loadable) holds the three networks, the build recipe, and the mean
dataset codes of the meta-training tasks (used for a dataset whose images are not available).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, rankdata
from tqdm import tqdm

from models.device import add_device_argument, move, resolve_device
from models.metad2a import (CellGenerator, ImageFeatureCNN, MetaPredictor, class_feature_sets, feature_input,
                            sample_class_features)
from preprocessing.errors import InputError, cli_entry
from models import checkpoint as ckpt
from preprocessing.metad2a_database import (DEFAULT_OUT as DEFAULT_DATABASE, class_subset, load_database, recipe_of,
                                            source_images, task_data)
from preprocessing.nasbench201 import official_op_codes

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO_ROOT / "pretrained" / "metad2a" / "metad2a.pt"
FORMAT = "metad2a-v1"


class Task:
    """One meta-database task: per-class feature sets, its cells (B, 6) op indices, accuracies (B,) in [0, 1]."""

    def __init__(self, task_id: int, classes: tuple[int, ...], feature_sets: list[torch.Tensor], ops: torch.Tensor,
                 accuracy: torch.Tensor):
        self.task_id, self.classes, self.feature_sets = task_id, classes, feature_sets
        self.ops, self.accuracy = ops, accuracy


def train_feature_cnn(images: torch.Tensor, labels: torch.Tensor, num_classes: int, size: int, feature_dim: int,
                      epochs: int, seed: int, progress: bool, device=torch.device("cpu")) -> tuple[ImageFeatureCNN, float]:
    """Train the feature CNN as a classifier on ``device``; returns it (on the CPU) and its final-epoch training
    accuracy (%)."""
    torch.manual_seed(seed)
    cnn = ImageFeatureCNN(num_classes, feature_dim).to(device)
    optimizer = torch.optim.Adam(cnn.parameters(), 2e-3)
    x, generator = feature_input(images, size), torch.Generator().manual_seed(seed)
    x, labels = move((x, labels), device)
    accuracy = 0.0
    for _ in tqdm(range(epochs), desc="feature CNN", unit="epoch", disable=not progress):
        cnn.train()
        order, correct = torch.randperm(len(x), generator=generator), 0
        for start in range(0, len(x), 64):
            index = order[start:start + 64]
            logits = cnn.classify(x[index])
            loss = torch.nn.functional.cross_entropy(logits, labels[index])
            ckpt.check_finite(loss.item(), "training the MetaD2A feature CNN", None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += int((logits.argmax(1) == labels[index]).sum())
        accuracy = 100.0 * correct / len(x)
    return cnn.cpu().eval(), accuracy


def load_tasks(table, recipe, cnn: ImageFeatureCNN, size: int) -> list[Task]:
    codes = official_op_codes()
    tasks = []
    for task_id, rows in table.groupby("task", sort=True):
        classes = tuple(int(c) for c in str(rows["classes"].iloc[0]).split())
        train, _ = task_data(recipe, classes, int(task_id))
        sets = class_feature_sets(cnn, train.images, train.labels, len(classes), size)
        ops = torch.from_numpy(codes[rows["arch_index"].to_numpy()].astype(np.int64))
        tasks.append(Task(int(task_id), classes, sets, ops, torch.tensor(rows["valid_acc"].to_numpy() / 100.0,
                                                                          dtype=torch.float32)))
    return tasks


def within_task_pearson(model: MetaPredictor, tasks: list[Task], per_class: int, seed: int) -> float:
    """Mean over tasks of Pearson(predicted, measured) -- what matters for ranking cells of one dataset."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    values = []
    with torch.no_grad():
        for task in tasks:
            features = sample_class_features(task.feature_sets, per_class, generator)
            predicted = model(*move((features, task.ops), device)).cpu().numpy()
            measured = task.accuracy.numpy()
            constant = predicted.std() == 0 or measured.std() == 0  # undefined correlation: count it as none
            values.append(0.0 if constant else float(pearsonr(predicted, measured)[0]))
    return float(np.mean(values))


def predictor_targets(tasks: list[Task], kind: str, scale: tuple[float, float]) -> list[torch.Tensor]:
    """Regression targets per task: ``accuracy`` -- (accuracy - mean) / std with the training tasks'
    ``scale``; ``rank`` -- the cell's rank within its task scaled to [0, 1] (ties share their mean
    rank), which ignores how far apart cells are, e.g. how far below chance a broken cell falls."""
    if kind == "rank":
        return [torch.tensor((rankdata(t.accuracy.numpy()) - 1) / max(1, len(t.accuracy) - 1), dtype=torch.float32)
                for t in tasks]
    mean, std = scale
    return [(t.accuracy - mean) / std for t in tasks]


def train_predictor(train: list[Task], valid: list[Task], feature_dim: int, args, progress: bool,
                    device=torch.device("cpu")):
    """Fit the chosen targets (``--target``) on ``device`` (features drawn on the CPU); returns the model (on the
    CPU), its metrics and the target scale (mean, std) that turns its output back into an accuracy (0, 1 for ranks)."""
    torch.manual_seed(args.seed)
    model = MetaPredictor(feature_dim, args.predictor_hidden, args.dataset_dim).to(device)
    optimizer = torch.optim.Adam(model.parameters(), args.lr, weight_decay=args.predictor_weight_decay)
    generator = torch.Generator().manual_seed(args.seed)
    every = torch.cat([t.accuracy for t in train])
    scale = (float(every.mean()), float(every.std().clamp_min(1e-4))) if args.target == "accuracy" else (0.0, 1.0)
    targets = predictor_targets(train, args.target, scale)
    best = (-2.0, 0, None)
    bar = tqdm(range(args.predictor_epochs), desc="meta-predictor", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        for t in torch.randperm(len(train), generator=generator).tolist():
            task = train[t]
            features = sample_class_features(task.feature_sets, args.images_per_class, generator)
            predicted = model(*move((features, task.ops), device))
            loss = torch.nn.functional.mse_loss(predicted, targets[t].to(device))
            ckpt.check_finite(loss.item(), f"training the MetaD2A predictor (epoch {epoch + 1})", args.out)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        score = within_task_pearson(model, valid or train, args.images_per_class, args.seed)
        if score > best[0] or best[2] is None:
            best = (score, epoch, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        bar.set_postfix(pearson=f"{score:.3f}", best=f"{best[0]:.3f}@{best[1]}")
    model.cpu().load_state_dict(best[2])
    metrics = {"valid_within_task_pearson": best[0], "predictor_best_epoch": best[1],
               "valid_selection_on": "held-out tasks" if valid else "training tasks"}
    return model.eval(), metrics, scale


def top_cells(task: Task, fraction: float) -> torch.Tensor:
    keep = max(1, int(round(fraction * len(task.accuracy))))
    return task.ops[torch.argsort(task.accuracy, descending=True, stable=True)[:keep]]


def generator_loss(model: CellGenerator, task: Task, args, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    features = sample_class_features(task.feature_sets, args.images_per_class, generator)
    return model.loss(features, top_cells(task, args.top_fraction), args.kl_weight, generator)


def train_generator(train: list[Task], valid: list[Task], feature_dim: int, args, progress: bool):
    torch.manual_seed(args.seed)
    model = CellGenerator(feature_dim, args.generator_hidden, args.nz)
    optimizer = torch.optim.Adam(model.parameters(), args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    best = (float("inf"), 0, None)
    bar = tqdm(range(args.generator_epochs), desc="generator", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        for t in torch.randperm(len(train), generator=generator).tolist():
            reconstruction, kl = generator_loss(model, train[t], args, generator)
            ckpt.check_finite((reconstruction + kl).item(), f"training the MetaD2A generator (epoch {epoch + 1})",
                              args.out)
            optimizer.zero_grad(set_to_none=True)
            (reconstruction + kl).backward()
            optimizer.step()
        model.eval()
        check = torch.Generator().manual_seed(args.seed)
        with torch.no_grad():
            held_out = float(np.mean([generator_loss(model, task, args, check)[0].item() for task in valid or train]))
        if held_out < best[0] or best[2] is None:
            best = (held_out, epoch, {k: v.clone() for k, v in model.state_dict().items()})
        bar.set_postfix(recon=f"{held_out:.3f}", best=f"{best[0]:.3f}@{best[1]}")
    model.load_state_dict(best[2])
    return model.eval(), {"valid_reconstruction_ce": best[0], "generator_best_epoch": best[1]}


@torch.no_grad()
def mean_codes(predictor: MetaPredictor, generator_model: CellGenerator, tasks: list[Task], per_class: int,
               seed: int) -> dict[str, torch.Tensor]:
    """Mean dataset codes over the meta-training tasks: the stand-in for a dataset given without images."""
    draw = torch.Generator().manual_seed(seed)
    codes, mus, logvars = [], [], []
    for task in tasks:
        features = sample_class_features(task.feature_sets, per_class, draw)
        codes.append(predictor.dataset_encoder(features))
        mu, logvar = generator_model.posterior(features)
        mus.append(mu)
        logvars.append(logvar)
    return {"mean_predictor_code": torch.stack(codes).mean(0), "mean_generator_mu": torch.stack(mus).mean(0),
            "mean_generator_logvar": torch.stack(logvars).mean(0)}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--database", type=Path, default=DEFAULT_DATABASE, help="meta-database table (.csv.gz)")
    p.add_argument("--data", default=None, help="location of the database's source dataset (default: the "
                   "Debian Fashion-MNIST folder; required when the source is CIFAR)")
    p.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint to write")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--feature-size", type=int, default=12, help="side of the feature CNN's grayscale input")
    p.add_argument("--feature-dim", type=int, default=32, help="image feature size")
    p.add_argument("--feature-images-per-class", type=int, default=300, help="source images per class for the CNN")
    p.add_argument("--feature-epochs", type=int, default=3, help="feature CNN epochs")
    p.add_argument("--images-per-class", type=int, default=20, help="images per class in one dataset sample")
    p.add_argument("--valid-tasks", type=int, default=2, help="tasks held out for model selection (0: select on "
                   "the training tasks)")
    p.add_argument("--predictor-epochs", type=int, default=80, help="meta-predictor epochs (one step per task)")
    p.add_argument("--target", choices=("rank", "accuracy"), default="rank", help="what the meta-predictor "
                   "regresses: a cell's rank within its task, or its standardised accuracy")
    p.add_argument("--predictor-weight-decay", type=float, default=0.0, help="Adam weight decay of the predictor")
    p.add_argument("--predictor-hidden", type=int, default=64, help="meta-predictor hidden size")
    p.add_argument("--dataset-dim", type=int, default=32, help="meta-predictor dataset code size")
    p.add_argument("--generator-epochs", type=int, default=150, help="generator epochs (one step per task)")
    p.add_argument("--generator-hidden", type=int, default=56, help="generator hidden size (paper: 56)")
    p.add_argument("--nz", type=int, default=56, help="latent size (paper: 56)")
    p.add_argument("--top-fraction", type=float, default=0.25, help="fraction of each task's best cells the "
                   "generator learns to produce")
    p.add_argument("--kl-weight", type=float, default=5e-3, help="weight of the KL term (kept small, as in MetaD2A)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_device_argument(p, what="the feature CNN's and the meta-predictor's training (the small D-VAE generator "
                                "always trains on the CPU)")
    return p


def check_arguments(args) -> None:
    for name in ("feature_size", "feature_dim", "feature_images_per_class", "feature_epochs", "images_per_class",
                 "predictor_epochs", "predictor_hidden", "dataset_dim", "generator_epochs", "generator_hidden", "nz"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if not 0.0 < args.top_fraction <= 1.0:
        raise InputError(f"--top-fraction must be in (0, 1], got {args.top_fraction}")
    if args.valid_tasks < 0 or args.kl_weight < 0 or args.lr <= 0:
        raise InputError("--valid-tasks and --kl-weight must be >= 0 and --lr > 0")
    resolve_device(args.device)  # --device cuda without CUDA: one error line before any work


@cli_entry
def main(argv=None) -> dict:
    args = parser().parse_args(argv)
    check_arguments(args)
    progress = not args.no_progress
    start = time.perf_counter()
    torch.set_num_threads(1)
    table = load_database(args.database)
    recipe = recipe_of(table, args.data)
    n_tasks = table["task"].nunique()
    if args.valid_tasks >= n_tasks:
        raise InputError(f"--valid-tasks ({args.valid_tasks}) must leave training tasks; the database has {n_tasks}")
    class_pool = sorted({int(c) for text in table["classes"] for c in str(text).split()})
    source = source_images(recipe.source, recipe.data_path, recipe.image_size, True)
    cnn_data = class_subset(source, class_pool, args.feature_images_per_class, args.seed + 7)
    cnn, cnn_accuracy = train_feature_cnn(cnn_data.images, cnn_data.labels, len(class_pool), args.feature_size,
                                          args.feature_dim, args.feature_epochs, args.seed, progress,
                                          resolve_device(args.device))
    tasks = load_tasks(table, recipe, cnn, args.feature_size)
    train, valid = tasks[:len(tasks) - args.valid_tasks], tasks[len(tasks) - args.valid_tasks:]
    predictor, predictor_metrics, (target_mean, target_std) = train_predictor(train, valid, args.feature_dim,
                                                                              args, progress,
                                                                              resolve_device(args.device))
    generator_model, generator_metrics = train_generator(train, valid, args.feature_dim, args, progress)
    seconds = time.perf_counter() - start
    metrics = {"feature_cnn_train_acc": cnn_accuracy, **predictor_metrics, **generator_metrics,
               "meta_train_seconds": seconds}
    config = {k: getattr(args, k) for k in ("feature_size", "feature_dim", "images_per_class", "predictor_hidden",
                                              "dataset_dim", "generator_hidden", "nz", "seed")}
    checkpoint = {"format": FORMAT, "config": config, "recipe": recipe.settings(), "class_pool": class_pool,
                  "train_tasks": [t.task_id for t in train], "valid_tasks": [t.task_id for t in valid],
                  "database": str(args.database), "metrics": metrics,
                  "target": args.target, "target_mean": target_mean, "target_std": target_std, "feature_cnn": cnn.state_dict(),
                  "predictor": predictor.state_dict(), "generator": generator_model.state_dict(),
                  **mean_codes(predictor, generator_model, tasks, args.images_per_class, args.seed)}
    ckpt.save(args.out, checkpoint)
    print(f"meta-trained on {len(train)} tasks (+{len(valid)} held out) in {seconds:.0f} s -> {args.out}: "
          + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return metrics


def load_metad2a(path) -> tuple[dict, ImageFeatureCNN, CellGenerator, MetaPredictor]:
    """A meta-trained checkpoint and its three networks (eval mode); InputError when missing or foreign."""
    checkpoint = ckpt.load(path, "MetaD2A checkpoint", "python -m models.train_metad2a", FORMAT,
                           {"config": dict, "class_pool": list, "feature_cnn": dict, "generator": dict,
                            "predictor": dict})
    config = checkpoint["config"]
    cnn = ImageFeatureCNN(len(checkpoint["class_pool"]), config["feature_dim"])
    generator_model = CellGenerator(config["feature_dim"], config["generator_hidden"], config["nz"])
    predictor = MetaPredictor(config["feature_dim"], config["predictor_hidden"], config["dataset_dim"])
    for module, key in ((cnn, "feature_cnn"), (generator_model, "generator"), (predictor, "predictor")):
        ckpt.load_state(module, checkpoint[key], path, f"MetaD2A {key}")
        module.eval()
    return checkpoint, cnn, generator_model, predictor


if __name__ == "__main__":
    main()
