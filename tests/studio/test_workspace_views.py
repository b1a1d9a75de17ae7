"""The manager's lists: columns take their contents' width once rows arrive (dates were cut)."""

from __future__ import annotations

from studio.workspaces.views import row, table, when


def test_columns_fit_their_contents_once_rows_arrive(qtbot):
    tree = table("Name", "Created", "Last used")
    qtbot.addWidget(tree)
    tree.resize(300, 200)
    tree.show()
    stamp = when(1_765_000_000.0)
    assert tree.columnWidth(1) < tree.fontMetrics().horizontalAdvance(stamp)  # cut, as it was
    tree.addTopLevelItem(row(["ci", stamp, when(None, "never")]))
    qtbot.waitUntil(lambda: tree.columnWidth(1) >= tree.fontMetrics().horizontalAdvance(stamp))
    tree.setColumnWidth(1, 40)  # the user's resizing stays
    assert tree.columnWidth(1) == 40
