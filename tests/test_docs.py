"""The contract in docs/: the node reference matches the specs; no link leaves the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.nodes import NODE_SPECS
from engine.nodes.reference import COMMAND, MissingDocstringError, render
from engine.nodes.spec import NodeSpec, walk_fields

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "nodes.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")
OLD_CONTRACT = re.compile(r"\.\./shared|\b(NODES|DESIGN|STYLE)\.md\b")


def test_the_committed_node_reference_is_the_generated_one() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), (
        f"docs/nodes.md is stale: a node spec changed; regenerate it with `{COMMAND}`"
    )


def test_the_command_prints_the_reference() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "engine.nodes.reference"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    ).stdout
    assert printed == render()


def test_every_type_field_and_handle_is_in_the_reference() -> None:
    text = render()
    assert len(NODE_SPECS) == 19
    for spec in NODE_SPECS.values():
        section = text.split(f"\n## {spec.type}\n", 1)[1].split("\n## ", 1)[0]
        for path, _ in walk_fields(spec.config_model):
            assert f"| `{path}` |" in section, (spec.type, path)
        for handle in spec.outputs:
            assert f"`{handle}`" in section, (spec.type, handle)
        assert spec.output and spec.output in section, spec.type


def test_a_handle_function_without_a_docstring_is_named() -> None:
    logic = NODE_SPECS["logic"]
    spec = NodeSpec(
        type="bare",
        title="Bare",
        description="A spec whose handles nobody explained",
        category=logic.category,
        icon="x",
        config_model=logic.config_model,
        dynamic_outputs=lambda config: ["a"],
    )
    with pytest.raises(MissingDocstringError, match="node type 'bare': <lambda> needs a docstring"):
        render([spec])


def _text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    suffixes = {".md", ".py", ".toml", ".json", ".txt", ""}
    return [ROOT / name for name in listed if Path(name).suffix in suffixes]


def test_no_file_points_at_the_old_contract_outside_the_repository() -> None:
    here = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in _text_files()
        if path != here and path.is_file()
        for match in OLD_CONTRACT.finditer(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not found, "the contract is docs/ in the repository; point these there: " + str(found)


def test_markdown_links_resolve_inside_the_repository() -> None:
    broken = []
    for path in _text_files():
        if path.suffix != ".md" or not path.is_file():
            continue
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:|^#", target):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not broken, f"links that leave the repository or lead nowhere: {broken}"
