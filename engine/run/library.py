"""The flows a runtime can start by name: what `delegate_to_bot` targets resolve against."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from engine.flow import Flow, FlowLoadError, load


def _names(flow: Flow) -> set[str]:
    """A flow answers to its id and to the slugs of its endpoint triggers."""
    names = {flow.id}
    for node in flow.nodes:
        if node.type == "trigger" and node.config.get("kind") == "endpoint":
            slug = (node.config.get("endpoint") or {}).get("slug")
            if slug:
                names.add(str(slug))
    return names


class FlowLibrary:
    """Registered flows (deployments) first, then the `*.flow.json` files of some folders,
    searched in order; files are read again when they change."""

    def __init__(self, folders: Iterable[Path] = (), flows: Iterable[Flow] = ()) -> None:
        self.folders = [Path(f) for f in folders]
        self._registered: dict[str, Flow] = {}
        self._files: dict[Path, tuple[float, Flow | None]] = {}
        for flow in flows:
            self.add(flow)

    def add(self, flow: Flow) -> None:
        for name in _names(flow):
            self._registered[name] = flow

    def find(self, target: str) -> Flow:
        if target in self._registered:
            return self._registered[target]
        for folder in self.folders:
            exact = folder / f"{target}.flow.json"
            candidates = [exact] if exact.is_file() else []
            candidates += sorted(p for p in folder.glob("*.flow.json") if p != exact)
            for path in candidates:
                flow = self._read(path)
                if flow is not None and target in _names(flow):
                    return flow
        where = ", ".join(str(f) for f in self.folders) or "no folders"
        raise LookupError(f"no flow '{target}' is known to this runtime (looked in {where})")

    def _read(self, path: Path) -> Flow | None:
        """The flow in a file, or None if it does not load (it cannot be a target then)."""
        mtime = path.stat().st_mtime
        cached = self._files.get(path)
        if cached is None or cached[0] != mtime:
            try:
                flow: Flow | None = load(path)
            except FlowLoadError:
                flow = None
            cached = self._files[path] = (mtime, flow)
        return cached[1]
