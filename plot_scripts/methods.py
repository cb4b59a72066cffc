"""The one order and the one look of the search methods, shared by every table and figure.

Rows and legends list methods by family, then by their place in the family (``FAMILIES``);
a method outside ``FAMILIES`` comes last, by name. Each known method has a fixed colour, line
style and marker (``STYLES``), so it looks the same in every figure: a family shares a hue (dark
solid for its main method, light and dashed for its variant), and no two methods share colour
*and* line style. A method not listed gets the first free (colour, line style) pair in a fixed
order of its name among the unlisted methods of that figure; add it to ``FAMILIES`` and
``STYLES`` to pin its look for good.
"""
from __future__ import annotations

import itertools

# (family, methods in reading order). The families follow the README: baselines first.
FAMILIES = (
    ("baselines", ("random", "evolution", "local_search", "bananas", "npenas")),
    ("arch2vec", ("arch2vec_rl", "arch2vec_bo", "supervised_rl", "supervised_bo")),
    ("weaknas", ("weaknas", "weaknas_ei")),
    ("gmae", ("gmae", "gmae_evo")),
    ("agnet", ("agnet", "agnet_xgb")),
    ("metad2a", ("metad2a",)),
)
METHOD_ORDER = tuple(m for _, members in FAMILIES for m in members)
_FAMILY_OF = {m: i for i, (_, members) in enumerate(FAMILIES) for m in members}

# tab20 pairs: (dark, light) of one hue
_DARK = {"blue": "#1f77b4", "orange": "#ff7f0e", "green": "#2ca02c", "red": "#d62728", "purple": "#9467bd",
         "brown": "#8c564b", "pink": "#e377c2", "grey": "#7f7f7f", "olive": "#bcbd22", "cyan": "#17becf"}
_LIGHT = {"blue": "#aec7e8", "orange": "#ffbb78", "green": "#98df8a", "red": "#ff9896", "purple": "#c5b0d5",
          "brown": "#c49c94", "pink": "#f7b6d2", "grey": "#c7c7c7", "olive": "#dbdb8d", "cyan": "#9edae5"}
LINESTYLES = ("-", "--", "-.", ":")

STYLES = {
    "random": {"color": _DARK["grey"], "linestyle": ":", "marker": "x"},
    "evolution": {"color": "#000000", "linestyle": "-", "marker": "o"},
    "local_search": {"color": _DARK["brown"], "linestyle": "--", "marker": "v"},
    "bananas": {"color": _DARK["olive"], "linestyle": "-.", "marker": "^"},
    "npenas": {"color": _DARK["pink"], "linestyle": "-", "marker": "<"},
    "arch2vec_rl": {"color": _LIGHT["blue"], "linestyle": "--", "marker": "s"},
    "arch2vec_bo": {"color": _DARK["blue"], "linestyle": "-", "marker": "D"},
    "supervised_rl": {"color": _LIGHT["cyan"], "linestyle": "--", "marker": "p"},
    "supervised_bo": {"color": _DARK["cyan"], "linestyle": "-", "marker": "h"},
    "weaknas": {"color": _DARK["orange"], "linestyle": "-", "marker": "*"},
    "weaknas_ei": {"color": _LIGHT["orange"], "linestyle": "--", "marker": "P"},
    "gmae": {"color": _DARK["green"], "linestyle": "-", "marker": "X"},
    "gmae_evo": {"color": _LIGHT["green"], "linestyle": "--", "marker": "d"},
    "agnet": {"color": _DARK["red"], "linestyle": "-", "marker": "8"},
    "agnet_xgb": {"color": _LIGHT["red"], "linestyle": "--", "marker": ">"},
    "metad2a": {"color": _DARK["purple"], "linestyle": "-", "marker": "H"},
}
# colours for methods outside STYLES, in the order they are handed out
_SPARE_COLOURS = (_LIGHT["purple"], _LIGHT["brown"], _LIGHT["pink"], _LIGHT["olive"], _LIGHT["grey"],
                  *_DARK.values(), *_LIGHT.values(), "#000000")
_SPARE_MARKERS = ("1", "2", "3", "4", "+", "|", "_", ".")


def base_method(name: str) -> str:
    """'evolution [population=30]' -> 'evolution': the method id of a (possibly labelled) row name."""
    return name.split(" [", 1)[0]


def sort_key(name: str) -> tuple:
    """Family, place in the family, then name; unknown methods after every family, by name.

    A labelled name (``method [label]``, see :mod:`plot_scripts.stats`) sorts with its method."""
    method = base_method(name)
    family = _FAMILY_OF.get(method, len(FAMILIES))
    place = METHOD_ORDER.index(method) if method in _FAMILY_OF else 0
    return family, place, method, name


def ordered(names) -> list[str]:
    return sorted(set(names), key=sort_key)


def styles(names) -> dict[str, dict]:
    """Line style of each name: ``STYLES`` for a known method (labelled variants of one method get
    further line styles of its colour), else a free (colour, line style) pair.  No two names of one
    call share colour and line style."""
    out: dict[str, dict] = {}
    taken: set[tuple[str, str]] = set()
    pending = []
    for name in ordered(names):
        base = STYLES.get(base_method(name))
        if base is None:
            pending.append(name)
            continue
        style = dict(base)
        if (style["color"], style["linestyle"]) in taken:  # a second config of the same method
            free_ls = [ls for ls in LINESTYLES if (style["color"], ls) not in taken]
            if not free_ls:
                pending.append(name)
                continue
            style["linestyle"] = free_ls[0]
        out[name] = style
        taken.add((style["color"], style["linestyle"]))
    taken |= {(s["color"], s["linestyle"]) for s in STYLES.values()}
    free = ((c, ls) for c, ls in itertools.product(_SPARE_COLOURS, LINESTYLES) if (c, ls) not in taken)
    for i, name in enumerate(pending):
        color, linestyle = next(free)
        out[name] = {"color": color, "linestyle": linestyle, "marker": _SPARE_MARKERS[i % len(_SPARE_MARKERS)]}
    return out
