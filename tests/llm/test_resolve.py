"""Which provider, model and key a node gets: node, then flow settings, then the user's."""

import json

import pytest

from engine.flow.model import LlmSettings
from engine.llm import (
    LlmConfigError,
    LlmRegistry,
    LlmRequest,
    Message,
    MissingApiKeyError,
    UnknownProviderError,
    choose,
    messages_from_history,
)
from tests.llm.conftest import FAST_RETRY
from tests.llm.servers import KEY, LoopbackServer, Reply, Script

pytestmark = pytest.mark.anyio


class Vault:
    """A workspace vault holding some secrets (the SecretLookup protocol)."""

    def __init__(self, secrets: dict[tuple[str, str], str]) -> None:
        self.secrets = secrets

    async def get_secret(self, workspace: str, name: str) -> str:
        try:
            return self.secrets[(workspace, name)]
        except KeyError:
            raise KeyError(f"no secret {name} in {workspace}") from None


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "settings.json"

    def write(llm: dict) -> object:
        path.write_text(json.dumps({"llm": llm}))
        return path

    return write


def test_node_then_flow_then_user_settings_choose_provider_and_model():
    user = {"provider": "openai", "model": "llama3.2"}
    flow = {"provider": "anthropic", "model": "claude-x"}
    assert choose("demo", "demo-2", flow, user) == ("demo", "demo-2")
    assert choose(None, None, flow, user) == ("anthropic", "claude-x")
    assert choose(None, None, {}, user) == ("openai", "llama3.2")
    assert choose(None, "claude-y", flow, user) == ("anthropic", "claude-y")


def test_a_model_is_not_borrowed_from_a_level_naming_another_provider():
    assert choose("anthropic", None, {"provider": "openai", "model": "gpt"}, {}) == (
        "anthropic",
        "claude-sonnet-4-5",
    )
    assert choose("openai", None, {"model": "qwen"}, {"provider": "anthropic"}) == (
        "openai",
        "qwen",
    )


def test_nothing_set_anywhere_means_the_demo_model():
    assert choose(None, None, {}, {}) == ("demo", "demo-1")


def test_unknown_provider_and_missing_model_are_clear_errors():
    with pytest.raises(UnknownProviderError, match="unknown LLM provider 'gemini': use one of"):
        choose("gemini", None, {}, {})
    with pytest.raises(LlmConfigError, match="no model is set for provider 'openai'"):
        choose("openai", None, {}, {})


async def test_flow_demo_rules_and_a_user_rules_file_drive_the_demo_model(settings, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": "ping", "text": "pong from file"}]))
    registry = LlmRegistry(settings_path=settings({"demo_rules_file": "rules.json"}))
    flow = LlmSettings(provider="demo", demo_rules=[{"match": "hello", "text": "hi from flow"}])
    llm = await registry.resolve(flow_llm=flow)
    assert llm.name == "demo:demo-1"
    answers = [
        (await llm.complete(LlmRequest(messages=(Message.user(text),)))).text
        for text in ("hello", "ping")
    ]
    assert answers == ["hi from flow", "pong from file"]


async def test_key_comes_from_the_workspace_vault_before_the_environment(
    server: LoopbackServer, script: Script, settings
):
    path = settings({"provider": "anthropic", "base_url": server.url})
    vault = Vault({("support", "ANTHROPIC_API_KEY"): KEY})
    registry = LlmRegistry(vault, settings_path=path, environ={"ANTHROPIC_API_KEY": "sk-env-x"})
    script.reset(Reply(text="from the vault key"))
    try:
        llm = await registry.resolve(model="claude-test", workspace="support")
        response = await llm.complete(LlmRequest(messages=(Message.user("hi"),)))
    finally:
        await registry.aclose()
    assert response.text == "from the vault key"
    assert script.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


async def test_key_comes_from_the_environment_when_the_vault_lacks_it(
    server: LoopbackServer, script: Script, settings
):
    path = settings({"base_urls": {"openai": server.url + "/v1"}})
    registry = LlmRegistry(Vault({}), settings_path=path, environ={"OPENAI_API_KEY": KEY})
    script.reset(Reply(text="env key"))
    try:
        llm = await registry.resolve(provider="openai", model="gpt-x", workspace="w")
        assert llm.name == "openai:gpt-x"
        response = await llm.complete(LlmRequest(messages=(Message.user("hi"),)))
    finally:
        await registry.aclose()
    assert response.text == "env key"
    assert script.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


async def test_missing_key_names_the_secret_and_how_to_add_it(settings):
    registry = LlmRegistry(Vault({}), settings_path=settings({}), environ={})
    with pytest.raises(MissingApiKeyError) as caught:
        await registry.resolve(provider="anthropic", workspace="support")
    assert str(caught.value) == (
        "provider 'anthropic' needs an API key: add the secret ANTHROPIC_API_KEY to the vault of "
        "workspace 'support', or set the environment variable ANTHROPIC_API_KEY"
    )
    assert caught.value.kind == "llm_missing_key"
    with pytest.raises(MissingApiKeyError, match="OPENAI_API_KEY"):
        await registry.resolve(provider="openai", model="gpt-x")


async def test_a_local_openai_compatible_server_needs_no_key(settings):
    path = settings(
        {"provider": "openai", "model": "llama3.2", "base_url": "http://127.0.0.1:9/v1"}
    )
    registry = LlmRegistry(settings_path=path, environ={}, retry=FAST_RETRY)
    llm = await registry.resolve()
    await registry.aclose()
    assert llm.name == "openai:llama3.2"


async def test_user_settings_are_read_from_the_data_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("AEROSTUDIO_HOME", str(tmp_path))
    (tmp_path / "settings.json").write_text(
        json.dumps({"llm": {"provider": "demo", "model": "d2"}})
    )
    llm = await LlmRegistry(environ={}).resolve()
    assert llm.name == "demo:d2"


async def test_an_unreadable_settings_file_is_a_clear_error(settings, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{oops")
    with pytest.raises(LlmConfigError, match=r"settings file .*settings.json cannot be read"):
        await LlmRegistry(settings_path=path).resolve()


def test_history_becomes_messages_and_bad_entries_are_named():
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert messages_from_history(history) == [Message.user("hi"), Message.assistant("hello")]
    assert messages_from_history(None) == []
    with pytest.raises(LlmConfigError, match=r"history\[1\] must be \{role: user or assistant"):
        messages_from_history(
            [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]
        )
