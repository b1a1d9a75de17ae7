"""Auto-layout: columns by topological generation, left to right, each scope kept in one band.

Generations put every node to the right of all its inputs, so wires run left to right; giving
each outermost loop or parallel scope its own horizontal band keeps its members together, which
is what its tinted region on the canvas needs to stay compact.
"""

from __future__ import annotations

from collections import defaultdict

from engine.flow import Node
from engine.nodes import get_spec
from studio.analysis import Analysis
from studio.canvas import style

COLUMN_WIDTH = style.NODE_WIDTH + 100.0
ROW_GAP = 40.0
BAND_GAP = 80.0


def _height(node: Node) -> float:
    spec = get_spec(node.type)
    return style.node_height(len(spec.output_handles(node.config)) if spec else 0)


def _columns(analysis: Analysis) -> dict[str, int]:
    """Each node's generation; strongly connected parts (invalid cycles) share one column."""
    import networkx as nx  # loaded on first use: the studio starts without it

    condensed = nx.condensation(analysis.graph.digraph)
    columns: dict[str, int] = {}
    for depth, generation in enumerate(nx.topological_generations(condensed)):
        for part in generation:
            for node_id in condensed.nodes[part]["members"]:
                columns[node_id] = depth
    return columns


def _bands(analysis: Analysis) -> dict[str, str]:
    """Each scoped node's outermost scope (larger scopes contain the scopes nested in them)."""
    band: dict[str, str] = {}
    for key, members in sorted(analysis.scopes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        for member in members:
            band.setdefault(member, key)
    return band


def layered_positions(analysis: Analysis) -> dict[str, tuple[float, float]]:
    """New positions of every node of the analysed flow."""
    nodes = analysis.flow.node_map
    columns = _columns(analysis)
    band_of = _bands(analysis)
    cells: dict[str, dict[int, list[Node]]] = defaultdict(lambda: defaultdict(list))
    for node_id, column in columns.items():
        cells[band_of.get(node_id, "")][column].append(nodes[node_id])
    owner_column = {key: columns.get(key.split(":", 1)[0], 0) for key in cells}
    positions: dict[str, tuple[float, float]] = {}
    top = 0.0
    for band in sorted(cells, key=lambda b: (b != "", owner_column[b], b)):
        bottom = top
        for column, members in cells[band].items():
            y = top
            for node in sorted(members, key=lambda n: (n.position[1], n.id)):
                positions[node.id] = (column * COLUMN_WIDTH, y)
                y += _height(node) + ROW_GAP
            bottom = max(bottom, y)
        top = bottom + BAND_GAP
    return positions
