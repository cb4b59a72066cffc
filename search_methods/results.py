"""The project's one result format: a JSON log per search run, keyed by the run's identity.

Path: ``<root>/<protocol>/<space>/<dataset>/<method>/<digest8>/seed_<k>.json`` (root = ``saved_logs``),
where ``digest8`` is the first 8 hex digits of :func:`identity_digest` of the run's identity: everything
besides the dataset and the seed that changes a run's numbers -- method, space, protocol, signal,
budget, the full config (every flag, defaults filled in) and the table (:func:`table_identity`: the
embedded table's name and content digest, or a user's file's sha256). Two configurations therefore
never share a path, and a table file rewritten in place gets a new digest (its seeds re-run).

Keys (other tools read these; keep the names):

``method``, ``space`` (nb101 | nb201 | darts), ``dataset``, ``seed``, ``protocol``, ``signal``,
``budget`` ({"queries": int|null, "sim_time_s": float|null}), ``config`` (every hyperparameter),
``table`` (the table identity), ``identity`` + ``identity_digest`` (sha256 of the identity),
``config_label`` (the flags that differ from their defaults, "" when none: a human name for the
configuration), ``versions``, ``wall_time_s``, ``n_queries``, ``n_requeries``, ``final`` (best_arch,
best_valid, best_test) and ``trajectory``: one entry per new query, in order, with ``query``
(1-based), ``arch`` (NB201: official string; NB101: official hash; DARTS: genotype string), ``valid``
(the signal the search saw), ``sim_time_s`` (cumulative; null when the table has no training times),
``best_arch``, ``best_valid`` and ``best_test`` (the table's test accuracy of the best-by-valid so
far; reporting only). Accuracies are in percent. Logs are strict JSON (null, never NaN), written
atomically, so a log that exists is complete; :func:`read_log` validates every log it returns.

Logs of the layout before identities (``<protocol>/<space>/<dataset>/<method>/seed_<k>.json``) are
read too (their identity is computed from their own config); ``python -m search_methods.results
migrate --root saved_logs`` moves them to their identity paths. Two runners on one folder never run
the same seed: :class:`Claims` holds an ``fcntl`` lock per log while its run is pending.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

from preprocessing import spaces
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write

ROOT = Path("saved_logs")
SCHEMA = 2
DIGEST_CHARS = 8
DIGEST_GLOB = "[0-9a-f]" * DIGEST_CHARS  # identity folders only (not e.g. saved_logs/hw's deeper layout)
RUNNER_SPACES = ("nb201", "nb101")  # spaces of search_methods.run, whose flags' defaults fill old configs
# Config keys that never change a run's numbers (grid bookkeeping): left out of the identity.
NOT_IDENTITY = ("datasets", "seeds", "seed", "workers", "out", "overwrite", "quiet")
# Identity keys shown by the protocol name or the path, so left out of the human label.
NOT_IN_LABEL = ("method", "space", "protocol", "signal", "queries", "time_budget", "table")


# ---------------------------------------------------------------------------------------------- identity

def file_sha256(path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"cannot read table {path}: {exc.strerror}") from None
    return digest.hexdigest()


_TABLE_IDS: dict = {}  # (space, file stamps) -> identity: hashing once per process, again once a file changes


def table_identity(space: str, table) -> dict:
    """What a run's numbers were read from: ``{"name", "sha256"}``.

    table None = the space's embedded table (name ``<space>-embedded``, digest over its data files);
    a path = a user's or converted table (its file name, for people, and the sha256 of its bytes,
    which is what the identity compares). A space whose ``--table`` is not a file (DARTS: a pool spec)
    says what its table is with its own ``table_identity(table)``.
    """
    own = getattr(spaces.module_of(space), "table_identity", None)
    if own is not None:
        return own(table)
    if table is None:
        files = spaces.embedded_files(space)
        stamp = tuple((str(p), *_stamp(p)) for p in files)
    else:
        stamp = (str(Path(table).resolve()), *_stamp(table))
    if (space, stamp) not in _TABLE_IDS:
        _TABLE_IDS[(space, stamp)] = _table_identity(space, table)
    return _TABLE_IDS[(space, stamp)]


def _stamp(path) -> tuple:
    """(mtime, size) of a file, so a cached digest is recomputed when the file is rewritten."""
    try:
        st = os.stat(path)
    except OSError:
        return (None, None)
    return (st.st_mtime_ns, st.st_size)


def _table_identity(space: str, table) -> dict:
    if table is None:
        files = spaces.embedded_files(space)
        if not files:
            return {"name": f"{space}-embedded", "sha256": None}
        digest = hashlib.sha256("".join(file_sha256(p) for p in files).encode()).hexdigest()
        return {"name": f"{space}-embedded", "sha256": digest}
    path = Path(table)
    if not path.is_file():
        raise InputError(f"--table {path} does not exist")
    return {"name": path.name, "sha256": file_sha256(path)}


def run_identity(*, method: str, space: str, protocol: str, signal: str, budget: dict, config: dict,
                 table: dict | None) -> dict:
    """Everything except dataset and seed that changes a run's numbers (see the module docstring).

    The table's path is replaced by its content (``table``): the same file moved elsewhere is the
    same run, a file rewritten in place is not.
    """
    config = {k: v for k, v in sorted(config.items()) if k not in NOT_IDENTITY and k != "table"}
    identity = {"schema": SCHEMA, "method": method, "space": space, "protocol": protocol, "signal": signal,
                "budget": budget, "table": None if table is None else table.get("sha256") or table.get("name"),
                "config": config}
    # as a log holds it (tuples -> lists, paths -> strings), so a fresh identity equals a read one
    return json.loads(json.dumps(_finite_or_none(identity), sort_keys=True, default=str))


def identity_digest(identity: dict) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def config_label(config: dict, defaults: dict | None, table: dict | None) -> str:
    """The flags that differ from their defaults (``"population=50 tournament=5"``), plus the table
    when it is a user's file (``table=mine.csv@1a2b3c4d``); "" for a default run."""
    parts = []
    if defaults is not None:
        for key, value in sorted(config.items()):
            if key in NOT_IDENTITY or key in NOT_IN_LABEL or (key in defaults and defaults[key] == value):
                continue
            parts.append(f"{key}={value}")
    if table is not None and config.get("table") is not None:
        parts.append(f"table={table['name']}@{(table.get('sha256') or '')[:DIGEST_CHARS]}")
    return " ".join(parts)


def log_path(root, identity: dict, dataset: str, seed: int) -> Path:
    return (Path(root) / identity["protocol"] / identity["space"] / dataset / identity["method"]
            / identity_digest(identity)[:DIGEST_CHARS] / f"seed_{seed}.json")


def path_of(root, log: dict) -> Path:
    """Where ``log`` belongs under ``root``."""
    return log_path(root, log["identity"], log["dataset"], log["seed"])


def old_log_path(root, protocol: str, space: str, dataset: str, method: str, seed: int) -> Path:
    """The layout before identities (read and migrated only)."""
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


def _finite_or_none(obj):
    """NaN / inf (an unknown value, e.g. a training time the table lacks) -> None, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy scalars
        return _finite_or_none(obj.item())
    return obj


def build_log(*, method: str, space: str, dataset: str, seed: int, protocol: str, signal: str,
              budget: dict, config: dict, oracle, wall_time_s: float, table: dict | None = None,
              defaults: dict | None = None) -> dict:
    """The log of one run. table: :func:`table_identity` of what was searched; defaults: the flags'
    defaults (for :func:`config_label`; config itself must already hold every flag)."""
    trajectory = _finite_or_none(oracle.trajectory)
    last = trajectory[-1] if trajectory else {}
    identity = run_identity(method=method, space=space, protocol=protocol, signal=signal, budget=budget,
                            config=config, table=table)
    return {
        "schema": SCHEMA, "method": method, "space": space, "dataset": dataset, "seed": seed,
        "protocol": protocol, "signal": signal, "budget": _finite_or_none(budget),
        "config": _finite_or_none(config), "table": table, "identity": identity,
        "identity_digest": identity_digest(identity), "config_label": config_label(config, defaults, table),
        "versions": versions(), "wall_time_s": wall_time_s, "n_queries": oracle.n_queries,
        "n_requeries": oracle.n_requeries,
        "final": {k: last.get(k) for k in ("best_arch", "best_valid", "best_test")},
        "trajectory": trajectory,
    }


# ------------------------------------------------------------------------------------ writing and reading

def write_log(path, log: dict) -> None:
    """Strict JSON (a NaN raises here rather than writing a file other parsers reject), atomically."""
    text = json.dumps(log, allow_nan=False)

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)


def save_log(root, log: dict) -> Path:
    """Write ``log`` at its identity path under ``root``; returns the path."""
    path = path_of(root, log)
    write_log(path, log)
    return path


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON (strict JSON has null, not NaN or Infinity)")


def read_json_dict(path) -> dict:
    """A strict-JSON object from ``path``; InputError (one line) for anything else."""
    try:
        with open(path) as f:
            data = json.load(f, parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(f"cannot read {path}: {str(exc).splitlines()[0][:200]}; delete it and rerun") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a JSON {type(data).__name__}, not an object; delete it and rerun")
    return data


def _is_number(value, none_ok: bool = False) -> bool:
    if value is None:
        return none_ok
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TOP = {"method": str, "space": str, "dataset": str, "protocol": str, "signal": str, "seed": int,
        "budget": dict, "config": dict, "final": dict, "trajectory": list, "n_queries": int}
_STEP_NUMBERS = (("query", False), ("valid", False), ("sim_time_s", True), ("best_valid", False),
                 ("best_test", True))


def validate_log(log: dict, path) -> dict:
    """``log`` if it is a complete search log; InputError naming the first problem otherwise."""
    def bad(what: str):
        raise InputError(f"{path} is not a search log ({what}); delete it and rerun that seed")

    for key, kind in _TOP.items():
        if key not in log:
            bad(f"no {key!r}")
        if not isinstance(log[key], kind) or isinstance(log[key], bool):
            bad(f"{key!r} is a {type(log[key]).__name__}, not a {kind.__name__}")
    final = log["final"]
    for key in ("best_arch", "best_valid", "best_test"):
        if key not in final:
            bad(f"'final' has no {key!r}")
    if not (final["best_arch"] is None or isinstance(final["best_arch"], str)):
        bad("'final.best_arch' is not a string")
    for key in ("best_valid", "best_test"):
        if not _is_number(final[key], none_ok=True):
            bad(f"'final.{key}' is {final[key]!r}, not a number")
    for i, step in enumerate(log["trajectory"]):
        if not isinstance(step, dict) or not isinstance(step.get("arch"), str):
            bad(f"trajectory entry {i} is not a query record")
        for key, none_ok in _STEP_NUMBERS:
            if not _is_number(step.get(key), none_ok):
                bad(f"trajectory entry {i} has {key}={step.get(key)!r}")
    if "identity" in log and (not isinstance(log["identity"], dict)
                              or log.get("identity_digest") != identity_digest(log["identity"])):
        bad("its identity does not match its identity_digest")
    return log


def read_log(path) -> dict:
    """A validated search log; logs of the old layout get their identity computed (see :func:`upgrade`)."""
    log = validate_log(read_json_dict(path), path)
    return log if "identity" in log else upgrade(log)


_DEFAULTS: dict = {}


def _method_defaults(method: str, space: str) -> dict | None:
    """The runner's flag defaults of ``method`` (None for a method or space the runner does not run)."""
    if space not in RUNNER_SPACES:
        return None
    if method not in _DEFAULTS:
        from search_methods.registry import METHODS

        if method not in METHODS:
            _DEFAULTS[method] = None
        else:
            from search_methods.run import build_parser, load_method, run_config

            parsed = build_parser(load_method(method)).parse_args(["--method", method])
            _DEFAULTS[method] = run_config(parsed)
    return _DEFAULTS[method]


def upgrade(log: dict) -> dict:
    """A log of the layout before identities, with its identity added: the flags it lacks count as
    their current defaults (a flag added later keeps the old behaviour at its default), and a table
    path is identified by the file's content now (the embedded table: as shipped now)."""
    defaults = _method_defaults(log["method"], log["space"]) or {}
    config = {**defaults, **log["config"]}
    table = None
    if log["space"] in RUNNER_SPACES:  # DARTS runs have no table (build_log gets table=None there)
        try:
            table = table_identity(log["space"], config.get("table"))
        except InputError:  # the table file is gone: identify it by its path
            table = {"name": str(config.get("table")), "sha256": None}
    identity = run_identity(method=log["method"], space=log["space"], protocol=log["protocol"],
                            signal=log["signal"], budget=log["budget"], config=config, table=table)
    return {**log, "schema": SCHEMA, "config": config, "table": table, "identity": identity,
            "identity_digest": identity_digest(identity),
            "config_label": config_label(config, defaults or None, table)}


def read_logs(root=ROOT, protocol: str = "*", space: str = "*", dataset: str = "*", method: str = "*",
              digest: str = DIGEST_GLOB, seed: str | int = "*") -> list[dict]:
    """Every valid log under ``root`` matching the (glob) filters, sorted by path; old-layout logs
    are included unless a migrated copy of the same run exists. Group by ``identity_digest`` (or
    ``config_label``) rather than by method name: two configurations of one method differ there."""
    root = Path(root)
    pattern = f"{protocol}/{space}/{dataset}/{method}"
    new = [read_log(p) for p in sorted(root.glob(f"{pattern}/{digest}/seed_{seed}.json"))]
    seen = {(g["identity_digest"], g["dataset"], g["seed"]) for g in new}
    old = [g for g in (read_log(p) for p in sorted(root.glob(f"{pattern}/seed_{seed}.json")))
           if (g["identity_digest"], g["dataset"], g["seed"]) not in seen]
    if digest != DIGEST_GLOB:
        old = [g for g in old if g["identity_digest"].startswith(digest)]
    return new + old


def find_log(root, identity: dict, dataset: str, seed: int) -> dict | None:
    """This run's log if it exists with exactly this identity, else None. An old-layout log of the
    same run is migrated to its identity path first (so resume keeps working across the change)."""
    path = log_path(root, identity, dataset, seed)
    if path.exists():
        log = read_log(path)
        return log if log["identity"] == identity else None
    old = old_log_path(root, identity["protocol"], identity["space"], dataset, identity["method"], seed)
    if old.exists():
        log = read_log(old)
        if log["identity"] == identity:
            write_log(path, log)
            old.unlink(missing_ok=True)  # another runner may have moved it too
            return log
    return None


def clean_stale_temps(path) -> int:
    """Delete the temporary files a killed atomic write of ``path`` left (``.<name>.*.tmp``); the
    caller must hold ``path``'s claim, so no live writer owns them. Returns how many went."""
    path = Path(path)
    stale = list(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return len(stale)


# ------------------------------------------------------------------------------------------------ locking

class Claims:
    """Per-log locks: byte ``seed`` of ``<log folder>/.lock`` (``fcntl.lockf``), one open file per
    folder. A claim lasts until :meth:`close` (or the process ends: the kernel drops the locks of a
    killed runner, so there is nothing stale to clean up)."""

    def __init__(self):
        self._files: dict[Path, int] = {}

    def _fd(self, folder: Path) -> int:
        if folder not in self._files:
            folder.mkdir(parents=True, exist_ok=True)
            self._files[folder] = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        return self._files[folder]

    @staticmethod
    def _seed(path: Path) -> int:
        return int(path.stem.removeprefix("seed_"))

    def try_claim(self, path) -> bool:
        """Claim ``path``'s run; False when another runner holds it."""
        path = Path(path)
        try:
            fcntl.lockf(self._fd(path.parent), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self._seed(path))
        except OSError:
            return False
        return True

    def wait(self, path) -> None:
        """Block until the runner holding ``path``'s claim is done, then hold it."""
        path = Path(path)
        fcntl.lockf(self._fd(path.parent), fcntl.LOCK_EX, 1, self._seed(path))

    def close(self) -> None:
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def __enter__(self) -> "Claims":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- migration

def migrate(root) -> tuple[int, int]:
    """Move every old-layout log under ``root`` to its identity path; delete stale temp files.
    Returns (moved, already there). A log already at its identity path is never overwritten."""
    root = Path(root)
    moved = kept = 0
    for old in sorted(root.glob("*/*/*/*/seed_*.json")):
        log = read_log(old)
        target = path_of(root, log)
        if target.exists():
            kept += 1
        else:
            write_log(target, log)
            moved += 1
        old.unlink(missing_ok=True)
    with Claims() as claims:  # a temp file of a run another runner holds is live: left alone
        for tmp in sorted(root.rglob(".seed_*.json.*.tmp")):
            log = tmp.parent / tmp.name[1:].split(".json.")[0]
            if claims.try_claim(log.with_suffix(".json")):
                tmp.unlink(missing_ok=True)
    return moved, kept


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m search_methods.results",
                                     description="Result-log maintenance.")
    sub = parser.add_subparsers(dest="command", required=True)
    mig = sub.add_parser("migrate", help="move logs of the old layout <protocol>/<space>/<dataset>/<method>/"
                                         "seed_<k>.json to their identity paths (.../<method>/<digest8>/...)")
    mig.add_argument("--root", default=str(ROOT), help="root folder of the logs (default saved_logs)")
    args = parser.parse_args(argv)
    if not Path(args.root).is_dir():
        raise InputError(f"--root {args.root} is not a folder")
    moved, kept = migrate(args.root)
    print(f"moved {moved} logs to their identity paths ({kept} were there already; old copies removed)")


if __name__ == "__main__":
    main()
