"""Driving an ASGI application in-process: one HTTP request, the messages it sent back."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return orjson.loads(self.body)


def scope(method: str, path: str, headers: dict[str, str] | None = None, scheme: str = "http") -> dict[str, Any]:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": scheme,
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": raw,
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}


async def acall(app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                chunks: list[bytes] | None = None, scheme: str = "http") -> Answer:
    """Send one request to `app` (the body whole, or as `chunks`) and collect the answer."""
    parts = list(chunks) if chunks is not None else [body]
    incoming = [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
                for i, part in enumerate(parts)]
    answer = Answer()
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await gone.wait()  # the client stays until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
            if not message.get("more_body", False):
                gone.set()

    await app(scope(method, path, headers, scheme), receive, send)
    return answer


def call(app: Any, *args: Any, **kwargs: Any) -> Answer:
    """`acall` on a new event loop."""
    return asyncio.run(acall(app, *args, **kwargs))
