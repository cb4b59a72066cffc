"""Published DARTS-space genotypes, by name (``--arch NAME`` in the training and drawing CLIs).

Sources (facts taken from the authors' public repositories' ``darts/cnn/genotypes.py``) and the
CIFAR-10 sizes they report (C=36, 20 layers, auxiliary head excluded):

* ``DARTS_V2`` -- Liu et al., DARTS (2nd order), 3.3M params.
* ``arch2vec_rl``, ``arch2vec_bo`` -- Yan et al., arch2vec (NeurIPS 2020): 3.3M and 3.6M params;
  the searched cell is used as both normal and reduction cell.
* ``GMAENAS_AE``, ``GMAENAS_BO`` -- Jing et al., GMAE-NAS (IJCAI 2022): 4.0M and 3.8M params.
  GMAENAS_AE as published in that repository (and drawn in its figures) counts 3.85M with
  DARTS' network and counting rule, not the 4.0M of the paper's table; GMAENAS_BO counts 3.81M.

:func:`resolve_genotype` turns a name or a genotype string into a validated
:class:`~preprocessing.darts_space.Genotype`.
"""
from __future__ import annotations

from preprocessing.darts_space import Genotype, genotype_from_string, validate_genotype
from preprocessing.errors import InputError

_CONCAT = [2, 3, 4, 5]

DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=_CONCAT,
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=_CONCAT,
)

_ARCH2VEC_RL_CELL = [("sep_conv_3x3", 0), ("dil_conv_3x3", 1), ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
                     ("skip_connect", 0), ("sep_conv_3x3", 1), ("dil_conv_5x5", 1), ("sep_conv_3x3", 0)]
arch2vec_rl = Genotype(_ARCH2VEC_RL_CELL, _CONCAT, _ARCH2VEC_RL_CELL, _CONCAT)

_ARCH2VEC_BO_CELL = [("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("skip_connect", 0), ("dil_conv_3x3", 1),
                     ("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("dil_conv_5x5", 2), ("sep_conv_3x3", 0)]
arch2vec_bo = Genotype(_ARCH2VEC_BO_CELL, _CONCAT, _ARCH2VEC_BO_CELL, _CONCAT)

GMAENAS_AE = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("skip_connect", 1), ("avg_pool_3x3", 0),
            ("sep_conv_3x3", 0), ("sep_conv_3x3", 3), ("sep_conv_3x3", 1), ("sep_conv_3x3", 3)],
    normal_concat=_CONCAT,
    reduce=[("avg_pool_3x3", 0), ("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("avg_pool_3x3", 1),
            ("dil_conv_3x3", 0), ("sep_conv_3x3", 2), ("sep_conv_5x5", 1), ("sep_conv_3x3", 2)],
    reduce_concat=_CONCAT,
)

GMAENAS_BO = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_5x5", 1), ("skip_connect", 1), ("sep_conv_3x3", 0),
            ("sep_conv_3x3", 0), ("avg_pool_3x3", 1), ("sep_conv_3x3", 1), ("sep_conv_3x3", 3)],
    normal_concat=_CONCAT,
    reduce=[("avg_pool_3x3", 0), ("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("avg_pool_3x3", 1),
            ("dil_conv_3x3", 0), ("sep_conv_3x3", 1), ("dil_conv_3x3", 0), ("sep_conv_3x3", 2)],
    reduce_concat=_CONCAT,
)

GENOTYPES = {"DARTS_V2": DARTS_V2, "arch2vec_rl": arch2vec_rl, "arch2vec_bo": arch2vec_bo,
             "GMAENAS_AE": GMAENAS_AE, "GMAENAS_BO": GMAENAS_BO}

# CIFAR-10 parameter counts (millions) reported by the papers, for checks and reports.
PUBLISHED_PARAMS_M = {"DARTS_V2": 3.3, "arch2vec_rl": 3.3, "arch2vec_bo": 3.6, "GMAENAS_AE": 4.0, "GMAENAS_BO": 3.8}


def resolve_genotype(name: str | None = None, genotype_string: str | None = None) -> Genotype:
    """Exactly one of a published ``name`` (see :data:`GENOTYPES`) or a genotype string."""
    if (name is None) == (genotype_string is None):
        raise InputError("give exactly one of a published architecture name or a genotype string (--genotype)")
    if genotype_string is not None:
        return genotype_from_string(genotype_string)
    if name not in GENOTYPES:
        raise InputError(f"unknown architecture {name!r}; known: {', '.join(GENOTYPES)}")
    return validate_genotype(GENOTYPES[name])
