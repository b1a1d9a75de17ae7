"""Which provider and model a node uses, and with which key.

Provider: the node's, else the flow's `settings.llm`, else the user's settings file
(`<data dir>/settings.json`: {"llm": {"provider", "model", "base_url", "base_urls",
"demo_rules_file"}}), else `demo`. Model: the first of those levels that names one and does not
name another provider, else the provider's default. API keys come from the workspace vault
(ANTHROPIC_API_KEY, OPENAI_API_KEY) or the environment, never from flow files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.llm.demo import DemoProvider, load_rules, parse_rules
from engine.llm.errors import LlmConfigError, MissingApiKeyError, UnknownProviderError
from engine.llm.model import Llm, RetryPolicy
from engine.llm.types import Provider
from engine.tools import SecretLookup

PROVIDERS = ("anthropic", "openai", "demo")
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "demo": "demo-1"}
KEY_NAMES = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
BASE_URL_ENV = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}
OPENAI_URL = "https://api.openai.com/v1"


def settings_file() -> Path:
    from engine.paths import data_dir

    return data_dir() / "settings.json"


def load_user_settings(path: Path | None = None) -> dict[str, Any]:
    """The `llm` section of the user's settings file; {} when there is none."""
    path = path or settings_file()
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LlmConfigError(f"settings file {path} cannot be read: {exc}") from None
    llm = document.get("llm", {}) if isinstance(document, dict) else None
    if not isinstance(llm, dict):
        raise LlmConfigError(f"settings file {path}: 'llm' must be an object")
    return llm


def _section(value: Any) -> dict[str, Any]:
    """Flow settings as a pydantic LlmSettings, a mapping, or None."""
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        dumped: dict[str, Any] = value.model_dump()
        return dumped
    return dict(value)


def choose(
    provider: str | None, model: str | None, flow: Mapping[str, Any], user: Mapping[str, Any]
) -> tuple[str, str]:
    """(provider, model) from the node, the flow and the user's settings, in that order."""
    levels = [{"provider": provider, "model": model}, flow, user]
    chosen = next((lv["provider"] for lv in levels if lv.get("provider")), "demo")
    if chosen not in PROVIDERS:
        raise UnknownProviderError(
            f"unknown LLM provider '{chosen}': use one of {', '.join(PROVIDERS)} "
            "(on the node, in the flow's settings.llm.provider or in settings.json)"
        )
    for level in levels:
        if level.get("model") and level.get("provider") in (None, "", chosen):
            return chosen, str(level["model"])
    if chosen not in DEFAULT_MODELS:
        raise LlmConfigError(
            f"no model is set for provider '{chosen}': set 'model' on the node, in the flow's "
            "settings.llm.model or in settings.json"
        )
    return chosen, DEFAULT_MODELS[chosen]


class LlmRegistry:
    """Resolves and caches providers for a runtime; put one in `Services.llm`, close it at exit."""

    def __init__(
        self,
        secrets: SecretLookup | None = None,
        *,
        settings_path: Path | None = None,
        environ: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._secrets = secrets
        self._settings_path = settings_path
        self._environ = os.environ if environ is None else environ
        self._retry = retry or RetryPolicy()
        self._providers: dict[tuple[str, str, str], Provider] = {}

    async def resolve(
        self,
        *,
        provider: str | None = None,
        model: str | None = None,
        flow_llm: Any = None,
        workspace: str = "",
    ) -> Llm:
        """The model a node should call. Raises `LlmConfigError` (and its subclasses)."""
        flow = _section(flow_llm)
        user = load_user_settings(self._settings_path)
        name, model_name = choose(provider, model, flow, user)
        if name == "demo":
            return Llm(self._demo(flow, user), model_name, self._retry)
        base_url = self._base_url(name, user)
        key = await self._key(name, workspace, base_url)
        cache_key = (name, base_url or "", key or "")
        if cache_key not in self._providers:
            self._providers[cache_key] = _connect(name, key, base_url)
        return Llm(self._providers[cache_key], model_name, self._retry)

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()

    def _demo(self, flow: Mapping[str, Any], user: Mapping[str, Any]) -> DemoProvider:
        """Flow rules first, then those of the user's rules file (relative to settings.json)."""
        rules = parse_rules(flow.get("demo_rules") or [], "settings.llm.demo_rules")
        if user.get("demo_rules_file"):
            settings_dir = (self._settings_path or settings_file()).parent
            rules += load_rules(settings_dir / Path(str(user["demo_rules_file"])).expanduser())
        return DemoProvider(rules)

    def _base_url(self, name: str, user: Mapping[str, Any]) -> str | None:
        per_provider = user.get("base_urls") or {}
        if isinstance(per_provider, dict) and per_provider.get(name):
            return str(per_provider[name])
        if user.get("base_url") and user.get("provider") == name:
            return str(user["base_url"])
        return self._environ.get(BASE_URL_ENV[name]) or None

    async def _key(self, name: str, workspace: str, base_url: str | None) -> str | None:
        secret = KEY_NAMES[name]
        if self._secrets is not None:
            try:
                return await self._secrets.get_secret(workspace, secret)
            except LookupError:
                pass
        if self._environ.get(secret):
            return self._environ[secret]
        if name == "openai" and base_url and base_url.rstrip("/") != OPENAI_URL:
            return None
        where = f"workspace '{workspace}'" if workspace else "the workspace"
        raise MissingApiKeyError(
            f"provider '{name}' needs an API key: add the secret {secret} to the vault of "
            f"{where}, or set the environment variable {secret}"
        )


def _connect(name: str, key: str | None, base_url: str | None) -> Provider:
    """A provider client; the SDKs are imported only when a real provider is used."""
    if name == "anthropic":
        from engine.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(key or "", base_url)
    from engine.llm.openai_provider import OpenAIProvider

    return OpenAIProvider(key, base_url)
