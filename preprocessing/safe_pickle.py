"""Unpickling files we did not write (CIFAR batches, NAS-Bench-201 / NATS files) without running code
or crashing the interpreter.

Two dangers, two guards:

* **Code**: a pickle can name any callable (``os.system`` in a ``__reduce__``). Our unpicklers resolve
  only an allow-list of globals (plain containers, ``_codecs.encode`` for protocol-2 bytes, and the
  numpy constructors of arrays); any other name is an :class:`InputError`.
* **Depth**: a dict key or set member nested 100,000 tuples deep makes CPython's tuple hash recurse
  in C until the stack overflows (a segfault, exit 139, from a 200 KB file). The pure-Python
  :class:`RestrictedUnpickler` checks every key and member before it is hashed
  (:data:`MAX_KEY_DEPTH`); C-speed unpickling runs in a thread whose stack is large enough for any
  nesting a pickle of :data:`C_SAFE_BYTES` can hold (:func:`load_in_big_stack`). Small loads are then
  walked (:func:`check_tree`, no recursion) so no data deeper than :data:`MAX_DEPTH` reaches code
  that would recurse on it.
"""
from __future__ import annotations

import codecs
import collections
import io
import pickle
import struct
import threading

import numpy as np

from preprocessing.errors import InputError

MAX_KEY_DEPTH = 16  # real keys are strings, numbers or (run, seed) pairs
MAX_DEPTH = 100  # real files nest a few levels; deeper data would overflow Python's recursion later
BIG_STACK = 1 << 30
C_SAFE_BYTES = 16 << 20  # a C tuple hash uses ~40 B of stack per level; 16 MiB of pickle < 1 GiB of stack


def _numpy_multiarray(name: str):
    from numpy._core import multiarray

    return getattr(multiarray, name)


def _numpy_frombuffer():
    """How protocol-5 pickles spell an array: bytes + dtype + shape (numpy refuses object dtypes there)."""
    from numpy._core import numeric

    return numeric._frombuffer


def check_key(key, source) -> None:
    """InputError unless ``key`` is a number, string, bytes, None or a shallow tuple/frozenset of them."""
    stack = [(key, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (tuple, frozenset)):
            if depth >= MAX_KEY_DEPTH:
                raise InputError(f"{source} holds a dict key or set member nested deeper than {MAX_KEY_DEPTH} "
                                 f"levels, which no benchmark file has; refusing it (a crafted or corrupt file)")
            stack.extend((x, depth + 1) for x in item)
        elif not isinstance(item, (str, bytes, int, float, complex, type(None), np.generic)):
            raise InputError(f"{source} holds a {type(item).__name__} as a dict key or set member; "
                             f"refusing it (a crafted or corrupt file)")


def check_tree(obj, source) -> None:
    """InputError when ``obj`` nests containers deeper than :data:`MAX_DEPTH` or holds a bad dict key /
    set member (:func:`check_key`); walks without recursion, so any depth is safe to check."""
    stack = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, (dict, list, tuple, set, frozenset)):
            continue
        if depth >= MAX_DEPTH:
            raise InputError(f"{source} nests its data deeper than {MAX_DEPTH} levels, which no benchmark or "
                             f"dataset file does; refusing it (a crafted or corrupt file)")
        if isinstance(item, dict):
            for key, value in item.items():
                check_key(key, source)
                stack.append((value, depth + 1))
        else:
            if isinstance(item, (set, frozenset)):
                for member in item:
                    check_key(member, source)
            stack.extend((x, depth + 1) for x in item)


def _checked(container, source):
    def build(items=()):
        items = list(items)
        for item in items:
            check_key(item[0] if container is collections.OrderedDict else item, source)
        return container(items)

    return build


NUMPY_GLOBALS = {
    ("_codecs", "encode"): lambda source: codecs.encode,  # how protocol-2 pickles spell bytes
    ("numpy", "dtype"): lambda source: np.dtype,
    ("numpy", "ndarray"): lambda source: np.ndarray,
    ("numpy.core.multiarray", "scalar"): lambda source: _numpy_multiarray("scalar"),
    ("numpy._core.multiarray", "scalar"): lambda source: _numpy_multiarray("scalar"),
    ("numpy.core.multiarray", "_reconstruct"): lambda source: _numpy_multiarray("_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): lambda source: _numpy_multiarray("_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"): lambda source: _numpy_frombuffer(),
    ("numpy._core.numeric", "_frombuffer"): lambda source: _numpy_frombuffer(),
}
PLAIN_GLOBALS = {
    **NUMPY_GLOBALS,
    ("collections", "OrderedDict"): lambda source: _checked(collections.OrderedDict, source),
    ("builtins", "set"): lambda source: _checked(set, source),
    ("__builtin__", "set"): lambda source: _checked(set, source),
    ("builtins", "frozenset"): lambda source: _checked(frozenset, source),
    ("__builtin__", "frozenset"): lambda source: _checked(frozenset, source),
}


class AllowListMixin:
    """``find_class`` from ``allowed`` only; ``what`` names the expected file in the message."""

    source: str
    allowed: dict = PLAIN_GLOBALS
    what: str = "this kind of file"

    def find_class(self, module: str, name: str):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)](self.source)
        raise InputError(f"{self.source} names the Python object {module}.{name}, which {self.what} does not "
                         f"contain; refusing to unpickle it (is this the official file?)")


class RestrictedUnpickler(AllowListMixin, pickle._Unpickler):
    """Pure-Python unpickler: allow-listed globals, and every dict key / set member checked before it
    is hashed. Subclasses that override ``dispatch`` entries must copy :attr:`dispatch` first."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, source, allowed: dict | None = None, what: str | None = None):
        super().__init__(file, encoding="bytes")
        self.source = str(source)
        if allowed is not None:
            self.allowed = allowed
        if what is not None:
            self.what = what

    def _check_setitem(self) -> None:
        check_key(self.stack[-2], self.source)
        pickle._Unpickler.load_setitem(self)

    def _check_setitems(self) -> None:  # self.stack holds the items pushed since the mark
        for key in self.stack[0::2]:
            check_key(key, self.source)
        pickle._Unpickler.load_setitems(self)

    def _check_additems(self) -> None:
        for item in self.stack:
            check_key(item, self.source)
        pickle._Unpickler.load_additems(self)

    def _check_frozenset(self) -> None:
        for item in self.stack:
            check_key(item, self.source)
        pickle._Unpickler.load_frozenset(self)

    dispatch[pickle.SETITEM[0]] = _check_setitem
    dispatch[pickle.SETITEMS[0]] = _check_setitems
    dispatch[pickle.ADDITEMS[0]] = _check_additems
    dispatch[pickle.FROZENSET[0]] = _check_frozenset


class _BoundedReader:
    """Passes ``read``/``readinto``/``readline`` through to ``stream`` (no read-ahead, so several pickles
    in one stream stay readable one after another) and refuses to deliver more than ``limit`` bytes."""

    def __init__(self, stream, limit: int, source):
        self.stream, self.left, self.source = stream, limit, source

    def _count(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise InputError(f"{self.source} holds a pickle larger than {C_SAFE_BYTES >> 20} MiB where a small "
                             f"one was expected (a crafted or corrupt file)")

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(self.left + 1 if n is None or n < 0 else min(n, self.left + 1))
        self._count(len(data))
        return data

    def readinto(self, buffer) -> int:
        n = self.stream.readinto(memoryview(buffer)[: self.left + 1])
        self._count(n)
        return n

    def readline(self) -> bytes:
        data = self.stream.readline(self.left + 1)
        self._count(len(data))
        return data


def load_in_big_stack(make_unpickler, stream, source, bounded: bool = True):
    """``make_unpickler(stream).load()`` in a thread with a :data:`BIG_STACK` stack. ``bounded``: read at
    most :data:`C_SAFE_BYTES`, so no nesting in the pickle can overflow that stack (a C unpickler cannot
    check keys as it goes); unbounded only for a file the user vouches for (the ``--fast`` readers)."""
    if bounded:
        stream = _BoundedReader(stream, C_SAFE_BYTES, source)
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["value"] = make_unpickler(stream).load()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    previous = threading.stack_size(BIG_STACK)
    try:
        thread = threading.Thread(target=work, name="unpickle")
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    if bounded:  # small by construction, so the walk is cheap
        check_tree(outcome["value"], source)
    return outcome["value"]


def loads(data: bytes, source, allowed: dict = PLAIN_GLOBALS, what: str = "this kind of file"):
    """The plain data in pickle ``data`` (bytes strings stay bytes, as CIFAR's batches need);
    InputError (one line) for a forbidden global, a too-deep key or a damaged pickle."""
    try:
        value = RestrictedUnpickler(io.BytesIO(data), source, allowed, what).load()
        check_tree(value, source)
        return value
    except InputError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            MemoryError, RecursionError, UnicodeDecodeError, struct.error) as exc:
        raise InputError(f"{source} is not a readable pickle ({type(exc).__name__}: {str(exc)[:200]})") from None

