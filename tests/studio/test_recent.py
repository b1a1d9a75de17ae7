"""The palette's node types with icons and descriptions; File ▸ Open recent."""

from __future__ import annotations

from engine.flow import load, save
from engine.nodes import NODE_SPECS
from engine.paths import examples_dir
from studio.panels.palette import TYPE_ROLE
from studio.recent import LIMIT, add_recent, recent_files


def _palette_items(window):
    tree = window.node_palette.tree
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        for j in range(group.childCount()):
            yield group.child(j)


def test_every_node_type_has_an_icon_and_its_description(window):
    items = list(_palette_items(window))
    assert len(items) == len(NODE_SPECS)
    for item in items:
        spec = NODE_SPECS[item.data(0, TYPE_ROLE)]
        assert spec.description in item.toolTip(0)
        assert not item.icon(0).isNull()


def test_opened_and_saved_files_come_first_in_open_recent(window, tmp_path):
    opened = examples_dir() / "support-triage.flow.json"
    assert recent_files(window.settings) == [opened.resolve()]
    copy = tmp_path / "copy.flow.json"
    window.document.save(copy)
    assert recent_files(window.settings) == [copy.resolve(), opened.resolve()]
    window.recent_menu.refresh()
    names = [a.text() for a in window.recent_menu.actions()]
    assert names[:2] == ["copy.flow.json", "support-triage.flow.json"]
    window.recent_menu.actions()[1].trigger()
    assert window.document.path == opened


def test_open_recent_keeps_the_last_ten(window, tmp_path):
    flow = load(examples_dir() / "support-triage.flow.json")
    for n in range(LIMIT + 2):
        path = tmp_path / f"f{n}.flow.json"
        save(flow, path)
        add_recent(window.settings, path)
    files = recent_files(window.settings)
    assert len(files) == LIMIT
    assert files[0].name == f"f{LIMIT + 1}.flow.json"
