"""NB101 TFRecord reader: CRC-32C, framing, protobuf metrics, conversion, errors, NASLib subset."""
from __future__ import annotations

import base64
import csv
import json
import struct
from pathlib import Path

import numpy as np
import pytest

import preprocessing.nb101_tfrecord as tfr
from preprocessing.benchmark_table import Benchmark
from preprocessing.errors import InputError
from preprocessing.nasbench101 import Cell
from preprocessing.nb101_enumerate import load_space

OFFICIAL_CSV = Path(__file__).resolve().parent.parent / "data" / "nasbench101" / "nb101_official_hashes.csv"


# ---- an independent writer of the official format -----------------------------------------------
def bitwise_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return (
        length
        + struct.pack("<I", masked(bitwise_crc32c(length)))
        + payload
        + struct.pack("<I", masked(bitwise_crc32c(payload)))
    )


def varint(value: int) -> bytes:
    out = b""
    while value >= 0x80:
        out += bytes([value & 0x7F | 0x80])
        value >>= 7
    return out + bytes([value])


def encode_metrics(evaluations, parameters: int, total_time: float) -> bytes:
    """Tiny ModelMetrics encoder (nasbench/lib/model_metrics.proto field numbers)."""
    out = b""
    for epoch, seconds, train, valid, test, path in evaluations:
        body = b"".join(bytes([field << 3 | 1]) + struct.pack("<d", v) for field, v in enumerate((epoch, seconds, train, valid, test), 1))
        body += bytes([6 << 3 | 2]) + varint(len(path)) + path.encode()
        out += bytes([1 << 3 | 2]) + varint(len(body)) + body
    return out + bytes([2 << 3]) + varint(parameters) + bytes([3 << 3 | 1]) + struct.pack("<d", total_time)


def official_modules(count: int):
    with open(OFFICIAL_CSV, newline="") as f:
        rows = list(csv.DictReader(f))[:count]
    return [(r["module_hash"], r["matrix_rowmajor"], r["ops"].replace("|", ","), int(r["trainable_parameters"])) for r in rows]


def run_metrics(module: int, run: int) -> tuple[float, float, float]:
    """(validation, test, training time) of a synthetic run."""
    return 0.8 + 0.01 * module + 0.001 * run, 0.7 + 0.01 * module - 0.001 * run, 1000.0 + 10 * module + run


def record(module_hash, adjacency, ops, parameters, epochs, valid, test, seconds) -> bytes:
    evaluations = [
        (0.0, 0.0, 0.1, 0.1, 0.1, ""),
        (epochs / 2, seconds / 2, 0.5, valid / 2, test / 2, "/ckpt/model.ckpt-1"),
        (float(epochs), seconds, 0.99, valid, test, "/ckpt/model.ckpt-2"),
    ]
    raw = base64.b64encode(encode_metrics(evaluations, parameters, seconds + 5)).decode()
    return json.dumps([module_hash, epochs, adjacency, ops, raw]).encode()


def dataset_payloads(n_modules: int = 5) -> list[bytes]:
    modules = official_modules(n_modules)
    payloads = []
    for run in range(3):  # runs of different modules interleaved, as in a real file
        for m, (h, adjacency, ops, params) in enumerate(modules):
            payloads.append(record(h, adjacency, ops, params, 108, *run_metrics(m, run)))
            if run == 0:
                payloads.append(record(h, adjacency, ops, params, 36, 0.5, 0.5, 300.0))  # skipped
    return payloads


def write_file(path: Path, payloads) -> Path:
    path.write_bytes(b"".join(frame(p) for p in payloads))
    return path


# ---- CRC-32C ----------------------------------------------------------------------------------
def test_crc32c_known_answers():
    assert tfr.crc32c(b"123456789") == 0xE3069283
    assert tfr.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4 test vectors
    assert tfr.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert tfr.crc32c(bytes(range(32))) == 0x46DD794E
    assert tfr.crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_crc32c_spans_match_bitwise_reference():
    rng = np.random.default_rng(0)
    buffer = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    starts = rng.integers(0, 1500, 40)
    lengths = rng.integers(0, 1500, 40)
    lengths[:6] = [0, 1, 2, 3, 4, 5]
    computed = tfr.crc32c_spans(buffer, starts, lengths)
    assert computed.tolist() == [bitwise_crc32c(buffer[s:s + n]) for s, n in zip(starts, lengths)]
    assert int(tfr.mask_crc(0x12345678)) == masked(0x12345678)


def test_writer_is_byte_exact(tmp_path):
    payloads = [b"", b"x", b"hello tfrecord" * 9]
    tfr.write_tfrecord(tmp_path / "a.tfrecord", payloads)
    assert (tmp_path / "a.tfrecord").read_bytes() == b"".join(frame(p) for p in payloads)


# ---- protobuf ---------------------------------------------------------------------------------
def test_metrics_decoding_and_encoding():
    evaluations = [(0.0, 0.0, 0.1, 0.11, 0.12, ""), (108.0, 1768.97, 1.0, 0.9305, 0.9242, "/m/model.ckpt-10")]
    data = encode_metrics(evaluations, 8555530, 2000.5)
    decoded, parameters = tfr.decode_model_metrics(data)
    assert parameters == 8555530
    assert [[e[k] for k in tfr._EVALUATION_FIELDS] for e in decoded] == [list(e[:5]) for e in evaluations]
    as_dicts = [dict(zip(tfr._EVALUATION_FIELDS + ("checkpoint_path",), e)) for e in evaluations]
    assert tfr.encode_model_metrics(as_dicts, 8555530, 2000.5) == data
    fields = tfr.parse_protobuf(data + bytes([7 << 3 | 5]) + struct.pack("<f", 1.5))  # unknown 32-bit field
    assert fields[7] == [1.5] and fields[2] == [8555530]
    for broken in (data[:-3], bytes([1 << 3 | 2, 50]), bytes([4 << 3 | 3])):
        with pytest.raises(ValueError):
            tfr.parse_protobuf(broken)


# ---- conversion -------------------------------------------------------------------------------
def test_convert_synthetic_file(tmp_path):
    path = write_file(tmp_path / "nb.tfrecord", dataset_payloads(5))
    bench = tfr.convert_tfrecord(path, progress=False)
    modules = official_modules(5)
    assert bench.space == "nb101" and bench.arch_strings.tolist() == [m[0] for m in modules]
    table = bench.metrics("cifar10")
    expected = np.array([[run_metrics(m, r) for r in range(3)] for m in range(5)])  # (module, run, metric)
    np.testing.assert_allclose(table.valid_seeds, 100 * expected[:, :, 0])
    np.testing.assert_allclose(table.valid_mean, 100 * expected[:, :, 0].mean(1))
    np.testing.assert_allclose(table.test_mean, 100 * expected[:, :, 1].mean(1))
    np.testing.assert_allclose(table.train_time_s, expected[:, :, 2].mean(1))
    assert bench.extra["trainable_parameters"].tolist() == [m[3] for m in modules]
    cells = [Cell.from_padded_arrays(a, o) for a, o in zip(bench.extra["adjacency"], bench.extra["op_codes"])]
    assert [c.module_hash() for c in cells] == [m[0] for m in modules]
    tfr.verify_hashes(bench)
    bench.save(tmp_path / "nb.npz")
    loaded = Benchmark.load(tmp_path / "nb.npz")
    np.testing.assert_array_equal(loaded.metrics("cifar10").valid_seeds, table.valid_seeds)
    np.testing.assert_array_equal(loaded.extra["op_codes"], bench.extra["op_codes"])


def test_records_straddling_chunks(tmp_path, monkeypatch):
    path = write_file(tmp_path / "nb.tfrecord", dataset_payloads(4))
    whole = tfr.convert_tfrecord(path, progress=False)
    monkeypatch.setattr(tfr, "CHUNK_BYTES", 97)
    pieces = tfr.convert_tfrecord(path, progress=False)
    assert pieces.arch_strings.tolist() == whole.arch_strings.tolist()
    np.testing.assert_array_equal(pieces.metrics("cifar10").valid_seeds, whole.metrics("cifar10").valid_seeds)


def test_verify_hashes_catches_a_wrong_spec(tmp_path):
    payloads = dataset_payloads(2)
    _, adjacency, ops, params = official_modules(2)[1]
    payloads.insert(0, record("f" * 32, adjacency, ops, params, 108, 0.9, 0.9, 1.0))  # right spec, wrong hash
    bench = tfr.convert_tfrecord(write_file(tmp_path / "nb.tfrecord", payloads), progress=False)
    with pytest.raises(InputError, match="f{32}"):
        tfr.verify_hashes(bench)


def _offsets(payloads) -> list[int]:
    return np.cumsum([0] + [len(frame(p)) for p in payloads]).tolist()


def test_corrupt_files_name_record_and_offset(tmp_path):
    payloads = dataset_payloads(3)
    data = bytearray(b"".join(frame(p) for p in payloads))
    offsets = _offsets(payloads)

    flipped = bytearray(data)
    flipped[offsets[4] + 20] ^= 0x01  # inside the JSON of record 4
    with pytest.raises(InputError, match=f"data CRC mismatch in record 4 at byte offset {offsets[4]}"):
        list(_read(tmp_path / "flip.tfrecord", bytes(flipped)))

    header = bytearray(data)
    header[offsets[2] + 9] ^= 0x10  # the length CRC of record 2
    with pytest.raises(InputError, match=f"length CRC mismatch in record 2 at byte offset {offsets[2]}"):
        list(_read(tmp_path / "header.tfrecord", bytes(header)))

    shorter = bytearray(data)
    shorter[offsets[2]] ^= 0x40  # record 2 claims 64 bytes less: the parse goes astray after it
    with pytest.raises(InputError, match=f"length CRC mismatch in record 2 at byte offset {offsets[2]}"):
        list(_read(tmp_path / "shorter.tfrecord", bytes(shorter)))

    huge = bytearray(data)
    huge[offsets[1] + 5] = 0x7F  # a corrupted length pointing far beyond the file
    with pytest.raises(InputError, match=f"length CRC mismatch in record 1 at byte offset {offsets[1]}"):
        list(_read(tmp_path / "huge.tfrecord", bytes(huge)))

    with pytest.raises(InputError, match=f"truncated: record 5 at byte offset {offsets[5]}"):
        list(_read(tmp_path / "short.tfrecord", bytes(data[: offsets[5] + 30])))


def _read(path: Path, content: bytes):
    path.write_bytes(content)
    return tfr.read_tfrecord(path)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"not json", "Expecting value"),
        (json.dumps(["ab", 108, "01", "input", "AAAA"]).encode(), "32 hex"),
        (json.dumps(["a" * 32, 108, "010", "input,output", ""]).encode(), "n x n"),
        (json.dumps(["a" * 32, 108, "0100", "input,conv9x9", ""]).encode(), "conv9x9"),
        (json.dumps(["a" * 32, 108, "0100", "input,output", "@@@"]).encode(), "base64"),
        (json.dumps(["a" * 32, 108, "0100", "input,output", ""]).encode(), "no evaluation_data"),
    ],
)
def test_undecodable_records(tmp_path, payload, message):
    payloads = dataset_payloads(1)[:1] + [payload]
    offset = _offsets(payloads)[1]
    with pytest.raises(InputError, match=f"record 1 at byte offset {offset}") as exc:
        tfr.convert_tfrecord(write_file(tmp_path / "bad.tfrecord", payloads), progress=False)
    assert message in str(exc.value)


def test_cli(tmp_path, capsys):
    good = write_file(tmp_path / "good.tfrecord", dataset_payloads(3))
    out = tmp_path / "cache" / "nb101.npz"
    tfr.main(["--tfrecord", str(good), "--out", str(out), "--verify-hashes", "--subset", "--quiet"])
    assert len(Benchmark.load(out)) == 3 and "3 modules (9 runs)" in capsys.readouterr().out

    content = bytearray(good.read_bytes())
    content[40] ^= 0xFF
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(content))
    out_bad = tmp_path / "bad.npz"
    with pytest.raises(SystemExit) as exc:
        tfr.main(["--tfrecord", str(bad), "--out", str(out_bad), "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not out_bad.exists() and list(tmp_path.glob(".bad.npz*")) == []
    with pytest.raises(SystemExit):
        tfr.main(["--tfrecord", str(tmp_path / "missing.tfrecord"), "--out", str(out_bad), "--quiet"])
    assert "does not exist" in capsys.readouterr().err


# ---- NASLib subset ----------------------------------------------------------------------------
def test_naslib_subset():
    bench = tfr.load_nb101_subset()
    table = bench.metrics("cifar10")
    assert bench.space == "nb101" and len(set(bench.arch_strings.tolist())) == len(bench)
    assert int(table.extra["csv_rows"].sum()) == 500 and len(bench) < 500  # isomorphic rows are merged
    assert np.isnan(table.test_mean).all() and np.isnan(table.train_time_s).all()
    assert ((table.n_seeds >= 1) & (table.n_seeds <= 3)).all()
    assert np.all((table.valid_mean > 50) & (table.valid_mean < 100))
    np.testing.assert_allclose(table.valid_mean, np.nanmean(table.valid_seeds, axis=1))
    space = load_space()
    for row in range(0, len(bench), 25):  # the stored spec is the module, and the module is in the space
        cell = Cell.from_padded_arrays(bench.extra["adjacency"][row], bench.extra["op_codes"][row])
        assert cell.module_hash() == bench.arch_strings[row]
        space.index_of(bench.arch_strings[row])
