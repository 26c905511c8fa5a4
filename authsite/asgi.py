"""ASGI entry point: `uvicorn authsite.asgi:application`.

Wraps Django with a body-size guard: API requests whose body exceeds API_MAX_BODY_BYTES are
answered 413 before Django reads or parses anything (declared Content-Length or chunked).
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from django.conf import settings
from django.core.asgi import get_asgi_application

Scope = dict[str, Any]
Message = dict[str, Any]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
django_application = get_asgi_application()

from tokens import revocation  # noqa: E402  (needs the apps loaded)

# Each server process reads Redis's eviction policy now, then keeps its revocation view in
# step with the database (tokens.revocation).
revocation.start_watcher()


async def _refuse(send: Any, limit: int) -> None:
    body = orjson.dumps({"error": "payload_too_large", "message": f"Request body exceeds {limit} bytes."})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http" or not scope["path"].startswith(settings.API_PATH_PREFIXES):
        await django_application(scope, receive, send)
        return
    limit = settings.API_MAX_BODY_BYTES
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = limit + 1
            if declared > limit:
                await _refuse(send, limit)
                return
    # Read the (small) body here, so a chunked upload cannot stream past the limit either.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            await _refuse(send, limit)
            return
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    buffered: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replay() -> Message:
        if buffered:
            return buffered.pop()
        return await receive()

    await django_application(scope, replay, send)
