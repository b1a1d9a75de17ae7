"""The flow document (docs/flows.md §1) as immutable pydantic models.

Node configs stay raw JSON objects here, exactly as written, so that a flow with a mistake in one
field still opens; `Node.parsed_config()` checks a config against its type, and validation reports
what is wrong as issues.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from engine.nodes import NodeConfig, get_spec
from engine.nodes.spec import capped

FORMAT = "aerostudio.flow/1"
ID_PATTERN = r"^[a-z0-9_-]{1,64}$"
HANDLE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class DocumentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LlmSettings(DocumentModel):
    provider: str | None = Field(None, description="Default LLM provider of the flow's nodes")
    model: str | None = Field(None, description="Default model of the flow's nodes")
    demo_rules: list[dict[str, Any]] = Field(
        default_factory=list, description="Rules of the scripted demo model (provider demo)"
    )


class Settings(DocumentModel):
    llm: LlmSettings | None = Field(None, description="Default provider and model")
    max_node_runs: int = capped(1000, 100_000, "Most node executions in one run", ge=1)
    timeout_s: float = capped(86400, 30 * 86400, "Fail the run after this many seconds", ge=1)
    max_concurrency: int = capped(8, 64, "Most nodes running at once", ge=1)


class Retry(DocumentModel):
    max_attempts: int = capped(1, 10, "Attempts in all, the first included", ge=1)
    backoff_s: float = Field(1.0, ge=0, description="Wait before the second attempt")
    backoff_factor: float = Field(2.0, ge=1, description="Each later wait is this much longer")


class Node(DocumentModel):
    id: str = Field(pattern=ID_PATTERN, description="Stable id, unique in the flow")
    type: str = Field(description="Node type, one of the 19 of docs/flows.md §4 (docs/nodes.md)")
    label: str = Field("", description="Name shown on the canvas (empty: the type's title)")
    position: tuple[float, float] = Field((0.0, 0.0), description="Canvas position [x, y]")
    config: dict[str, Any] = Field(default_factory=dict, description="Settings of the node type")
    retry: Retry | None = Field(None, description="Retries before the node fails")
    timeout_s: float | None = capped(None, 30 * 86400, "Fail an attempt after this many seconds")
    output_variable: str | None = Field(
        None, pattern=r"^[A-Za-z_]\w*$", description="Also store the output in vars.<name>"
    )

    def parsed_config(self) -> NodeConfig:
        """The config checked against the node's type (raises pydantic's ValidationError)."""
        spec = get_spec(self.type)
        if spec is None:
            raise KeyError(f"unknown node type '{self.type}'")
        config: NodeConfig = spec.config_model.model_validate(self.config)
        return config

    @property
    def title(self) -> str:
        spec = get_spec(self.type)
        return self.label or (spec.title if spec else self.type)


class Edge(DocumentModel):
    id: str = Field(pattern=ID_PATTERN, description="Stable id, unique in the flow")
    source: str = Field(alias="from", description="Id of the node the edge leaves")
    handle: str = Field("out", pattern=HANDLE_PATTERN, description="Output handle it leaves from")
    target: str = Field(alias="to", description="Id of the node it enters")


class Note(DocumentModel):
    id: str = Field(pattern=ID_PATTERN, description="Stable id, unique in the flow")
    text: str = Field("", description="Text of the sticky note")
    position: tuple[float, float] = Field((0.0, 0.0), description="Canvas position [x, y]")
    size: tuple[float, float] = Field((220.0, 80.0), description="Width and height")


class Flow(DocumentModel):
    format: str = Field(FORMAT, description="Format version of the file")
    id: str = Field(pattern=ID_PATTERN, description="Stable id of the flow")
    name: str = Field(description="Name shown to people")
    description: str = Field("", description="What the flow does")
    workspace: str | None = Field(None, description="Workspace whose tools and secrets it uses")
    settings: Settings = Field(default_factory=Settings, description="Run-wide settings")
    nodes: tuple[Node, ...] = Field(default=(), description="The nodes")
    edges: tuple[Edge, ...] = Field(default=(), description="The edges, from a handle to a node")
    notes: tuple[Note, ...] = Field(default=(), description="Sticky notes on the canvas")

    # Cached against the nodes tuple itself: `model_copy(update={"nodes": ...})` copies private
    # attributes, so a cache keyed on anything else would go stale after an edit.
    _node_map: tuple[tuple[Node, ...], dict[str, Node]] | None = PrivateAttr(default=None)

    @property
    def node_map(self) -> dict[str, Node]:
        """Nodes by id (the first one wins where ids repeat; validation reports duplicates)."""
        cached = self._node_map
        if cached is not None and cached[0] is self.nodes:
            return cached[1]
        found: dict[str, Node] = {}
        for node in self.nodes:
            found.setdefault(node.id, node)
        self._node_map = (self.nodes, found)
        return found

    def node(self, node_id: str) -> Node | None:
        return self.node_map.get(node_id)
