"""The one way an entry point picks where its models train: ``--device cpu|cuda|auto``.

``auto`` is CUDA when torch sees a CUDA device, else the CPU; ``cuda`` on a machine without one is
bad input (one ``error:`` line, exit 2), never a silent fall back to the CPU. Results are
deterministic per seed on the CPU; on CUDA, seeded runs agree with the CPU only within float
tolerance (other kernels, other reduction orders, another random stream for dropout and noise),
which ``benchmarks/bench_device.py`` measures.
"""
from __future__ import annotations

import dataclasses

import torch

from preprocessing.errors import InputError

DEVICES = ("cpu", "cuda", "auto")


def add_device_argument(parser, default: str = "auto", what: str = "training", note: str = "") -> None:
    parser.add_argument("--device", choices=DEVICES, default=default,
                        help=f"where {what} runs: cpu, cuda, or auto = cuda when available, else cpu "
                             f"(default {default}){'; ' + note if note else ''}")


def resolve_device(name: str | torch.device | None) -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without CUDA -> InputError; None -> cpu."""
    name = "cpu" if name is None else str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device cuda: torch sees no CUDA device on this machine "
                             "(torch.cuda.is_available() is False); use --device cpu or --device auto")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"--device {name!r}: choose one of {', '.join(DEVICES)}")


def move(value, device: torch.device):
    """``value`` with every tensor in it on ``device``: tensors, dataclasses of tensors, lists, tuples, dicts."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: move(getattr(value, f.name), device)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, (list, tuple)):
        return type(value)(move(v, device) for v in value)
    if isinstance(value, dict):
        return {k: move(v, device) for k, v in value.items()}
    return value
