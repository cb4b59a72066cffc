import json

import numpy as np
import pandas as pd
import pytest
import torch

import preprocessing.metad2a_database as database
from models.metad2a import CellGenerator, DatasetEncoder, MetaPredictor, ops_to_node_types
from models.train_metad2a import main as train_main
from preprocessing.errors import InputError
from preprocessing.nasbench201 import OPS, index_of_ops, parse_arch_string, string_of_index
from search_methods.metad2a import main as search_main

# a micro database on scikit-learn's digits (bundled, 8x8): 2 tasks x 2 cells, one tiny epoch
MICRO = ["--source", "digits", "--image-size", "8", "--tasks", "2", "--cells-per-task", "2", "--class-pool",
         "0,1,2", "--min-classes", "2", "--max-classes", "3", "--train-per-class", "8", "--valid-per-class", "4",
         "--channels", "4", "--epochs", "1", "--batch-size", "8", "--workers", "1", "--no-progress"]


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    root = tmp_path_factory.mktemp("metad2a")
    db = root / "db.csv.gz"
    table = database.main(MICRO + ["--out", str(db)])
    checkpoint = root / "metad2a.pt"
    train_main(["--database", str(db), "--out", str(checkpoint), "--feature-images-per-class", "20",
                "--feature-epochs", "1", "--images-per-class", "4", "--valid-tasks", "1", "--predictor-epochs", "2",
                "--generator-epochs", "2", "--feature-size", "8", "--no-progress"])
    return root, db, table, checkpoint


def test_dataset_encoder_ignores_image_and_class_order_but_not_content():
    torch.manual_seed(0)
    encoder = DatasetEncoder(feature_dim=6, hidden=16, out_dim=8).eval()
    features = torch.randn(4, 5, 6)
    shuffled = features[torch.randperm(4)][:, torch.randperm(5)]
    with torch.no_grad():
        code = encoder(features)
        assert code.shape == (8,)
        assert torch.allclose(code, encoder(shuffled), atol=1e-5)
        assert not torch.allclose(code, encoder(features + torch.randn_like(features)), atol=1e-3)


def test_generator_decodes_only_valid_nb201_cells_and_trains():
    torch.manual_seed(0)
    generator = CellGenerator(feature_dim=6, hidden=16, nz=8)
    mu, logvar = generator.posterior(torch.randn(3, 4, 6))
    cells = generator.generate(mu, logvar, 64, torch.Generator().manual_seed(0))
    assert cells.shape == (64, 6) and cells.min() >= 0 and cells.max() < len(OPS)
    for row in cells.tolist():
        arch = string_of_index(index_of_ops(row))
        assert [OPS.index(op) for op in parse_arch_string(arch)] == row
    target = cells[:5]
    reconstruction, kl = generator.loss(torch.randn(3, 4, 6), target, 0.01, torch.Generator().manual_seed(1))
    assert reconstruction.ndim == 0 and torch.isfinite(reconstruction) and kl >= 0
    (reconstruction + kl).backward()
    assert generator.decoder.type_head[0].weight.grad.abs().sum() > 0


def test_generator_argmax_decoding_is_deterministic():
    torch.manual_seed(0)
    generator = CellGenerator(feature_dim=6, hidden=16, nz=8)
    z = torch.zeros(8)
    a = generator.generate(z, torch.full((8,), -30.0), 4, torch.Generator().manual_seed(0), temperature=0)
    b = generator.generate(z, torch.full((8,), -30.0), 4, torch.Generator().manual_seed(5), temperature=0)
    assert torch.equal(a, b) and (a == a[0]).all()


def test_predictor_shapes_and_graph_encoding():
    torch.manual_seed(0)
    predictor = MetaPredictor(feature_dim=6, hidden=16, dataset_dim=8)
    ops = torch.randint(0, len(OPS), (7, 6))
    node_types = ops_to_node_types(ops)
    assert node_types.shape == (7, 8, 7) and torch.equal(node_types.sum(-1), torch.ones(7, 8))
    assert torch.equal(node_types[:, 1:-1].argmax(-1) - 1, ops)
    scores = predictor(torch.randn(3, 4, 6), ops)
    assert scores.shape == (7,)
    assert predictor.predict_from_code(torch.zeros(8), ops).shape == (7,)


def test_stratified_cells_cover_the_accuracy_range():
    reference = np.linspace(0.0, 1.0, 1000)
    cells = database.stratified_cells(10, reference, np.random.default_rng(0))
    assert len(set(cells.tolist())) == 10
    assert sorted(cells // 100) == list(range(10))  # one cell per decile


def test_micro_database_has_every_task_cell_once(micro):
    _, db, table, _ = micro
    stored = database.load_database(db)
    assert len(stored) == 4 and stored["task"].nunique() == 2
    assert not stored.duplicated(["task", "arch_index"]).any()
    assert stored["valid_acc"].between(0, 100).all()
    for classes in stored["classes"]:
        assert set(int(c) for c in classes.split()) <= {0, 1, 2}
    assert database.recipe_of(stored).epochs == 1


class Interrupted(BaseException):
    """Stands for Ctrl-C / a killed driver: not a task failure the executor records and runs past."""


def test_builder_resumes_after_an_interruption_and_skips_finished_cells(tmp_path, monkeypatch):
    out = tmp_path / "db.csv.gz"
    calls = []
    real = database.train_cell

    def interrupted_after_two(*args, **kwargs):
        if len(calls) == 2:
            raise Interrupted
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(database, "train_cell", interrupted_after_two)
    with pytest.raises(Interrupted):
        database.main(MICRO + ["--out", str(out)])
    parts = tmp_path / "db.csv.gz.parts.jsonl"
    assert not out.exists() and len(parts.read_text().splitlines()) == 2
    with open(parts, "a") as f:
        f.write('{"task": 1, "arch_ind')  # a line torn by the interruption
    finished = list(calls)
    monkeypatch.setattr(database, "train_cell", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    table = database.main(MICRO + ["--out", str(out)])
    assert len(calls) == 4 and len(table) == 4 and not set(calls[2:]) & set(finished)
    assert set(table["arch"]) == set(calls) and not parts.exists()
    again = database.main(MICRO + ["--out", str(out)])  # the finished table counts as done
    assert len(calls) == 4
    pd.testing.assert_frame_equal(again, pd.read_csv(out), check_exact=False, atol=1e-3)  # CSV keeps 4 decimals


def test_builder_refuses_a_table_made_with_other_settings(micro):
    _, db, _, _ = micro
    with pytest.raises(InputError, match="other settings"):
        database.build(database.build_plan(2, 2, [0, 1, 2], 2, 3, 0),
                       database.CellRecipe(source="digits", image_size=8, epochs=2), db, 1, progress=False)


def test_checkpoint_loads_weights_only(micro):
    checkpoint = torch.load(micro[3], weights_only=True)
    assert checkpoint["format"] == "metad2a-v1" and checkpoint["recipe"]["source"] == "digits"
    assert checkpoint["valid_tasks"] == [1] and checkpoint["train_tasks"] == [0]


def test_meta_test_ranks_generated_cells(micro, tmp_path):
    _, _, _, checkpoint = micro
    out = tmp_path / "digits.json"
    result = search_main(["--dataset", "digits", "--checkpoint", str(checkpoint), "--candidates", "40", "--top", "5",
                          "--out", str(out), "--no-progress"])
    stored = json.loads(out.read_text())
    assert stored["dataset_code_from"] == "images" and stored["valid_cells"] == 40
    predicted = [t["predicted"] for t in stored["top"]]
    assert len(predicted) == min(5, stored["unique_cells"]) and predicted == sorted(predicted, reverse=True)
    assert len({t["arch_index"] for t in stored["top"]}) == len(predicted)
    assert result["search_seconds"] > 0
    table = search_main(["--dataset", "cifar10", "--checkpoint", str(checkpoint), "--candidates", "40", "--top", "5",
                         "--out", str(tmp_path / "c10.json"), "--no-progress"])
    assert table["dataset_code_from"] == "mean of meta-training tasks"
    assert table["best_of_top5_table_test_acc"] >= table["top1_table_test_acc"]


def test_meta_test_bad_dataset_is_one_line_and_exit_2(micro, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        search_main(["--dataset", "mnist42", "--checkpoint", str(micro[3]), "--out", str(tmp_path / "x.json")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown dataset 'mnist42'") and "\n" not in err
    assert not (tmp_path / "x.json").exists()


def test_meta_test_uses_cifar_images_from_an_official_format_archive(micro, tmp_path):
    from tests.test_darts_network import _write_tar

    rng = np.random.default_rng(0)
    batches = {name: {b"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8), b"labels": list(range(10))}
               for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]}
    _write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", batches)
    result = search_main(["--dataset", "cifar10", "--checkpoint", str(micro[3]), "--data",
                          str(tmp_path / "cifar-10-python.tar.gz"), "--candidates", "20", "--top", "3",
                          "--out", str(tmp_path / "c10.json"), "--no-progress"])
    assert result["dataset_code_from"] == "images" and "top1_table_test_acc" in result


def runner_grid(tmp_path, checkpoint, monkeypatch, *extra):
    import search_methods.metad2a_search as method
    from search_methods import run

    monkeypatch.setattr(method, "ensure_metad2a_checkpoint", lambda: checkpoint)
    args, module = run.parse_args(["--method", "metad2a", "--seeds", "2", "--queries", "40", "--workers", "1",
                                   "--datasets", "cifar10", "--out", str(tmp_path), "--quiet", *extra])
    return run.run_grid(args, module), args


def test_runner_queries_the_generated_cells_in_the_predictors_order_then_spends_the_budget(micro, tmp_path,
                                                                                          monkeypatch):
    from search_methods.metad2a import dataset_code, generate_ranked
    from search_methods.metad2a_search import _models

    checkpoint = micro[3]
    logs, args = runner_grid(tmp_path / "a", checkpoint, monkeypatch)
    again, _ = runner_grid(tmp_path / "b", checkpoint, monkeypatch)
    models = _models(str(checkpoint))
    for log, repeat in zip(logs, again):
        archs = [t["arch"] for t in log["trajectory"]]
        assert len(archs) == len(set(archs)) == 40 == log["n_queries"]
        assert archs == [t["arch"] for t in repeat["trajectory"]]  # same seed, same run
        draw = torch.Generator().manual_seed(int(np.random.default_rng(log["seed"]).integers(2 ** 31)))
        ranked, scores, _ = generate_ranked(models, dataset_code(models, None, draw), args.candidates, draw,
                                            args.temperature)
        assert np.all(np.diff(scores) <= 0)
        first_round = [string_of_index(int(k)) for k in ranked[:40]]
        assert archs[:len(first_round)] == first_round
        assert len(first_round) > 10  # the check above covers a real ranking
    # argmax decoding yields one cell: the rest of the budget follows the predictor over the space
    greedy, _ = runner_grid(tmp_path / "c", checkpoint, monkeypatch, "--temperature", "0")
    assert all(log["n_queries"] == 40 and len({t["arch"] for t in log["trajectory"]}) == 40 for log in greedy)


def test_runner_meta_trains_a_missing_checkpoint_once(tmp_path, monkeypatch):
    import models.train_metad2a as training

    calls = []
    monkeypatch.setattr(training, "meta_train", lambda args: calls.append(args.out) or args.out.write_bytes(b"x"))
    path = tmp_path / "sub" / "metad2a.pt"
    path.parent.mkdir()
    assert training.ensure_metad2a_checkpoint(path, quiet=True) == path
    assert training.ensure_metad2a_checkpoint(path, quiet=True) == path
    assert calls == [path]


def test_runner_rejects_bad_flags(micro, tmp_path, monkeypatch):
    with pytest.raises(InputError, match="--candidates"):
        runner_grid(tmp_path, micro[3], monkeypatch, "--candidates", "0")


def test_runner_refuses_a_space_the_models_were_not_meta_trained_on(tmp_path, capsys):
    from search_methods import run

    with pytest.raises(SystemExit) as stop:
        run.main(["--method", "metad2a", "--space", "nb101", "--seeds", "1", "--out", str(tmp_path), "--quiet"])
    assert stop.value.code == 2
    assert "error: the nb101 space has no metad2a settings" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))


def test_queries_to_optimum_refuses_before_claiming_any_run(tmp_path, capsys):
    """The q2o entry point prepares the method before its first claim, as the runner does: a refusal
    leaves no claim, temp file or log behind."""
    from search_methods import queries_to_optimum

    with pytest.raises(SystemExit) as stop:
        queries_to_optimum.main(["--method", "metad2a", "--space", "nb101", "--seeds", "2", "--out", str(tmp_path),
                                 "--quiet"])
    assert stop.value.code == 2
    assert "error: the nb101 space has no metad2a settings" in capsys.readouterr().err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
