"""DARTS through the common runner: the genotype pool as the space, real (tiny) proxy training as the oracle."""
import json

import numpy as np
import pytest

from models import pretrain_arch2vec
from preprocessing import darts_space
from search_methods import results, run

# 8 genotypes, a 1-cell network of 2 channels trained 1 epoch on 64 digits: ~0.2 s per query
TINY = "pool=8,epochs=1,train_size=64,valid_size=32,channels=2,layers=1,batch_size=32,image_size=0"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One answer cache for the module: a genotype trained by one test is free for the next."""
    return tmp_path_factory.mktemp("proxy") / "cache.json"


def grid(out, cache, method, *extra, queries=3, seeds="1"):
    args, module = run.parse_args(["--space", "darts", "--method", method, "--datasets", "digits", "--seeds", seeds,
                                   "--queries", str(queries), "--workers", "1", "--out", str(out), "--quiet",
                                   "--table", f"{TINY},cache={cache}", *extra])
    return run.run_grid(args, module)


def test_random_search_writes_the_common_log_and_caches_real_answers(tmp_path, cache):
    log, = grid(tmp_path, cache, "random")
    assert log["space"] == "darts" and log["dataset"] == "digits" and log["n_queries"] == 3
    assert log["config"]["table"].startswith("pool=8,")  # the pool / proxy spec is part of the run's identity
    traj = log["trajectory"]
    setup = run.load_search_setup("darts", log["config"]["table"])
    keys = [setup.space.from_string(t["arch"]) for t in traj]  # genotype strings of pool members
    assert len(set(keys)) == 3 and all(t["arch"].startswith("Genotype(normal=") for t in traj)
    assert all(0 <= t["valid"] <= 100 for t in traj) and log["final"]["best_test"] is None
    assert np.all(np.diff([t["sim_time_s"] for t in traj]) > 0)  # cost = measured training seconds
    stored = json.loads(cache.read_text())["results"]
    assert [stored[t["arch"]][0] for t in traj] == [t["valid"] for t in traj]
    again, = grid(tmp_path, cache, "random", "--overwrite")  # answered from the cache: same values and costs
    assert [(t["arch"], t["valid"], t["sim_time_s"]) for t in again["trajectory"]] == \
           [(t["arch"], t["valid"], t["sim_time_s"]) for t in traj]


@pytest.mark.parametrize("method, extra", [("evolution", ["--population", "2", "--tournament", "2"]),
                                           ("weaknas", [])])
def test_pool_methods_spend_the_budget_on_distinct_genotypes(tmp_path, cache, method, extra):
    log, = grid(tmp_path, cache, method, *extra, queries=4)
    assert log["n_queries"] == 4 and len({t["arch"] for t in log["trajectory"]}) == 4
    assert log["final"]["best_valid"] == max(t["valid"] for t in log["trajectory"])


def test_arch2vec_bo_embeds_the_pool_with_the_darts_pretrained_model(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(darts_space, "PRETRAINING_CELLS", 300)  # a small cell pool to pretrain on
    monkeypatch.setenv("NAS_PRETRAINED_DIR", str(tmp_path / "pretrained"))  # the model lands in tmp_path/pretrained/dim-16
    pretrain_arch2vec.pretrain("darts", epochs=1, limit=64, prior_samples=50, progress=False, log=lambda *_: None)
    model_file = tmp_path / "pretrained" / "dim-16" / "model-darts.pt"
    assert pretrain_arch2vec.load_checkpoint(model_file)["config"]["n_nodes"] == darts_space.N_NODES
    log, = grid(tmp_path / "logs", cache, "arch2vec_bo", "--init-size", "2", "--topk", "1", "--dngo-epochs", "5")
    assert log["n_queries"] == 3 and log["n_requeries"] == 0 and len({t["arch"] for t in log["trajectory"]}) == 3
    log, = grid(tmp_path / "logs", cache, "arch2vec_rl")  # REINFORCE in the same 32-d genotype embedding
    assert log["n_queries"] == 3 and len({t["arch"] for t in log["trajectory"]}) == 3


@pytest.mark.parametrize("method", ["gmae", "agnet", "supervised_bo"])
def test_single_cell_graph_methods_refuse_in_one_line_before_any_work(tmp_path, capsys, method):
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--space", "darts", "--method", method, "--datasets", "digits", "--seeds", "1", "--queries", "2",
                  "--workers", "1", "--out", str(tmp_path), "--table", TINY])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "2 cells" in err[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("table, fragment", [("pool=abc", "not a int"), ("my_cells.csv", "pool spec"),
                                             ("pool=4,depth=3", "pool spec"), ("pool=4,channels=3", "even")])
def test_bad_pool_spec_is_one_error_line(tmp_path, capsys, table, fragment):
    with pytest.raises(SystemExit):
        run.main(["--space", "darts", "--method", "random", "--seeds", "1", "--queries", "2", "--workers", "1",
                  "--out", str(tmp_path), "--table", table])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and fragment in err[0]
    assert not list(tmp_path.iterdir())  # nothing written
