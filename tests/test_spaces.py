"""The space registry and plug-in interface: a toy space in its own file runs every registered method."""
from __future__ import annotations

import numpy as np
import pytest

from preprocessing import spaces
from preprocessing.errors import InputError
from search_methods import results, run
from search_methods.registry import METHODS

TOY = "tests.toy_space"


@pytest.fixture()
def scratch_models(tmp_path, monkeypatch):
    """Model entry points write under a scratch folder, never into the shipped pretrained/."""
    monkeypatch.setenv("NAS_PRETRAINED_DIR", str(tmp_path / "pretrained"))
    return tmp_path


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_registered_method_runs_on_a_plugged_in_space_or_refuses_before_work(method, scratch_models, capsys):
    out = scratch_models / "logs"
    argv = ["--method", method, "--space", TOY, "--queries", "20", "--seeds", "2", "--workers", "1",
            "--out", str(out), "--quiet"]
    try:
        run.main(argv)
    except SystemExit as exc:  # a method that cannot search this space: one line, exit 2, nothing written
        assert exc.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "toy" in lines[0]
        assert not list(out.rglob("*.json"))
        return
    space = spaces.load_search(TOY).space
    for seed in range(2):
        (log,) = results.read_logs(out, "q20", TOY, "toy", method, seed=seed)
        archs = [step["arch"] for step in log["trajectory"]]
        assert log["n_queries"] == 20 and len(set(archs)) == 20
        keys = [space.from_string(a) for a in archs]  # every queried cell is a cell of the toy space
        assert [space.to_string(k) for k in keys] == archs
        assert log["final"]["best_valid"] == max(step["valid"] for step in log["trajectory"])


def test_a_space_registered_in_one_line_is_found_by_name(monkeypatch, tmp_path):
    monkeypatch.setitem(spaces.SPACES, "toy", TOY)  # the one registry line, made at run time
    args, module = run.parse_args(["--method", "random", "--space", "toy", "--queries", "5", "--seeds", "1",
                                   "--workers", "1", "--out", str(tmp_path), "--quiet"])
    log = run.run_grid(args, module)[0]
    assert log["space"] == "toy" and log["n_queries"] == 5 and log["dataset"] == "toy"


def test_unknown_or_incomplete_space_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run.main(["--method", "random", "--space", "nb999", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "unknown space 'nb999'" in capsys.readouterr().err
    with pytest.raises(InputError, match="lacks NAME, load_search, full_space"):
        spaces.module_of("preprocessing.errors")  # a module that is not a space
    with pytest.raises(InputError, match="cannot be imported"):
        spaces.module_of("no.such.module")


def test_graph_codecs_round_trip_on_every_registered_space():
    for name in spaces.SPACES:
        space = spaces.full_space(name)
        keys = space.sample(np.random.default_rng(0), size=20)
        adj, ops = space.graphs(keys)
        if adj.ndim == 4:  # multi-cell architectures decode cell by cell
            continue
        assert adj.shape[1:] == (space.n_nodes, space.n_nodes) and ops.shape[2] == len(space.node_types)
        assert np.array_equal(space.decode(ops.argmax(-1), adj), keys), name
        assert [space.from_string(space.to_string(k)) for k in keys] == keys.tolist()


def test_settings_refuse_a_model_a_space_lacks():
    with pytest.raises(InputError, match="has no nomodel settings"):
        spaces.settings("nb201", "nomodel")
    assert spaces.settings("nb101", "arch2vec")["limit"] == 50_000
