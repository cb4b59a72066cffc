"""Atomic file writes: write to a temporary file in the same folder, then rename over the target."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename tmp_path onto ``path``; no partial file is ever left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent)

    atomic_write(path, write)


def check_suffix(path: str | os.PathLike, suffix: str, flag: str = "--out") -> None:
    """InputError unless ``path`` ends in ``suffix``: a file's name must say what is in it (an .npz
    written as ``x.csv`` would be misread by every tool that trusts the name)."""
    from preprocessing.errors import InputError

    if not str(path).endswith(suffix):
        raise InputError(f"{flag} {path}: this writes a {suffix} file; give a path ending in {suffix}")
