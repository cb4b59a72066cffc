"""Search spaces: the registry and the interface every space module provides.

Space ids -> the module implementing each (adding a space = one module + one line here; a module
outside the registry can also be named directly: ``--space mypackage.my_space``). Nothing else in
the project names a space: methods, models and the runner reach a space through this interface.

A space module provides:

* ``NAME`` (its id) and ``DESCRIPTION`` (one line for ``--help``);
* ``load_search(table) -> SearchSetup``: the space a search ranges over and what answers its
  queries, from the embedded default table (``table=None``) or a user's ``--table`` file;
* ``full_space() -> space``: every cell of the space (unsupervised pretraining may use them all);
* optional ``embedded_files()``: the data files of the default table (result logs digest them);
* ``SETTINGS``: what really differs per space (pretraining epochs and sizes of the models), a dict
  ``{model: {setting: value}}`` read by the model entry points (see :func:`settings`).

A *space object* (what a search method receives) has

* ``name``, ``len(space)``, ``keys()`` (int array), ``sample(rng, size=None, replace=True)``,
  ``neighbours(key)``, ``mutate(key, rng)``, ``to_string(key)`` / ``from_string(text)`` (round-trip);
* ``onehot(keys=None)``: the flat encoding, float32 ``(B, D)``;
* the graph codec, from which every graph model builds its inputs: ``node_types`` (names of the
  one-hot columns; type 0 is the input node, the last type the output node), ``n_nodes`` (N),
  ``graphs(keys=None) -> (adj (B, N, N), ops (B, N, T))`` float32 (``adj[b, i, j] = 1`` for an edge
  i -> j; padding nodes of smaller cells have all-zero rows in ``ops``), and
  ``decode(types (B, N) int, adj (B, N, N)) -> (B,) int64`` keys, ``-1`` where a decoded graph is
  not a valid cell of the space (padding nodes: any type after the first output node);
* optional ``cells_per_arch`` (default 1): an architecture of C > 1 cells (DARTS: normal and reduce)
  has ``graphs`` of shapes (B, C, N, N) / (B, C, N, T), and models that read one graph refuse it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from preprocessing.errors import InputError

SPACES = {
    "nb201": "preprocessing.nasbench201",
    "nb101": "preprocessing.nasbench101",
    "darts": "preprocessing.darts_space",
}


@dataclass
class SearchSetup:
    """What one grid of searches needs from a space.

    space: the space object searches range over (e.g. the cells a table measured).
    datasets: the datasets it can be searched on (the first is the default for single runs).
    make_oracle: ``(dataset, signal, rng, max_queries, max_time_s, time_per_query) -> oracle``.
    benchmark: the tabular benchmark behind the oracle (rows = keys), None for a non-tabular space.
    table_id: identity of the table (``embedded:<name>`` or the user's file path) for result logs.
    """

    space: object
    datasets: tuple[str, ...]
    make_oracle: Callable
    benchmark: object | None = None
    table_id: str = ""
    extra: dict = field(default_factory=dict)


def tabular_setup(space, benchmark, table_id: str) -> SearchSetup:
    """A :class:`SearchSetup` whose queries are answered by a tabular :class:`Benchmark`."""
    from search_methods.oracle import Oracle

    def make_oracle(dataset, signal, rng, max_queries, max_time_s, time_per_query=None):
        return Oracle(benchmark, dataset, signal=signal, rng=rng, max_queries=max_queries, max_time_s=max_time_s,
                      to_string=space.to_string, time_per_query=time_per_query)

    return SearchSetup(space=space, datasets=tuple(benchmark.datasets), make_oracle=make_oracle, benchmark=benchmark,
                       table_id=table_id)


def module_of(name: str):
    """The module of a registered space id, or of a dotted module path that provides the interface."""
    path = SPACES.get(name, name if "." in name else None)
    if path is None:
        raise InputError(f"unknown space {name!r}; available: {', '.join(SPACES)} (or a module path, "
                         f"e.g. --space mypackage.my_space)")
    try:
        module = importlib.import_module(path)
    except ImportError as exc:
        raise InputError(f"space module {path!r} cannot be imported ({exc}); check the name") from None
    missing = [attr for attr in ("NAME", "load_search", "full_space") if not hasattr(module, attr)]
    if missing:
        raise InputError(f"space module {path!r} lacks {', '.join(missing)}; see preprocessing/spaces.py")
    SPACES.setdefault(module.NAME, path)  # a plug-in named by path is then found by its name too (models, settings)
    return module


def register(name: str, module_path: str) -> None:
    """Add a space id at run time (a plug-in that is not in :data:`SPACES`)."""
    SPACES[name] = module_path


def load_search(name: str, table=None) -> SearchSetup:
    return module_of(name).load_search(table)


def full_space(name: str):
    return module_of(name).full_space()


def embedded_files(name: str) -> list[Path]:
    """The files a space's default table is read from (``embedded_files()``; else the module itself, for a
    table built in code): what the identity of a result log digests."""
    module = module_of(name)
    return [Path(p) for p in (module.embedded_files() if hasattr(module, "embedded_files") else [module.__file__])]


def settings(name: str, model: str) -> dict:
    """The per-space settings of ``model`` (e.g. ``settings('nb101', 'arch2vec')['epochs']``)."""
    per_model = getattr(module_of(name), "SETTINGS", {})
    if model not in per_model:
        raise InputError(f"the {name} space has no {model} settings; {model} cannot run on it "
                         f"(spaces with {model}: {', '.join(spaces_with(model))})")
    return dict(per_model[model])


def spaces_with(model: str) -> list[str]:
    """The registered space ids that have ``model`` settings (for ``--help`` texts)."""
    return [name for name in SPACES if model in getattr(module_of(name), "SETTINGS", {})]


def supports(space, capability: str) -> bool:
    """Whether a space object offers an optional capability (e.g. ``'graphs'`` for graph models)."""
    return callable(getattr(space, capability, None))


def require(space, capability: str, method: str, single_cell: bool = False) -> None:
    """One ``error:`` line, before any work, when ``method`` needs what ``space`` does not offer.

    single_cell: the method's graph model reads one cell graph per architecture (``graphs`` returns
    3-d arrays); a space of multi-cell architectures (``cells_per_arch`` > 1, e.g. DARTS) cannot serve it.
    """
    if not supports(space, capability):
        raise InputError(f"{method} needs the space's {capability}() codec, which the {space.name} space does not "
                         f"provide; pick another method or add it to the space module")
    if single_cell and getattr(space, "cells_per_arch", 1) != 1:
        raise InputError(f"{method} reads one cell graph per architecture, but a {space.name} architecture has "
                         f"{space.cells_per_arch} cells; pick another method for this space")
