"""Table of mean ± std of the final best-by-valid validation and test accuracy, per method and dataset.

    python -m plot_scripts.summarize [--root saved_logs] [--protocol q150] [--markdown OUT.md]

Reads only the result logs (see search_methods/results.py), like the seed's summarize_nasbench201.py.
"""
from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write
from search_methods import results

DATASET_ORDER = ("cifar10", "cifar100", "ImageNet16-120")


def summary_rows(logs: list[dict]) -> list[dict]:
    """One row per (protocol, space, method, dataset): n seeds, mean/std of final valid and test."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for log in logs:
        groups[(log["protocol"], log["space"], log["method"], log["dataset"])].append(log)
    rows = []
    for (protocol, space, method, dataset), group in groups.items():
        valid = np.array([g["final"]["best_valid"] for g in group], dtype=float)
        test = np.array([g["final"]["best_test"] for g in group], dtype=float)
        rows.append({"protocol": protocol, "space": space, "method": method, "dataset": dataset, "n": len(group),
                     "valid_mean": valid.mean(), "valid_std": valid.std(), "test_mean": test.mean(),
                     "test_std": test.std(), "queries": float(np.mean([g["n_queries"] for g in group]))})
    rank = {d: i for i, d in enumerate(DATASET_ORDER)}
    return sorted(rows, key=lambda r: (r["protocol"], r["space"], r["method"], rank.get(r["dataset"], 99), r["dataset"]))


def markdown_table(rows: list[dict]) -> str:
    """Methods as rows, datasets as columns, cells 'test mean ± std (valid mean)'."""
    lines = []
    for protocol in sorted({r["protocol"] for r in rows}):
        sub = [r for r in rows if r["protocol"] == protocol]
        datasets = sorted({r["dataset"] for r in sub}, key=lambda d: (DATASET_ORDER.index(d) if d in DATASET_ORDER else 99, d))
        lines.append(f"Protocol `{protocol}`: test accuracy of the best-by-valid architecture, mean ± std over seeds "
                     f"(valid in brackets; n = seeds)\n")
        lines.append("| method | " + " | ".join(datasets) + " |")
        lines.append("|---|" + "---|" * len(datasets))
        for method in sorted({r["method"] for r in sub}):
            cells = []
            for ds in datasets:
                match = [r for r in sub if r["method"] == method and r["dataset"] == ds]
                cells.append(f"{match[0]['test_mean']:.2f} ± {match[0]['test_std']:.2f} ({match[0]['valid_mean']:.2f}; "
                             f"n={match[0]['n']})" if match else "–")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Summarize search logs: mean ± std of final valid/test accuracy.")
    parser.add_argument("--root", default=str(results.ROOT), help="root folder of the logs (default saved_logs)")
    parser.add_argument("--protocol", default="*", help="protocol folder name or glob (default: all)")
    parser.add_argument("--space", default="*", help="space: nb201, nb101, darts or a glob (default: all)")
    parser.add_argument("--markdown", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    logs = results.read_logs(args.root, protocol=args.protocol, space=args.space)
    if not logs:
        raise InputError(f"no result logs under {args.root} for protocol {args.protocol!r}; run a search first "
                         "(bash run_scripts/run_nb201.sh random)")
    table = markdown_table(summary_rows(logs))
    print(table)
    if args.markdown:
        atomic_write(args.markdown, lambda tmp: open(tmp, "w").write(table))


if __name__ == "__main__":
    main()
