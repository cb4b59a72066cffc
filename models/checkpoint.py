"""The one way checkpoints (and other torch files this project writes) are saved and loaded.

* :func:`save` writes a dict atomically with ``torch.save``, adding ``sha256``: a digest of the
  payload's *content* (every key, tensor dtype/shape/bytes and value), so a bit flip anywhere in
  the data is caught on load even where the file still unpickles.
* :func:`load` reads with ``weights_only=True`` (tensors and plain Python values only, never code),
  checks the digest, the ``format`` tag and the expected keys and their kinds, and turns every
  failure into one :class:`InputError` line naming the file and the fix (delete it, rerun).
* :func:`load_state` loads a state dict into a module; wrong or missing tensors -> one line.
* :func:`check_finite` stops training with one line on a NaN / inf loss, before the checkpoint
  of that epoch would overwrite the last good one.

Files written before digests existed (no ``sha256`` key) still load, with every other check.
"""
from __future__ import annotations

import hashlib
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from preprocessing.errors import InputError
from preprocessing.io_utils import atomic_write

DIGEST_KEY = "sha256"


def _feed(digest, obj: Any) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        digest.update(f"A{obj.dtype.str}{obj.shape}".encode())
        digest.update(np.ascontiguousarray(obj).tobytes() if obj.dtype != object else repr(obj.tolist()).encode())
    elif isinstance(obj, dict):
        digest.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=lambda k: (type(k).__name__, repr(k))):
            _feed(digest, key)
            _feed(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for item in obj:
            _feed(digest, item)
    elif isinstance(obj, (bytes, bytearray)):
        digest.update(b"B" + struct.pack("<Q", len(obj)) + bytes(obj))
    elif isinstance(obj, str):
        data = obj.encode()
        digest.update(b"S" + struct.pack("<Q", len(data)) + data)
    else:  # None, bool, int, float, torch.dtype, numpy scalars: their repr is exact
        digest.update(f"V{type(obj).__name__}:{obj!r};".encode())


def content_digest(payload: Any) -> str:
    """sha256 of ``payload``'s content (independent of how torch lays out the file)."""
    digest = hashlib.sha256()
    _feed(digest, payload)
    return digest.hexdigest()


def save(path: str | os.PathLike, payload: dict) -> None:
    """``torch.save`` ``payload`` plus its content digest, atomically (never a partial file)."""
    import torch

    body = {k: v for k, v in payload.items() if k != DIGEST_KEY}
    stamped = {**body, DIGEST_KEY: content_digest(body)}
    atomic_write(path, lambda tmp: torch.save(stamped, tmp))


def load(path: str | os.PathLike, what: str, how_to_create: str, fmt: str | None = None,
         keys: dict[str, type | tuple] | None = None) -> dict:
    """A verified checkpoint dict (without its ``sha256``); InputError otherwise.

    what: the kind of file, for messages ("arch2vec checkpoint"); how_to_create: the command that writes
    it; fmt: the required ``format`` value, if the file carries one; keys: required key -> type(s).
    """
    import torch

    path = Path(path)
    fix = f"delete it and run `{how_to_create}` again"
    if not path.is_file():
        raise InputError(f"no {what} at {path}; run `{how_to_create}` first")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path} is not a readable {what} ({reason}); {fix}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a {type(data).__name__}, not a {what} (a dict); {fix}")
    stored = data.pop(DIGEST_KEY, None)
    if stored is not None and stored != content_digest(data):
        raise InputError(f"{path} is corrupt: its content does not match its sha256 digest; {fix}")
    if fmt is not None and data.get("format") != fmt:
        raise InputError(f"{path} is not a {what} (format {data.get('format')!r}, expected {fmt!r}); {fix}")
    for key, kind in (keys or {}).items():
        if key not in data:
            raise InputError(f"{path} is not a complete {what}: it has no {key!r}; {fix}")
        if not isinstance(data[key], kind):
            raise InputError(f"{path}: {key!r} is a {type(data[key]).__name__} in this {what}; {fix}")
    return data


def load_state(module, state, path, what: str) -> None:
    """``module.load_state_dict(state)`` (strict); InputError naming the first wrong tensor otherwise."""
    import torch

    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path}: the {what} weights are not a state dict of tensors; delete the file and rerun")
    expected = module.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise InputError(f"{path}: the {what} weights lack {name!r} (a different model or config); "
                             f"delete the file and rerun")
        if state[name].shape != tensor.shape:
            raise InputError(f"{path}: {what} weight {name!r} has shape {tuple(state[name].shape)}, the model "
                             f"needs {tuple(tensor.shape)} (a different model or config); delete the file and rerun")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise InputError(f"{path}: the {what} weights have {extra[0]!r}, which the model lacks; "
                         f"delete the file and rerun")
    module.load_state_dict(state)


def check_finite(loss: float, where: str, checkpoint) -> None:
    """InputError when a training loss is NaN / inf: training stops, the last good checkpoint stays."""
    if not math.isfinite(float(loss)):
        kept = f"the last good checkpoint {checkpoint} is kept" if checkpoint and Path(checkpoint).exists() \
            else "no checkpoint was written"
        raise InputError(f"training diverged: loss {float(loss)} {where}; {kept}; lower --lr or check the inputs")
