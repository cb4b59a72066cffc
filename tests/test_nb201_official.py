"""Converters for the official NAS-Bench-201 .pth and NATS-Bench topology files.

Synthetic files are written in the official nesting (``ArchResults`` / ``ResultsCount`` state
dicts, see ``preprocessing/nb201_official.py``) with numbers that encode (index, run, seed), so a
value landing in the wrong row, dataset, split or seed is detected. The real-format sample in
``tests/data/nats_tss_simple_sample`` (3 official architecture files) is checked against the
embedded table built from independent exports.
"""
from __future__ import annotations

import bz2
import collections
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from preprocessing.benchmark_table import Benchmark
from preprocessing.errors import InputError
from preprocessing.nasbench201 import N_ARCHS, arch_strings
from preprocessing.nb201_official import (SERIES_COUNT, SERIES_TOTAL, _LeanUnpickler, convert_nats_dir,
                                          convert_nats_file, convert_pth)

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO / "tests" / "data" / "nats_tss_simple_sample"
RUNS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
        "cifar100": ("x-valid", "x-test", "ori-test"), "ImageNet16-120": ("x-valid", "x-test", "ori-test")}
SPLIT_CODE = {"x-valid": 0.1, "x-test": 0.2, "ori-test": 0.3}
RUN_CODE = {"cifar10-valid": 1, "cifar10": 2, "cifar100": 3, "ImageNet16-120": 4}
INDICES = (0, 7, 6111, 15624)
STRINGS = list(arch_strings())
TEST_EPOCHS = 20  # the official full run has 200; fewer keep the tests fast, the reader uses the "epochs" field


def final_accuracy(index: int, run: str, seed: int, split: str) -> float:
    """The synthetic final-epoch accuracy: every (index, run, seed, split) gives a distinct value."""
    return 10.0 + (index % 50) + RUN_CODE[run] * 10 + SPLIT_CODE[split] + (seed - 777) / 1000


def epoch_time(index: int, run: str) -> float:
    return 1.0 + index / 10000 + RUN_CODE[run]


def trial(index: int, arch: str, run: str, seed: int, epochs: int) -> dict:
    """A ResultsCount state dict in the official layout; only epoch ``epochs-1`` is 'final'."""
    evals, losses, times = {}, {}, {}
    for split in RUNS[run]:
        for epoch in range(epochs):
            key = f"{split}@{epoch}"
            evals[key] = final_accuracy(index, run, seed, split) - (epochs - 1 - epoch) * 0.01
            losses[key] = 1.0 / (epoch + 1)
            times[key] = 0.5
    return {
        "name": run, "net_state_dict": None,
        "train_acc1es": {e: 50.0 + e / 10 for e in range(epochs)}, "train_acc5es": None,
        "train_losses": {e: 2.0 - e / 200 for e in range(epochs)},
        "train_times": collections.OrderedDict((e, epoch_time(index, run)) for e in range(epochs)),
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": 10},
        "params": np.float64(0.1 + index / 100000 + RUN_CODE[run] / 1000), "flop": 10.0 + index / 1000,
        "seed": f"{seed:04d}", "epochs": epochs, "latency": [np.float64(0.01)],
        "eval_names": list(RUNS[run]), "eval_acc1es": evals, "eval_times": times, "eval_losses": losses,
    }


def arch_results(index: int, arch: str, epochs: int, seeds=(777, 888, 999)) -> dict:
    """An ArchResults state dict (the official ``state_dict()`` keys)."""
    return {
        "arch_index": index, "arch_str": arch,
        "all_results": {(run, s): trial(index, arch, run, s, epochs) for run in RUNS for s in seeds},
        "dataset_seed": {run: list(seeds) for run in RUNS}, "clear_net_done": True,
    }


def seeds_of(index: int) -> tuple[int, ...]:
    return (777, 888) if index % 2 else (777, 888, 999)  # some archs have 2 seeds, as in the real files


def pth_dict(indices=INDICES, full_epochs: int = TEST_EPOCHS) -> dict:
    strings = STRINGS
    return {
        "meta_archs": strings, "total_archs": N_ARCHS,
        "arch2infos": {i: {"less": arch_results(i, strings[i], 12, seeds=(111,)),
                           "full": arch_results(i, strings[i], full_epochs, seeds_of(i))} for i in indices},
        "evaluated_indexes": set(indices),
    }


def write_pth(path: Path, indices=INDICES, legacy: bool = True, full_epochs: int = TEST_EPOCHS) -> Path:
    """NAS-Bench-201-v1_*.pth layout; legacy=True is the 2020 pre-zip torch.save format."""
    torch.save(pth_dict(indices, full_epochs), path, _use_new_zipfile_serialization=not legacy, pickle_protocol=2)
    return path


def write_pbz2(path: Path, obj) -> Path:
    with bz2.open(path, "wb", compresslevel=1) as f:
        pickle.dump(obj, f, protocol=4)
    return path


def write_nats_dir(directory: Path, indices=INDICES, full_epochs: int = TEST_EPOCHS) -> Path:
    directory.mkdir()
    strings = STRINGS
    write_pbz2(directory / "meta.pickle.pbz2", {"meta_archs": strings, "total_archs": N_ARCHS,
                                               "arch2infos": None, "evaluated_indexes": set()})
    for i in indices:
        write_pbz2(directory / f"{i:06d}.pickle.pbz2", collections.OrderedDict(
            [("12", arch_results(i, strings[i], 12, seeds=(111,))), ("200", arch_results(i, strings[i], full_epochs, seeds_of(i)))]))
    return directory


def check_values(bench: Benchmark, indices=INDICES, full_epochs: int = TEST_EPOCHS) -> None:
    assert bench.space == "nb201" and len(bench) == N_ARCHS
    assert bench.arch_strings.tolist() == STRINGS
    measured = np.zeros(N_ARCHS, dtype=bool)
    measured[list(indices)] = True
    np.testing.assert_array_equal(bench.extra["measured"], measured)
    valid_runs = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "ImageNet16-120": "ImageNet16-120"}
    for ds, run in valid_runs.items():
        mt = bench.metrics(ds)
        test_run, test_split = ("cifar10", "ori-test") if ds == "cifar10" else (run, "x-test")
        for i in indices:
            seeds = seeds_of(i)
            per_seed = [final_accuracy(i, run, s, "x-valid") for s in seeds]
            assert mt.valid_seeds[i, : len(seeds)] == pytest.approx(per_seed)
            assert np.isnan(mt.valid_seeds[i, len(seeds):]).all()
            assert mt.valid_mean[i] == pytest.approx(np.mean(per_seed))
            assert mt.test_mean[i] == pytest.approx(np.mean([final_accuracy(i, test_run, s, test_split) for s in seeds]))
            assert mt.train_time_s[i] == pytest.approx(full_epochs * epoch_time(i, run))
            assert mt.extra["params_mb"][i] == pytest.approx(0.1 + i / 100000 + RUN_CODE[run] / 1000)
        unmeasured = ~measured
        assert np.isnan(mt.valid_mean[unmeasured]).all() and np.isnan(mt.test_mean[unmeasured]).all()
        assert mt.valid_seeds.shape == (N_ARCHS, 3)
    c10v_test = bench.metrics("cifar10").extra["cifar10_valid_test_mean"]
    assert c10v_test[6111] == pytest.approx(np.mean([final_accuracy(6111, "cifar10-valid", s, "ori-test")
                                                     for s in seeds_of(6111)]))


@pytest.fixture(scope="module")
def pth_legacy(tmp_path_factory) -> Path:
    return write_pth(tmp_path_factory.mktemp("pth") / "NAS-Bench-201-v1_0-e61699.pth")


def test_pth_legacy_format_values_land_in_their_rows(tmp_path):
    """The 2020 format with the official 200 epochs; the lean and the fast reader agree exactly."""
    path = write_pth(tmp_path / "NAS-Bench-201-v1_0-e61699.pth", full_epochs=200)
    lean, fast = convert_pth(path), convert_pth(path, lean=False)
    check_values(lean, full_epochs=200)
    for ds in lean.datasets:
        for col in ("valid_mean", "test_mean", "train_time_s", "valid_seeds"):
            np.testing.assert_array_equal(getattr(lean.metrics(ds), col), getattr(fast.metrics(ds), col))


def test_pth_zip_format_and_npz_round_trip(tmp_path):
    bench = convert_pth(write_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", legacy=False))
    bench.save(tmp_path / "out.npz")
    check_values(Benchmark.load(tmp_path / "out.npz"))


def test_nats_dir_and_single_file(tmp_path):
    check_values(convert_nats_dir(write_nats_dir(tmp_path / "NATS-tss-v1_0-3ffb9-simple")))
    data = pth_dict()
    for i, per_arch in data["arch2infos"].items():
        data["arch2infos"][i] = {"12": per_arch["less"], "200": per_arch["full"]}
    check_values(convert_nats_file(write_pbz2(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", data)))


def test_official_sample_matches_embedded_table():
    """The 3 official NATS files give the numbers of the independently exported embedded table."""
    from preprocessing.nb201_table import load_embedded

    bench, embedded = convert_nats_dir(SAMPLE_DIR), load_embedded()
    rows = np.flatnonzero(bench.extra["measured"])
    assert rows.tolist() == [0, 11, 284]
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        ours, ref = bench.metrics(ds), embedded.metrics(ds)
        for col in ("valid_mean", "test_mean", "train_time_s"):
            np.testing.assert_allclose(getattr(ours, col)[rows], getattr(ref, col)[rows], rtol=1e-6)
        np.testing.assert_allclose(ours.extra["params_mb"][rows], ref.extra["params_mb"][rows], rtol=1e-6)
    np.testing.assert_allclose(bench.metrics("cifar10").valid_seeds[rows], embedded.metrics("cifar10").valid_seeds[rows],
                               rtol=1e-6)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "preprocessing.nb201_official", "--no-progress", *args],
                          cwd=REPO, capture_output=True, text=True)


def test_cli_writes_npz_and_reports_peak_rss(pth_legacy, tmp_path):
    out = tmp_path / "nb201_official.npz"
    result = run_cli("--pth", str(pth_legacy), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "4/15625 architectures" in result.stdout and "peak RSS" in result.stdout
    check_values(Benchmark.load(out))


def _bad_pth_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {"truncated": tmp_path / "truncated.pth", "garbage": tmp_path / "garbage.pth",
             "empty": tmp_path / "empty.pth", "missing": tmp_path / "nope.pth"}
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["garbage"].write_bytes(b"\x00\x01not a pickle" * 100)
    files["empty"].write_bytes(b"")
    no_key = pth_dict((3,), full_epochs=5)
    del no_key["arch2infos"][3]["full"]["all_results"][("cifar100", 777)]["eval_acc1es"]["x-valid@4"]
    files["missing_key"] = tmp_path / "missing_key.pth"
    torch.save(no_key, files["missing_key"])
    no_arch2infos = {"meta_archs": STRINGS}
    files["no_arch2infos"] = tmp_path / "no_arch2infos.pth"
    torch.save(no_arch2infos, files["no_arch2infos"])
    wrong_space = {"meta_archs": STRINGS[:100], "arch2infos": {}, "evaluated_indexes": []}
    files["wrong_space"] = tmp_path / "sss.pth"
    torch.save(wrong_space, files["wrong_space"])
    files["wrong_order"] = tmp_path / "wrong_order.pth"
    torch.save({"meta_archs": STRINGS[1:] + STRINGS[:1], "arch2infos": {}}, files["wrong_order"])
    files["no_results"] = tmp_path / "no_results.pth"
    torch.save({"meta_archs": STRINGS, "arch2infos": {}}, files["no_results"])
    return files


def test_bad_files_raise_input_error_naming_the_problem(pth_legacy, tmp_path):
    files = _bad_pth_files(tmp_path, pth_legacy)
    expected = {"truncated": "corrupt or truncated", "garbage": "corrupt or truncated", "empty": "corrupt or truncated",
                "missing": "does not exist", "missing_key": "missing key 'x-valid@4'",
                "no_arch2infos": "missing key 'arch2infos'", "wrong_space": "meta_archs has 100 entries",
                "wrong_order": r"meta_archs\[0\] is", "no_results": "holds no architecture results"}
    for name, path in files.items():
        with pytest.raises(InputError, match=expected[name]) as info:
            convert_pth(path)
        assert str(path) in str(info.value)
    with pytest.raises(InputError, match="architecture 3 cifar100 seed 777"):
        convert_pth(files["missing_key"])


def test_cli_bad_file_exits_2_with_one_line_and_no_output(pth_legacy, tmp_path):
    files = _bad_pth_files(tmp_path, pth_legacy)
    for name in ("truncated", "missing_key"):
        out = tmp_path / f"{name}.npz"
        result = run_cli("--pth", str(files[name]), "--out", str(out))
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
        assert not out.exists() and not list(tmp_path.glob(f".{name}.npz*"))


def test_nats_dir_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        convert_nats_dir(tmp_path / "absent")
    directory = write_nats_dir(tmp_path / "nats", indices=(5,))
    (directory / "000005.pickle.pbz2").write_bytes(b"BZh91AY&SY" + b"\x00" * 20)
    with pytest.raises(InputError, match="000005.pickle.pbz2 is not a readable"):
        convert_nats_dir(directory)
    (directory / "000005.pickle.pbz2").unlink()
    with pytest.raises(InputError, match="no <index>.pickle.pbz2"):
        convert_nats_dir(directory)
    (directory / "meta.pickle.pbz2").unlink()
    with pytest.raises(InputError, match="meta.pickle.pbz2 does not exist"):
        convert_nats_dir(directory)


def test_pickle_naming_other_objects_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    directory = write_nats_dir(tmp_path / "nats", indices=(5,))
    write_pbz2(directory / "000005.pickle.pbz2", {"200": Evil()})
    with pytest.raises(InputError, match="builtins.print"):
        convert_nats_dir(directory)


def test_weights_in_full_archive_are_skipped(tmp_path):
    """NATS ``-full`` archives keep trained weights (tensors) in each trial: they become None."""
    strings = STRINGS
    record = arch_results(9, strings[9], TEST_EPOCHS, seeds_of(9))
    for result in record["all_results"].values():
        result["net_state_dict"] = collections.OrderedDict(w=torch.ones(3))
    directory = write_nats_dir(tmp_path / "nats", indices=())
    write_pbz2(directory / "000009.pickle.pbz2", {"200": record})
    bench = convert_nats_dir(directory)
    assert np.flatnonzero(bench.extra["measured"]).tolist() == [9]
    assert bench.metrics("cifar10").valid_mean[9] == pytest.approx(np.mean(
        [final_accuracy(9, "cifar10-valid", s, "x-valid") for s in seeds_of(9)]))


@pytest.mark.parametrize("protocol", [2, 4])
def test_lean_unpickler_reduces_series_across_batches_and_keeps_shared_keys(protocol):
    """Series longer than pickle's 1000-item SETITEMS batches; keys shared between dicts via the memo."""
    import io

    keys = [f"{split}@{epoch}" for split in ("x-valid", "ori-test") for epoch in range(1500)]
    trial = {"eval_acc1es": {k: float(i) for i, k in enumerate(keys)},
             "eval_losses": {k: -1.0 for k in keys},  # the same key objects: pickled as memo references
             "train_times": collections.OrderedDict((e, 0.25 * e) for e in range(2500)),
             "epochs": 1500, "names": ["x-valid", "ori-test"], "pair": ("cifar10", 777)}
    data = pickle.dumps({"a": trial, "b": trial["names"]}, protocol=protocol)
    loaded = _LeanUnpickler(io.BytesIO(data), Path("mem")).load()
    got = loaded["a"]
    assert got["eval_acc1es"] == {"x-valid@1499": 1499.0, "ori-test@1499": 2999.0}
    assert got["eval_losses"] == {"x-valid@1499": -1.0, "ori-test@1499": -1.0}
    assert got["train_times"] == {SERIES_TOTAL: sum(0.25 * e for e in range(2500)), SERIES_COUNT: 2500}
    assert got["epochs"] == 1500 and got["pair"] == ("cifar10", 777) and loaded["b"] is got["names"]
