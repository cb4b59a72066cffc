"""A user's CSV of NB201 cells -> a 15,625-row Benchmark with a measured mask."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from preprocessing.benchmark_table import Benchmark
from preprocessing.errors import InputError
from preprocessing.nasbench201 import N_ARCHS, arch_strings
from preprocessing.nb201_custom_table import load_custom_table

REPO = Path(__file__).resolve().parent.parent
STRINGS = list(arch_strings())
ROWS = {6111: (91.5, 94.25, 3000.0), 0: (80.0, 85.5, 1200.5), 15624: (10.0, 0.0, 0.0)}


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def good_csv(path: Path, with_time: bool = True) -> Path:
    header = "test_acc,arch,valid_acc" + (",train_time_s" if with_time else "")
    lines = [header]
    for index, (valid, test, time_s) in ROWS.items():
        lines.append(f"{test},{STRINGS[index]},{valid}" + (f",{time_s}" if with_time else ""))
    return write_csv(path, "\n".join(lines) + "\n\n")


def test_rows_land_at_official_indices(tmp_path):
    bench = load_custom_table(good_csv(tmp_path / "mine.csv"), dataset="cifar10-mine")
    assert len(bench) == N_ARCHS and bench.arch_strings.tolist() == STRINGS
    assert list(bench.datasets) == ["cifar10-mine"]
    mt = bench.metrics("cifar10-mine")
    measured = bench.extra["measured"]
    assert sorted(np.flatnonzero(measured).tolist()) == sorted(ROWS)
    for index, (valid, test, time_s) in ROWS.items():
        assert (mt.valid_mean[index], mt.test_mean[index], mt.train_time_s[index]) == (valid, test, time_s)
    assert np.isnan(mt.valid_mean[~measured]).all() and np.isnan(mt.test_mean[~measured]).all()
    assert mt.valid_seeds.shape == (N_ARCHS, 0)


def test_without_time_column_and_npz_round_trip(tmp_path):
    bench = load_custom_table(good_csv(tmp_path / "mine.csv", with_time=False))
    assert np.isnan(bench.metrics("custom").train_time_s).all()
    bench.save(tmp_path / "t.npz")
    again = Benchmark.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(again.extra["measured"], bench.extra["measured"])
    np.testing.assert_array_equal(again.metrics("custom").valid_mean, bench.metrics("custom").valid_mean)


A = STRINGS[5]
B = STRINGS[6]
BAD = {
    "empty": ("", "is empty"),
    "missing column": ("arch,valid_acc\n" + f"{A},50\n", r"missing required column\(s\) test_acc"),
    "unknown column": ("arch,valid_acc,test_acc,seed\n" + f"{A},50,50,1\n", r"unknown column\(s\) seed"),
    "header only": ("arch,valid_acc,test_acc\n", "no data rows"),
    "malformed arch": ("arch,valid_acc,test_acc\n" + f"{A},50,50\n|conv~0|,50,50\n", "line 3: malformed NB201"),
    "unknown op": ("arch,valid_acc,test_acc\n" + "|sep_conv_5x5~0|" + A[A.index("+"):] + ",50,50\n",
                   "line 2: unknown NB201 op 'sep_conv_5x5'"),
    "non-numeric": ("arch,valid_acc,test_acc\n" + f"{A},50,50\n{B},high,50\n", "line 3: valid_acc 'high' is not a number"),
    "out of range": ("arch,valid_acc,test_acc\n" + f"{A},50,100.5\n", "line 2: test_acc 100.5 is outside 0..100"),
    "negative": ("arch,valid_acc,test_acc\n" + f"{A},-0.1,50\n", "outside 0..100"),
    "nan": ("arch,valid_acc,test_acc\n" + f"{A},nan,50\n", "line 2: valid_acc nan is outside"),
    "negative time": ("arch,valid_acc,test_acc,train_time_s\n" + f"{A},50,50,-1\n", "train_time_s -1.0 is outside"),
    "duplicate": ("arch,valid_acc,test_acc\n" + f"{A},50,50\n{B},50,50\n{A},51,51\n",
                  "line 4: architecture .* was already given on line 2"),
    "ragged": ("arch,valid_acc,test_acc\n" + f"{A},50\n", "line 2: 2 fields, the header has 3"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_csv_raises_input_error_naming_the_line(tmp_path, case):
    text, message = BAD[case]
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(InputError, match=message) as info:
        load_custom_table(path)
    assert str(path) in str(info.value)


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_custom_table(tmp_path / "absent.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("arch,valid_acc,test_acc\n".encode() + "\xe9\xff,1,1\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_custom_table(path)


def test_cli_good_and_bad(tmp_path):
    out = tmp_path / "custom.npz"
    cmd = [sys.executable, "-m", "preprocessing.nb201_custom_table", "--out", str(out)]
    ok = subprocess.run(cmd + ["--csv", str(good_csv(tmp_path / "mine.csv"))], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert Benchmark.load(out).extra["measured"].sum() == len(ROWS)
    out.unlink()
    bad = write_csv(tmp_path / "bad.csv", BAD["duplicate"][0])
    fail = subprocess.run(cmd + ["--csv", str(bad)], cwd=REPO, capture_output=True, text=True)
    assert fail.returncode == 2 and fail.stderr.startswith("error: ") and len(fail.stderr.strip().splitlines()) == 1
    assert not out.exists()
