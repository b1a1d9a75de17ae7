"""The items of a QTreeWidget as lists: Qt's index accessors may answer None, these never do."""

from __future__ import annotations

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem


def children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    """`item`'s children, in order."""
    found = (item.child(index) for index in range(item.childCount()))
    return [child for child in found if child is not None]


def top_level(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    """The tree's top-level items, in order."""
    return children(tree.invisibleRootItem())
