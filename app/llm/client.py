"""An OpenAI-compatible ``POST {base_url}/chat/completions`` client: the one adapter to a language model.

Any failure (no connection, timeout, a non-2xx, a body without ``choices[0].message.content``) raises
``LlmError``; the caller falls back to what it had (the support agent: its extractive answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests


class LlmError(RuntimeError):
    """The model gave no usable answer."""


@dataclass
class ChatClient:
    base_url: str  # e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama)
    model: str
    api_key: str | None = None
    timeout_s: float = 4.0

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 300) -> str:
        """The model's reply to ``messages`` (temperature 0)."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        try:
            response = requests.post(
                self.base_url.rstrip("/") + "/chat/completions",
                json=body,
                headers=headers,
                timeout=self.timeout_s,
            )
        except requests.RequestException as exc:
            raise LlmError(f"no answer from the model: {exc}") from exc
        if not response.ok:
            raise LlmError(f"the model answered {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LlmError("the model's answer has no choices[0].message.content") from exc
        if not isinstance(content, str) or not content.strip():
            raise LlmError("the model's answer is empty")
        return content


def client_from(base_url: str | None, model: str | None, api_key: str | None) -> ChatClient | None:
    """The configured client, or None when no model is configured (the default)."""
    if not base_url or not model:
        return None
    return ChatClient(base_url, model, api_key)
