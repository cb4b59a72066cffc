"""The project's one result format: a JSON log per search run.

Path: ``<root>/<protocol>/<space>/<dataset>/<method>/seed_<k>.json`` (root = ``saved_logs``).
Keys (other tools read these; keep the names):

``method``, ``space`` (nb101 | nb201 | darts), ``dataset``, ``seed``, ``protocol``, ``signal``,
``budget`` ({"queries": int|null, "sim_time_s": float|null}), ``config`` (every hyperparameter),
``versions``, ``wall_time_s``, ``n_queries``, ``n_requeries``, ``final`` (best_arch, best_valid,
best_test) and ``trajectory``: one entry per new query, in order, with ``query`` (1-based),
``arch`` (NB201: official string; NB101: official hash; DARTS: genotype string), ``valid`` (the
signal the search saw), ``sim_time_s`` (cumulative), ``best_arch``, ``best_valid`` and
``best_test`` (the table's test accuracy of the best-by-valid so far; reporting only).
Accuracies are in percent. Logs are written atomically, so a log that exists is complete.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from preprocessing.errors import InputError
from preprocessing.io_utils import atomic_write_json

ROOT = Path("saved_logs")


def log_path(root, protocol: str, space: str, dataset: str, method: str, seed: int) -> Path:
    return Path(root) / protocol / space / dataset / method / f"seed_{seed}.json"


def versions() -> dict:
    """Versions of what produced a result: python, key libraries, and the git commit."""
    out = {"python": platform.python_version()}
    for name in ("numpy", "torch", "torch_geometric", "scipy", "sklearn", "xgboost"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "unknown")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent.parent)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def build_log(*, method: str, space: str, dataset: str, seed: int, protocol: str, signal: str,
              budget: dict, config: dict, oracle, wall_time_s: float) -> dict:
    trajectory = oracle.trajectory
    last = trajectory[-1] if trajectory else {}
    return {
        "method": method, "space": space, "dataset": dataset, "seed": seed, "protocol": protocol,
        "signal": signal, "budget": budget, "config": config, "versions": versions(),
        "wall_time_s": wall_time_s, "n_queries": oracle.n_queries, "n_requeries": oracle.n_requeries,
        "final": {k: last.get(k) for k in ("best_arch", "best_valid", "best_test")},
        "trajectory": trajectory,
    }


def write_log(path, log: dict) -> None:
    atomic_write_json(path, log)


def read_log(path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read result log {path}: {exc}; delete it and rerun that seed") from None


def read_logs(root=ROOT, protocol: str = "*", space: str = "*", dataset: str = "*", method: str = "*") -> list[dict]:
    """Every log under ``root`` matching the (glob) filters, sorted by path."""
    return [read_log(p) for p in sorted(Path(root).glob(f"{protocol}/{space}/{dataset}/{method}/seed_*.json"))]
