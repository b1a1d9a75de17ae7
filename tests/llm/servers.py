"""Loopback servers speaking the Anthropic Messages API and OpenAI chat completions.

Each test scripts the replies (`Reply`) and reads what arrived (`Script.requests`); the server
renders a reply as JSON or as the provider's SSE stream, depending on the request's `stream`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

KEY = "sk-test-0123456789abcdef"


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    usage: tuple[int, int] = (11, 7)
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    stream_error: str = ""
    stream_error_after_text: bool = False
    ignore_stream: bool = False
    garbage: bool = False


@dataclass
class Script:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests = []


def _chunks(text: str) -> list[str]:
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def _sse(event: str | None, data: Any) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


async def _take(script: Script, request: Request) -> tuple[dict[str, Any], Reply, bool]:
    body = await request.json()
    script.requests.append({"body": body, "headers": dict(request.headers)})
    authorized = request.headers.get("authorization") == f"Bearer {KEY}"
    reply = script.replies.pop(0) if script.replies else Reply(status=500, error="script empty")
    return body, reply, authorized


# Anthropic Messages API


def _anthropic_error(status: int, kind: str, message: str, headers: dict[str, str]) -> Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


_ANTHROPIC_TYPES = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


async def anthropic_messages(request: Request) -> Response:
    script: Script = request.app.state.script
    body, reply, authorized = await _take(script, request)
    if not authorized:
        got = request.headers.get("authorization", "")
        return _anthropic_error(401, "authentication_error", f"invalid key {got}", {})
    if reply.garbage:
        return Response("<html>proxy login</html>", media_type="application/json")
    if reply.status != 200:
        kind = _ANTHROPIC_TYPES.get(reply.status, "invalid_request_error")
        return _anthropic_error(reply.status, kind, reply.error, reply.headers)
    content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
    content += [
        {"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in reply.tool_calls
    ]
    message = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.usage[0], "output_tokens": reply.usage[1]},
    }
    if not body.get("stream"):
        return JSONResponse(message)
    return StreamingResponse(_anthropic_events(message, reply), media_type="text/event-stream")


async def _anthropic_events(message: dict[str, Any], reply: Reply) -> AsyncIterator[str]:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": reply.stream_error}}
    if reply.stream_error and not reply.stream_error_after_text:
        yield _sse("error", error)
        return
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": reply.usage[0], "output_tokens": 1}
    yield _sse("message_start", {"type": "message_start", "message": start})
    if reply.stream_error:
        block = {"type": "text", "text": ""}
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
        delta = {"type": "text_delta", "text": "Half an ans"}
        yield _sse(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )
        yield _sse("error", error)
        return
    yield _sse("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        opened = {**block, "text": ""} if block["type"] == "text" else {**block, "input": {}}
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opened},
        )
        if block["type"] == "text":
            deltas = [{"type": "text_delta", "text": piece} for piece in _chunks(block["text"])]
        else:
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in _chunks(raw)]
        for delta in deltas:
            yield _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": reply.usage[1]},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


# OpenAI chat completions


async def openai_chat(request: Request) -> Response:
    script: Script = request.app.state.script
    body, reply, authorized = await _take(script, request)
    if request.app.state.require_key and not authorized:
        got = request.headers.get("authorization", "")
        error = {"message": f"Incorrect API key provided: {got}", "type": "invalid_request_error"}
        return JSONResponse({"error": error}, status_code=401)
    if reply.garbage:
        return Response("<html>proxy login</html>", media_type="application/json")
    if reply.status != 200:
        error = {"message": reply.error, "type": "server_error", "code": None}
        return JSONResponse({"error": error}, status_code=reply.status, headers=reply.headers)
    calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, n, a in reply.tool_calls
    ]
    usage = {
        "prompt_tokens": reply.usage[0],
        "completion_tokens": reply.usage[1],
        "total_tokens": sum(reply.usage),
    }
    finish = "tool_calls" if calls else "stop"
    if not body.get("stream") or reply.ignore_stream:
        message = {"role": "assistant", "content": reply.text or None}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        )
    return StreamingResponse(
        _openai_chunks(body, reply, calls, usage, finish), media_type="text/event-stream"
    )


def _openai_chunks(
    body: dict[str, Any],
    reply: Reply,
    calls: list[dict[str, Any]],
    usage: dict[str, int],
    finish: str,
) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": body["model"]}
        return _sse(None, {**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    for piece in _chunks(reply.text):
        yield chunk({"content": piece})
    if reply.stream_error:
        yield _sse(None, {"error": {"message": reply.stream_error, "type": "server_error"}})
        return
    for index, call in enumerate(calls):
        head = {"index": index, "id": call["id"], "type": "function"}
        head["function"] = {"name": call["function"]["name"], "arguments": ""}
        yield chunk({"tool_calls": [head]})
        for piece in _chunks(call["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, finish)
    if body.get("stream_options", {}).get("include_usage"):
        last = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": body["model"]}
        yield _sse(None, {**last, "choices": [], "usage": usage})
    yield _sse(None, "[DONE]")


class LoopbackServer:
    """Serves both APIs on 127.0.0.1 at a free port, in a thread with its own event loop."""

    def __init__(self, require_openai_key: bool = True) -> None:
        self.script = Script()
        app = Starlette(
            routes=[
                Route("/v1/messages", anthropic_messages, methods=["POST"]),
                Route("/v1/chat/completions", openai_chat, methods=["POST"]),
            ]
        )
        app.state.script = self.script
        app.state.require_key = require_openai_key
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("loopback LLM server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()
