"""The pretrained models that ship with the repository, and where every model entry point keeps its files.

    python -m models.pretrained list                 # what ships: file, model, space, digest, metrics
    python -m models.pretrained verify               # shipped files match the manifest
    python -m models.pretrained rebuild [--only ID]  # retrain each from its command; compare weights / metrics
    python -m models.pretrained update               # (maintainers) record the current files in the manifest

Files live under :func:`root` (``pretrained/`` of the checkout; the environment variable
``NAS_PRETRAINED_DIR`` points every entry point somewhere else, e.g. a scratch folder in tests).
``pretrained/MANIFEST.json`` lists each shipped file with its sha256, the sha256 of its weights
alone (:func:`weights_digest`: the tensors of its state dicts, in key order -- what a rebuild must
reproduce; the file itself also holds wall-clock timings, so its bytes differ from run to run), the
model's config, the command that rebuilds it and its metrics. A model entry point that finds a
shipped file uses it instead of pretraining; every checkpoint carries a content digest checked on
load (:mod:`models.checkpoint`), so a corrupted file is one ``error:`` line, not a different model.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write_json

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = REPO_ROOT / "pretrained"
MANIFEST = SHIPPED / "MANIFEST.json"

# What ships: manifest id -> (file under pretrained/, model, space, the command that rebuilds it).
# The command writes under $NAS_PRETRAINED_DIR, which `rebuild` points at a scratch folder.
ENTRIES = {
    "arch2vec-nb201": ("dim-16/model-nb201.pt", "arch2vec", "nb201", "python -m models.pretrain_arch2vec --space nb201 --no-progress"),
    "arch2vec-nb101": ("dim-16/model-nb101.pt", "arch2vec", "nb101", "python -m models.pretrain_arch2vec --space nb101 --no-progress"),
    "gmae-nb201": ("gmae/nb201/gat-linear-ce-m0.15.pt", "gmae", "nb201", "python -m models.pretrain_gmae --space nb201 --quiet"),
    "gmae-nb101": ("gmae/nb101/gat-linear-ce-m0.75.pt", "gmae", "nb101", "python -m models.pretrain_gmae --space nb101 --quiet"),
    "agnet-nb201": ("agnet/nb201/generator.pt", "agnet", "nb201", "python -m models.pretrain_agnet --space nb201 --quiet"),
    "agnet-nb101": ("agnet/nb101/generator.pt", "agnet", "nb101", "python -m models.pretrain_agnet --space nb101 --quiet"),
}


def root() -> Path:
    """Where model files are read and written (``NAS_PRETRAINED_DIR`` or the checkout's ``pretrained/``)."""
    return Path(os.environ.get("NAS_PRETRAINED_DIR") or SHIPPED)


def file_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def weights_digest(path) -> str:
    """sha256 over every tensor of the file's state dicts (name, dtype, shape, bytes), in sorted key order."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    states = {name: data[name] for name in ("model", "state") if isinstance(data.get(name), dict)}
    if not states:
        raise InputError(f"{path} holds no model state dict")
    digest = hashlib.sha256()
    for part, state in sorted(states.items()):
        for key in sorted(state):
            tensor = state[key].contiguous()
            digest.update(f"{part}/{key}/{tensor.dtype}/{tuple(tensor.shape)}".encode())
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def read_manifest() -> dict:
    if not MANIFEST.exists():
        return {}
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{MANIFEST} is unreadable ({exc}); restore it with git checkout pretrained/") from None


def _metrics_of(path: Path, model: str) -> dict:
    data = torch.load(path, map_location="cpu", weights_only=True)
    if model == "agnet":
        quality = path.parent / "quality.json"
        return json.loads(quality.read_text()) if quality.exists() else {}
    return data.get("metrics", {})


def _plain(value):
    """JSON-able copy of a metrics / config value (tensors and tuples become lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    return value


def update() -> dict:
    """Record every shipped file that exists in the manifest (digests, config, command, metrics)."""
    manifest = {}
    for entry_id, (relative, model, space, command) in ENTRIES.items():
        path = SHIPPED / relative
        if not path.exists():
            continue
        data = torch.load(path, map_location="cpu", weights_only=True)
        metrics = {k: v for k, v in _metrics_of(path, model).items() if not isinstance(v, (dict, list))}
        manifest[entry_id] = {"file": relative, "model": model, "space": space, "sha256": file_digest(path),
                              "weights_sha256": weights_digest(path), "bytes": path.stat().st_size,
                              "config": _plain(data.get("config", {})), "command": command,
                              "metrics": _plain({k: v for k, v in metrics.items() if k != "checkpoint"})}
    atomic_write_json(MANIFEST, manifest, indent=1)
    return manifest


def verify() -> list[str]:
    """Problems of the shipped files against the manifest (empty when all match)."""
    problems = []
    for entry_id, entry in read_manifest().items():
        path = SHIPPED / entry["file"]
        if not path.exists():
            problems.append(f"{entry_id}: {path} is missing")
        elif file_digest(path) != entry["sha256"]:
            problems.append(f"{entry_id}: {path} differs from the manifest")
    return problems


def rebuild(only: list[str] | None = None, log=print) -> dict[str, dict]:
    """Retrain shipped models in a scratch folder from their commands; compare weights and metrics.

    Pretraining is seeded and runs on one CPU thread, so on CPU a rebuild reproduces the weights
    bit for bit; the metrics that include wall-clock time (``train_time_s``) differ and are skipped.
    """
    outcome = {}
    for entry_id, entry in read_manifest().items():
        if only and entry_id not in only:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, "NAS_PRETRAINED_DIR": scratch}
            log(f"{entry_id}: {entry['command']}")
            done = subprocess.run([sys.executable, *shlex.split(entry["command"])[1:]], cwd=REPO_ROOT, env=env)
            if done.returncode != 0:
                raise InputError(f"rebuilding {entry_id} failed (exit {done.returncode})")
            path = Path(scratch) / entry["file"]
            metrics = {k: v for k, v in _metrics_of(path, entry["model"]).items()
                       if k in entry["metrics"] and "time" not in k and k != "checkpoint"}
            same = {k: v == entry["metrics"][k] for k, v in metrics.items()}
            outcome[entry_id] = {"weights_identical": weights_digest(path) == entry["weights_sha256"],
                                 "metrics_identical": all(same.values()),
                                 "differing_metrics": sorted(k for k, ok in same.items() if not ok)}
            log(f"{entry_id}: weights identical {outcome[entry_id]['weights_identical']}, metrics identical "
                f"{outcome[entry_id]['metrics_identical']} {outcome[entry_id]['differing_metrics'] or ''}")
    return outcome


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.pretrained", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("list", "verify", "rebuild", "update"),
                        help="list the shipped models; verify their digests; rebuild them and compare; update the "
                             "manifest from the current files")
    parser.add_argument("--only", nargs="+", default=None, metavar="ID", help="rebuild only these manifest ids")
    args = parser.parse_args(argv)
    if args.action == "list":
        for entry_id, entry in read_manifest().items():
            print(f"{entry_id:16} {entry['file']:38} {entry['bytes'] / 1e6:5.2f} MB  sha256 {entry['sha256'][:12]}  "
                  f"{entry['command']}")
    elif args.action == "verify":
        problems = verify()
        if problems:
            raise InputError("; ".join(problems))
        print(f"{len(read_manifest())} shipped models match {MANIFEST}")
    elif args.action == "rebuild":
        outcome = rebuild(args.only)
        if not all(o["weights_identical"] for o in outcome.values()):
            sys.exit(1)
    else:
        print(f"recorded {len(update())} files in {MANIFEST}")


if __name__ == "__main__":
    main()
