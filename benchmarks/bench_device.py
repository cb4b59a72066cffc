"""CUDA against the CPU for the project's pretraining: same metrics within a tolerance, and the speed ratio.

Trains each model twice in this process from the same seed, once with ``device="cpu"`` and once with
``device="cuda"``, through the entry points' own ``pretrain`` functions (so what is timed is what
``--device`` runs):

* arch2vec on all 15,625 NB201 cells (``--arch2vec-epochs``, default 10 = the paper's setting):
  held-out reconstruction (ops / adjacency, per graph) and the validity of 10,000 cells decoded
  from the fitted joint Gaussian;
* GMAE masked-op pretraining on NB201 (``--gmae-epochs``, default 5 of the 20 the default run uses):
  held-out masked-op accuracy;
* AG-Net's generator on NB201 (``--agnet-epochs``, default 3 of 20): final reconstruction loss and
  the validity of 10,000 generated cells.

The runs cannot agree bit for bit (other kernels and reduction orders, CUDA's own dropout stream),
so each metric must agree within ``--tolerance`` (absolute, default 0.02 = 2 points on a fraction;
on the loss, relative). Prints one line per model: both values of each metric, whether it is within
tolerance, both training times and the ratio CPU / CUDA. Exit status 1 when a metric is outside the
tolerance. On a machine without CUDA it prints one line saying so and exits 0.

    python -m benchmarks.bench_device [--arch2vec-epochs 10] [--gmae-epochs 5] [--agnet-epochs 3]
                                      [--threads 2] [--tolerance 0.02]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from preprocessing.errors import InputError, cli_entry


def _timed(function):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    value = function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - started


def arch2vec(device: str, epochs: int, folder: Path) -> dict:
    from models.pretrain_arch2vec import pretrain

    metrics = pretrain("nb201", epochs=epochs, out=folder / f"arch2vec-{device}", progress=False,
                       log=lambda message: None, device=device, threads=None)
    return {"held-out ops per graph": metrics["heldout_ops_graph"], "held-out adj per graph": metrics["heldout_adj_graph"],
            "joint-prior validity": metrics["prior_joint_valid"]}


def gmae(device: str, epochs: int, folder: Path) -> dict:
    from models.pretrain_gmae import load_checkpoint, pretrain

    path = pretrain("nb201", epochs=epochs, out=folder / f"gmae-{device}", progress=False, log=lambda message: None,
                    device=device, threads=None)
    return {"held-out masked-op accuracy": load_checkpoint(path)["metrics"]["masked_op_accuracy"]}


def agnet(device: str, epochs: int, folder: Path) -> dict:
    from models.pretrain_agnet import pretrain

    quality = pretrain("nb201", folder / f"agnet-{device}", quiet=True, device=device, epochs=epochs)
    return {"final loss (relative)": quality["final_loss"], "generated validity": quality["validity"]}


def compare(name: str, run, epochs: int, folder: Path, tolerance: float) -> bool:
    on_cpu, cpu_s = _timed(lambda: run("cpu", epochs, folder))
    on_cuda, cuda_s = _timed(lambda: run("cuda", epochs, folder))
    parts, agree = [], True
    for metric, cpu_value in on_cpu.items():
        cuda_value = on_cuda[metric]
        gap = abs(cpu_value - cuda_value) / (abs(cpu_value) if "relative" in metric else 1.0)
        ok = gap <= tolerance
        agree &= ok
        parts.append(f"{metric} cpu {cpu_value:.4f} / cuda {cuda_value:.4f} ({'within' if ok else 'OUTSIDE'} {tolerance})")
    print(f"{name} ({epochs} epochs): " + "; ".join(parts) +
          f"; training {cpu_s:.1f} s cpu / {cuda_s:.1f} s cuda = {cpu_s / cuda_s:.2f}x")
    return agree


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_device", description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch2vec-epochs", type=int, default=10, help="arch2vec pretraining epochs (default 10)")
    parser.add_argument("--gmae-epochs", type=int, default=5, help="GMAE pretraining epochs (default 5)")
    parser.add_argument("--agnet-epochs", type=int, default=3, help="AG-Net generator epochs (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for the CPU runs (default 2)")
    parser.add_argument("--tolerance", type=float, default=0.02,
                        help="largest allowed |cpu - cuda| of each metric (relative for losses; default 0.02)")
    args = parser.parse_args(argv)
    if min(args.arch2vec_epochs, args.gmae_epochs, args.agnet_epochs, args.threads) < 1 or args.tolerance < 0:
        raise InputError("epochs and --threads must be at least 1 and --tolerance non-negative")
    if not torch.cuda.is_available():
        print("bench_device: no CUDA device on this machine (torch.cuda.is_available() is False); nothing measured")
        return
    torch.set_num_threads(args.threads)
    print(f"bench_device: {torch.cuda.get_device_name()} vs the CPU ({args.threads} threads), torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        agree = [compare("arch2vec NB201", arch2vec, args.arch2vec_epochs, folder, args.tolerance),
                 compare("GMAE NB201", gmae, args.gmae_epochs, folder, args.tolerance),
                 compare("AG-Net NB201", agnet, args.agnet_epochs, folder, args.tolerance)]
    if not all(agree):
        print("bench_device: a metric differs between the devices by more than the tolerance")
        sys.exit(1)


if __name__ == "__main__":
    main()
