"""Convert the official NAS-Bench-201 / NATS-Bench topology files into a :class:`Benchmark`.

Accepted inputs (all hold the same per-architecture records, see below):

* ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth`` (``--pth``): a
  ``torch.save``'d dict ``{'meta_archs': [15625 arch strings], 'arch2infos': {index: {'less':
  record, 'full': record}}, 'evaluated_indexes': ...}``; ``'full'`` is the 200-epoch schedule.
  Both the 2020 legacy torch format and the newer zip format are read.
* a NATS-Bench topology directory ``NATS-tss-v1_0-3ffb9-simple/`` (or ``-full/``) (``--nats-dir``):
  ``meta.pickle.pbz2`` (bz2-compressed pickle with ``meta_archs``) plus one
  ``{index:06d}.pickle.pbz2`` per architecture holding ``{'12': record, '200': record}``.
* the single NATS file ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (``--nats-file``): like the ``.pth``
  dict, with ``{'12': record, '200': record}`` per architecture.

A record is the state dict of the official ``ArchResults``: ``{'arch_index', 'arch_str',
'dataset_seed': {run: [seeds]}, 'all_results': {(run, seed): trial}}`` where a trial (the state of
``ResultsCount``) has ``epochs``, ``eval_acc1es`` (``'<split>@<epoch>' -> accuracy %``),
``train_times`` (``epoch -> seconds``), ``params`` (MB) and ``flop`` (M). Runs are
``cifar10-valid`` (train 25k / ``x-valid`` 25k / ``ori-test`` 10k), ``cifar10`` (train+valid /
``ori-test``), ``cifar100`` and ``ImageNet16-120`` (``x-valid`` / ``x-test`` halves of the test set).

Mapping onto our datasets -- the same semantics as the embedded table
(:mod:`preprocessing.nb201_table`); all numbers are at the final epoch (``epochs - 1``, i.e.
``@199``) of the 200-epoch run, accuracies in percent:

============== ================================ ============================ ==========================
dataset        valid_mean / valid_seeds         test_mean                    train_time_s, params_mb
============== ================================ ============================ ==========================
cifar10        cifar10-valid ``x-valid``        cifar10 ``ori-test``         cifar10-valid run
cifar100       cifar100 ``x-valid``             cifar100 ``x-test``          cifar100 run
ImageNet16-120 ImageNet16-120 ``x-valid``       ImageNet16-120 ``x-test``    ImageNet16-120 run
============== ================================ ============================ ==========================

Means are over the seeds the file lists for that run; ``valid_seeds`` has one column per seed
in ascending order (777, 888, 999 in the official files), NaN where an architecture lacks that
seed. ``train_time_s`` is the sum of the per-epoch training times of the run (the official
``train-all-time``), averaged over seeds; NaN where the file stores no times. Per-dataset
extras: ``params_mb``, ``flops_m``, ``time_per_epoch_s`` and, for cifar10, ``cifar10_valid_test_mean``
(cifar10-valid's ``ori-test``). ``Benchmark.extra['measured']`` marks the architectures the file
has results for (all 15,625 in the official files).

Safety: these files are pickles, and unpickling an untrusted pickle can run code. We never call
``pickle.load``/``torch.load`` on them; :class:`_PlainDataOnly` unpicklers build only plain
containers, numbers and numpy scalars and refuses any other class the file names. Trained weights
(tensors) are skipped without being read. Still, only convert files from the official release.

Memory: the official API keeps every trial as objects (~28 GB for the ``.pth``); simply
unpickling the plain dict costs about as much, since it is the per-epoch numbers (~25,000 per
architecture) that take the space. By default (``lean``) ``.pth`` and single NATS files are
read by :class:`_LeanUnpickler`, which reduces every per-epoch series to its last epoch (and
train times to their sum) while reading, so those numbers never pile up; ``--fast`` uses the C
unpickler instead (5-10x faster, whole tree in memory). The final-epoch numbers go into
(15625,) arrays and each architecture's record is dropped once read. A NATS directory is read
one architecture file at a time.

Measured peak RSS (whole CLI process, ``/usr/bin/time``) on synthetic ``.pth`` files in the
official layout built by ``write_pth(path, indices, full_epochs=200)`` of
``tests/test_nb201_official.py`` (legacy torch format; per arch a
200-epoch ``full`` and a 12-epoch ``less`` record, 4 runs, 2-3 seeds; 0.32 MB of file per arch,
so 15,625 archs ~ 4.9 GB like the real v1_1 file), on a shared 2-core CPU:

============ ========== ============== =============== ===========================
archs        file       lean           fast (C)        torch.load(weights_only=False)
============ ========== ============== =============== ===========================
100          42 MB      62 MiB, 16 s   246 MiB, 3 s    428 MiB, 4 s
400          137 MB     75 MiB, 71 s   712 MiB, 11 s   896 MiB, 11 s
1,200        408 MB     145 MiB, 266 s 2070 MiB, 25 s  (not run)
15,625 (est) ~4.9 GB    ~1.4 GiB       ~26 GiB         >= fast
============ ========== ============== =============== ===========================

(``est``: linear in the archs from the 400 -> 1,200 slope: lean 0.09 MiB/arch -- the compact
memo and the reduced records --, fast 1.7 MiB/arch. Lean reads about 0.2 s per arch here, so
a full file takes about an hour; fast about 6 minutes but needs a 32 GB machine.)
A NATS ``-simple`` directory of 100 archs peaks at 61 MiB (5 s), independent of its size.
"""
from __future__ import annotations

import argparse
import bz2
import gc
import io
import pickle
import resource
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from preprocessing.benchmark_table import Benchmark, MetricTable
from preprocessing.errors import InputError, cli_entry
from preprocessing.nasbench201 import N_ARCHS, arch_strings
from preprocessing.safe_pickle import AllowListMixin, RestrictedUnpickler, check_key, load_in_big_stack

DEFAULT_OUT = Path("data/cache/nb201_official.npz")
PICKLE_EXT = ".pickle.pbz2"
FULL_RUN_KEYS = ("full", "200")  # the 200-epoch record: NB201 .pth calls it 'full', NATS '200'
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # first pickle of a pre-zip torch.save file

# our dataset -> (file run, split) for valid and test, and the run whose cost/size we report
VALID_SOURCE = {"cifar10": ("cifar10-valid", "x-valid"), "cifar100": ("cifar100", "x-valid"),
                "ImageNet16-120": ("ImageNet16-120", "x-valid")}
TEST_SOURCE = {"cifar10": ("cifar10", "ori-test"), "cifar100": ("cifar100", "x-test"),
               "ImageNet16-120": ("ImageNet16-120", "x-test")}
CIFAR10_VALID_TEST = ("cifar10-valid", "ori-test")


def _skip_tensor(*args, **kwargs) -> None:
    """Stands in for torch's tensor/storage rebuild functions: trained weights are not needed."""
    return None


class _PlainDataOnly(AllowListMixin):
    """Unpickler mixin: plain data only (:mod:`preprocessing.safe_pickle`); tensors become None."""

    what = "a NAS-Bench-201 file"

    def find_class(self, module: str, name: str):
        if module == "torch" or module.startswith("torch."):
            return _skip_tensor
        return super().find_class(module, name)

    def persistent_load(self, pid):
        return None  # a torch storage (trained weights): skipped unread


class _FastUnpickler(_PlainDataOnly, pickle.Unpickler):
    """C-speed; builds the whole plain object tree (about 1.7 MiB per NB201 architecture). It cannot
    check keys as it reads, so it runs in a big-stack thread (:func:`safe_pickle.load_in_big_stack`)."""

    def __init__(self, file, source: Path):
        super().__init__(file)
        self.source = str(source)


SERIES_TOTAL, SERIES_COUNT = "@total", "@count"
_NUMBER_TYPES = (float, int, np.float64, np.float32)


def _reduce_epoch_numbers(target: dict, keys: list, values: list) -> bool:
    """An {epoch: number} series (train times, losses) -> {'@total': sum, '@count': n}."""
    if target and SERIES_TOTAL not in target:
        return False
    if not all(type(k) is int for k in keys) or not all(type(v) in _NUMBER_TYPES for v in values):
        return False
    total = sum(values, target.pop(SERIES_TOTAL, 0))  # same order of additions as summing the full series
    count = target.pop(SERIES_COUNT, 0) + len(values)
    target.clear()
    target[SERIES_TOTAL], target[SERIES_COUNT] = total, count
    return True


def _reduce_split_epochs(target: dict, keys: list, values: list) -> bool:
    """A {'split@epoch': value} series (eval accuracies) -> only the last epoch of each split."""
    old_keys = list(target)
    all_keys = old_keys + keys
    if not all(type(k) is str for k in all_keys):
        return False
    parts = [k.rpartition("@") for k in all_keys]
    if not all(sep and epoch.isdigit() for _, sep, epoch in parts):
        return False
    last: dict[str, tuple[int, str, object]] = {}
    for (split, _, epoch), key, value in zip(parts, all_keys, [target[k] for k in old_keys] + values):
        epoch = int(epoch)
        if split not in last or epoch >= last[split][0]:
            last[split] = (epoch, key, value)
    target.clear()
    target.update((key, value) for _, key, value in last.values())
    return True


class _ListMemo:
    """Pickle memo in a list: 8 bytes a slot instead of ~100 for a dict entry. Strings are
    interned, so the millions of repeated keys ('x-valid@12', run names) share one object."""

    __slots__ = ("items",)
    _HOLE = object()

    def __init__(self):
        self.items: list = []

    def __len__(self) -> int:
        return len(self.items)

    def __setitem__(self, index: int, obj) -> None:
        if type(obj) is str:
            obj = sys.intern(obj)
        items = self.items
        if index == len(items):
            items.append(obj)
        elif index < len(items):
            items[index] = obj
        else:
            items.extend([self._HOLE] * (index - len(items)))
            items.append(obj)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self.items) or self.items[index] is self._HOLE:
            raise KeyError(index)
        return self.items[index]


class _LeanUnpickler(_PlainDataOnly, RestrictedUnpickler):
    """Pure-Python unpickler that shrinks per-epoch series while it reads them.

    Dicts keyed by epoch are reduced the moment their items arrive (see :func:`_reduce_epoch_numbers`
    and :func:`_reduce_split_epochs`), so the per-epoch numbers of 15,625 architectures are never
    all in memory; the memo is a compact :class:`_ListMemo`. Everything the converter reads
    (``epochs``, final-epoch accuracies, total train time, params, flops) survives unchanged.
    5-10x slower than :class:`_FastUnpickler`.
    """

    dispatch = dict(RestrictedUnpickler.dispatch)

    def __init__(self, file, source: Path):
        pickle._Unpickler.__init__(self, file)
        self.source = str(source)
        self.memo = _ListMemo()

    def _set_items(self, items: list) -> None:
        for key in items[0::2]:
            check_key(key, self.source)
        target = self.stack[-1]
        keys, values = items[0::2], items[1::2]
        if isinstance(target, dict) and keys and (
                _reduce_epoch_numbers(target, keys, values) or _reduce_split_epochs(target, keys, values)):
            return
        for key, value in zip(keys, values):
            target[key] = value

    def _load_setitems(self) -> None:
        self._set_items(self.pop_mark())

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._set_items([key, value])

    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.SETITEM[0]] = _load_setitem


class _CountingReader(io.RawIOBase):
    """Raw stream that advances a progress bar by the bytes read through it."""

    def __init__(self, stream, bar):
        self.stream, self.bar = stream, bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        self.bar.update(len(data))
        return len(data)


@contextmanager
def _tracked(stream, total: int, desc: str, progress: bool) -> Iterator[io.BufferedReader]:
    """``stream`` behind a 1 MiB buffer and a byte-level tqdm bar."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, disable=not progress) as bar:
        yield io.BufferedReader(_CountingReader(stream, bar), 1 << 20)


def _unpickle(stream, source: Path, lean: bool, trusted: bool = False):
    """lean: the pure-Python reader (checks every key); else the C unpickler, in a big-stack thread and
    limited to small pickles unless ``trusted`` (``--fast``: the user vouches for a large file)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the tree is acyclic; collecting during a multi-GB load only costs time
    try:
        if lean:
            return _LeanUnpickler(stream, source).load()
        return load_in_big_stack(lambda s: _FastUnpickler(s, source), stream, source, bounded=not trusted)
    finally:
        if gc_was_enabled:
            gc.enable()


@contextmanager
def _read_errors(path: Path, what: str) -> Iterator[None]:
    """Turn the many ways a damaged pickle fails into one InputError naming the file."""
    try:
        yield
    except InputError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, zipfile.BadZipFile, MemoryError, RecursionError) as exc:
        raise InputError(f"{path} is not a readable {what} (corrupt or truncated: "
                         f"{type(exc).__name__}: {exc}); download it again") from None


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist (or is not a file)")


def read_torch_pickle(path: Path, lean: bool = True, progress: bool = False, trusted: bool = False) -> object:
    """The object in a ``torch.save`` file (legacy or zip format), tensors replaced by None; ``trusted``
    lets the C reader (``lean=False``) read a pickle of any size (see :func:`_unpickle`)."""
    _require_file(path, "NAS-Bench-201 file")
    with _read_errors(path, "torch.save file"):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if not names:
                    raise InputError(f"{path} is a zip archive without data.pkl, not a torch.save file")
                size = archive.getinfo(names[0]).file_size
                with archive.open(names[0]) as raw, _tracked(raw, size, path.name, progress) as stream:
                    return _unpickle(stream, path, lean, trusted)
        with open(path, "rb") as raw, _tracked(raw, path.stat().st_size, path.name, progress) as stream:
            if _unpickle(stream, path, lean=False) != LEGACY_TORCH_MAGIC:
                raise InputError(f"{path} is not a torch.save file (wrong magic number); "
                                 f"pass the official NAS-Bench-201-v1_*.pth")
            _unpickle(stream, path, lean=False)  # protocol version
            _unpickle(stream, path, lean=False)  # sys info
            return _unpickle(stream, path, lean, trusted)


def read_bz2_pickle(path: Path, lean: bool = False, progress: bool = False, trusted: bool = False) -> object:
    """The object in a NATS-Bench ``*.pickle.pbz2`` file (``trusted`` as in :func:`read_torch_pickle`)."""
    _require_file(path, "NATS-Bench file")
    with _read_errors(path, "NATS-Bench .pickle.pbz2 file"), open(path, "rb") as raw, \
            _tracked(raw, path.stat().st_size, path.name, progress) as compressed, \
            bz2.open(compressed, "rb") as stream:
        return _unpickle(stream, path, lean, trusted)


def _get(mapping, key, where: str):
    """``mapping[key]``; InputError naming where the missing key was expected."""
    if not isinstance(mapping, dict):
        raise InputError(f"{where}: expected a dict, found {type(mapping).__name__}")
    try:
        return mapping[key]
    except KeyError:
        shown = ", ".join(repr(k) for k in list(mapping)[:8])
        raise InputError(f"{where}: missing key {key!r} (has {shown})") from None


class _FinalNumbers:
    """Accumulates the final-epoch numbers of every architecture into (n,) arrays."""

    def __init__(self, n: int):
        self.n = n
        self.measured = np.zeros(n, dtype=bool)
        self.columns: dict[str, dict[str, np.ndarray]] = {}
        self.valid_seeds: dict[str, dict[int, np.ndarray]] = {ds: {} for ds in VALID_SOURCE}

    def _put(self, dataset: str, column: str, index: int, value: float) -> None:
        table = self.columns.setdefault(dataset, {})
        if column not in table:
            table[column] = np.full(self.n, np.nan)
        table[column][index] = value

    def add(self, index: int, record: dict, where: str) -> None:
        """Read one architecture's 200-epoch record (an ``ArchResults`` state dict)."""
        trials = _get(record, "all_results", where)
        seeds_of = _get(record, "dataset_seed", where)
        for ds, (run, split) in VALID_SOURCE.items():
            seeds = list(_get(seeds_of, run, f"{where} dataset_seed"))
            if not seeds:
                raise InputError(f"{where}: run {run!r} lists no seeds")
            valid, times, params, flops = [], [], [], []
            for seed in seeds:
                trial = _get(trials, (run, seed), f"{where} all_results")
                trial_where = f"{where} {run} seed {seed}"
                valid.append(_final_accuracy(trial, split, trial_where))
                self._seed_column(ds, seed)[index] = valid[-1]
                times.append(_train_time(trial, trial_where))
                params.append(float(_get(trial, "params", trial_where)))
                flops.append(float(_get(trial, "flop", trial_where)))
            test_run, test_split = TEST_SOURCE[ds]
            epochs = int(_get(trials[(run, seeds[0])], "epochs", where))
            self._put(ds, "valid_mean", index, np.mean(valid))
            self._put(ds, "test_mean", index, _seed_mean(trials, seeds_of, test_run, test_split, where))
            self._put(ds, "train_time_s", index, np.mean(times))
            self._put(ds, "time_per_epoch_s", index, np.mean(times) / epochs)
            self._put(ds, "params_mb", index, np.mean(params))
            self._put(ds, "flops_m", index, np.mean(flops))
        self._put("cifar10", "cifar10_valid_test_mean", index, _seed_mean(trials, seeds_of, *CIFAR10_VALID_TEST, where))
        self.measured[index] = True

    def _seed_column(self, dataset: str, seed: int) -> np.ndarray:
        columns = self.valid_seeds[dataset]
        if seed not in columns:
            columns[seed] = np.full(self.n, np.nan)
        return columns[seed]

    def tables(self, source: Path) -> dict[str, MetricTable]:
        if not self.measured.any():
            raise InputError(f"{source} holds no architecture results")
        tables = {}
        for ds in VALID_SOURCE:
            cols = dict(self.columns[ds])
            seeds = self.valid_seeds[ds]
            tables[ds] = MetricTable(
                valid_mean=cols.pop("valid_mean"), test_mean=cols.pop("test_mean"),
                train_time_s=cols.pop("train_time_s"),
                valid_seeds=np.stack([seeds[s] for s in sorted(seeds)], axis=1), extra=cols)
        return tables


def _final_accuracy(trial: dict, split: str, where: str) -> float:
    epochs = int(_get(trial, "epochs", where))
    return float(_get(_get(trial, "eval_acc1es", where), f"{split}@{epochs - 1}", f"{where} eval_acc1es"))


def _seed_mean(trials: dict, seeds_of: dict, run: str, split: str, where: str) -> float:
    seeds = _get(seeds_of, run, f"{where} dataset_seed")
    return float(np.mean([_final_accuracy(_get(trials, (run, s), f"{where} all_results"), split,
                                          f"{where} {run} seed {s}") for s in seeds]))


def _train_time(trial: dict, where: str) -> float:
    """Seconds to train all epochs (official ``train-all-time``); NaN when the file has no times."""
    times = _get(trial, "train_times", where)
    if times is None:
        return float("nan")
    epochs = int(_get(trial, "epochs", where))
    if isinstance(times, dict) and SERIES_TOTAL in times:  # already summed by the lean reader
        if times[SERIES_COUNT] != epochs:
            raise InputError(f"{where}: train_times covers {times[SERIES_COUNT]} epochs, expected {epochs}")
        return float(times[SERIES_TOTAL])
    return float(sum(_get(times, epoch, f"{where} train_times") for epoch in range(epochs)))


def _full_record(per_arch: dict, where: str) -> dict:
    for key in FULL_RUN_KEYS:
        if isinstance(per_arch, dict) and key in per_arch:
            return per_arch[key]
    return _get(per_arch, FULL_RUN_KEYS[0], where)  # raises the InputError naming what is there


def _check_meta_archs(meta_archs, source: Path) -> np.ndarray:
    if not isinstance(meta_archs, (list, tuple)) or len(meta_archs) != N_ARCHS:
        size = len(meta_archs) if isinstance(meta_archs, (list, tuple)) else type(meta_archs).__name__
        raise InputError(f"{source}: meta_archs has {size} entries, the NAS-Bench-201 topology space has "
                         f"{N_ARCHS} (is this a NATS size-space file?)")
    official = arch_strings()
    if list(meta_archs) != list(official):
        first = next(i for i, (a, b) in enumerate(zip(meta_archs, official)) if a != b)
        raise InputError(f"{source}: meta_archs[{first}] is {meta_archs[first]!r}, the official index order has "
                         f"{official[first]!r}")
    return np.asarray(meta_archs, dtype=str)


def _convert(meta_archs, records: Iterable[tuple[int, dict]], total: int, source: Path, label: str,
             progress: bool) -> Benchmark:
    from tqdm import tqdm

    strings = _check_meta_archs(meta_archs, source)
    numbers = _FinalNumbers(N_ARCHS)
    for index, per_arch in tqdm(records, total=total, desc=f"reading {source.name}", unit="arch",
                                disable=not progress):
        where = f"{source}: architecture {index}"
        if not isinstance(index, int) or not 0 <= index < N_ARCHS:
            raise InputError(f"{source}: architecture key {index!r} is not an index in 0..{N_ARCHS - 1}")
        record = _full_record(per_arch, where)
        arch_str = record.get("arch_str") if isinstance(record, dict) else None
        if arch_str is not None and arch_str != strings[index]:
            raise InputError(f"{where} is {arch_str!r} but meta_archs[{index}] is {strings[index]!r}")
        numbers.add(index, record, where)
    return Benchmark(space="nb201", arch_strings=strings, datasets=numbers.tables(source),
                     extra={"measured": numbers.measured}, source=f"{label} {source.name}")


def _drain(arch2infos: dict) -> Iterator[tuple[int, dict]]:
    """Yield and remove the records one by one, so each is freed once it has been read."""
    for index in sorted(arch2infos, key=lambda k: (not isinstance(k, int), str(k))):
        yield index, arch2infos.pop(index)


def _convert_whole(data, source: Path, label: str, progress: bool) -> Benchmark:
    where = f"{source} (top-level dict)"
    meta_archs = _get(data, "meta_archs", where)
    arch2infos = _get(data, "arch2infos", where)
    if not isinstance(arch2infos, dict):
        raise InputError(f"{where}: arch2infos is a {type(arch2infos).__name__}, expected a dict")
    data.clear()  # keep only arch2infos alive; it empties as it is read
    return _convert(meta_archs, _drain(arch2infos), len(arch2infos), source, label, progress)


def convert_pth(path: str | Path, progress: bool = False, lean: bool = True) -> Benchmark:
    """``NAS-Bench-201-v1_[01]-*.pth`` -> Benchmark (see the module docstring for the mapping).

    ``lean`` reads with :class:`_LeanUnpickler` (little memory, slower); ``lean=False`` with the
    C unpickler (fast, but the whole file's object tree is in memory at once).
    """
    path = Path(path)
    return _convert_whole(read_torch_pickle(path, lean, progress, trusted=not lean), path, "NAS-Bench-201", progress)


def convert_nats_file(path: str | Path, progress: bool = False, lean: bool = True) -> Benchmark:
    """``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (the single-file form) -> Benchmark; ``lean`` as in :func:`convert_pth`."""
    path = Path(path)
    return _convert_whole(read_bz2_pickle(path, lean, progress, trusted=not lean), path, "NATS-Bench tss", progress)


def _arch_files(directory: Path) -> dict[int, Path]:
    files = {}
    for path in directory.glob(f"*{PICKLE_EXT}"):
        stem = path.name[: -len(PICKLE_EXT)]
        if stem.isdigit():
            files[int(stem)] = path
    return files


def convert_nats_dir(directory: str | Path, progress: bool = False) -> Benchmark:
    """A ``NATS-tss-v1_0-3ffb9-simple/`` (or ``-full/``) directory -> Benchmark, one file at a time."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"NATS-Bench directory {directory} does not exist (or is not a directory)")
    meta = read_bz2_pickle(directory / f"meta{PICKLE_EXT}")
    files = _arch_files(directory)
    if not files:
        raise InputError(f"{directory} has no <index>{PICKLE_EXT} architecture files")
    records = ((index, read_bz2_pickle(files[index])) for index in sorted(files))
    return _convert(_get(meta, "meta_archs", f"{directory / ('meta' + PICKLE_EXT)}"), records, len(files),
                    directory, "NATS-Bench tss", progress)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m preprocessing.nb201_official",
        description="Convert the official NAS-Bench-201 .pth or NATS-Bench topology files into a compact "
                    ".npz table (final-epoch accuracies, train time, params) usable with --table. "
                    "The inputs are pickles and unpickling can run code: this converter only builds plain "
                    "data and refuses any other object, but only convert files from the official release.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pth", type=Path, help="NAS-Bench-201-v1_0-e61699.pth or NAS-Bench-201-v1_1-096897.pth")
    source.add_argument("--nats-dir", type=Path,
                        help="NATS-tss-v1_0-3ffb9-simple/ (or -full/) directory: meta.pickle.pbz2 + one file per "
                             "arch; the fastest and leanest input (read one arch at a time)")
    source.add_argument("--nats-file", type=Path, help="single-file NATS-tss-v1_0-3ffb9.pickle.pbz2")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output .npz (written atomically; default {DEFAULT_OUT})")
    parser.add_argument("--fast", action="store_true",
                        help="--pth/--nats-file only: read with the C unpickler (still allow-listed, but it cannot "
                             "check key nesting as it reads: use it on files you trust), 5-10x faster but holding the "
                             "whole file in memory (about 1.7 GiB per 1,000 architectures, ~26 GiB for v1_1); "
                             "the default lean reader needs about 1.4 GiB but takes about an hour")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.out.suffix != ".npz":
        raise InputError(f"--out {args.out} must end in .npz")
    progress = not args.no_progress
    try:
        if args.pth is not None:
            bench = convert_pth(args.pth, progress, lean=not args.fast)
        elif args.nats_dir is not None:
            bench = convert_nats_dir(args.nats_dir, progress)
        else:
            bench = convert_nats_file(args.nats_file, progress, lean=not args.fast)
    except RecursionError:  # data nested deeper than any official file (the big files are not walked)
        raise InputError("the input nests its data deeper than Python can process; it is not an official "
                         "NAS-Bench-201 / NATS-Bench file") from None
    bench.save(args.out)
    measured = int(bench.extra["measured"].sum())
    no_time = int(np.isnan(bench.metrics("cifar10").train_time_s[bench.extra["measured"]]).sum())
    print(f"wrote {args.out}: {measured}/{len(bench)} architectures with results "
          f"({', '.join(bench.datasets)}); {no_time} without train times; peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
