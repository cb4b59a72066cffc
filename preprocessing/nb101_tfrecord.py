"""Convert the official ``nasbench_only108.tfrecord`` into a :class:`Benchmark` -- without TensorFlow.

File format (TFRecord, as written by TensorFlow): a sequence of records, each

    uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32)`` and CRC-32C (Castagnoli,
reflected polynomial 0x82F63B78). Each ``data`` is a UTF-8 JSON row
``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]``: the adjacency as n*n '0'/'1'
characters (row-major, the pruned official spec), the ops comma-separated, and ``raw_metrics`` a
base64 ``ModelMetrics`` protobuf (``nasbench/lib/model_metrics.proto``)::

    ModelMetrics   { repeated EvaluationData evaluation_data = 1; int32 trainable_parameters = 2;
                     double total_time = 3; }
    EvaluationData { double current_epoch = 1; double training_time = 2; double train_accuracy = 3;
                     double validation_accuracy = 4; double test_accuracy = 5; string checkpoint_path = 6; }

Each module has 3 records (3 training runs) at 108 epochs; ``evaluation_data`` holds the evaluations
at epochs 0, 54 and 108, and the one with the largest ``current_epoch`` is the final one the
official API reports. Records at other epoch budgets (``nasbench_full.tfrecord``) are skipped.

Output (``Benchmark``, space ``nb101``, one row per module, in file order): ``arch_strings`` = module
hashes; dataset ``cifar10``: ``valid_seeds`` (n, 3) final validation accuracy of each run in
percent, ``valid_mean`` / ``test_mean`` their means, ``train_time_s`` the mean final training
time, ``extra['test_seeds']``; ``Benchmark.extra``: ``trainable_parameters`` (n,), ``adjacency``
(n, 7, 7) uint8 and ``op_codes`` (n, 7) int8 in the padded array form of
:mod:`preprocessing.nasbench101`, enough to rebuild every cell.

The reader streams the file in 8 MB chunks and checks both CRCs of every record with a
table-driven CRC-32C vectorised over all records of a chunk (slicing-by-4). Any wrong CRC,
truncation or undecodable record is an InputError naming the record number and byte offset.

Memory (measured with ``python -m benchmarks.bench_nb101_tfrecord --records N``, peak RSS of the
converter process): 54 MB for a synthetic 20,000-record file (6,667 modules x 3 runs; ~40 MB of it
is the interpreter with numpy), 88 MB for 200,000 records (66,667 modules). Only per-module facts
are kept (~0.6 kB per module: hash key, 56 bytes of spec, 3 runs x 3 doubles, and the final
arrays), so the full 1.27M-record file extrapolates to about 300 MB; the file itself is never
held in memory (8 MB chunks).

CLI: ``python -m preprocessing.nb101_tfrecord --tfrecord data/nasbench_only108.tfrecord --out data/cache/nb101.npz``.

:func:`load_nb101_subset` turns the shipped 500-cell NASLib subset into a Benchmark too.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import csv
import gzip
import json
import struct
from array import array
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from preprocessing.benchmark_table import Benchmark, MetricTable
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write, check_suffix
from preprocessing.nasbench101 import MAX_VERTICES, OPS, PAD, Cell, hash_labels, padded_arrays

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "nasbench101"
SUBSET_CSV = DATA_DIR / "nb101_subset500_naslib.csv.gz"
EPOCHS = 108
# What the official nasbench_only108.tfrecord holds: every unique module, 3 training runs each at 108 epochs.
OFFICIAL_MODULES = 423_624
OFFICIAL_RUNS = 3
CHUNK_BYTES = 8 << 20
_HEADER = 12  # uint64 length + uint32 masked CRC of the length
_MASK_DELTA = 0xA282EAD8
_OP_CODE = {op: code for code, op in enumerate(OPS)}


# ---- CRC-32C ----------------------------------------------------------------------------------
def _crc_tables() -> np.ndarray:
    """(4, 256) uint32 slicing-by-4 tables for the reflected Castagnoli polynomial."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1).astype(np.uint32)
    tables = [table]
    for _ in range(3):
        previous = tables[-1]
        tables.append((previous >> 8) ^ table[previous & 0xFF])
    return np.stack(tables)


_CRC = _crc_tables()


def crc32c_spans(buffer: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of ``buffer[start:start + length]`` for many spans at once -> (K,) uint32.

    Every step advances all spans that still have 4 bytes left by one little-endian word, so the
    Python loop runs about ``4 * max(length) / 4`` times (once per word, per start alignment)
    whatever the number of spans; the words are read through zero-copy views of the buffer.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n_words = lengths // 4
    crc = np.full(len(starts), 0xFFFFFFFF, dtype=np.uint32)
    for alignment in range(4):
        rows = np.flatnonzero((starts % 4 == alignment) & (n_words > 0))
        if len(rows) == 0:
            continue
        words = np.frombuffer(buffer, "<u4", count=(len(buffer) - alignment) // 4, offset=alignment)
        rows = rows[np.argsort(-n_words[rows], kind="stable")]  # longest first: active spans are a prefix
        first_word = (starts[rows] - alignment) // 4
        remaining = n_words[rows]
        active = np.searchsorted(-remaining, -np.arange(int(remaining[0])), side="left")  # spans with > w words
        group = crc[rows]
        for w in range(int(remaining[0])):
            k = active[w]
            c = group[:k] ^ words[first_word[:k] + w]
            group[:k] = _CRC[3][c & 0xFF] ^ _CRC[2][(c >> 8) & 0xFF] ^ _CRC[1][(c >> 16) & 0xFF] ^ _CRC[0][c >> 24]
        crc[rows] = group
    data = np.frombuffer(buffer, dtype=np.uint8)
    for t in range(3):  # the 0..3 bytes after the last whole word
        rows = np.flatnonzero(lengths % 4 > t)
        c = crc[rows] ^ data[starts[rows] + 4 * n_words[rows] + t]
        crc[rows] = _CRC[0][c & 0xFF] ^ (crc[rows] >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


def crc32c(data: bytes) -> int:
    """CRC-32C of one byte string."""
    return int(crc32c_spans(data, np.array([0]), np.array([len(data)]))[0])


def mask_crc(crc: np.ndarray | int) -> np.ndarray:
    """TFRecord's CRC masking (so that CRCs of CRC-carrying data stay well distributed)."""
    crc = np.asarray(crc, dtype=np.uint32)
    rotated = ((crc >> np.uint32(15)) | (crc << np.uint32(17))).astype(np.uint64)
    return ((rotated + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


# ---- TFRecord framing -------------------------------------------------------------------------
def _framed(payloads: list[bytes]) -> bytes:
    """TFRecord bytes of a batch of payloads (CRCs of the whole batch computed at once)."""
    lengths = np.array([len(p) for p in payloads], dtype=np.int64)
    length_fields = np.asarray(lengths, dtype="<u8").tobytes()
    length_crcs = mask_crc(crc32c_spans(length_fields, 8 * np.arange(len(payloads)), np.full(len(payloads), 8)))
    data_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    data_crcs = mask_crc(crc32c_spans(b"".join(payloads), data_starts, lengths))
    return b"".join(
        length_fields[8 * k:8 * k + 8] + struct.pack("<I", int(length_crcs[k])) + payload + struct.pack("<I", int(data_crcs[k]))
        for k, payload in enumerate(payloads)
    )


def write_tfrecord(path: str | Path, payloads, batch: int = 10_000) -> None:
    """Write byte strings as a TFRecord file (atomically); used to build fixtures and synthetic files."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            pending: list[bytes] = []
            for payload in payloads:
                pending.append(payload)
                if len(pending) == batch:
                    f.write(_framed(pending))
                    pending = []
            if pending:
                f.write(_framed(pending))

    atomic_write(path, write)


def _u32_at(data: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Little-endian uint32 values starting at the given byte positions of a uint8 array."""
    words = np.zeros(len(positions), dtype=np.uint32)
    for k in range(4):
        words |= data[positions + k].astype(np.uint32) << np.uint32(8 * k)
    return words


def _check_crcs(buffer: bytes, base: int, first_index: int, starts: np.ndarray, lengths: np.ndarray) -> None:
    """Verify the length CRC and the data CRC of every complete record of a chunk."""
    data = np.frombuffer(buffer, dtype=np.uint8)
    for what, stored, computed in (
        ("length", _u32_at(data, starts + 8), mask_crc(crc32c_spans(buffer, starts, np.full(len(starts), 8)))),
        ("data", _u32_at(data, starts + _HEADER + lengths), mask_crc(crc32c_spans(buffer, starts + _HEADER, lengths))),
    ):
        bad = np.flatnonzero(stored != computed)
        if len(bad):
            k = int(bad[0])
            raise InputError(
                f"TFRecord {what} CRC mismatch in record {first_index + k} at byte offset {base + int(starts[k])}; "
                "the file is corrupt -- download it again"
            )


def read_tfrecord(path: str | Path, progress: bool = False) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(record number, byte offset, data)`` of every record, CRC-checked, streaming.

    InputError on a wrong CRC or a truncated file, naming the record number and byte offset.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"TFRecord file {path} does not exist")
    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}", disable=not progress)
    with open(path, "rb") as f:
        buffer, base, index = b"", 0, 0
        while True:
            chunk = f.read(CHUNK_BYTES)
            buffer += chunk
            starts, lengths, p = [], [], 0
            while p + _HEADER <= len(buffer):
                length = struct.unpack_from("<Q", buffer, p)[0]
                if p + _HEADER + length + 4 > len(buffer):
                    # trust a length that reaches beyond the buffer only once its own CRC checks out
                    if mask_crc(crc32c(buffer[p:p + 8])) != struct.unpack_from("<I", buffer, p + 8)[0]:
                        # an earlier record with a corrupt length may have led the parse astray: name it first
                        _check_crcs(buffer, base, index, np.array(starts, np.int64), np.array(lengths, np.int64))
                        raise InputError(
                            f"TFRecord length CRC mismatch in record {index + len(starts)} at byte offset {base + p}; "
                            "the file is corrupt -- download it again"
                        )
                    break
                starts.append(p)
                lengths.append(length)
                p += _HEADER + length + 4
            starts_array, lengths_array = np.array(starts, dtype=np.int64), np.array(lengths, dtype=np.int64)
            _check_crcs(buffer, base, index, starts_array, lengths_array)
            for s, n in zip(starts, lengths):
                yield index, base + s, buffer[s + _HEADER:s + _HEADER + n]
                index += 1
            bar.update(p)
            buffer, base = buffer[p:], base + p
            if not chunk:
                break
    bar.close()
    if buffer:
        raise InputError(
            f"TFRecord file {path} is truncated: record {index} at byte offset {base} is incomplete "
            f"({len(buffer)} bytes left); download it again"
        )


# ---- protobuf wire format ---------------------------------------------------------------------
def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("varint runs past the end of the message")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def parse_protobuf(data: bytes) -> dict[int, list]:
    """Decode one protobuf message into ``{field number: [raw values]}``.

    Varints come back as int, 64-bit fields as float (all of ours are doubles), 32-bit fields
    as float, length-delimited fields as bytes. ValueError on malformed input.
    """
    fields: dict[int, list] = {}
    pos, end = 0, len(data)
    while pos < end:
        key = data[pos]  # one-byte keys and lengths are the common case: skip the varint call
        pos += 1
        if key >= 0x80:
            key, pos = _varint(data, pos - 1)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ValueError("protobuf field number 0 is invalid")
        if wire_type == 1:
            if pos + 8 > end:
                raise ValueError(f"64-bit field {number} runs past the end of the message")
            value = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        elif wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise ValueError(f"length-delimited field {number} runs past the end of the message")
            value = data[pos:pos + size]
            pos += size
        elif wire_type == 5:
            if pos + 4 > end:
                raise ValueError(f"32-bit field {number} runs past the end of the message")
            value = _FLOAT.unpack_from(data, pos)[0]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type} (field {number})")
        if number in fields:
            fields[number].append(value)
        else:
            fields[number] = [value]
    return fields


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int32 values are encoded as 10-byte two's complement
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_EVALUATION_FIELDS = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy")


def encode_model_metrics(evaluations: list[dict], trainable_parameters: int, total_time: float | None = None) -> bytes:
    """Serialise a ``ModelMetrics`` message (the inverse of :func:`decode_model_metrics`).

    ``evaluations``: dicts with the five double fields (and optionally ``checkpoint_path``).
    """
    out = bytearray()
    for evaluation in evaluations:
        body = bytearray()
        for number, name in enumerate(_EVALUATION_FIELDS, start=1):
            if name in evaluation:
                body += bytes([number << 3 | 1]) + struct.pack("<d", evaluation[name])
        if "checkpoint_path" in evaluation:
            path = evaluation["checkpoint_path"].encode()
            body += bytes([6 << 3 | 2]) + _encode_varint(len(path)) + path
        out += bytes([1 << 3 | 2]) + _encode_varint(len(body)) + body
    out += bytes([2 << 3 | 0]) + _encode_varint(trainable_parameters)
    if total_time is not None:
        out += bytes([3 << 3 | 1]) + struct.pack("<d", total_time)
    return bytes(out)


def decode_model_metrics(data: bytes) -> tuple[list[dict], int]:
    """``ModelMetrics`` bytes -> (evaluations as dicts of the five doubles, trainable_parameters)."""
    fields = parse_protobuf(data)
    evaluations = []
    for raw in fields.get(1, []):
        if not isinstance(raw, bytes):
            raise ValueError("evaluation_data (field 1) must be length-delimited")
        sub = parse_protobuf(raw)
        evaluations.append({name: float(sub[k][-1]) for k, name in enumerate(_EVALUATION_FIELDS, 1) if k in sub})
    parameters = fields.get(2, [0])[-1]
    if not isinstance(parameters, int):
        raise ValueError("trainable_parameters (field 2) must be a varint")
    if parameters >= 1 << 63:  # int32 stored as a 64-bit two's complement varint
        parameters -= 1 << 64
    return evaluations, parameters


# ---- conversion -------------------------------------------------------------------------------
_BITS = bytes.maketrans(b"01", b"\x00\x01")


def _parse_spec(raw_adjacency: str, raw_operations: str) -> tuple[bytes, bytes]:
    """Official spec strings -> padded (49 bytes adjacency, 7 bytes op codes); ValueError when malformed."""
    n = int(round(len(raw_adjacency) ** 0.5))
    if n * n != len(raw_adjacency) or not 2 <= n <= MAX_VERTICES:
        raise ValueError(f"adjacency string of length {len(raw_adjacency)} is not an n x n matrix with 2 <= n <= 7")
    if not set(raw_adjacency) <= {"0", "1"}:
        raise ValueError("adjacency string must hold only '0' and '1'")
    rows = [raw_adjacency[i * n:(i + 1) * n] for i in range(n)]
    if any("1" in row[: i + 1] for i, row in enumerate(rows)):
        raise ValueError("adjacency must be strictly upper triangular")
    ops = raw_operations.split(",")
    if len(ops) != n:
        raise ValueError(f"{len(ops)} operations for a {n}x{n} adjacency")
    try:
        codes = bytes(_OP_CODE[op] for op in ops)
    except KeyError as exc:
        raise ValueError(f"unknown operation {exc.args[0]!r}") from None
    padding = MAX_VERTICES - n
    adjacency = b"".join(row.encode().translate(_BITS) + bytes(padding) for row in rows) + bytes(MAX_VERTICES * padding)
    return adjacency, codes + bytes([PAD & 0xFF]) * padding


class _Accumulator:
    """Per-module fixed facts and per-run final metrics, in compact typed arrays (low memory)."""

    def __init__(self) -> None:
        self.row_of: dict[str, int] = {}
        self.hashes: list[str] = []
        self.adjacency = bytearray()
        self.op_codes = bytearray()
        self.parameters = array("q")
        self.run_row = array("q")
        self.run_metrics = array("d")  # validation %, test %, training time s per run

    def add(self, module_hash: str, spec: tuple[bytes, bytes] | None, parameters: int, final: dict) -> None:
        row = self.row_of.get(module_hash)
        if row is None:
            row = self.row_of[module_hash] = len(self.hashes)
            self.hashes.append(module_hash)
            self.adjacency += spec[0]
            self.op_codes += spec[1]
            self.parameters.append(parameters)
        self.run_row.append(row)
        self.run_metrics.extend(
            (100.0 * final["validation_accuracy"], 100.0 * final["test_accuracy"], final["training_time"])
        )

    def to_benchmark(self, source: str) -> Benchmark:
        n = len(self.hashes)
        if n == 0:
            raise InputError(f"{source} holds no {EPOCHS}-epoch records; is it nasbench_only108.tfrecord?")
        rows = np.frombuffer(self.run_row, dtype=np.int64)
        metrics = np.frombuffer(self.run_metrics, dtype=np.float64).reshape(-1, 3)
        run_index = np.zeros(len(rows), dtype=np.int64)  # k-th run of its module
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=n)
        run_index[order] = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        per_run = np.full((3, n, max(3, int(counts.max()))), np.nan)
        per_run[:, rows, run_index] = metrics.T
        valid, test, seconds = per_run
        table = MetricTable(
            valid_mean=np.nanmean(valid, axis=1),
            test_mean=np.nanmean(test, axis=1),
            train_time_s=np.nanmean(seconds, axis=1),
            valid_seeds=valid,
            extra={"test_seeds": test},
        )
        return Benchmark(
            space="nb101",
            arch_strings=np.array(self.hashes),
            datasets={"cifar10": table},
            extra={
                "trainable_parameters": np.frombuffer(self.parameters, dtype=np.int64).copy(),
                "adjacency": np.frombuffer(bytes(self.adjacency), np.uint8).reshape(n, MAX_VERTICES, MAX_VERTICES),
                "op_codes": np.frombuffer(bytes(self.op_codes), np.int8).reshape(n, MAX_VERTICES),
            },
            source=source,
        )


def check_official(benchmark: Benchmark, path) -> None:
    """InputError unless ``benchmark`` holds what the official nasbench_only108.tfrecord holds: 423,624
    modules with 3 runs each. A file cut exactly at a record boundary passes every framing and CRC check,
    so only these counts can tell it is shorter than the official one."""
    n_seeds = benchmark.metrics("cifar10").n_seeds
    records = int(n_seeds.sum())
    expected = OFFICIAL_MODULES * OFFICIAL_RUNS
    short = int((n_seeds < OFFICIAL_RUNS).sum())
    if len(benchmark) != OFFICIAL_MODULES or short or records != expected:
        raise InputError(
            f"{path} holds {len(benchmark):,} modules in {records:,} {EPOCHS}-epoch records ({short:,} modules with "
            f"fewer than {OFFICIAL_RUNS} runs); the official nasbench_only108.tfrecord has {OFFICIAL_MODULES:,} modules "
            f"x {OFFICIAL_RUNS} runs = {expected:,} records, so this file is shorter than the official one (truncated "
            f"at a record boundary?): download it again, or pass --subset if it is a subset on purpose")


def convert_tfrecord(path: str | Path, progress: bool = True) -> Benchmark:
    """Stream an NB101 TFRecord into a Benchmark (one row per module, 108-epoch runs); see
    :func:`check_official` for the completeness check of the official file."""
    accumulator = _Accumulator()
    for index, offset, data in read_tfrecord(path, progress=progress):
        try:
            module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = json.loads(data.decode("utf-8"))
            if epochs != EPOCHS:
                continue
            if not (isinstance(module_hash, str) and len(module_hash) == 32):
                raise ValueError(f"module hash {module_hash!r} is not 32 hex characters")
            spec = None if module_hash in accumulator.row_of else _parse_spec(raw_adjacency, raw_operations)
            evaluations, parameters = decode_model_metrics(base64.b64decode(raw_metrics, validate=True))
            if not evaluations:
                raise ValueError("ModelMetrics has no evaluation_data")
            final = max(evaluations, key=lambda e: e.get("current_epoch", -1.0))
            missing = {"validation_accuracy", "test_accuracy", "training_time"} - final.keys()
            if missing:
                raise ValueError(f"final evaluation lacks {', '.join(sorted(missing))}")
        except (ValueError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
            raise InputError(f"{path}: cannot decode record {index} at byte offset {offset}: {exc}") from None
        accumulator.add(module_hash, spec, parameters, final)
    return accumulator.to_benchmark(source=str(path))


def verify_hashes(benchmark: Benchmark) -> None:
    """Recompute every module hash from its stored spec; InputError on the first mismatch."""
    from preprocessing.nb101_enumerate import hex_strings, module_hashes

    adjacency, op_codes = benchmark.extra["adjacency"], benchmark.extra["op_codes"]
    sizes = (op_codes != PAD).sum(1)
    for n in np.unique(sizes).tolist():
        rows = np.flatnonzero(sizes == n)
        computed = hex_strings(module_hashes(adjacency[rows, :n, :n], hash_labels(op_codes[rows, :n])))
        bad = np.flatnonzero(computed != benchmark.arch_strings[rows])
        if len(bad):
            row = int(rows[bad[0]])
            raise InputError(
                f"module {benchmark.arch_strings[row]} (row {row}) has a spec whose hash is {computed[bad[0]]}; "
                "the file is not a valid NAS-Bench-101 table"
            )


def load_nb101_subset(path: str | Path = SUBSET_CSV) -> Benchmark:
    """The shipped NASLib subset as a Benchmark (dataset ``cifar10``), one row per module.

    The CSV has 500 rows but only 292 distinct modules: NASLib sampled unpruned 7x7 matrices, and
    many prune to the same cell (56 rows are plain input -> output). Each CSV row is ONE of the
    3 runs after 108 epochs (NASLib's ``query`` picks a run at random), so the distinct values seen
    for a module are distinct runs: ``valid_seeds`` (292, 3) holds them in file order (NaN where
    fewer runs were seen) and ``valid_mean`` is their mean. The subset has no test accuracy or
    training time: ``test_mean`` and ``train_time_s`` are NaN. Per-dataset ``extra``: ``params_M``,
    ``flops_M`` of the module's first CSV row (NASLib measured its PyTorch re-implementation on the
    unpruned matrix; 3 modules differ by < 1 % between rows) and ``csv_rows`` (rows per module).
    ``Benchmark.extra``: ``adjacency`` / ``op_codes`` of the pruned cell (padded array form).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"NB101 subset {path} is missing; restore data/ from the repository")
    modules: dict[str, dict] = {}
    with gzip.open(path, "rt", newline="") as f:
        reader = csv.DictReader(f)
        expected = ["matrix_rowmajor", "ops", "val_accuracy_108ep_one_run", "params_M", "flops_M"]
        if reader.fieldnames != expected:
            raise InputError(f"{path}: unexpected header {reader.fieldnames}; restore data/ from the repository")
        for line, row in enumerate(reader, start=2):
            ops = row["ops"].split("|")
            bits = row["matrix_rowmajor"]
            if len(bits) != len(ops) ** 2 or set(bits) - {"0", "1"}:
                raise InputError(f"{path} line {line}: matrix_rowmajor must be {len(ops)}x{len(ops)} 0/1 characters")
            cell = Cell(np.array([int(b) for b in bits]).reshape(len(ops), len(ops)), ops).validate()
            entry = modules.setdefault(
                cell.module_hash(),
                {"cell": cell, "runs": [], "rows": 0, "params": float(row["params_M"]), "flops": float(row["flops_M"])},
            )
            entry["rows"] += 1
            value = float(row["val_accuracy_108ep_one_run"])
            if value not in entry["runs"]:
                entry["runs"].append(value)
    if not modules:
        raise InputError(f"NB101 subset {path} has no rows; restore data/ from the repository")
    entries = list(modules.values())
    width = max(len(e["runs"]) for e in entries)
    valid_seeds = np.full((len(entries), width), np.nan)
    for row, entry in enumerate(entries):
        valid_seeds[row, : len(entry["runs"])] = entry["runs"]
    adjacency, op_codes = padded_arrays([e["cell"] for e in entries])
    missing = np.full(len(entries), np.nan)
    table = MetricTable(
        valid_mean=np.nanmean(valid_seeds, axis=1),
        test_mean=missing,
        train_time_s=missing.copy(),
        valid_seeds=valid_seeds,
        extra={
            "params_M": np.array([e["params"] for e in entries]),
            "flops_M": np.array([e["flops"] for e in entries]),
            "csv_rows": np.array([e["rows"] for e in entries]),
        },
    )
    return Benchmark(
        space="nb101",
        arch_strings=np.array(list(modules)),
        datasets={"cifar10": table},
        extra={"adjacency": adjacency, "op_codes": op_codes},
        source=str(path),
    )


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description="Convert the official NAS-Bench-101 nasbench_only108.tfrecord into a benchmark .npz "
        "(no TensorFlow needed)."
    )
    parser.add_argument("--tfrecord", required=True, help="path of nasbench_only108.tfrecord")
    parser.add_argument("--out", required=True, help="output .npz path (written atomically)")
    parser.add_argument("--subset", action="store_true",
                        help="the file is deliberately not the whole official one (a test or benchmark file): skip the "
                             "check that it holds all 423,624 modules x 3 runs")
    parser.add_argument(
        "--verify-hashes",
        action="store_true",
        help="recompute every module hash from its spec and fail on a mismatch (about a minute)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    check_suffix(args.out, ".npz")
    benchmark = convert_tfrecord(args.tfrecord, progress=not args.quiet)
    if not args.subset:
        check_official(benchmark, args.tfrecord)
    if args.verify_hashes:
        verify_hashes(benchmark)
    benchmark.save(args.out)
    n_seeds = benchmark.metrics("cifar10").n_seeds
    print(f"{len(benchmark)} modules ({int(n_seeds.sum())} runs) -> {args.out}")


if __name__ == "__main__":
    main()
