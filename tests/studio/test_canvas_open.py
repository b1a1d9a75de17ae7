"""Opening a flow: its graph is built once; it opens whole if it reads at that size, else at
its start at a readable zoom; the first paint shows the cards and the validation results."""

from __future__ import annotations

import json

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QApplication

from engine.flow.validate import graph as rules
from studio.canvas import style
from studio.canvas.scene import FlowScene
from studio.document import FlowDocument


def _grid_document(count: int) -> dict:
    """A trigger, a loop over a two-node body, then a chain of `count` messages on a grid; the
    last message names a node that does not exist (an error its card must show)."""

    def node(node_id, node_type, index, config):
        position = [260 * (index % 20), 140 * (index // 20)]
        return {"id": node_id, "type": node_type, "position": position, "config": config}

    nodes = [
        node("start", "trigger", 0, {"kind": "manual"}),
        node("each", "loop", 1, {"items": "input.rows[1:]"}),
        node("body", "send_message", 2, {"text": "{{ vars.item }}"}),
    ]
    edges = [("start", "out", "each"), ("each", "body", "body")]
    previous, handle = "each", "done"
    for index in range(count):
        text = "{{ nodes.ghost.text }}" if index == count - 1 else f"step {index}"
        nodes.append(node(f"m{index}", "send_message", index + 3, {"text": text}))
        edges.append((previous, handle, f"m{index}"))
        previous, handle = f"m{index}", "out"
    return {
        "format": "aerostudio.flow/1",
        "id": "grid",
        "name": "Grid",
        "nodes": nodes,
        "edges": [
            {"id": f"e{i}", "from": source, "handle": handle, "to": target}
            for i, (source, handle, target) in enumerate(edges)
        ],
    }


def test_opening_builds_the_flow_graph_once(tmp_path, monkeypatch, qapp):
    """Validation and the canvas (scopes, connection checks, layout) share one graph."""
    built = []
    build = rules.build
    monkeypatch.setattr(
        rules, "build", lambda flow, facts: built.append(flow) or build(flow, facts)
    )
    path = tmp_path / "grid.flow.json"
    path.write_text(json.dumps(_grid_document(50)))
    document = FlowDocument.open(path)
    scene = FlowScene(document, QUndoStack())
    assert list(scene.scope_items) == ["each:body"]
    assert document.analysis.scopes["each:body"] == {"body"}
    assert built == [document.flow]


def test_a_big_flow_opens_readable_at_its_start_and_fits_zoomed_out(window, tmp_path):
    path = tmp_path / "grid.flow.json"
    path.write_text(json.dumps(_grid_document(400)))
    width = window.view.width()
    window.open_path(path)
    QApplication.processEvents()
    assert window.view.width() == width  # the new canvas has the old one's room, not a sliver
    scene, view = window.scene, window.view
    # Too big to read whole: it opens at a readable zoom, its trigger at the left, labels drawn.
    assert view.transform().m11() == style.READABLE and not scene.low_detail
    trigger = scene.node_items["start"]
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(trigger.sceneBoundingRect())
    assert trigger.sceneBoundingRect().left() - shown.left() < 60
    problems = window.problems
    codes = [problems.topLevelItem(i).text(3) for i in range(problems.topLevelItemCount())]
    assert codes == ["expr.unknown_node"]
    # View ▸ Fit shows all of it as plain cards, painted in their colours.
    view.fit()
    assert view.transform().m11() < style.LOW_DETAIL and scene.low_detail
    card = scene.node_items["m0"]
    assert card.flags() & card.GraphicsItemFlag.ItemHasNoContents  # the overview draws it
    shot = view.viewport().grab().toImage()
    at = view.mapFromScene(trigger.sceneBoundingRect().center())
    assert shot.pixelColor(at) == trigger.color
    # Zoomed in on the node with the problem, its card shows the error badge.
    bad = scene.node_items["m399"]
    view.zoom(1 / view.transform().m11())
    assert not scene.low_detail
    view.centerOn(bad)
    shot = view.viewport().grab().toImage()
    badge = view.mapFromScene(bad.mapToScene(style.NODE_WIDTH - 14, 10))
    assert shot.pixelColor(badge) == style.ERROR_COLOR


def test_a_small_flow_opens_whole(window, tmp_path):
    path = tmp_path / "grid.flow.json"
    path.write_text(json.dumps(_grid_document(0)))
    window.open_path(path)
    QApplication.processEvents()  # the new canvas takes its place, and its opening view
    view = window.view
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert all(shown.contains(i.sceneBoundingRect()) for i in window.scene.node_items.values())
    assert view.transform().m11() >= style.READABLE and not window.scene.low_detail
    # The loop's region carries its title ("each · body") in its colour, in its top margin.
    scope = window.scene.scope_items["each:body"]
    band = view.mapFromScene(scope.rect).boundingRect()
    band.setHeight(int(20 * view.transform().m11()))
    shot = view.viewport().grab(band).toImage()
    inked = [
        shot.pixelColor(x, y)
        for x in range(shot.width())
        for y in range(shot.height())
        if _close(shot.pixelColor(x, y), scope.title_color)
    ]
    assert len(inked) > 20  # the glyphs' pixels, not a stray one


def _close(color, target) -> bool:
    return all(
        abs(a - b) < 40 for a, b in zip(color.getRgb()[:3], target.getRgb()[:3], strict=True)
    )
