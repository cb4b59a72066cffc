"""Peak memory and speed of the NB101 TFRecord converter on a synthetic file in the official format.

Writes ``--records`` records (3 runs per module, real cells from the enumerated space, metrics
serialised like the official ``ModelMetrics``) to a temporary folder from a child process, runs the
converter CLI in another child and reports its wall time and peak RSS (``wait4`` of that child; the
parent stays smaller than the converter, so the forked image does not inflate the figure). As the in-process baseline it checks the
data CRCs of the same file with a byte-at-a-time table CRC-32C loop (the straightforward
implementation) and prints the speed-up of the vectorised CRC.

    python -m benchmarks.bench_nb101_tfrecord [--records 20000]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from preprocessing.nb101_enumerate import load_space
from preprocessing.nb101_tfrecord import _CRC, crc32c_spans, encode_model_metrics, read_tfrecord, write_tfrecord


def synthetic_payloads(n_records: int, rng: np.random.Generator):
    space = load_space()
    rows = rng.choice(len(space), size=(n_records + 2) // 3, replace=False)
    for k in range(n_records):
        if k % 3 == 0:  # 3 consecutive runs per module
            cell = space.cell(int(rows[k // 3]))
            matrix = "".join(str(b) for b in cell.matrix.ravel().tolist())
        evaluations = [
            {"current_epoch": float(e), "training_time": 15.0 * e, "train_accuracy": rng.random(),
             "validation_accuracy": rng.random(), "test_accuracy": rng.random(),
             "checkpoint_path": f"/tmp/model_dir/{k}/model.ckpt-{e * 390}"}
            for e in (0, 54, 108)
        ]
        raw = base64.b64encode(encode_model_metrics(evaluations, int(rng.integers(1e5, 3e7)), 1800.0)).decode()
        yield json.dumps([space.hashes[rows[k // 3]], 108, matrix, ",".join(cell.ops), raw]).encode()


def bytewise_crc32c(data: bytes) -> int:
    table = _CRC[0].tolist()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="records in the synthetic file")
    parser.add_argument("--crc-sample", type=int, default=2_000, help="records checked by the bytewise baseline")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--write", help="only write the synthetic file to this path (used by the child process)")
    args = parser.parse_args()

    if args.write:
        write_tfrecord(args.write, synthetic_payloads(args.records, np.random.default_rng(args.seed)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.tfrecord"
        subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_nb101_tfrecord", "--write", str(path),
             "--records", str(args.records), "--seed", str(args.seed)],
            check=True,
        )
        size = path.stat().st_size
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "preprocessing.nb101_tfrecord", "--tfrecord", str(path),
             "--out", str(Path(tmp) / "nb101.npz"), "--subset", "--quiet"]
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"converter failed with status {os.waitstatus_to_exitcode(status)}")
        peak_mb = usage.ru_maxrss / 1024
        print(f"converter: {args.records:,} records ({size / 1e6:.1f} MB) in {wall:.1f} s, peak RSS {peak_mb:.0f} MB")

        payloads = [data for _, _, data in read_tfrecord(path)]
        joined = b"".join(payloads)
        lengths = np.array([len(p) for p in payloads])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        start = time.perf_counter()
        fast = crc32c_spans(joined, starts, lengths)
        vectorised = (time.perf_counter() - start) / len(payloads)
        sample = payloads[: args.crc_sample]
        start = time.perf_counter()
        slow = [bytewise_crc32c(p) for p in sample]
        bytewise = (time.perf_counter() - start) / len(sample)
        assert fast[: len(sample)].tolist() == slow
        print(f"CRC-32C per record: vectorised over all {len(payloads):,} records {vectorised * 1e6:.1f} us, "
              f"bytewise loop (first {len(sample):,}) {bytewise * 1e6:.0f} us, speed-up {bytewise / vectorised:.0f}x")


if __name__ == "__main__":
    main()
