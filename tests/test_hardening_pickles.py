"""Safe readers: crafted pickles run nothing and crash nothing (issue 14, class 2)."""
import bz2
import io
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from darts import data as dd
from preprocessing import safe_pickle
from preprocessing.errors import InputError

REPO = Path(__file__).resolve().parent.parent
DEPTH = 200_000  # a 200 KB pickle; hashing its key recursed in C and segfaulted the interpreter


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def nested_key_pickle(depth: int = DEPTH) -> bytes:
    """{((((1,),),)...): 1}: protocol 2, EMPTY_DICT, 1, TUPLE1 x depth, 1, SETITEM."""
    return b"\x80\x02}K\x01" + b"\x85" * depth + b"K\x01s."


def cifar_archive(path, batch_bytes: bytes):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(batch_bytes)
        tar.addfile(info, io.BytesIO(batch_bytes))
    return path


def test_cifar_archive_with_a_code_payload_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    batch = pickle.dumps({b"data": Payload(marker), b"labels": [0]}, protocol=2)
    archive = cifar_archive(tmp_path / "cifar-10-python.tar.gz", batch)
    with pytest.raises(InputError, match=r"names the Python object (posix|os)\.system"):
        dd.load_cifar(archive, "cifar10", train=False)
    assert not marker.exists()
    proc = subprocess.run([sys.executable, "-m", "darts.train", "--arch", "DARTS_V2", "--dataset", "cifar10",
                           "--data", str(archive), "--epochs", "1", "--save", str(tmp_path / "run")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert not marker.exists()


def test_cifar_reader_still_reads_numpy_batches_and_refuses_deep_keys(tmp_path):
    rng = np.random.default_rng(0)
    good = {b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [1, 2, 3]}
    for protocol in (2, 4, 5):
        archive = cifar_archive(tmp_path / f"p{protocol}.tar.gz", pickle.dumps(good, protocol=protocol))
        data = dd.load_cifar(archive, "cifar10", train=False)
        assert data.labels.tolist() == [1, 2, 3] and np.array_equal(data.images.numpy().reshape(3, -1), good[b"data"])
    with pytest.raises(InputError, match="nested deeper"):
        dd.load_cifar(cifar_archive(tmp_path / "deep.tar.gz", nested_key_pickle()), "cifar10", train=False)


def run_nb201_converter(*argv):
    return subprocess.run([sys.executable, "-m", "preprocessing.nb201_official", *argv, "--no-progress"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_nb201_reader_refuses_a_deeply_nested_key_instead_of_crashing(tmp_path):
    pth = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    with zipfile.ZipFile(pth, "w") as archive:
        archive.writestr("archive/data.pkl", nested_key_pickle())
    proc = run_nb201_converter("--pth", str(pth), "--out", str(tmp_path / "t.npz"))
    assert proc.returncode == 2 and "nested deeper" in proc.stderr and proc.stderr.count("\n") == 1  # not 139
    nats = tmp_path / "NATS-tss-v1_0-3ffb9-simple"  # read with the C unpickler, in a big-stack thread
    nats.mkdir()
    (nats / "meta.pickle.pbz2").write_bytes(bz2.compress(nested_key_pickle()))
    (nats / "000000.pickle.pbz2").write_bytes(bz2.compress(pickle.dumps({})))
    proc = run_nb201_converter("--nats-dir", str(nats), "--out", str(tmp_path / "n.npz"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "t.npz").exists() and not (tmp_path / "n.npz").exists()


def test_c_unpickling_is_bounded_to_what_its_stack_can_hold():
    big = pickle.dumps(b"\0" * (safe_pickle.C_SAFE_BYTES + 1), protocol=4)
    with pytest.raises(InputError, match="larger than 16 MiB"):
        safe_pickle.load_in_big_stack(lambda s: pickle.Unpickler(s), io.BytesIO(big), "big.pickle")
    with pytest.raises(InputError, match="nested deeper"):  # hashed fine on the big stack, then refused
        safe_pickle.load_in_big_stack(lambda s: pickle.Unpickler(s), io.BytesIO(nested_key_pickle()), "deep.pickle")
    deep_list = b"\x80\x02K\x01" + b"\x85" * 5000 + b"."
    with pytest.raises(InputError, match="deeper than 100 levels"):
        safe_pickle.loads(deep_list, "deep.pickle")


def test_restricted_loads_builds_plain_data_only():
    plain = {"a": [1, 2.5, None, b"x"], (1, "seed"): {"b": (True,)}}
    assert safe_pickle.loads(pickle.dumps(plain, protocol=2), "t") == plain
    with pytest.raises(InputError, match="builtins.eval"):
        safe_pickle.loads(b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", "t")
    with pytest.raises(InputError, match="not a readable pickle"):
        safe_pickle.loads(b"\x80\x02}K\x01", "t")
