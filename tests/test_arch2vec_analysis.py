"""The arch2vec analysis helpers and figures (on a stand-in embedding: no pretrained model needed)."""
import numpy as np

from plot_scripts import plot_arch2vec_analysis as analysis
from preprocessing.nasbench201 import NB201Space
from preprocessing.nb201_table import load_embedded


def test_edit_distance_counts_differing_edges():
    space = NB201Space()
    key = 6111
    neighbour = int(space.neighbours(key)[0])
    assert analysis.edit_distances(space.op_codes[key], space.op_codes[key]) == 0
    assert analysis.edit_distances(space.op_codes[key], space.op_codes[neighbour]) == 1
    codes = np.array([[0, 0, 0, 0, 0, 0]]), np.array([[1, 2, 3, 4, 0, 0]])
    assert analysis.edit_distances(*codes)[0] == 4


def test_pca_recovers_the_dominant_axis():
    rng = np.random.default_rng(0)
    x = np.outer(rng.normal(size=500), [3.0, 0.0, 0.0]) + 0.01 * rng.normal(size=(500, 3))
    xy, ratio = analysis.pca_2d(x)
    assert ratio[0] > 0.99 and xy.shape == (500, 2)
    assert abs(np.corrcoef(xy[:, 0], x[:, 0])[0, 1]) > 0.999


def test_distance_and_latent_figures_are_written(tmp_path):
    space = NB201Space()
    embeddings = space.onehot() @ np.random.default_rng(0).normal(size=(30, 16))
    assert analysis.plot_distance(embeddings, space, tmp_path, n_pairs=2000).stat().st_size > 0
    assert analysis.plot_latent_map(embeddings, load_embedded(), tmp_path).stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_pearson_is_higher_for_an_informative_encoding():
    rng = np.random.default_rng(1)
    informative = rng.normal(size=(600, 4))
    target = informative[:, 0] * 2 + 0.1 * rng.normal(size=600)
    scores = analysis.pearson_by_size({"good": informative, "noise": rng.normal(size=(600, 4))}, target,
                                      sizes=(100,), repeats=1, seed=0, n_test=200)
    assert scores["good"][0, 0] > 0.8 > scores["noise"][0, 0]
