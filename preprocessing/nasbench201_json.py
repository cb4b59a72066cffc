"""Write arch2vec's per-dataset NAS-Bench-201 JSON files from the embedded benchmark table.

    python -m preprocessing.nasbench201_json [--out-dir data] [--table PATH]

Files (the seed's names): ``cifar10_valid_converged.json``, ``cifar100.json``, ``ImageNet16_120.json``.
Each is one JSON object keyed by the official index as a string (``"0"`` .. ``"15624"``); every
entry is::

    {
      "arch_str": "|nor_conv_3x3~0|+|...|",      # official NB201 string
      "module_adjacency": [[0, 1, ...], ...],     # 8 x 8 0/1, adj[src][dst] = 1, fixed NB201 wiring
      "module_operations": [[1, 0, ...], ...],    # 8 x 7 one-hot over NODE_TYPES:
                                                  #   input, none, skip_connect, nor_conv_1x1,
                                                  #   nor_conv_3x3, avg_pool_3x3, output
      "valid_accuracy": 84.1,                     # percent, seed-mean validation accuracy (search signal)
      "test_accuracy": 89.9,                      # percent, seed-mean test accuracy (reporting only)
      "training_time": 1234.5                     # seconds, 200-epoch training time
    }

Nodes are the op-node DAG of :mod:`preprocessing.nasbench201` (input, the 6 edge ops in arch-string
order, output). Accuracies follow :mod:`preprocessing.nb201_table`: for cifar10 the validation
accuracy is cifar10-valid's and the test accuracy cifar10's (as in the NB201 paper's tables);
the original seed read the 12-epoch "converged" run for cifar10, which the embedded table does not
have, hence 200-epoch values everywhere. The files are written atomically.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from preprocessing.errors import cli_entry
from preprocessing.io_utils import atomic_write_json
from preprocessing.nasbench201 import NB201Space

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
FILE_NAMES = {"cifar10": "cifar10_valid_converged", "cifar100": "cifar100", "ImageNet16-120": "ImageNet16_120"}


def dataset_entries(bench, dataset: str) -> dict[str, dict]:
    """The JSON object of one dataset: official index (as a string) -> entry (see module docstring)."""
    space = NB201Space()
    adjacency, operations = space.graphs()
    adjacency, operations = adjacency.astype(np.int64).tolist(), operations.astype(np.int64).tolist()
    metrics = bench.metrics(dataset)
    valid, test, time_s = (np.asarray(a, dtype=float).tolist()
                           for a in (metrics.valid_mean, metrics.test_mean, metrics.train_time_s))
    strings = bench.arch_strings.tolist()
    return {
        str(key): {"arch_str": strings[key], "module_adjacency": adjacency[row], "module_operations": operations[row],
                   "valid_accuracy": valid[key], "test_accuracy": test[key], "training_time": time_s[key]}
        for row, key in enumerate(space.keys().tolist())
    }


def write_json_files(out_dir=DATA_DIR, table=None, log=print) -> list[Path]:
    """Write the three files into ``out_dir``; returns their paths."""
    from preprocessing.nb201_table import load_benchmark

    bench = load_benchmark(table)
    written = []
    for dataset, name in FILE_NAMES.items():
        path = Path(out_dir) / f"{name}.json"
        atomic_write_json(path, dataset_entries(bench, dataset))
        log(f"wrote {path} ({len(bench)} cells)")
        written.append(path)
    return written


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write arch2vec's NAS-Bench-201 JSON files from the benchmark table.")
    parser.add_argument("--out-dir", default=str(DATA_DIR), help="folder for the three JSON files (default: data/)")
    parser.add_argument("--table", default=None,
                        help="benchmark table (.npz from the converters or a custom CSV; default: the embedded one)")
    args = parser.parse_args(argv)
    write_json_files(args.out_dir, args.table)


if __name__ == "__main__":
    main()
