"""MetaD2A meta-database: class-subset tasks of an image dataset x NB201 cells, each cell trained briefly.

    python -m preprocessing.metad2a_database --tasks 10 --cells-per-task 32 --out data/metad2a/fmnist_db.csv.gz

A *task* is a subset of a source dataset's classes (default: Fashion-MNIST classes 0-5, 3 to 5 of
them per task; classes 6-9 stay unseen for meta-testing). For every task a sample of NB201 cells is
trained with one fixed short schedule (:class:`CellRecipe`: a small NB201 network built from the
cell, a few epochs on a few hundred images per class) and scored on held-back images of the same
classes. Cells are stratified by the NB201 CIFAR-10 validation accuracy (one per accuracy
quantile), so every task sees weak, middling and strong cells.

Output: one gzip CSV, one row per (task, cell), columns:

* ``task`` (int), ``classes`` (space-separated source class ids, label ``i`` of the task is the
  ``i``-th of them), ``n_classes``;
* ``arch_index`` (official NB201 index), ``arch`` (official string);
* ``valid_acc`` (percent, on the task's validation images), ``train_seconds`` (wall time of that
  training + evaluation on one thread), ``n_params``;
* the settings that define the task images and the schedule -- ``source``, ``image_size``,
  ``train_per_class``, ``valid_per_class``, ``data_seed``, ``channels``, ``cells_per_stage``,
  ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``seed`` -- identical on every row, so the
  table alone says how to rebuild each task's images (:func:`task_data`).

Resumable: each finished (task, cell) is appended as one JSON line to ``<out>.parts.jsonl`` (one
``write`` of a whole line, flushed; a torn last line is ignored on reload) and skipped on a rerun, as
are the rows of an existing ``<out>`` built with the same settings (so ``--tasks`` / ``--cells-per-task``
can grow a shipped table). The CSV is written atomically when every job is done, and the parts file
is then removed. Jobs run through :mod:`search_methods.executor`: ``--workers`` local processes, or a
Ray cluster (``--executor ray [--address HOST:PORT]``; ``--gpus-per-task 1`` trains each cell on a
GPU worker), one torch thread each; the driver writes every row.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from darts.data import BatchLoader, ImageArrays, load_dataset, resize_images
from darts.train import run_epoch
from models.nb201_network import NB201Network, count_parameters
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from preprocessing.nasbench201 import string_of_index
from search_methods import executor

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "metad2a" / "fmnist_db.csv.gz"
SETTING_COLUMNS = ("source", "image_size", "train_per_class", "valid_per_class", "data_seed", "channels",
                   "cells_per_stage", "epochs", "batch_size", "lr", "weight_decay", "seed")
RESULT_COLUMNS = ("task", "classes", "n_classes", "arch_index", "arch", "valid_acc", "train_seconds", "n_params")


@dataclass(frozen=True)
class CellRecipe:
    """How task images are drawn and how one cell is trained on them (plain values only)."""

    source: str = "fashion_mnist"
    data_path: str | None = None
    image_size: int = 12
    train_per_class: int = 150
    valid_per_class: int = 250
    data_seed: int = 0
    channels: int = 8
    cells_per_stage: int = 1
    epochs: int = 3
    batch_size: int = 32
    lr: float = 0.05
    weight_decay: float = 5e-4
    seed: int = 0

    def settings(self) -> dict:
        """The values stored in every table row (``data_path`` is where, not what: not stored)."""
        return {k: getattr(self, k) for k in SETTING_COLUMNS}

    def check(self) -> None:
        for name in ("image_size", "train_per_class", "valid_per_class", "channels", "cells_per_stage", "epochs",
                     "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if self.image_size % 4:  # two stride-2 reductions: odd sizes misalign the residual shortcut
            raise InputError(f"image-size must be a multiple of 4, got {self.image_size}")
        if self.lr <= 0:
            raise InputError(f"lr must be positive, got {self.lr}")


class _LogitsOnly(nn.Module):
    """Adapts a logits-only network to :func:`darts.train.run_epoch`, which expects (logits, aux)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor):
        return self.net(x), None


@lru_cache(maxsize=4)
def source_images(source: str, data_path: str | None, image_size: int, train: bool) -> ImageArrays:
    """A whole source split resized to ``image_size`` (cached: every job of a worker reuses it)."""
    return resize_images(load_dataset(source, data_path, train=train), image_size)


def class_subset(data: ImageArrays, classes, per_class: int | None, seed: int,
                 skip: int = 0) -> ImageArrays:
    """Images of ``classes`` relabelled 0..k-1 in the given order: a seeded draw of ``per_class`` each
    (all when None) after skipping the first ``skip`` of that draw."""
    rng = np.random.default_rng(seed)
    labels = data.labels.numpy()
    picked, new_labels = [], []
    for new, c in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        chosen = members[skip:] if per_class is None else members[skip:skip + per_class]
        if per_class is not None and len(chosen) < per_class:
            raise InputError(f"class {c} has only {len(members)} images; lower the images per class")
        picked.append(chosen)
        new_labels.append(np.full(len(chosen), new))
    subset = data.subset(np.concatenate(picked))
    return ImageArrays(subset.images, torch.from_numpy(np.concatenate(new_labels)), len(classes))


def task_data(recipe: CellRecipe, classes, task_seed: int) -> tuple[ImageArrays, ImageArrays]:
    """(train, valid) images of one task, both drawn from the source's training split."""
    data = source_images(recipe.source, recipe.data_path, recipe.image_size, True)
    seed = recipe.data_seed * 100_003 + task_seed
    train = class_subset(data, classes, recipe.train_per_class, seed)
    valid = class_subset(data, classes, recipe.valid_per_class, seed, skip=recipe.train_per_class)
    return train, valid


def train_cell(arch: str, train: ImageArrays, evaluate: ImageArrays, recipe: CellRecipe, device: str = "cpu") -> dict:
    """Train the small NB201 network of ``arch`` with the recipe's schedule; accuracy on ``evaluate``."""
    start = time.perf_counter()
    torch.manual_seed(recipe.seed)
    net = NB201Network(arch, train.num_classes, recipe.channels, recipe.cells_per_stage,
                       train.images.shape[1]).to(device)
    model = _LogitsOnly(net)
    mean, std = train.channel_stats()
    optimizer = torch.optim.SGD(model.parameters(), recipe.lr, momentum=0.9, nesterov=True,
                                weight_decay=recipe.weight_decay)
    loader = BatchLoader(train, recipe.batch_size, mean, std, shuffle=True, seed=recipe.seed)
    steps = recipe.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=steps, pct_start=0.15)
    criterion = nn.CrossEntropyLoss()
    stepping = _SchedulerEveryStep(optimizer, scheduler)
    for epoch in range(recipe.epochs):
        loader.set_epoch(epoch)
        run_epoch(model, loader, criterion, stepping, grad_clip=5.0, device=device)
    _, accuracy = run_epoch(model, BatchLoader(evaluate, 256, mean, std), criterion, device=device)
    return {"valid_acc": float(accuracy), "train_seconds": time.perf_counter() - start,
            "n_params": count_parameters(net)}


class _SchedulerEveryStep:
    """An optimizer whose ``step`` also advances a per-step LR schedule (run_epoch only calls step)."""

    def __init__(self, optimizer: torch.optim.Optimizer, scheduler):
        self.optimizer, self.scheduler = optimizer, scheduler

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.optimizer.step()
        self.scheduler.step()


# ----------------------------------------------------------------------------- plan

def sample_tasks(n_tasks: int, class_pool, min_size: int, max_size: int, seed: int) -> list[tuple[int, ...]]:
    """``n_tasks`` distinct class subsets of ``class_pool`` with sizes uniform in [min_size, max_size]."""
    pool = sorted(set(int(c) for c in class_pool))
    if not 2 <= min_size <= max_size <= len(pool):
        raise InputError(f"task sizes must satisfy 2 <= min ({min_size}) <= max ({max_size}) <= "
                         f"{len(pool)} pool classes")
    rng = np.random.default_rng(seed)
    tasks: list[tuple[int, ...]] = []
    for _ in range(1000 * n_tasks):
        if len(tasks) == n_tasks:
            return tasks
        size = int(rng.integers(min_size, max_size + 1))
        classes = tuple(sorted(int(c) for c in rng.choice(pool, size, replace=False)))
        if classes not in tasks:
            tasks.append(classes)
    raise InputError(f"cannot draw {n_tasks} distinct tasks of {min_size}-{max_size} classes from {len(pool)} "
                     f"classes; ask for fewer tasks or widen the sizes")


def stratified_cells(n_cells: int, reference_acc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One official index per equal-size quantile of ``reference_acc`` (all 15,625 cells), sorted."""
    order = np.argsort(reference_acc, kind="stable")
    strata = np.array_split(order, n_cells)
    return np.sort(np.array([int(rng.choice(s)) for s in strata], dtype=np.int64))


def build_plan(n_tasks: int, cells_per_task: int, class_pool, min_size: int, max_size: int,
               seed: int) -> list[tuple[int, tuple[int, ...], int]]:
    """Jobs (task id, classes, arch index): each task gets its own stratified cell sample."""
    from preprocessing.nb201_table import load_embedded

    reference = load_embedded().metrics("cifar10").valid_mean
    if not 1 <= cells_per_task <= len(reference):
        raise InputError(f"cells per task must be in 1..{len(reference)}, got {cells_per_task}")
    jobs = []
    for task, classes in enumerate(sample_tasks(n_tasks, class_pool, min_size, max_size, seed)):
        cells = stratified_cells(cells_per_task, reference, np.random.default_rng([seed, task]))
        jobs.extend((task, classes, int(a)) for a in cells)
    return jobs


# ----------------------------------------------------------------------------- running

def _run_job(recipe: CellRecipe, job: tuple[int, tuple[int, ...], int]) -> dict:
    """A worker's part: train one (task, cell); the driver appends the row to the journal."""
    task, classes, arch_index = job
    train, valid = task_data(recipe, classes, task)
    arch = string_of_index(arch_index)
    row = {"task": task, "classes": " ".join(map(str, classes)), "n_classes": len(classes),
           "arch_index": arch_index, "arch": arch}
    row.update(train_cell(arch, train, valid, recipe, device=executor.task_device()))
    row.update(recipe.settings())
    return row


def _parts_path(out: Path) -> Path:
    return out.with_name(out.name + ".parts.jsonl")


def _read_parts(path: Path, settings: dict) -> dict[tuple[int, int], dict]:
    """Finished rows keyed by (task, arch_index); rows made with other settings are refused."""
    done: dict[tuple[int, int], dict] = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line torn by an interrupted write: that job simply runs again
            continue
        if {k: row.get(k) for k in SETTING_COLUMNS} != settings:
            raise InputError(f"{path} holds results made with other settings; use another --out or delete it")
        done[(row["task"], row["arch_index"])] = row
    return done


def load_database(path) -> pd.DataFrame:
    """The meta-database table; InputError when missing or lacking columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no MetaD2A database at {path}; build one with "
                         f"`bash run_scripts/build_metad2a_database.sh` or pass --database")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path} is not a readable MetaD2A database CSV ({exc})") from None
    missing = [c for c in RESULT_COLUMNS + SETTING_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path} lacks columns {missing}; rebuild it with preprocessing.metad2a_database")
    return table


def recipe_of(table: pd.DataFrame, data_path: str | None = None) -> CellRecipe:
    """The :class:`CellRecipe` a database was built with (read from its setting columns)."""
    first = table.iloc[0]
    values = {k: (first[k].item() if hasattr(first[k], "item") else first[k]) for k in SETTING_COLUMNS}
    return CellRecipe(data_path=data_path, **values)


def _apply(function, job):
    return function(job)


def run_jobs(function, jobs: list, options: executor.ExecutorOptions | int):
    """Yield ``function(job)`` for every job, in completion order, through the executor (``options``, or a
    number of local workers); one torch thread per job, in this process when there is one worker."""
    if isinstance(options, int):
        options = executor.ExecutorOptions(workers=max(1, options))
    with executor.Executor(options, shared=executor.importable(function)) as runner:
        for _, result in runner.map(_apply, jobs):
            yield result


def build(jobs, recipe: CellRecipe, out: Path, options: executor.ExecutorOptions | int,
          progress: bool = True) -> pd.DataFrame:
    """Run every job not yet in ``<out>.parts.jsonl``; write the CSV when all are done."""
    recipe.check()
    parts = _parts_path(out)
    done = _read_parts(parts, recipe.settings())
    if out.exists():  # a finished table counts as done too, so reruns and extensions redo nothing
        for row in load_database(out).to_dict("records"):
            if {k: row[k] for k in SETTING_COLUMNS} != recipe.settings():
                raise InputError(f"{out} was built with other settings; use another --out or delete it")
            done.setdefault((row["task"], row["arch_index"]), row)
    todo = [(t, c, a) for t, c, a in jobs if (t, a) not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="meta-database", unit="cell",
               disable=not progress)
    torn = parts.exists() and parts.stat().st_size > 0 and not parts.read_bytes().endswith(b"\n")
    if isinstance(options, int):
        options = executor.ExecutorOptions(workers=max(1, options))
    with executor.Executor(options, shared=recipe) as runner:
        if todo:
            runner.start()  # an unreachable cluster fails here, before the journal is touched
        with open(parts, "a") as log:
            if torn:  # end the torn line, or the next result would be glued onto it and lost
                log.write("\n")
            for _, row in runner.map(_run_job, todo):
                log.write(json.dumps(row) + "\n")
                log.flush()
                os.fsync(log.fileno())
                done[(row["task"], row["arch_index"])] = row
                bar.update(1)
                bar.set_postfix(acc=f"{row['valid_acc']:.1f}", sec=f"{row['train_seconds']:.0f}")
    bar.close()
    table = pd.DataFrame([done[(t, a)] for t, _, a in jobs], columns=list(RESULT_COLUMNS + SETTING_COLUMNS))
    table = table.sort_values(["task", "arch_index"], kind="stable").reset_index(drop=True)
    atomic_write(out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f", compression="gzip"))
    parts.unlink()  # its rows now live in the table, which a rerun reads as done
    return table


def _parse_classes(text: str) -> list[int]:
    try:
        return [int(c) for c in text.replace(",", " ").split()]
    except ValueError:
        raise InputError(f"--class-pool must be class ids like '0,1,2,3,4,5', got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output table (.csv.gz); results in progress "
                   "go to <out>.parts.jsonl, which a rerun resumes from")
    p.add_argument("--source", default="fashion_mnist", help="source dataset: fashion_mnist, digits, or cifar10 / "
                   "cifar100 with --data (a bigger source gives more tasks)")
    p.add_argument("--data", default=None, help="dataset location (required for CIFAR; default Fashion-MNIST "
                   "folder otherwise)")
    p.add_argument("--tasks", type=int, default=10, help="number of class-subset tasks")
    p.add_argument("--cells-per-task", type=int, default=32, help="NB201 cells trained per task (stratified by "
                   "the NB201 CIFAR-10 validation accuracy)")
    p.add_argument("--class-pool", default="0,1,2,3,4,5", help="source classes tasks are drawn from (keep some "
                   "out for meta-testing)")
    p.add_argument("--min-classes", type=int, default=3, help="fewest classes in a task")
    p.add_argument("--max-classes", type=int, default=5, help="most classes in a task")
    p.add_argument("--image-size", type=int, default=CellRecipe.image_size, help="resize images to this side")
    p.add_argument("--train-per-class", type=int, default=CellRecipe.train_per_class,
                   help="training images per class of a task")
    p.add_argument("--valid-per-class", type=int, default=CellRecipe.valid_per_class,
                   help="validation images per class of a task")
    p.add_argument("--channels", type=int, default=CellRecipe.channels, help="NB201 network stem channels")
    p.add_argument("--cells-per-stage", type=int, default=CellRecipe.cells_per_stage, help="cells per stage")
    p.add_argument("--epochs", type=int, default=CellRecipe.epochs, help="training epochs per cell")
    p.add_argument("--batch-size", type=int, default=CellRecipe.batch_size, help="training batch size")
    p.add_argument("--lr", type=float, default=CellRecipe.lr, help="peak learning rate (one-cycle schedule)")
    p.add_argument("--weight-decay", type=float, default=CellRecipe.weight_decay, help="SGD weight decay")
    p.add_argument("--seed", type=int, default=0, help="seed of the task/cell plan, the image draw and training")
    executor.add_arguments(p, gpus=True)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


@cli_entry
def main(argv=None) -> pd.DataFrame:
    args = parser().parse_args(argv)
    if args.tasks < 1:
        raise InputError(f"--tasks must be positive, got {args.tasks}")
    if not str(args.out).endswith(".csv.gz"):
        raise InputError(f"--out must end in .csv.gz, got {args.out}")
    recipe = CellRecipe(source=args.source, data_path=args.data, image_size=args.image_size,
                        train_per_class=args.train_per_class, valid_per_class=args.valid_per_class,
                        data_seed=args.seed, channels=args.channels, cells_per_stage=args.cells_per_stage,
                        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                        seed=args.seed)
    recipe.check()
    options = executor.ExecutorOptions.from_args(args)
    source_images(recipe.source, recipe.data_path, recipe.image_size, True)  # bad data path: fail before work
    jobs = build_plan(args.tasks, args.cells_per_task, _parse_classes(args.class_pool), args.min_classes,
                      args.max_classes, args.seed)
    start = time.perf_counter()
    table = build(jobs, recipe, args.out, options, progress=not args.no_progress)
    print(f"{len(table)} rows ({table['task'].nunique()} tasks) -> {args.out} "
          f"[{time.perf_counter() - start:.0f} s this run; {table['train_seconds'].sum():.0f} worker-s in total]")
    return table


if __name__ == "__main__":
    main()
