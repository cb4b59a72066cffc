import json

import numpy as np

from search_methods import darts_search

TINY = ["--pool", "12", "--queries", "4", "--proxy-dataset", "digits", "--proxy-image-size", "0",
        "--proxy-epochs", "1", "--proxy-train-size", "200", "--proxy-valid-size", "100", "--proxy-channels", "4",
        "--proxy-layers", "2", "--workers", "1"]


def run(tmp_path, *extra):
    args = darts_search.build_parser().parse_args([*TINY, "--out", str(tmp_path / "logs"),
                                                   "--cache", str(tmp_path / "cache.json"), *extra])
    return darts_search.run(args)


def test_random_search_log_and_cache(tmp_path):
    log = run(tmp_path, "--method", "random")
    assert log["space"] == "darts" and log["dataset"] == "digits" and log["n_queries"] == 4
    traj = log["trajectory"]
    assert len({t["arch"] for t in traj}) == 4
    assert all(t["arch"].startswith("Genotype(") for t in traj)
    assert all(0 <= t["valid"] <= 100 for t in traj) and traj[-1]["best_test"] is None
    assert np.all(np.diff([t["sim_time_s"] for t in traj]) > 0)
    cache = json.loads((tmp_path / "cache.json").read_text())["results"]
    assert {t["arch"] for t in traj} <= set(cache)
    again = run(tmp_path, "--method", "random")  # every answer now comes from the cache
    assert [t["valid"] for t in again["trajectory"]] == [t["valid"] for t in traj]


def test_arch2vec_bo_pretrains_when_missing_and_respects_budget(tmp_path):
    log = run(tmp_path, "--method", "arch2vec_bo", "--pretrained", str(tmp_path / "pre"), "--pretrain-cells", "64",
              "--pretrain-epochs", "1", "--init-size", "2", "--topk", "1", "--dngo-epochs", "5")
    assert (tmp_path / "pre" / "model-darts.pt").exists()
    assert log["n_queries"] == 4 and log["n_requeries"] == 0
    assert len({t["arch"] for t in log["trajectory"]}) == 4
