"""Checkpoints verified on load; a diverged training keeps the last good one (issue 14, class 4)."""
import json

import pytest
import torch

from darts import train
from models import checkpoint as ckpt
from models import pretrain_agnet
from preprocessing.errors import InputError


def flip_tensor_byte(path, tensor: torch.Tensor) -> None:
    """Flip one bit inside ``tensor``'s stored bytes (the zip still reads: only the digest can tell)."""
    raw = bytearray(path.read_bytes())
    needle = tensor.numpy().tobytes()
    at = raw.find(needle)
    assert at >= 0
    raw[at + len(needle) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def test_digest_catches_a_bit_flip_that_still_loads(tmp_path):
    path = tmp_path / "c.pt"
    weights = torch.arange(64, dtype=torch.float32)
    ckpt.save(path, {"format": "t", "model": {"w": weights}, "epoch": 3})
    assert torch.equal(ckpt.load(path, "test checkpoint", "make it", "t", {"model": dict})["model"]["w"], weights)
    flip_tensor_byte(path, weights)
    torch.load(path, weights_only=True)  # torch alone reads the corrupt numbers
    with pytest.raises(InputError, match="does not match its sha256"):
        ckpt.load(path, "test checkpoint", "make it", "t")


@pytest.mark.parametrize("content, fragment", [
    ([1, 2, 3], "holds a list"),
    ({"format": "t"}, "has no 'model'"),
    ({"format": "t", "model": [1]}, "'model' is a list"),
    ({"format": "other", "model": {}}, "format 'other'"),
])
def test_wrong_kinds_of_files_get_one_line(tmp_path, content, fragment):
    path = tmp_path / "c.pt"
    torch.save(content, path)
    with pytest.raises(InputError, match=fragment):
        ckpt.load(path, "test checkpoint", "make it", "t", {"model": dict})
    path.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="not a readable test checkpoint"):
        ckpt.load(path, "test checkpoint", "make it", "t")


def test_wrong_shapes_are_named(tmp_path):
    module = torch.nn.Linear(3, 2)
    with pytest.raises(InputError, match=r"'weight' has shape \(2, 4\), the model needs \(2, 3\)"):
        ckpt.load_state(module, {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, "f.pt", "test")
    with pytest.raises(InputError, match="lack 'bias'"):
        ckpt.load_state(module, {"weight": torch.zeros(2, 3)}, "f.pt", "test")


def test_corrupt_agnet_generator_file_is_one_line(tmp_path):
    generator = pretrain_agnet.build_generator({**pretrain_agnet.DEFAULTS, "n_types": 7, "max_nodes": 8})
    path = tmp_path / "generator.pt"
    good = {"config": {**pretrain_agnet.DEFAULTS, "n_types": 7, "max_nodes": 8}, "state": generator.state_dict(),
            "losses": [1.0], "train_keys": torch.arange(3)}
    ckpt.save(path, good)
    assert pretrain_agnet.load_generator_file(path)["losses"] == [1.0]
    flip_tensor_byte(path, next(iter(generator.state_dict().values())))
    with pytest.raises(InputError, match="sha256"):
        pretrain_agnet.load_generator_file(path)
    ckpt.save(path, {**good, "state": {"wrong": torch.zeros(1)}})
    with pytest.raises(InputError, match="AG-Net generator weights lack"):
        pretrain_agnet.load_generator_file(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="not a readable AG-Net generator file"):
        pretrain_agnet.load_generator_file(path)


TINY = ["--dataset", "digits", "--epochs", "2", "--layers", "2", "--init-channels", "4", "--batch-size", "64",
        "--train-limit", "128", "--valid-limit", "64", "--threads", "1", "--no-progress"]


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    save = tmp_path / "run"
    train.main(TINY + ["--save", str(save), "--stop-after", "1"])
    good = (save / "checkpoint.pt").read_bytes()
    log = (save / "log.jsonl").read_text()
    real = train.run_epoch

    def diverging(model, loader, criterion, optimizer=None, *args, **kwargs):
        loss, acc = real(model, loader, criterion, optimizer, *args, **kwargs)
        return (float("nan"), acc) if optimizer is not None else (loss, acc)

    monkeypatch.setattr(train, "run_epoch", diverging)
    with pytest.raises(SystemExit) as info:
        train.main(TINY + ["--save", str(save)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "training diverged: loss nan in epoch 2" in err and err.count("\n") == 1
    assert (save / "checkpoint.pt").read_bytes() == good and (save / "log.jsonl").read_text() == log
    assert json.loads(log.splitlines()[-1])["epoch"] == 1


def test_check_finite():
    ckpt.check_finite(0.5, "here", None)
    with pytest.raises(InputError, match="loss inf here; no checkpoint was written"):
        ckpt.check_finite(float("inf"), "here", None)
