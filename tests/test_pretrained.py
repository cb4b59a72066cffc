"""The shipped pretrained models: listed in the manifest with their digests, used by searches without pretraining."""
from __future__ import annotations

import shutil

import pytest
import torch

from models import checkpoint, pretrained
from search_methods import run


def test_every_shipped_model_is_in_the_manifest_and_matches_it():
    manifest = pretrained.read_manifest()
    assert {"arch2vec-nb201", "gmae-nb201", "agnet-nb201"} <= set(manifest)
    assert pretrained.verify() == []
    for entry in manifest.values():
        path = pretrained.SHIPPED / entry["file"]
        assert pretrained.weights_digest(path) == entry["weights_sha256"]
        assert entry["command"].startswith("python -m models.")
        assert entry["config"].get("space", entry["space"]) == entry["space"]


def test_a_changed_shipped_file_is_reported(tmp_path, monkeypatch, capsys):
    entry_id, entry = next(iter(pretrained.read_manifest().items()))
    copy = tmp_path / "pretrained"
    shutil.copytree(pretrained.SHIPPED, copy)
    monkeypatch.setattr(pretrained, "SHIPPED", copy)
    monkeypatch.setattr(pretrained, "MANIFEST", copy / "MANIFEST.json")
    data = torch.load(copy / entry["file"], weights_only=True)
    state = next(v for k, v in sorted(data.items()) if k in ("model", "state", "predictor"))
    name = next(iter(state))
    state[name] = state[name] + 1  # a different model saved under the shipped name
    checkpoint.save(copy / entry["file"], data)
    assert pretrained.verify() == [f"{entry_id}: {copy / entry['file']} differs from the manifest"]
    assert pretrained.weights_digest(copy / entry["file"]) != entry["weights_sha256"]
    with pytest.raises(SystemExit) as exc:
        pretrained.main(["verify"])
    assert exc.value.code == 2 and "differs from the manifest" in capsys.readouterr().err


def test_searches_on_a_fresh_clone_use_the_shipped_models(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NAS_PRETRAINED_DIR", raising=False)
    for method in ("arch2vec_bo", "gmae", "agnet"):
        run.main(["--method", method, "--datasets", "cifar10", "--queries", "20", "--seeds", "1", "--workers", "1",
                  "--out", str(tmp_path), "--quiet"])
    captured = capsys.readouterr()
    assert "pretrain" not in (captured.out + captured.err).lower()
