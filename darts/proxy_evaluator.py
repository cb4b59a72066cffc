"""A cheap, real evaluator for search in the DARTS space: train a small proxy network, report accuracy.

Interface for search code::

    from darts.proxy_evaluator import ProxyConfig, ProxyEvaluator
    with ProxyEvaluator(ProxyConfig(dataset="fashion_mnist", epochs=3), cache_path="data/cache/proxy.json") as evaluator:
        results = evaluator.evaluate([genotype_a, genotype_b])   # -> [(valid_acc_percent, train_seconds), ...]

Defaults (Fashion-MNIST area-downsampled to 14x14, 3 cells of 8 channels, 2 epochs on 2,000
images, 1,000 validation images) cost 7-11 CPU-seconds per genotype (measured on one core).

``genotypes`` may be :class:`~preprocessing.darts_space.Genotype` values, 4-field sequences or
genotype strings; they are validated first (InputError names a bad one). Each distinct genotype is
trained once: a :class:`~darts.model.NetworkCIFAR` with ``config.layers`` cells and
``config.channels`` channels, no auxiliary head, SGD + cosine schedule, on a seeded
``train_size`` / ``valid_size`` split of the dataset's *training* images (the test split is never
used), and scored by validation accuracy (percent). The seconds are the real wall time of that
training + validation on one CPU thread.

Training runs through :mod:`search_methods.executor` (``options``: local processes, one torch thread
each, default all cores; or a Ray cluster, where ``gpus=1`` puts each training on a GPU worker).
Results come back to the driver, which stores them in the JSON cache (keyed by
:func:`~preprocessing.darts_space.genotype_to_string`, merged with what the file holds and written
atomically after each finished genotype) so repeated queries and interrupted searches cost nothing. A cache belongs to one :class:`ProxyConfig`; opening it with another config is
refused. With a fixed config, results are deterministic on CPU (same seed for every genotype).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from darts.data import DATASETS, BatchLoader, ImageArrays, load_dataset
from darts.model import NetworkCIFAR
from darts.train import run_epoch
from preprocessing.darts_space import genotype_from_string, genotype_to_string, validate_genotype
from preprocessing.errors import InputError
from preprocessing.io_utils import atomic_write_json
from search_methods import executor


@dataclass(frozen=True)
class ProxyConfig:
    """Proxy training settings (all plain values; they identify a cache file)."""

    dataset: str = "fashion_mnist"  # fashion_mnist or digits (any name in darts.data.DATASETS works)
    data_path: str | None = None  # None: the dataset's default location
    image_size: int | None = 14  # area-downsample square images to this side (None: native size)
    channels: int = 8
    layers: int = 3
    epochs: int = 2
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 3e-4
    train_size: int = 2000
    valid_size: int = 1000
    seed: int = 0

    def check(self) -> None:
        if self.dataset not in DATASETS:
            raise InputError(f"unknown proxy dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        if self.image_size is not None and self.image_size < 4:
            raise InputError(f"proxy image_size must be at least 4 (or None), got {self.image_size}")
        for name in ("channels", "layers", "epochs", "batch_size", "train_size", "valid_size"):
            if getattr(self, name) < 1:
                raise InputError(f"proxy {name} must be positive, got {getattr(self, name)}")
        if self.channels % 2:
            raise InputError(f"proxy channels must be even, got {self.channels}")


@lru_cache(maxsize=2)
def _proxy_split(config: ProxyConfig) -> tuple[ImageArrays, ImageArrays, tuple, tuple]:
    """(train, valid, mean, std) for ``config``; cached per process since every genotype reuses it."""
    data = load_dataset(config.dataset, config.data_path, train=True)
    if config.train_size + config.valid_size > len(data):
        raise InputError(f"proxy train_size + valid_size = {config.train_size + config.valid_size} exceeds the "
                         f"{len(data)} training images of {config.dataset}")
    if config.image_size is not None and config.image_size < data.images.shape[-1]:
        small = nn.functional.interpolate(data.images.float(), size=config.image_size, mode="area")
        data = ImageArrays(small.round().to(torch.uint8), data.labels, data.num_classes)
    order = np.random.default_rng(config.seed).permutation(len(data))
    train = data.subset(order[:config.train_size])
    valid = data.subset(order[config.train_size:config.train_size + config.valid_size])
    mean, std = train.channel_stats()
    return train, valid, mean, std


def train_proxy(genotype_string: str, config: ProxyConfig, device: str = "cpu") -> tuple[float, float]:
    """Train one genotype's proxy network; returns (validation accuracy %, wall seconds)."""
    train, valid, mean, std = _proxy_split(config)
    start = time.perf_counter()  # after the (per-process, cached) data loading: the cost is the training alone
    torch.manual_seed(config.seed)
    model = NetworkCIFAR(genotype_from_string(genotype_string), config.channels, train.num_classes, config.layers,
                         auxiliary=False, in_channels=train.images.shape[1]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), config.lr, momentum=0.9, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs)
    train_loader = BatchLoader(train, config.batch_size, mean, std, shuffle=True, seed=config.seed)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(config.epochs):
        train_loader.set_epoch(epoch)
        run_epoch(model, train_loader, criterion, optimizer, grad_clip=5.0, device=device)
        scheduler.step()
    _, accuracy = run_epoch(model, BatchLoader(valid, 256, mean, std), criterion, device=device)
    return accuracy, time.perf_counter() - start


def _train_job(config: ProxyConfig, genotype_string: str) -> tuple[float, float]:
    """A worker's part: train one genotype (on the GPU the executor gave the task, if any)."""
    return train_proxy(genotype_string, config, device=executor.task_device())


class ProxyEvaluator:
    """``evaluate(genotypes) -> [(valid_acc %, seconds)]`` with a persistent JSON cache."""

    def __init__(self, config: ProxyConfig = ProxyConfig(), cache_path=None,
                 options: executor.ExecutorOptions | None = None, progress: bool = True):
        config.check()
        self.config = config
        self.options = options or executor.ExecutorOptions(workers=os.cpu_count() or 1)
        self.progress = progress
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.results: dict[str, list[float]] = {}
        # one executor for the evaluator's lifetime: a search asks for many small batches, and each worker
        # pays the torch import and the dataset load once
        self._executor = executor.Executor(self.options, shared=config)
        if self.cache_path is not None and self.cache_path.exists():
            self.results = self._read_cache()

    def _read_cache(self) -> dict[str, list[float]]:
        try:
            stored = json.loads(self.cache_path.read_text())
            config, results = stored["config"], stored["results"]
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(f"{self.cache_path} is not a proxy-evaluator cache; delete it or choose another path") from None
        if config != asdict(self.config):
            raise InputError(f"{self.cache_path} was made with proxy settings {config}, not {asdict(self.config)}; "
                             f"use another cache path")
        return {k: list(v) for k, v in results.items()}

    def _save_cache(self) -> None:
        """Merge this driver's results into the file (another search may share it) and write it atomically."""
        if self.cache_path is not None:
            stored = self._read_cache() if self.cache_path.exists() else {}
            self.results = {**stored, **self.results}
            atomic_write_json(self.cache_path, {"config": asdict(self.config), "results": self.results})

    def evaluate(self, genotypes) -> list[tuple[float, float]]:
        """Validation accuracy (%) and training seconds for each genotype, in input order."""
        keys = [genotype_to_string(genotype_from_string(g) if isinstance(g, str) else validate_genotype(g))
                for g in genotypes]
        todo = sorted(set(k for k in keys if k not in self.results))
        if todo:
            bar = tqdm(total=len(todo), desc="proxy training", unit="arch", disable=not self.progress)
            try:
                for key, (accuracy, seconds) in self._executor.map(_train_job, todo, bar=bar):
                    self.results[key] = [accuracy, seconds]
                    self._save_cache()
            finally:
                bar.close()
        return [tuple(self.results[k]) for k in keys]

    def close(self) -> None:
        """Let the worker processes exit (also on ``with`` exit)."""
        self._executor.close()

    def __enter__(self) -> "ProxyEvaluator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
