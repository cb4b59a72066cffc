"""Draw a genotype's normal and reduction cells as PNG files with graphviz.

    python -m darts.visualize arch2vec_bo --out figures/darts
    python -m darts.visualize --genotype "Genotype(normal=[...], ...)" --name mine

Writes ``<out>/<name>_normal.png`` and ``<out>/<name>_reduction.png``: the inputs c_{k-2} and
c_{k-1}, intermediate nodes 0..3 with one edge per op (labelled by op name), and the output c_{k}
concatenating the intermediate nodes. Needs the ``dot`` binary (Debian package ``graphviz``).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import graphviz

from darts.genotypes import GENOTYPES, resolve_genotype
from preprocessing.darts_space import CONCAT, INPUT_NAMES
from preprocessing.errors import InputError, cli_entry

REPO_ROOT = Path(__file__).resolve().parent.parent


def cell_graph(cell, title: str) -> graphviz.Digraph:
    """A left-to-right graphviz drawing of one cell."""
    g = graphviz.Digraph(name=title, format="png",
                         edge_attr=dict(fontsize="20", fontname="times"),
                         node_attr=dict(style="filled", shape="rect", align="center", fontsize="20", height="0.5",
                                        width="0.5", penwidth="2", fontname="times"))
    g.attr(rankdir="LR", label=title, labelloc="t", fontsize="24")
    state_names = [f"c_{{{name[2:]}}}" for name in INPUT_NAMES] + [str(i) for i in range(len(cell) // 2)]
    for name in state_names[:2]:
        g.node(name, fillcolor="darkseagreen2")
    for name in state_names[2:]:
        g.node(name, fillcolor="lightblue")
    for e, (op, src) in enumerate(cell):
        g.edge(state_names[src], state_names[2 + e // 2], label=op, fillcolor="gray")
    g.node("c_{k}", fillcolor="palegoldenrod")
    for state in CONCAT:
        g.edge(state_names[state], "c_{k}", fillcolor="gray")
    return g


def draw_genotype(genotype, out_dir, name: str) -> list[Path]:
    """Render both cells to ``out_dir/<name>_{normal,reduction}.png``; returns the paths."""
    if shutil.which("dot") is None:
        raise InputError("graphviz 'dot' not found; install it with: apt-get install -y graphviz")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for cell, kind in ((genotype.normal, "normal"), (genotype.reduce, "reduction")):
        target = out_dir / f"{name}_{kind}"
        cell_graph(cell, f"{name} {kind} cell").render(filename=target.name, directory=out_dir, cleanup=True)
        paths.append(target.with_suffix(".png"))
    return paths


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("arch", nargs="?", default=None, help=f"published genotype name: {', '.join(GENOTYPES)}")
    p.add_argument("--genotype", default=None, help="a genotype string instead of a name")
    p.add_argument("--name", default=None, help="file name prefix (default: the arch name, or 'genotype')")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "figures" / "darts", help="output folder (default %(default)s)")
    return p


@cli_entry
def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    genotype = resolve_genotype(args.arch, args.genotype)
    for path in draw_genotype(genotype, args.out, args.name or args.arch or "genotype"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
