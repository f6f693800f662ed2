"""LLM services (``ctx.llm.run``): an OpenAI-compatible chat-completions backend, metered per tenant.

The backend is configured by the operator (``settings.PLUGYARD_LLM``), so it is called
directly rather than through the plugin HTTP broker; plugins choose the prompt and a few
options, never the endpoint, the key or the model. Every call that reaches the backend is
counted in :class:`~plugins_core.host.models.LlmUsage` (calls and tokens, per tenant per
day), and an optional daily token budget per tenant is enforced before calling.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F

from plugins_core.host.errors import BadArguments, NotAvailable, QuotaExceeded, UpstreamError
from plugins_core.host.models import LlmUsage

__all__ = ["llm_settings", "run"]

OPTIONS = frozenset({"system", "temperature", "max_tokens"})


def llm_settings() -> dict[str, Any]:
    return settings.PLUGYARD_LLM


def _messages(prompt: Any, options: dict[str, Any], config: dict[str, Any]) -> list[dict[str, str]]:
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadArguments("the prompt must be non-empty text")
    system = options.get("system")
    if system is not None and not isinstance(system, str):
        raise BadArguments("option 'system' must be text")
    size = len(prompt) + len(system or "")
    if size > config["max_prompt_chars"]:
        raise QuotaExceeded(f"the prompt is {size} characters; the limit is {config['max_prompt_chars']}")
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return messages


def _usage_row(tenant):
    today = dt.datetime.now(dt.UTC).date()
    row, _ = LlmUsage.objects.for_tenant(tenant).get_or_create(tenant=tenant, day=today)
    return row


def _record(tenant, prompt_tokens: int, completion_tokens: int) -> None:
    with transaction.atomic():
        row = _usage_row(tenant)
        LlmUsage.objects.for_tenant(tenant).filter(pk=row.pk).update(
            calls=F("calls") + 1,
            prompt_tokens=F("prompt_tokens") + max(0, prompt_tokens),
            completion_tokens=F("completion_tokens") + max(0, completion_tokens),
        )


def run(tenant, prompt: Any, options: Any = None) -> str:
    """Run one prompt; returns the reply's text."""
    config = llm_settings()
    if not config["base_url"]:
        raise NotAvailable("no LLM backend is configured on this server: its operator sets "
                           "PLUGYARD_LLM_BASE_URL (an OpenAI-compatible server; see docs/operators.md)")
    options = options or {}
    if not isinstance(options, dict):
        raise BadArguments("options must be an object")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise BadArguments(f"unknown LLM option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(OPTIONS))}")
    messages = _messages(prompt, options, config)
    max_tokens = options.get("max_tokens", config["max_tokens"])
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadArguments("option 'max_tokens' must be a positive integer")
    temperature = options.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)):
        raise BadArguments("option 'temperature' must be a number")

    budget = config["daily_token_limit"]
    if budget is not None:
        used = _usage_row(tenant).total_tokens
        if used >= budget:
            raise QuotaExceeded(f"this tenant has used its {budget} LLM tokens for today")

    payload: dict[str, Any] = {"model": config["model"], "messages": messages,
                               "max_tokens": min(max_tokens, int(config["max_tokens"]))}
    if temperature is not None:
        payload["temperature"] = float(temperature)
    headers = {"Content-Type": "application/json"}
    if config["api_key"]:
        headers["Authorization"] = f"Bearer {config['api_key']}"
    url = str(config["base_url"]).rstrip("/") + "/chat/completions"
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.post(url, json=payload, headers=headers, timeout=config["timeout_s"],
                                    allow_redirects=False, stream=True)
            raw = response.raw.read(int(config["max_response_bytes"]) + 1, decode_content=True)
    except requests.exceptions.Timeout:
        raise UpstreamError(f"the LLM backend did not answer within {config['timeout_s']} s") from None
    except requests.exceptions.RequestException as exc:
        raise UpstreamError(f"the LLM backend could not be reached: {type(exc).__name__}") from None
    if len(raw) > int(config["max_response_bytes"]):
        raise UpstreamError("the LLM backend's answer is larger than the limit")
    if response.status_code != 200:
        raise UpstreamError(f"the LLM backend answered HTTP {response.status_code}")
    try:
        import json

        body = json.loads(raw)
        text = body["choices"][0]["message"]["content"]
        usage = body.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError):
        raise UpstreamError("the LLM backend's answer is not an OpenAI-style chat completion") from None
    _record(tenant, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    return text if isinstance(text, str) else str(text)
