"""The inspector: edits the selected node, or the flow's settings when no node is selected.

Its forms are generated from the node types' config schemas. Every change is one undo command on
the document (typing in one field is one step); the form follows the document, so undo, redo and
edits elsewhere show at once, and validation issues mark the fields they are about.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from engine.flow import Flow, Issue, Node
from engine.flow.expressions import SCOPE_NAMES
from engine.nodes import get_spec
from studio.canvas.scene import FlowScene
from studio.commands import edit_flow_command, edit_node_command
from studio.document import FlowDocument
from studio.panels.fields import PROBLEM_COLORS, Problem
from studio.panels.forms import FormContext, ObjectForm

NODE_FIELDS = {"label": "", "retry": None, "timeout_s": None, "output_variable": None}
FLOW_FIELDS = {"name": "", "description": "", "workspace": None, "settings": None}
_NODE_SCHEMA = Node.model_json_schema()
_FLOW_SCHEMA = Flow.model_json_schema()


def reference_names(document: FlowDocument, node_id: str) -> list[str]:
    """Names a template of `node_id` may use: input, run, error, vars set upstream, upstream
    nodes."""
    analysis = document.analysis
    flow = document.flow
    digraph = analysis.graph.digraph
    import networkx as nx  # loaded on first use: the studio starts without it

    upstream = nx.ancestors(digraph, node_id) if node_id in digraph else set()
    variables: set[str] = set()
    for other_id in upstream:
        other = flow.node_map[other_id]
        spec = get_spec(other.type)
        if other.type == "loop" or spec is None:
            continue
        variables.update(spec.variables_set(other.config))
        if other.output_variable:
            variables.add(other.output_variable)
    for key, members in analysis.scopes.items():
        owner = flow.node_map.get(key.split(":", 1)[0])
        spec = get_spec(owner.type) if owner else None
        if owner is not None and spec is not None and owner.type == "loop" and node_id in members:
            variables.update(spec.variables_set(owner.config))
    specific = [
        *(f"vars.{name}" for name in sorted(variables)),
        *(f"nodes.{other}." for other in sorted(upstream)),
    ]
    # Every name a run gives an expression, as itself where nothing more precise is known: a
    # name not among them is a validation error at once (`trigger.name`), not a failed run.
    given = {name.split(".", 1)[0] for name in specific}
    return [*(f"{name}." for name in sorted(SCOPE_NAMES - given)), *specific]


def _node_fields(node: Node) -> dict[str, Any]:
    values = node.model_dump(include=set(NODE_FIELDS), exclude_none=True)
    return {k: v for k, v in values.items() if not (k == "label" and v == "")}


class Inspector(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setMinimumWidth(340)
        self.document: FlowDocument | None = None
        self.scene: FlowScene | None = None
        self.node_id: str | None = None
        self.node_type: str | None = None
        self.context = FormContext()
        self.config_form: ObjectForm | None = None
        self.common_form: ObjectForm | None = None
        self.flow_form: ObjectForm | None = None
        self._session = 0
        self._rejected: dict[str, str] = {}
        self._selection_timer = QTimer(self, singleShot=True, interval=0)
        self._selection_timer.timeout.connect(self._sync_selection)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold; font-size: 13pt;")
        self.subtitle = QLabel()
        self.subtitle.setWordWrap(True)
        self.subtitle.setStyleSheet("color: #9a9a9a;")
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(f"color: {PROBLEM_COLORS['error']};")
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        for widget in (self.title, self.subtitle, self.banner):
            layout.addWidget(widget)
        layout.addWidget(self.scroll_area, 1)

    # ------------------------------------------------------------------------------ wiring

    def attach(self, scene: FlowScene) -> None:
        """Follow a scene's selection and its document (called when a document is opened)."""
        if self.scene is not None:
            self.scene.selectionChanged.disconnect(self._selection_timer.start)
        if self.document is not None:
            self.document.changed.disconnect(self.refresh)
        self.scene, self.document = scene, scene.document
        scene.selectionChanged.connect(self._selection_timer.start)
        self.document.changed.connect(self.refresh)
        if self.node_id is None and self.flow_form is not None:
            # The flow's settings form fits every flow: only its values change.
            self._session += 1
            self._rejected = {}
            self.refresh()
            return
        self.node_id = self.node_type = None
        self._build()

    def set_tool_names(self, names: list[str]) -> None:
        """The workspace's tools (from a reachable runtime), offered by every tool field."""
        self.context.tool_names = list(names)
        for field in self.context.tool_fields:
            field.set_tool_names(names)

    def _sync_selection(self) -> None:
        """Selections settle after a scene rebuild: read them once, after the event loop turn."""
        if self.scene is None:
            return
        selected = self.scene.selected_node_ids()
        self.show_node(next(iter(selected)) if len(selected) == 1 else None)

    def show_node(self, node_id: str | None) -> None:
        if node_id == self.node_id:
            return
        self._flush()
        self.node_id = node_id
        self._build()

    def _flush(self) -> None:
        for form in (self.config_form, self.common_form, self.flow_form):
            if form is not None:
                form.flush()

    # ---------------------------------------------------------------------------- building

    def _build(self) -> None:
        self._session += 1
        self._rejected = {}
        self.context.tool_fields.clear()
        self.config_form = self.common_form = self.flow_form = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 4, 0)
        node = self._node()
        spec = get_spec(node.type) if node else None
        self.node_type = node.type if node else None
        if node is not None and spec is not None:
            schema = spec.config_model.model_json_schema()
            self.config_form = self._form(schema, None, self._config_edited)
            layout.addWidget(self.config_form)
            layout.addWidget(_section("Node"))
            self.common_form = self._form(_NODE_SCHEMA, list(NODE_FIELDS), self._node_edited)
            layout.addWidget(self.common_form)
        elif node is None:
            self.flow_form = self._form(_FLOW_SCHEMA, list(FLOW_FIELDS), self._flow_edited)
            layout.addWidget(self.flow_form)
        layout.addStretch(1)
        self.scroll_area.setWidget(body)
        self.refresh()

    def _form(self, schema: dict[str, Any], keys: list[str] | None, slot: Any) -> ObjectForm:
        form = ObjectForm(schema, schema.get("$defs", {}), self.context, keys)
        form.edited.connect(slot)
        form.finished.connect(self._end_session)
        return form

    @property
    def _document(self) -> FlowDocument:
        assert self.document is not None, "the inspector is attached to a scene first"
        return self.document

    def _node(self) -> Node | None:
        if self.document is None or self.node_id is None:
            return None
        return self.document.flow.node(self.node_id)

    def refresh(self) -> None:
        """Show the document's values; fields whose value did not change keep the cursor."""
        if self.document is None:
            return
        node = self._node()
        if self.node_id is not None and (node is None or node.type != self.node_type):
            self.node_id = node.id if node else None
            self._build()
            return
        if node is not None:
            self._show_node(node)
        else:
            self._show_flow(self.document.flow)

    def _show_node(self, node: Node) -> None:
        spec = get_spec(node.type)
        self.title.setText(node.title)
        self.subtitle.setText(f"{spec.title if spec else node.type} · {node.id}")
        self.context.completions.setStringList(reference_names(self._document, node.id))
        issues = [i for i in self._document.issues if i.node_id == node.id]
        config_keys = set(self.config_form.editors) if self.config_form else set()
        config: list[Problem] = []
        common: list[Problem] = [(k, "error", m) for k, m in self._rejected.items()]
        loose: list[Issue] = []
        for issue in issues:
            problem = (issue.field or "", issue.severity, issue.message)
            head = (issue.field or "").split(".")[0].split("[")[0]
            if head in config_keys:
                config.append(problem)
            elif head in NODE_FIELDS:
                common.append(problem)
            else:
                loose.append(issue)
        if self.config_form is not None:
            self.config_form.set_value(node.config)
            self.config_form.set_problems(config)
        if self.common_form is not None:
            self.common_form.set_value(_node_fields(node))
            self.common_form.set_problems(common)
        self._show_banner(loose)

    def _show_flow(self, flow: Flow) -> None:
        self.title.setText(flow.name or flow.id)
        selected = len(self.scene.selected_node_ids()) if self.scene else 0
        where = f"{selected} nodes selected · " if selected > 1 else ""
        self.subtitle.setText(f"{where}Flow settings · {flow.id}")
        if self.flow_form is not None:
            values = flow.model_dump(include=set(FLOW_FIELDS), exclude_none=True)
            self.flow_form.set_value(values)
            self.flow_form.set_problems(
                [
                    (i.field, i.severity, i.message)
                    for i in self._document.issues
                    if i.field and not i.node_id
                ]
            )
        self._show_banner([])

    def _show_banner(self, issues: list[Issue]) -> None:
        self.banner.setText("\n".join(f"{i.severity}: {i.message}" for i in issues))
        self.banner.setVisible(bool(issues))

    # ----------------------------------------------------------------------------- editing

    def _end_session(self) -> None:
        """The field edit ended: the next change is a new undo step."""
        self._session += 1

    def _push(self, make: Any) -> None:
        if self.scene is None:
            return
        self.scene.undo_stack.push(make)

    def _config_edited(self, config: dict[str, Any]) -> None:
        node = self._node()
        if node is None or config == node.config:
            return
        key = (node.id, "config", self._session)
        self._push(edit_node_command(self._document, node.id, {"config": config}, key))

    def _node_edited(self, values: dict[str, Any]) -> None:
        node = self._node()
        if node is None:
            return
        changes = {k: values.get(k, default) for k, default in NODE_FIELDS.items()}
        key = (node.id, "node", self._session)
        try:
            command = edit_node_command(self._document, node.id, changes, key)
        except ValidationError as exc:
            self._rejected = {str(e["loc"][0]): e["msg"] for e in exc.errors(include_url=False)}
            self._show_node(node)
            return
        self._rejected = {}
        self._push(command)

    def _flow_edited(self, values: dict[str, Any]) -> None:
        changes = {k: values.get(k, default) for k, default in FLOW_FIELDS.items()}
        if changes["settings"] is None:
            changes.pop("settings")
        try:
            command = edit_flow_command(self._document, changes, ("flow", self._session))
        except ValidationError:
            return
        self._push(command)


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("font-weight: bold; color: #c8c8c8; padding-top: 10px;")
    return label
