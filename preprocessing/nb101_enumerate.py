"""Enumerate the whole NAS-Bench-101 space (423,624 unique cells) and cache it as a compact ``.npz``.

The official generator (``nasbench/scripts/generate_graphs.py``) walks, for n = 2..7 vertices, every
upper-triangular bit pattern in increasing order, keeps the "full" DAGs (every vertex on an input ->
output path, i.e. already pruned) with at most 9 edges, hashes every labelling of the n - 2 middle
vertices in ``itertools.product`` order and keeps the first (matrix, labelling) seen per hash. That
takes ~10 minutes because it hashes all 1.27M labelled graphs one by one in Python.

Here the same set -- and the same representative per hash -- comes from:

1. vectorised full-DAG / edge-count filtering of all ``2^(n(n-1)/2)`` bit patterns (4,793 survive
   for n = 7);
2. symmetry reduction of the matrices: the adjacency code of every relabelling that fixes input and
   output ((n-2)! permutations) gives each matrix a canonical code; the first matrix in bit order
   of each class is the official representative, and its automorphisms (permutations leaving it
   unchanged) are the only relabellings that can map one of its labellings onto another;
3. symmetry reduction of the labellings: under the automorphism group, only the lexicographically
   smallest labelling of each orbit can be new (it is the one the official loop meets first);
4. hashing only these cells (exactly the isomorphism classes) with :func:`module_hashes`, a
   vectorised form of the official hash: per round, identical (in-neighbours, out-neighbours, self)
   hash tuples across all cells of a chunk are md5-ed once; chunks go to the executor's workers (:mod:`search_methods.executor`).

Storage (``data/nasbench101/nb101_space.npz``, rows sorted by hash; about 7 MB):

* ``hash_bytes`` (16, N) uint8: the md5 digests, byte-major so the sorted leading bytes compress;
* ``bits`` (N,) uint32: the official bit pattern, edge ``x -> y`` at bit ``x + y (y - 1) / 2``;
* ``labeling`` (N,) uint8: the middle labels as a base-3 number, first middle vertex most
  significant (``itertools.product`` index; labels 0 = conv3x3, 1 = conv1x1, 2 = maxpool);
* ``n_vertices`` (N,) uint8.

CLI: ``python -m preprocessing.nb101_enumerate [--out PATH] [--workers N] [--executor ray [--address HOST:PORT]]``.
"""
from __future__ import annotations

import argparse
import hashlib
import itertools
import time
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write, check_suffix
from preprocessing.nasbench101 import CANDIDATE_OPS, MAX_EDGES, MAX_VERTICES, PAD, Cell, op_codes_from_labels
from search_methods import executor

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "nasbench101" / "nb101_space.npz"
N_CELLS = 423_624  # unique cells of the official space (NAS-Bench-101 paper, generate_graphs.py)
CHUNK_CELLS = 20_000
DEDUPLICATE_BELOW = 0.5  # keep merging repeated hash tuples while under this fraction of them is distinct  # cells per hashing job: large enough for the per-round deduplication to pay off

try:  # CPython's built-in md5 is ~1.5x faster than OpenSSL's for short messages (less call overhead)
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - interpreters without the built-in module
    _md5 = hashlib.md5

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_N_LABELS = len(CANDIDATE_OPS)
_FINGERPRINT_WEIGHTS = np.random.default_rng(101).integers(1, 2**62, size=32, dtype=np.int64) | 1


# ---- the official representation of matrices -------------------------------------------------
def edge_bit(src: int, dst: int) -> int:
    """Bit of edge ``src -> dst`` (src < dst) in the official bit pattern (column-major, LSB first)."""
    return src + dst * (dst - 1) // 2


def matrices_from_bits(bits: np.ndarray, n: int) -> np.ndarray:
    """(M,) official bit patterns -> (M, n, n) uint8 upper-triangular adjacency matrices."""
    bits = np.asarray(bits, dtype=np.int64)
    matrices = np.zeros((len(bits), n, n), dtype=np.uint8)
    for dst in range(1, n):
        for src in range(dst):
            matrices[:, src, dst] = (bits >> edge_bit(src, dst)) & 1
    return matrices


def full_dag_bits(n: int, max_edges: int = MAX_EDGES) -> np.ndarray:
    """Ascending bit patterns of the n-vertex DAGs with every vertex on an input -> output path."""
    bits = np.arange(2 ** (n * (n - 1) // 2), dtype=np.int64)
    out_degree = np.zeros((len(bits), n), dtype=np.int8)
    in_degree = np.zeros((len(bits), n), dtype=np.int8)
    for dst in range(1, n):
        for src in range(dst):
            edge = ((bits >> edge_bit(src, dst)) & 1).astype(np.int8)
            out_degree[:, src] += edge
            in_degree[:, dst] += edge
    # in a DAG numbered topologically, "every non-output vertex has a successor and every non-input
    # vertex a predecessor" is exactly "every vertex lies on an input -> output path"
    full = (out_degree[:, :-1] > 0).all(1) & (in_degree[:, 1:] > 0).all(1) & (out_degree.sum(1) <= max_edges)
    return bits[full]


def _middle_permutations(n: int) -> np.ndarray:
    """(P, n) relabellings fixing input (0) and output (n-1); the identity comes first."""
    return np.array([(0,) + p + (n - 1,) for p in itertools.permutations(range(1, n - 1))], dtype=np.int64)


def _relabelled_codes(matrices: np.ndarray, permutations: np.ndarray) -> np.ndarray:
    """(M, P) int64 code of every relabelling ``B[i, j] = A[p[i], p[j]]`` of every matrix."""
    n = matrices.shape[1]
    weights = np.int64(1) << np.arange(n * n, dtype=np.int64)
    codes = np.empty((len(matrices), len(permutations)), dtype=np.int64)
    for k, p in enumerate(permutations):
        codes[:, k] = matrices[:, p][:, :, p].reshape(len(matrices), -1).astype(np.int64) @ weights
    return codes


def _labeling_digits(n_middle: int) -> np.ndarray:
    """(3^m, m) every middle labelling in itertools.product order (row index = labelling code)."""
    return np.array(list(itertools.product(range(_N_LABELS), repeat=n_middle)), dtype=np.int64).reshape(-1, n_middle)


def _labeling_codes(digits: np.ndarray) -> np.ndarray:
    powers = _N_LABELS ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
    return digits @ powers


def cell_classes(n: int, max_edges: int = MAX_EDGES) -> tuple[np.ndarray, np.ndarray]:
    """Official representatives of all labelled isomorphism classes with n vertices.

    Returns ``bits`` (C,) and ``labeling`` (C,) in the official generation order (bits, then
    labelling code, ascending): the first member of each class the official loop meets.
    """
    bits = full_dag_bits(n, max_edges)
    if n == 2 or len(bits) == 0:  # no middle vertices to relabel, or no DAG within the edge limit
        return bits, np.zeros(len(bits), dtype=np.int64)
    permutations = _middle_permutations(n)
    codes = _relabelled_codes(matrices_from_bits(bits, n), permutations)
    _, first = np.unique(codes.min(1), return_index=True)  # bits ascend, so first = smallest bits
    representatives = np.sort(first)
    automorphisms = codes[representatives] == codes[representatives, :1]
    digits = _labeling_digits(n - 2)
    group_patterns, group_of = np.unique(automorphisms, axis=0, return_inverse=True)
    orbit_minima = []  # per automorphism group: labelling codes that are the smallest of their orbit
    for pattern in group_patterns:
        group = permutations[pattern][:, 1:-1] - 1  # automorphisms acting on the middle vertices
        smallest = np.min([_labeling_codes(digits[:, p]) for p in group], axis=0)
        orbit_minima.append(np.flatnonzero(smallest == np.arange(len(digits))))
    out_bits, out_labels = [], []
    for rep, group in zip(representatives, group_of.ravel()):
        out_bits.append(np.full(len(orbit_minima[group]), bits[rep]))
        out_labels.append(orbit_minima[group])
    return np.concatenate(out_bits), np.concatenate(out_labels)


def labels_from_codes(labeling: np.ndarray, n: int) -> np.ndarray:
    """(M,) labelling codes -> (M, n) official hash labels (-1 input, middle 0..2, -2 output)."""
    labeling = np.asarray(labeling, dtype=np.int64)
    labels = np.empty((len(labeling), n), dtype=np.int64)
    labels[:, 0], labels[:, -1] = -1, -2
    for k in range(n - 2):
        labels[:, 1 + k] = (labeling // _N_LABELS ** (n - 3 - k)) % _N_LABELS
    return labels


# ---- vectorised official hash ------------------------------------------------------------------
def _hex(digests: np.ndarray) -> np.ndarray:
    """(T, 16) uint8 digests -> (T, 32) uint8 lowercase hex characters."""
    return _HEX_DIGITS[np.stack([digests >> 4, digests & 15], axis=-1)].reshape(len(digests), 32)


def _md5_rows(messages: np.ndarray) -> np.ndarray:
    """md5 of every row of a (U, L) uint8 message array -> (U, 16) uint8 (rows hold no NUL bytes)."""
    rows = np.ascontiguousarray(messages).view(f"S{messages.shape[1]}").ravel().tolist()
    return np.frombuffer(b"".join([_md5(row).digest() for row in rows]), dtype=np.uint8).reshape(len(rows), 16)


def _sort_order(digests: np.ndarray) -> np.ndarray:
    """Indices that sort digests the way Python sorts their hex strings (bytewise)."""
    words = np.ascontiguousarray(digests).view(">u8").reshape(-1, 2)
    order = np.argsort(words[:, 0])
    leading = words[order, 0]
    if (leading[1:] == leading[:-1]).any():  # equal first 8 bytes: let the second word decide
        order = np.lexsort((words[:, 1], words[:, 0]))
    return order


def _unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact unique rows of an int64 matrix: (unique rows, inverse), via a verified 64-bit fingerprint."""
    fingerprint = keys[:, 0] * _FINGERPRINT_WEIGHTS[0]
    for column in range(1, keys.shape[1]):
        fingerprint += keys[:, column] * _FINGERPRINT_WEIGHTS[column]  # wraps mod 2^64 on purpose
    _, first, inverse = np.unique(fingerprint, return_index=True, return_inverse=True)
    if not np.array_equal(keys[first][inverse], keys):  # a fingerprint collision merged distinct rows
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        return unique, inverse.ravel()
    return keys[first], inverse.ravel()


def _join(parts: list[np.ndarray], rows: int) -> np.ndarray:
    """Concatenate byte columns; a ``bytes`` part is broadcast to every row."""
    blocks = [np.broadcast_to(np.frombuffer(p, np.uint8), (rows, len(p))) if isinstance(p, bytes) else p for p in parts]
    return np.concatenate(blocks, axis=1)


def module_hashes(matrices: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Official module hashes of B pruned cells of one size: (B, n, n), (B, n) -> (B, 16) uint8 digests.

    Equal to :func:`preprocessing.nasbench101.module_hash_of` row by row; each round md5-s every
    distinct (sorted in-neighbour hashes, sorted out-neighbour hashes, own hash) tuple once.
    """
    matrices = np.asarray(matrices).astype(bool)
    labels = np.asarray(labels, dtype=np.int64)
    n_cells, n = labels.shape
    out_degree, in_degree = matrices.sum(2), matrices.sum(1)
    start_keys = np.stack([out_degree, in_degree, labels], axis=-1).reshape(-1, 3)
    start_unique, start_inverse = np.unique(start_keys, axis=0, return_inverse=True)
    table = np.frombuffer(
        b"".join(hashlib.md5(str(tuple(row)).encode()).digest() for row in start_unique.tolist()), np.uint8
    ).reshape(-1, 16)
    ids = start_inverse.reshape(n_cells, n)
    deduplicate = True
    for _ in range(n):
        order = _sort_order(table)
        rank = np.empty(len(table), dtype=np.int64)
        rank[order] = np.arange(len(table))
        hex_by_rank = _hex(table[order])
        ranks = rank[ids]
        absent = len(table)  # sorts after every real rank
        in_ranks = np.sort(np.where(matrices, ranks[:, :, None], absent), axis=1).transpose(0, 2, 1)
        out_ranks = np.sort(np.where(matrices, ranks[:, None, :], absent), axis=2)
        keys = np.concatenate([in_ranks, out_ranks, ranks[:, :, None]], axis=2).reshape(-1, 2 * n + 1)
        if deduplicate:
            unique, inverse = _unique_rows(keys)
            # once most tuples are distinct, finding the repeats costs more than md5-ing them
            deduplicate = len(unique) < DEDUPLICATE_BELOW * len(keys)
        else:
            unique, inverse = keys, np.arange(len(keys))
        n_in = (unique[:, :n] < absent).sum(1)
        n_out = (unique[:, n:2 * n] < absent).sum(1)
        new_table = np.empty((len(unique), 16), dtype=np.uint8)
        for a, b in set(zip(n_in.tolist(), n_out.tolist())):
            rows = np.flatnonzero((n_in == a) & (n_out == b))
            group = unique[rows]
            message = _join(
                [
                    hex_by_rank[group[:, :a]].reshape(len(rows), 32 * a),
                    b"|",
                    hex_by_rank[group[:, n:n + b]].reshape(len(rows), 32 * b),
                    b"|",
                    hex_by_rank[group[:, 2 * n]],
                ],
                len(rows),
            )
            new_table[rows] = _md5_rows(message)
        table, ids = new_table, inverse.reshape(n_cells, n)
    order = _sort_order(table)
    rank = np.empty(len(table), dtype=np.int64)
    rank[order] = np.arange(len(table))
    sorted_hex = _hex(table[order])[np.sort(rank[ids], axis=1)]  # (B, n, 32), str(sorted(hashes)) order
    parts: list = [b"['"]
    for v in range(n):
        parts += [sorted_hex[:, v], b"', '" if v < n - 1 else b"']"]
    return _md5_rows(_join(parts, n_cells))


def hex_strings(digests: np.ndarray) -> np.ndarray:
    """(B, 16) uint8 digests -> (B,) '<U32' hex strings."""
    return np.frombuffer(np.ascontiguousarray(_hex(digests)).tobytes(), dtype="S32").astype("U32")


def _hash_job(jobs: list, index: int) -> np.ndarray:
    n, bits, labeling = jobs[index]
    return module_hashes(matrices_from_bits(bits, n), labels_from_codes(labeling, n))


# ---- the enumeration --------------------------------------------------------------------------
@dataclass
class NB101SpaceTable:
    """Every unique NB101 cell: row i has hash ``hashes[i]`` (rows sorted by hash).

    ``bits``/``labeling``/``n_vertices`` are the official representative (see module docstring).
    """

    hashes: np.ndarray
    bits: np.ndarray
    labeling: np.ndarray
    n_vertices: np.ndarray

    def __len__(self) -> int:
        return len(self.hashes)

    def index_of(self, module_hash: str) -> int:
        """Row of a module hash; InputError when the hash is not an NB101 cell."""
        return int(self.indices_of([module_hash])[0])

    def indices_of(self, module_hashes) -> np.ndarray:
        """Rows of many module hashes (binary search: rows are sorted); InputError naming an unknown one."""
        wanted = np.asarray(module_hashes, dtype=str)
        rows = self.find(wanted)
        unknown = np.flatnonzero(rows < 0)
        if len(unknown):
            raise InputError(
                f"{len(unknown)} of {len(wanted)} hashes are not the module hash of any NB101 cell, "
                f"e.g. {str(wanted[unknown[0]])!r}"
            )
        return rows

    def find(self, module_hashes) -> np.ndarray:
        """Rows of many module hashes, -1 for a hash this table does not hold."""
        wanted = np.asarray(module_hashes, dtype=str)
        if len(self.hashes) == 0 or len(wanted) == 0:
            return np.full(len(wanted), -1, dtype=np.int64)
        rows = np.minimum(np.searchsorted(self.hashes, wanted), len(self.hashes) - 1)
        return np.where(self.hashes[rows] == wanted, rows, -1).astype(np.int64)

    def subset(self, rows) -> "NB101SpaceTable":
        """The table of the given rows (ascending, so the sub-table stays sorted by hash)."""
        rows = np.asarray(rows, dtype=np.int64)
        return NB101SpaceTable(hashes=self.hashes[rows], bits=self.bits[rows], labeling=self.labeling[rows],
                               n_vertices=self.n_vertices[rows])

    def padded_arrays(self, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """Padded array form of the given rows (all when None): (B, 7, 7) uint8, (B, 7) int8 op codes."""
        rows = np.arange(len(self)) if rows is None else np.atleast_1d(np.asarray(rows, dtype=np.int64))
        adjacency = np.zeros((len(rows), MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        op_codes = np.full((len(rows), MAX_VERTICES), PAD, dtype=np.int8)
        sizes = self.n_vertices[rows]
        for n in np.unique(sizes).tolist():
            picked = np.flatnonzero(sizes == n)
            adjacency[picked, :n, :n] = matrices_from_bits(self.bits[rows[picked]], n)
            labels = labels_from_codes(self.labeling[rows[picked]], n)
            op_codes[picked, :n] = op_codes_from_labels(labels)
        return adjacency, op_codes

    def cell(self, row: int) -> Cell:
        adjacency, op_codes = self.padded_arrays([row])
        return Cell.from_padded_arrays(adjacency[0], op_codes[0])


def enumerate_space(
    max_vertices: int = MAX_VERTICES, max_edges: int = MAX_EDGES,
    options: executor.ExecutorOptions = executor.ExecutorOptions(), progress: bool = True
) -> NB101SpaceTable:
    """All unique cells with at most ``max_vertices`` vertices and ``max_edges`` edges, sorted by hash.

    When two classes share a hash (the official hash would merge them), the first in official
    generation order is kept, as the official generator does; for the NB101 limits there is none.
    """
    jobs, sizes, bits, labeling = [], [], [], []
    for n in range(2, max_vertices + 1):
        class_bits, class_labels = cell_classes(n, max_edges)
        for start in range(0, len(class_bits), CHUNK_CELLS):
            jobs.append((n, class_bits[start:start + CHUNK_CELLS], class_labels[start:start + CHUNK_CELLS]))
        sizes.append(np.full(len(class_bits), n))
        bits.append(class_bits)
        labeling.append(class_labels)
    bar = tqdm(total=sum(len(job[1]) for job in jobs), desc="hashing NB101 cells", unit="cell", disable=not progress)
    digests: list = [None] * len(jobs)
    with executor.Executor(options, shared=jobs) as hashing:  # the chunks travel once per worker
        for index, result in hashing.map(_hash_job, range(len(jobs))):
            digests[index] = result
            bar.update(len(jobs[index][1]))
    bar.close()
    digests = np.concatenate(digests)
    order = _sort_order(digests)
    sorted_digests = digests[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (sorted_digests[1:] != sorted_digests[:-1]).any(1)
    # lexsort is stable, so within equal digests the earliest (official-order) cell comes first
    keep = order[new]
    return NB101SpaceTable(
        hashes=hex_strings(digests[keep]),
        bits=np.concatenate(bits)[keep].astype(np.uint32),
        labeling=np.concatenate(labeling)[keep].astype(np.uint8),
        n_vertices=np.concatenate(sizes)[keep].astype(np.uint8),
    )


def save_space(table: NB101SpaceTable, path: str | Path = DEFAULT_PATH) -> None:
    digests = np.frombuffer(bytes.fromhex("".join(table.hashes.tolist())), dtype=np.uint8).reshape(-1, 16)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                hash_bytes=np.ascontiguousarray(digests.T),
                bits=table.bits,
                labeling=table.labeling,
                n_vertices=table.n_vertices,
            )

    atomic_write(path, write)


def load_space(path: str | Path = DEFAULT_PATH) -> NB101SpaceTable:
    """The cached enumeration; InputError (with the rebuild command) when missing or corrupt."""
    path = Path(path)
    rebuild = "rebuild it with `python -m preprocessing.nb101_enumerate`"
    if not path.exists():
        raise InputError(f"NB101 space file {path} does not exist; {rebuild}")
    try:
        with np.load(path, allow_pickle=False) as z:
            hash_bytes, bits, labeling, n_vertices = (z[k] for k in ("hash_bytes", "bits", "labeling", "n_vertices"))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise InputError(f"NB101 space file {path} is corrupt ({exc}); {rebuild}") from None
    n = len(bits)
    if hash_bytes.shape != (16, n) or labeling.shape != (n,) or n_vertices.shape != (n,):
        raise InputError(f"NB101 space file {path} has inconsistent array shapes; {rebuild}")
    return NB101SpaceTable(
        hashes=hex_strings(hash_bytes.T), bits=bits, labeling=labeling, n_vertices=n_vertices
    )


@lru_cache(maxsize=1)
def default_space() -> NB101SpaceTable:
    """The shipped space table, loaded once per process (its arrays are read-only, so it can be shared)."""
    table = load_space(DEFAULT_PATH)
    for array in (table.hashes, table.bits, table.labeling, table.n_vertices):
        array.setflags(write=False)
    return table


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Enumerate all 423,624 NAS-Bench-101 cells and cache them.")
    parser.add_argument("--out", default=str(DEFAULT_PATH), help="output .npz path (default: %(default)s)")
    executor.add_arguments(parser)
    args = parser.parse_args(argv)
    options = executor.ExecutorOptions.from_args(args)
    check_suffix(args.out, ".npz")
    start = time.perf_counter()
    table = enumerate_space(options=options)
    elapsed = time.perf_counter() - start
    if len(table) != N_CELLS:
        raise RuntimeError(f"enumeration found {len(table)} unique cells, expected {N_CELLS}; not writing {args.out}")
    save_space(table, args.out)
    size = Path(args.out).stat().st_size
    print(f"{len(table)} unique cells in {elapsed:.1f} s with {args.workers} worker(s); wrote {args.out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
