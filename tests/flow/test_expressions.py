"""Expressions (docs/flows.md §2): sandboxed Jinja2, native single expressions, references."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import nodes as jnodes

from engine.flow.expressions import (
    ExpressionError,
    _parse,
    _simple_references,
    config_strings,
    evaluate,
    references,
    render,
    render_value,
    syntax_error,
)
from engine.nodes import get_spec

SCOPE = {
    "input": {"text": "hello", "rows": [1, 2, 3], "user": {"name": "Ada"}},
    "vars": {"total": 6},
    "nodes": {"ask": {"text": "yes", "json": {"score": 0.9}}},
    "run": {"id": "r1"},
}


def test_single_expression_yields_the_native_value():
    assert render("{{ input.rows }}", SCOPE) == [1, 2, 3]
    assert render("{{ nodes.ask.json.score }}", SCOPE) == 0.9
    assert render("{{ input.rows | length > 2 }}", SCOPE) is True


def test_mixed_template_yields_text():
    assert render("Hi {{ input.user.name }}: {{ vars.total }}", SCOPE) == "Hi Ada: 6"
    assert render("{{ input.text }}{{ vars.total }}", SCOPE) == "hello6"


def test_plain_text_is_returned_unchanged():
    assert render("no braces here", SCOPE) == "no braces here"


def test_templates_nest_in_objects_and_lists():
    value = {"q": "{{ input.text }}", "n": ["{{ vars.total }}", 3], "flag": True}
    assert render_value(value, SCOPE) == {"q": "hello", "n": [6, 3], "flag": True}


def test_bare_expressions_evaluate():
    assert evaluate("input.rows[1] * vars.total", SCOPE) == 12
    assert evaluate("nodes['ask'].text == 'yes'", SCOPE) is True


def test_missing_names_raise_a_clear_error():
    with pytest.raises(ExpressionError, match="has no attribute 'missing'"):
        render("{{ input.missing }}", SCOPE)
    with pytest.raises(ExpressionError, match="'secret' is undefined"):
        evaluate("secret", SCOPE)


def test_default_filter_handles_optional_fields():
    assert render("{{ input.comment | default('none') }}", SCOPE) == "none"


@pytest.mark.parametrize(
    "attack",
    ["input.__class__.__mro__", "run.__init__.__globals__", "''.__class__.__subclasses__()"],
)
def test_python_internals_are_unreachable(attack):
    with pytest.raises(ExpressionError):
        evaluate(attack, SCOPE)


def test_random_is_not_available_so_replays_agree():
    with pytest.raises(ExpressionError):
        evaluate("input.rows | random", SCOPE)


def test_syntax_errors_are_reported():
    assert syntax_error("{{ input.x + }}", "template") is not None
    assert syntax_error("input.x +", "expression") is not None
    assert syntax_error("", "expression") == "the expression is empty"
    assert syntax_error("{{ input.x + 1 }}", "template") is None


def test_references_list_nodes_and_vars():
    refs = references("{{ nodes.ask.text }} {{ nodes['plan'].json }} {{ vars.total }}", "template")
    assert refs.nodes == {"ask", "plan"}
    assert refs.vars == {"total"}
    assert not refs.error
    assert references("error.message ~ vars.x", "expression").error


def test_config_strings_walk_templates_and_expressions():
    spec = get_spec("logic")
    config = {
        "mode": "switch",
        "value": "input.kind",
        "cases": [{"handle": "a", "equals": "x"}, {"handle": "b", "when": "vars.n > 2"}],
    }
    assert list(config_strings(spec, config)) == [
        ("value", "expression", "input.kind"),
        ("cases[1].when", "expression", "vars.n > 2"),
    ]


def test_code_is_not_a_template():
    spec = get_spec("code_block")
    config = {"code": "def main(input, vars, nodes):\n    return f'{{x}}'"}
    assert list(config_strings(spec, config)) == []


# Strings built from the pieces the fast path recognises, and some it must refuse.
_pieces = st.sampled_from(
    [
        "input",
        "vars",
        "nodes",
        "run",
        "error",
        "item",
        ".text",
        ".json",
        "['ask']",
        '["a-b"]',
        "[0]",
        "[ 'x' ]",
        " | default('')",
        " | length",
        " | tojson",
        "(",
        ")",
        " + 1",
        " and ",
        " not ",
        "'",
        "{",
        "}",
        ".if",
        ".not",
        " | default(none)",
        " | default(-1, true)",
        " ",
        "\n",
        "|",
        "[",
        "]",
        " == ",
        " != ",
        ">",
        " <= ",
        " ** ",
        " // ",
        " ~ ",
        "-",
        " or ",
        " in ",
        " not in ",
        " is defined",
        " if ",
        " else ",
        "[1:]",
        "[:-2]",
        "[::2]",
        "2",
        "0.5",
        "007",
        ".5",
        "1e3",
        "'a'",
        "'nodes.x'",
        "true",
        "none",
    ]
)
_expressions = st.lists(_pieces, min_size=1, max_size=6).map("".join)
# Mostly well-formed conditions (operands joined by operators), so the accepting side of the fast
# path is exercised as much as the refusing side; a stray piece now and then breaks them.
_paths = st.tuples(
    st.sampled_from(["input", "vars", "nodes", "error"]),
    st.lists(st.sampled_from([".a", "['b']", "[0]", "[1:]", ".if"]), max_size=3).map("".join),
).map("".join)
_operands = st.tuples(
    st.sampled_from(["", "-", "not "]),
    st.one_of(_paths, st.sampled_from(["2", "0.5", "'a'", "none", "(x)", "'x'[0]"])),
    st.lists(st.sampled_from([" | length", "|default(0)", "|default('nodes.z')"]), max_size=2),
).map(lambda parts: parts[0] + parts[1] + "".join(parts[2]))
_operators = st.sampled_from([" == ", ">", " + ", " and ", " or ", " in ", " not in ", " ~ "])
_conditions = st.tuples(
    _operands,
    st.lists(st.tuples(_operators, _operands), max_size=3),
    st.one_of(st.just(""), _pieces),
).map(lambda t: t[0] + "".join(op + operand for op, operand in t[1]) + t[2])
_templates = st.lists(
    st.one_of(
        st.one_of(_expressions, _conditions).map(lambda e: "{{" + e + "}}"),
        st.sampled_from(["a ", "}} ", "{{", "x", "{{-", "-}}", "{{+"]),
    ),
    min_size=1,
    max_size=4,
).map("".join)


@settings(max_examples=600)
@given(
    st.one_of(
        _expressions.map(lambda t: (t, "expression")),
        _conditions.map(lambda t: (t, "expression")),
        _templates.map(lambda t: (t, "template")),
    )
)
def test_fast_path_agrees_with_the_jinja_parser(case):
    text, kind = case
    shortcut = _simple_references(text, kind)
    if shortcut is None:
        return
    parsed = _parse(text, kind)
    assert not isinstance(parsed, str), f"fast path accepted {text!r}: {parsed}"
    references.cache_clear()
    full_nodes, full_vars = set(), set()
    for node in parsed.find_all(jnodes.Getattr):
        if isinstance(node.node, jnodes.Name) and node.node.name in ("nodes", "vars"):
            (full_nodes if node.node.name == "nodes" else full_vars).add(node.attr)
    for node in parsed.find_all(jnodes.Getitem):
        if (
            isinstance(node.node, jnodes.Name)
            and node.node.name in ("nodes", "vars")
            and isinstance(node.arg, jnodes.Const)
            and isinstance(node.arg.value, str)
        ):
            (full_nodes if node.node.name == "nodes" else full_vars).add(node.arg.value)
    assert shortcut.nodes == full_nodes
    assert shortcut.vars == full_vars
    assert shortcut.error == any(n.name == "error" for n in parsed.find_all(jnodes.Name))


@pytest.mark.parametrize(
    ("text", "nodes", "vars_"),
    [
        ("nodes['ask'].text | default('')", {"ask"}, set()),
        ("input.n > 3 and not vars.done", set(), {"done"}),
        ("input.rows[2:]", set(), set()),
        ("nodes.a.score >= 0.5 or vars['mode'] == 'fast'", {"a"}, {"mode"}),
        ("input.tag not in vars.seen and -input.n < 2", set(), {"seen"}),
        ("'nodes.x' ~ nodes['y'][0]", {"y"}, set()),
    ],
)
def test_fast_path_takes_common_conditions(text, nodes, vars_):
    """Conditions, slices and comparisons skip Jinja's parser: opening big flows depends on it."""
    found = _simple_references(text, "expression")
    assert found is not None
    assert (found.nodes, found.vars) == (nodes, vars_)
