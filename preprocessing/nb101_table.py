"""The embedded NAS-Bench-101 benchmark: 30,001 real cells shipped in ``data/nasbench101_30k/``.

One dataset, ``cifar10`` (NB101 trains on CIFAR-10), accuracies in percent:

* ``valid_mean``: validation accuracy of one 108-epoch training run (the search signal);
* ``test_mean``: NaN -- the file has no test accuracy, so logs report ``best_test`` = null and the
  summaries report validation (and say so);
* ``train_time_s``: that run's training time (the simulated cost of a query);
* ``extra``: ``valid_e4`` / ``valid_e12`` / ``valid_e36`` (the same cell's one-run validation after
  4 / 12 / 36 epochs, for methods that use cheaper fidelities), ``trainable_parameters``.

All 30,001 module hashes are cells of the enumerated space (``data/nasbench101/nb101_space.npz``),
which gives each row its cell. Parsed once into ``data/cache/nb101_30k.npz`` (loads in milliseconds).
A converted official file (``python -m preprocessing.nb101_tfrecord``) is used through ``--table``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from preprocessing.benchmark_table import Benchmark, MetricTable, load_cached
from preprocessing.errors import InputError

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "nasbench101_30k"
TABLE = DATA_DIR / "nb101_30k_valid_nasbenchvis.csv.gz"
TABLE_SHA256 = "49c543c0ec2e070165578f67d7cd4f137b58889d4d4dbc66b9f0028d4ad97ccc"
CACHE = DATA_DIR.parent / "cache" / "nb101_30k.npz"
EMBEDDED_ID = "embedded:nasbench101_30k"
_COLUMNS = ["module_hash", "val_acc_e4_one_run", "val_acc_e12_one_run", "val_acc_e36_one_run",
            "val_acc_e108_one_run", "final_training_time_one_run", "trainable_parameters", "source_file"]


def _parse_csv() -> Benchmark:
    import pandas as pd

    if not TABLE.exists():
        raise InputError(f"embedded NB101 table {TABLE} is missing; restore data/ from the repository")
    if hashlib.sha256(TABLE.read_bytes()).hexdigest() != TABLE_SHA256:
        raise InputError(f"embedded NB101 table {TABLE} does not match its PROVENANCE.md digest; restore data/")
    with gzip.open(TABLE, "rt") as f:
        frame = pd.read_csv(f, dtype={"module_hash": str})
    if list(frame.columns) != _COLUMNS:
        raise InputError(f"{TABLE}: unexpected columns {list(frame.columns)}; restore data/ from the repository")
    percent = {e: 100.0 * frame[f"val_acc_e{e}_one_run"].to_numpy(float) for e in (4, 12, 36, 108)}
    n = len(frame)
    table = MetricTable(valid_mean=percent[108], test_mean=np.full(n, np.nan),
                        train_time_s=frame["final_training_time_one_run"].to_numpy(float),
                        extra={f"valid_e{e}": percent[e] for e in (4, 12, 36)})
    return Benchmark(space="nb101", arch_strings=frame["module_hash"].to_numpy(str), datasets={"cifar10": table},
                     extra={"trainable_parameters": frame["trainable_parameters"].to_numpy(np.int64)},
                     source="embedded NAS-Bench-101 30k cells (data/nasbench101_30k)")


def load_embedded(cache: Path | None = CACHE) -> Benchmark:
    """The embedded 30k table; parsed once from the CSV, then read from the npz cache."""
    return load_cached(cache, (TABLE,), _parse_csv)


def load_benchmark(table: str | os.PathLike | None = None) -> tuple[Benchmark, str]:
    """(benchmark, table id): the embedded 30k cells, or a converted ``.npz`` NB101 table (``--table``)."""
    if table is None:
        return load_embedded(), EMBEDDED_ID
    path = Path(table)
    if not path.exists():
        raise InputError(f"--table {path} does not exist")
    bench = Benchmark.load(path)
    if bench.space != "nb101":
        raise InputError(f"--table {path} is a {bench.space} table; --space nb101 needs an NB101 one "
                         f"(python -m preprocessing.nb101_tfrecord --tfrecord nasbench_only108.tfrecord)")
    return bench, str(path)
