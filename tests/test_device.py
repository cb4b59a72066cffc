"""--device on every training entry point: resolution, the one-line error without CUDA, the CPU path."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models.space_graphs import CellGraphs
from models.device import move, resolve_device
from preprocessing.errors import InputError
from search_methods import run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_is_cuda_only_where_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(InputError, match="--device cpu or --device auto"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_move_reaches_tensors_inside_dataclasses_and_tuples():
    graphs = CellGraphs(torch.zeros(2, 3, 3), torch.zeros(2, 3, 4), None, ["a", "b"])
    moved, (a, b, none) = move(graphs, torch.device("cpu")), move((torch.ones(1), torch.ones(2), None), "cpu")
    assert isinstance(moved, CellGraphs) and moved.keys == ["a", "b"] and moved.mask is None
    assert a.device.type == "cpu" and none is None


@pytest.mark.parametrize("module, argv", [
    ("models.pretrain_arch2vec", ["--limit", "50", "--epochs", "1"]),
    ("models.pretrain_gmae", ["--limit", "50", "--epochs", "1"]),
    ("models.pretrain_agnet", ["--epochs", "1"]),
    ("models.train_metad2a", []),
    ("darts.train", ["--epochs", "1"]),
    ("search_methods.run", ["--method", "weaknas", "--seeds", "1"]),
])
def test_cuda_without_cuda_is_one_error_line_and_writes_nothing(module, argv, tmp_path, no_cuda, capsys):
    import importlib

    main = importlib.import_module(module).main
    out = {"search_methods.run": ["--out", str(tmp_path)], "darts.train": ["--save", str(tmp_path / "d")],
           "models.train_metad2a": ["--out", str(tmp_path / "m.pt")]}.get(module, ["--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, *out, "--device", "cuda"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda")
    assert not any(tmp_path.rglob("*.*"))


def test_cuda_error_from_the_command_line_on_this_machine():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = subprocess.run([sys.executable, "-m", "models.pretrain_arch2vec", "--device", "cuda", "--epochs", "1"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: --device cuda")


def test_arch2vec_pretraining_on_cpu_by_flag_is_the_default_run(tmp_path):
    import json

    from models.pretrain_arch2vec import main, metrics_path, pretrain

    main(["--limit", "120", "--epochs", "1", "--prior-samples", "50", "--no-progress", "--device", "cpu",
          "--out", str(tmp_path / "flag")])
    by_flag = json.loads(metrics_path(tmp_path / "flag", "nb201").read_text())
    default = pretrain(limit=120, epochs=1, prior_samples=50, progress=False, out=tmp_path / "call", log=lambda m: None)
    assert by_flag["device"] == default["device"] == "cpu"
    same = lambda m: {k: v for k, v in m.items() if k not in ("train_time_s", "checkpoint", "history")}  # noqa: E731
    assert same(by_flag) == same(default)
    assert by_flag["history"][0]["loss"] == torch.load(tmp_path / "call" / "model-nb201.pt",
                                                       weights_only=True)["history"][0]["loss"]


def test_runner_records_the_device_and_cpu_by_flag_equals_the_default(tmp_path):
    common = ["--method", "weaknas", "--datasets", "cifar10", "--seeds", "1", "--queries", "30", "--workers", "1",
              "--quiet", "--hidden", "8", "--train-steps", "5"]
    args, module = run.parse_args([*common, "--out", str(tmp_path / "a")])
    (default,) = run.run_grid(args, module)
    args, module = run.parse_args([*common, "--out", str(tmp_path / "b"), "--device", "auto"])
    assert args.device == ("cuda" if torch.cuda.is_available() else "cpu")  # recorded as what it ran on
    args, module = run.parse_args([*common, "--out", str(tmp_path / "b"), "--device", "cpu"])
    (by_flag,) = run.run_grid(args, module)
    assert default["config"]["device"] == by_flag["config"]["device"] == "cpu"
    assert [t["arch"] for t in default["trajectory"]] == [t["arch"] for t in by_flag["trajectory"]]


def test_bench_device_says_so_without_cuda_and_checks_the_tolerance(no_cuda, capsys):
    from benchmarks.bench_device import compare, main

    main([])
    assert capsys.readouterr().out.strip().count("\n") == 0  # one line, exit status 0
    runs = {"cpu": {"accuracy": 0.50, "loss (relative)": 2.0}, "cuda": {"accuracy": 0.51, "loss (relative)": 2.02}}
    assert compare("model", lambda device, epochs, folder: runs[device], 1, Path("."), 0.02)
    assert not compare("model", lambda device, epochs, folder: runs[device], 1, Path("."), 0.005)
    out = capsys.readouterr().out
    assert "within 0.02" in out and "OUTSIDE 0.005" in out and "x" in out.splitlines()[0].split("=")[-1]
