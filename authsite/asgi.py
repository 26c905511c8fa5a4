"""ASGI entry point: `uvicorn authsite.asgi:application`.

Wraps Django with a body-size guard: API requests whose body exceeds API_MAX_BODY_BYTES are
answered 413 before Django reads or parses anything (declared Content-Length or chunked), and
answers the ASGI lifespan: at startup each server process starts its revocation watcher.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.utils.module_loading import import_string

Scope = dict[str, Any]
Message = dict[str, Any]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
django_application = get_asgi_application()
# Looked up by name once the apps are loaded; only a serving process calls it (never a
# management command or a Celery worker, which do not load this module's lifespan).
start_revocation_watcher = import_string("tokens.revocation.start_watcher")


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Reads Redis's eviction policy, then keeps this process's revocation view in step
            # with the database (tokens.revocation).
            try:
                start_revocation_watcher()
            except Exception as exc:  # noqa: BLE001 - the server must hear why it cannot start
                await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _refuse(send: Any, limit: int) -> None:
    body = orjson.dumps({"error": "payload_too_large", "message": f"Request body exceeds {limit} bytes."})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
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
