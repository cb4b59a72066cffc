"""A user's own NAS-Bench-201 measurements (a CSV) as a :class:`Benchmark`.

CSV schema (UTF-8, comma-separated, one header row; column order free, names exact):

=============== ======== =====================================================================
column          required meaning
=============== ======== =====================================================================
``arch``        yes      official NB201 arch string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``
``valid_acc``   yes      validation accuracy in percent, 0..100 (the signal searches see)
``test_acc``    yes      test accuracy in percent, 0..100 (reporting only)
``train_time_s`` no      seconds to train the cell once (the simulated cost); NaN when absent
=============== ======== =====================================================================

Each architecture may appear once. The result has all 15,625 official cells as rows in
official index order (so row ids are official indices everywhere), with NaN in the rows the
user did not measure; ``Benchmark.extra['measured']`` (15625,) bool marks the measured rows --
searches must restrict themselves to those (e.g. ``NB201Space(allowed=bench.extra['measured'])``).
One dataset, named by ``dataset`` (default ``custom``); no per-seed values.

Any problem (missing file, empty file, missing/unknown column, malformed or unknown arch
string, non-numeric or out-of-range number, duplicate arch) is one InputError naming the file
and line.

CLI: ``python -m preprocessing.nb201_custom_table --csv FILE [--dataset NAME] --out FILE.npz``
validates the CSV and writes the converted table.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
from pathlib import Path

import numpy as np

from preprocessing.benchmark_table import Benchmark, MetricTable
from preprocessing.errors import InputError, cli_entry
from preprocessing.nasbench201 import N_ARCHS, arch_strings, index_of_string

REQUIRED = ("arch", "valid_acc", "test_acc")
OPTIONAL = ("train_time_s",)
ACCURACY_RANGE = (0.0, 100.0)


def _number(text: str, column: str, where: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"{where}: {column} {value} is outside {low:g}..{high:g}")
    return value


def _read_header(reader, path: Path) -> list[str]:
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise InputError(f"{path} is empty; expected a header row with columns {', '.join(REQUIRED)}")
    columns = [cell.strip() for cell in header]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(missing)}; the header is {columns}")
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise InputError(f"{path}: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise InputError(f"{path}: column(s) {', '.join(duplicated)} appear more than once in the header")
    return columns


def load_custom_table(path: str | os.PathLike, dataset: str = "custom") -> Benchmark:
    """Read and validate a user CSV (schema in the module docstring) into a 15,625-row Benchmark."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"custom NB201 table {path} does not exist (or is not a file)")
    valid = np.full(N_ARCHS, np.nan)
    test = np.full(N_ARCHS, np.nan)
    time_s = np.full(N_ARCHS, np.nan)
    first_line = np.zeros(N_ARCHS, dtype=np.int64)  # line where each arch was given, 0 = not yet
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            columns = _read_header(reader, path)
            col = {name: i for i, name in enumerate(columns)}
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue  # blank lines (e.g. a trailing newline) carry nothing
                where = f"{path} line {line}"
                if len(row) != len(columns):
                    raise InputError(f"{where}: {len(row)} fields, the header has {len(columns)}")
                arch = row[col["arch"]].strip()
                try:
                    index = index_of_string(arch)
                except InputError as exc:
                    raise InputError(f"{where}: {exc}") from None
                if first_line[index]:
                    raise InputError(f"{where}: architecture {arch} was already given on line {first_line[index]}")
                first_line[index] = line
                valid[index] = _number(row[col["valid_acc"]].strip(), "valid_acc", where, *ACCURACY_RANGE)
                test[index] = _number(row[col["test_acc"]].strip(), "test_acc", where, *ACCURACY_RANGE)
                if "train_time_s" in col:
                    time_s[index] = _number(row[col["train_time_s"]].strip(), "train_time_s", where, 0.0, math.inf)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc}); save it as a UTF-8 CSV") from None
    except csv.Error as exc:
        raise InputError(f"{path} is not a readable CSV ({exc})") from None
    measured = first_line > 0
    if not measured.any():
        raise InputError(f"{path} has a header but no data rows")
    table = MetricTable(valid_mean=valid, test_mean=test, train_time_s=time_s)
    return Benchmark(space="nb201", arch_strings=np.asarray(arch_strings()), datasets={dataset: table},
                     extra={"measured": measured}, source=f"custom NB201 table {path.name}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m preprocessing.nb201_custom_table",
        description="Validate a CSV of your own NAS-Bench-201 measurements (columns arch, valid_acc, test_acc "
                    "[, train_time_s]; accuracies in percent) and convert it to an .npz table.")
    parser.add_argument("--csv", type=Path, required=True, help="the CSV file to read")
    parser.add_argument("--dataset", default="custom", help="dataset name to store the metrics under (default custom)")
    parser.add_argument("--out", type=Path, required=True, help="output .npz (written atomically)")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.out.suffix != ".npz":
        raise InputError(f"--out {args.out} must end in .npz")
    bench = load_custom_table(args.csv, args.dataset)
    bench.save(args.out)
    print(f"wrote {args.out}: {int(bench.extra['measured'].sum())} of {N_ARCHS} cells measured "
          f"(dataset {args.dataset!r})")


if __name__ == "__main__":
    main()
