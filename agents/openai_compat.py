"""Any OpenAI-compatible chat endpoint as an agent: vLLM, llama.cpp's server, ``transformers serve``, hosted APIs.

Tools are sent as ``tools=`` with ``tool_choice`` (default "auto"); a reply's ``tool_calls`` come back as JSON
text that `fcgym.parse_calls` reads, and a reply without calls comes back as its text. The official ``openai``
client does the retries (exponential backoff) and timeouts; a dead, refusing or slow endpoint raises
`EndpointError` with the reason. ``act_batch`` sends up to ``concurrency`` requests at once.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from agents.base import Prompt
from fcgym import FCGymError


class EndpointError(FCGymError):
    """The endpoint could not be reached, refused the request, or did not answer in time."""


class OpenAIAgent:
    """A chat model behind an OpenAI-compatible ``/v1/chat/completions``."""

    def __init__(self, base_url: str, model: str, api_key: str = "not-needed", *, temperature: float = 0.0,
                 max_tokens: int = 256, timeout: float = 60.0, max_retries: int = 2, concurrency: int = 4,
                 tool_choice: str = "auto", seed: int | None = None):
        from openai import OpenAI

        self.client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self.model, self.temperature, self.max_tokens = model, temperature, max_tokens
        self.concurrency, self.tool_choice, self.seed = concurrency, tool_choice, seed

    def reset(self, seed: int | None) -> None:
        self.seed = seed

    def act(self, messages: list[dict], tools: list[dict]) -> str:
        import openai

        request = {"model": self.model, "messages": [_sendable(m) for m in messages],
                   "temperature": self.temperature, "max_tokens": self.max_tokens}
        if tools:
            request.update(tools=tools, tool_choice=self.tool_choice)
        if self.seed is not None:
            request["seed"] = self.seed
        try:
            response = self.client.chat.completions.create(**request)
        except openai.APITimeoutError:
            raise EndpointError(f"{self.client.base_url} did not answer within {self.client.timeout} s") from None
        except openai.APIConnectionError as error:
            raise EndpointError(f"cannot reach {self.client.base_url}: {error}") from None
        except openai.APIStatusError as error:
            raise EndpointError(f"{self.client.base_url} answered HTTP {error.status_code}: {error.message}") from None
        if not response.choices:
            raise EndpointError(f"{self.client.base_url} returned no choices")
        message = response.choices[0].message
        if message.tool_calls:
            return json.dumps([{"name": call.function.name, "arguments": call.function.arguments}
                               for call in message.tool_calls])
        return message.content or ""

    def act_batch(self, prompts: list[Prompt]) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda prompt: self.act(*prompt), prompts))


def _sendable(message: dict) -> dict:
    """A chat message as strict servers accept it: text content never None, tool results as user text
    when they carry no ``tool_call_id`` (ToolDuel's tool messages name the tool instead)."""
    if message["role"] == "tool" and "tool_call_id" not in message:
        return {"role": "user", "content": f"Result of {message.get('name', 'the tool')}: {message['content']}"}
    return {**message, "content": message.get("content") or ""}
