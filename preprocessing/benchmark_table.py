"""The compact in-memory form of a tabular NAS benchmark, shared by every space and reader.

A :class:`Benchmark` holds, for ``n`` architectures identified by row id ``0..n-1``:

* ``arch_strings`` -- the architecture's canonical string (NB201: the official arch string, the
  row id being the official index; NB101: the official module hash), and
* one :class:`MetricTable` per dataset with validation / test accuracy in percent and simulated
  training time in seconds.

Every source (the embedded NB201 CSV, the official NB201 ``.pth`` / NATS files, NB101's
``nasbench_only108.tfrecord``, a user's own CSV) is converted into this one form, which is
saved as a single ``.npz`` and loads in milliseconds.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from preprocessing.errors import InputError
from preprocessing.io_utils import atomic_write, check_suffix


@dataclass
class MetricTable:
    """Metrics of every architecture on one dataset; arrays are aligned with the row ids.

    valid_mean:  (n,) seed-mean validation accuracy, percent -- the default search signal.
    test_mean:   (n,) seed-mean test accuracy, percent -- reporting only, never shown to a search.
    train_time_s:(n,) simulated cost of training the architecture once, seconds.
    valid_seeds: (n, s) per-seed validation accuracies, NaN where a seed is missing; s may be 0.
    extra:       further per-architecture columns (e.g. ``params_mb``, ``time_per_epoch_s``).
    """

    valid_mean: np.ndarray
    test_mean: np.ndarray
    train_time_s: np.ndarray
    valid_seeds: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.valid_mean)
        if self.valid_seeds.size == 0:
            self.valid_seeds = np.zeros((n, 0))
        for name in ("test_mean", "train_time_s"):
            if len(getattr(self, name)) != n:
                raise InputError(f"metric column {name} has {len(getattr(self, name))} rows, expected {n}")
        if self.valid_seeds.shape[0] != n:
            raise InputError(f"valid_seeds has {self.valid_seeds.shape[0]} rows, expected {n}")

    @property
    def n_seeds(self) -> np.ndarray:
        """(n,) number of per-seed values available for each architecture."""
        return np.isfinite(self.valid_seeds).sum(axis=1)


@dataclass
class Benchmark:
    """A tabular benchmark: ``arch_strings`` (n,) plus one :class:`MetricTable` per dataset."""

    space: str
    arch_strings: np.ndarray
    datasets: dict[str, MetricTable]
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        self.arch_strings = np.asarray(self.arch_strings, dtype=str)
        self._row_of: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.arch_strings)

    def row(self, arch_string: str) -> int:
        """Row id of an architecture string; InputError when the table does not have it."""
        if self._row_of is None:
            self._row_of = {s: i for i, s in enumerate(self.arch_strings.tolist())}
        try:
            return self._row_of[arch_string]
        except KeyError:
            raise InputError(f"architecture {arch_string!r} is not in this {self.space} table ({self.source})") from None

    def metrics(self, dataset: str) -> MetricTable:
        try:
            return self.datasets[dataset]
        except KeyError:
            raise InputError(
                f"dataset {dataset!r} is not in this {self.space} table; available: {', '.join(self.datasets)}"
            ) from None

    def reindexed(self, rows: np.ndarray, n: int, arch_strings) -> "Benchmark":
        """This table moved onto ``n`` rows (row ``rows[i]`` <- row ``i``), NaN where nothing lands.

        Used to align a table with a search space's keys (e.g. an NB101 table keyed by hash onto the
        rows of the enumerated space). Per-architecture arrays move along; ``extra['measured']``
        marks the rows that hold data.
        """
        rows = np.asarray(rows, dtype=np.int64)

        def move(arr: np.ndarray) -> np.ndarray:
            if arr.ndim == 0 or arr.shape[0] != len(self):
                return arr
            fill = np.nan if arr.dtype.kind == "f" else 0
            out = np.full((n,) + arr.shape[1:], fill, dtype=arr.dtype if arr.dtype.kind in "fb" else float)
            out[rows] = arr
            return out

        datasets = {ds: MetricTable(valid_mean=move(m.valid_mean), test_mean=move(m.test_mean),
                                    train_time_s=move(m.train_time_s), valid_seeds=move(m.valid_seeds),
                                    extra={k: move(v) for k, v in m.extra.items() if v.dtype.kind in "fiub"})
                    for ds, m in self.datasets.items()}
        measured = np.zeros(n, dtype=bool)
        measured[rows] = self.extra.get("measured", True)
        extra = {k: move(v) for k, v in self.extra.items() if v.dtype.kind in "fiub" and k != "measured"}
        extra["measured"] = measured
        return Benchmark(space=self.space, arch_strings=arch_strings, datasets=datasets, extra=extra, source=self.source)

    # ---- storage -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write one compressed ``.npz`` (atomically)."""
        check_suffix(path, ".npz", "benchmark table")
        arrays: dict[str, np.ndarray] = {
            "space": np.array(self.space),
            "source": np.array(self.source),
            "arch_strings": self.arch_strings,
        }
        for name, arr in self.extra.items():
            arrays[f"extra/{name}"] = arr
        for ds, mt in self.datasets.items():
            for col in ("valid_mean", "test_mean", "train_time_s", "valid_seeds"):
                arrays[f"ds/{ds}/{col}"] = getattr(mt, col)
            for name, arr in mt.extra.items():
                arrays[f"ds/{ds}/extra/{name}"] = arr

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> "Benchmark":
        path = Path(path)
        if not path.exists():
            raise InputError(f"benchmark file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise InputError(f"benchmark file {path} is corrupt or not a .npz table ({exc}); regenerate it") from None
        try:
            datasets: dict[str, dict] = {}
            for key, arr in data.items():
                if key.startswith("ds/"):
                    _, ds, rest = key.split("/", 2)
                    entry = datasets.setdefault(ds, {"extra": {}})
                    if rest.startswith("extra/"):
                        entry["extra"][rest[len("extra/"):]] = arr
                    else:
                        entry[rest] = arr
            extra = {k[len("extra/"):]: v for k, v in data.items() if k.startswith("extra/")}
            return cls(
                space=str(data["space"]),
                source=str(data["source"]),
                arch_strings=data["arch_strings"],
                datasets={ds: MetricTable(**cols) for ds, cols in datasets.items()},
                extra=extra,
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"benchmark file {path} lacks a required array ({exc}); regenerate it") from None


def load_cached(cache: Path | None, sources, parse) -> Benchmark:
    """``parse()``'s table, parsed once and then read from the ``.npz`` ``cache`` while it is newer than
    every file in ``sources`` (a stale or corrupt cache is rebuilt)."""
    fresh = cache is not None and cache.exists() and all(
        Path(p).exists() and cache.stat().st_mtime >= Path(p).stat().st_mtime for p in sources)
    if fresh:
        try:
            return Benchmark.load(cache)
        except InputError:
            pass  # a corrupt cache is rebuilt from the shipped files below
    bench = parse()
    if cache is not None:
        bench.save(cache)
    return bench
