"""Peak memory and speed of the NB101 TFRecord converter on a synthetic file in the official format.

Writes ``--records`` records (3 runs per module, real cells from the enumerated space, metrics
serialised like the official ``ModelMetrics``) to a temporary folder, runs the converter CLI in a
child process and reports its wall time and peak RSS. As the in-process baseline it checks the
data CRCs of the same file with a byte-at-a-time table CRC-32C loop (the straightforward
implementation) and prints the speed-up of the vectorised CRC.

    python -m benchmarks.bench_nb101_tfrecord [--records 20000]
"""
from __future__ import annotations

import argparse
import base64
import json
import resource
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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.tfrecord"
        write_tfrecord(path, synthetic_payloads(args.records, np.random.default_rng(args.seed)))
        size = path.stat().st_size
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "preprocessing.nb101_tfrecord", "--tfrecord", str(path),
             "--out", str(Path(tmp) / "nb101.npz"), "--quiet"],
            check=True,
        )
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"converter: {args.records:,} records ({size / 1e6:.1f} MB) in {wall:.1f} s, peak RSS {peak_mb:.0f} MB")

        payloads = [data for _, _, data in read_tfrecord(path)][: args.crc_sample]
        joined = b"".join(payloads)
        lengths = np.array([len(p) for p in payloads])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        start = time.perf_counter()
        fast = crc32c_spans(joined, starts, lengths)
        vectorised = time.perf_counter() - start
        start = time.perf_counter()
        slow = [bytewise_crc32c(p) for p in payloads]
        bytewise = time.perf_counter() - start
        assert fast.tolist() == slow
        print(f"CRC-32C of {len(payloads):,} records: vectorised {vectorised * 1e3:.1f} ms, "
              f"bytewise loop {bytewise * 1e3:.0f} ms, speed-up {bytewise / vectorised:.0f}x")


if __name__ == "__main__":
    main()
