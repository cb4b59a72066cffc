"""Method ids of the common protocol runner -> the module implementing each.

A method module provides ``search(space, oracle, rng, args, context)``, which queries
``oracle`` until it raises :class:`~search_methods.oracle.BudgetExhausted`, and optionally
``add_arguments(parser)`` (its own flags) and ``prepare(args, benchmark, space) -> context``
(one-off work shared by all runs of a grid, e.g. loading pretrained embeddings). ``DESCRIPTION``
is a one-line summary shown by ``--help``. Adding a method = one module + one line here.
"""
METHODS = {
    "random": "search_methods.random_search",
    "evolution": "search_methods.evolution",
    "arch2vec_rl": "search_methods.reinforce",
    "arch2vec_bo": "search_methods.dngo",
    "supervised_rl": "search_methods.supervised_reinforce",
    "supervised_bo": "search_methods.supervised_dngo",
    "weaknas": "search_methods.weaknas",
    "weaknas_ei": "search_methods.weaknas",
    "agnet": "search_methods.agnet_search",
    "agnet_xgb": "search_methods.agnet_xgb",
    "gmae": "search_methods.gmae_search",
    "gmae_evo": "search_methods.gmae_search",
    "metad2a": "search_methods.metad2a_search",
    "table_bo": "search_methods.table_bo",
    "local_search": "search_methods.local_search",
    "bananas": "search_methods.bananas",
    "npenas": "search_methods.npenas",
}
