"""The embedded NAS-Bench-201 benchmark: real tables shipped in ``data/nasbench201/``.

Datasets and their columns (see ``data/nasbench201/PROVENANCE.md``), accuracies in percent:

============== ================================== ==================================== =====================
dataset        valid (the search signal)          test (reporting only)                per-seed valid
============== ================================== ==================================== =====================
cifar10        cifar10-valid, x-valid, seed mean  cifar10 (train+valid), ori-test       cifar10-valid x-valid
cifar100       x-valid, seed mean (derived exact) x-test, seed mean                    derived, see below
ImageNet16-120 x-valid, seed mean (derived exact) x-test, seed mean                    derived, see below
============== ================================== ==================================== =====================

As in the NAS-Bench-201 paper's tables, cifar10 searches on cifar10-valid's validation accuracy
and reports cifar10's test accuracy. ``train_time_s`` is the 200-epoch training time of the
dataset's run. For cifar100 / ImageNet16-120 the table has per-seed values only for
``valtest`` (x-valid and x-test together), so a per-seed validation value is *approximated* as
``valid_mean + (valtest_seed - valtest_mean)``: the seed's deviation is carried over from the
valtest split. This is the one-random-seed signal of arch2vec / WeakNAS; the seed mean is exact.

The parsed table is cached as ``data/cache/nb201_embedded.npz`` (loads in milliseconds).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from preprocessing.benchmark_table import Benchmark, MetricTable, load_cached
from preprocessing.errors import InputError
from preprocessing.nasbench201 import DATA_DIR, MERGED_TABLE, N_ARCHS

PER_SEED_TABLE = DATA_DIR / "nb201_final_acc_per_seed.csv.gz"
CACHE = DATA_DIR.parent / "cache" / "nb201_embedded.npz"
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
SEEDS = (777, 888, 999)

_PREFIX = {"cifar10": "c10v", "cifar100": "c100", "ImageNet16-120": "in16"}
_VALID = {"cifar10": "c10v_valid_acc_mean", "cifar100": "c100_valid_acc_mean_derived",
          "ImageNet16-120": "in16_valid_acc_mean_derived"}
_TEST = {"cifar10": "c10_test_acc_mean", "cifar100": "c100_test_acc_mean", "ImageNet16-120": "in16_test_acc_mean"}
_TEST_12EP = {"cifar10": "c10_test_acc_12ep_onerun", "cifar100": "c100_test_acc_12ep_onerun",
              "ImageNet16-120": "in16_test_acc_12ep_onerun"}
_PER_SEED_NAME = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "ImageNet16-120": "ImageNet16-120"}


def _parse_csvs() -> Benchmark:
    import pandas as pd

    for path in (MERGED_TABLE, PER_SEED_TABLE):
        if not path.exists():
            raise InputError(f"embedded NB201 table {path} is missing; restore data/ from the repository")
    merged = pd.read_csv(MERGED_TABLE)
    per_seed = pd.read_csv(PER_SEED_TABLE)
    if len(merged) != N_ARCHS or not np.array_equal(merged["arch_index"].to_numpy(), np.arange(N_ARCHS)):
        raise InputError(f"{MERGED_TABLE} must hold the {N_ARCHS} cells in index order; restore data/")

    datasets = {}
    for ds in DATASETS:
        prefix = _PREFIX[ds]
        rows = per_seed[per_seed["dataset"] == _PER_SEED_NAME[ds]]
        seeds = np.full((N_ARCHS, len(SEEDS)), np.nan)
        seeds[rows["arch_index"].to_numpy(), rows["seed"].map(SEEDS.index).to_numpy()] = rows["accuracy_epoch200"]
        valid_mean = merged[_VALID[ds]].to_numpy(float)
        if ds != "cifar10":  # per-seed values are valtest: carry each seed's deviation over to valid
            seeds = valid_mean[:, None] + (seeds - merged[f"{prefix}_valtest_acc_mean"].to_numpy(float)[:, None])
        extra = {
            "params_mb": merged[f"{prefix}_params_mb"].to_numpy(float),
            "test_acc_12ep_onerun": merged[_TEST_12EP[ds]].to_numpy(float),
        }
        if ds == "cifar10":
            extra["time_per_epoch_s"] = merged["c10v_train_time_per_epoch_s"].to_numpy(float)
            extra["cifar10_valid_test_mean"] = merged["c10v_test_acc_mean"].to_numpy(float)
        datasets[ds] = MetricTable(
            valid_mean=valid_mean,
            test_mean=merged[_TEST[ds]].to_numpy(float),
            train_time_s=merged[f"{prefix}_train_time_200ep_s"].to_numpy(float),
            valid_seeds=seeds,
            extra=extra,
        )
    latency = {c: merged[c].to_numpy(float) for c in merged.columns if c.startswith("lat_")}
    return Benchmark(space="nb201", arch_strings=merged["arch_str"].to_numpy(str), datasets=datasets,
                     extra=latency, source="embedded NAS-Bench-201 tables (data/nasbench201)")


def load_embedded(cache: Path | None = CACHE) -> Benchmark:
    """The embedded NB201 benchmark; parsed once from the CSVs, then read from the npz cache."""
    return load_cached(cache, (MERGED_TABLE, PER_SEED_TABLE), _parse_csvs)


def load_benchmark(table: str | os.PathLike | None = None) -> Benchmark:
    """The benchmark a search entry point uses: the embedded default, or a user's ``--table``.

    ``table`` may be a converted ``.npz`` (from the official-file converters) or a CSV of the
    user's own NB201 measurements (see ``preprocessing.nb201_custom_table``).
    """
    if table is None:
        return load_embedded()
    path = Path(table)
    if not path.exists():
        raise InputError(f"--table {path} does not exist")
    if path.suffix == ".npz":
        bench = Benchmark.load(path)
        if bench.space != "nb201" or len(bench) != N_ARCHS:
            raise InputError(f"--table {path} is a {bench.space} table with {len(bench)} rows, not NB201")
        return bench
    from preprocessing.nb201_custom_table import load_custom_table

    return load_custom_table(path)
