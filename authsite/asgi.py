"""ASGI entry point: `uvicorn authsite.asgi:application`.

Django behind the door (authsite.kit.door): API bodies over API_MAX_BODY_BYTES get 413, and
logins and signups are refused with 503 while the hashing pool is full, both before Django's
request cycle. Django itself runs with request threads lent from a pool
(authsite.kit.handler). The application also answers the ASGI lifespan: at startup each
server process freezes the heap it loaded out of the collector's way, tunes its logging for
serving (authsite.kit.logging.tune_for_serving) and starts its revocation watcher.
"""

from __future__ import annotations

import gc
import os
from typing import Any

import django
from django.urls import reverse
from django.utils.module_loading import import_string

from authsite.kit.door import Door, Guard
from authsite.kit.handler import LendingASGIHandler
from authsite.kit.logging import tune_for_serving as tune_logging_for_serving

Scope = dict[str, Any]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
django.setup(set_prefix=False)
django_application = LendingASGIHandler()
# Looked up by name once the apps are loaded.
door = Door(django_application, {
    reverse("login"): Guard("login", "POST", import_string("accounts.services.login_refusal")),
    reverse("signup"): Guard("signup", "POST", import_string("accounts.services.signup_refusal")),
})
# Only a serving process calls it (never a management command or a Celery worker, which do not
# load this module's lifespan).
start_revocation_watcher = import_string("tokens.revocation.start_watcher")


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Reads Redis's eviction policy, then keeps this process's revocation view in step
            # with the database (tokens.revocation).
            # Everything loaded at startup lives as long as the process: the collector need
            # not scan it again (a full collection of it would stall the loop for tens of ms).
            gc.collect()
            gc.freeze()
            tune_logging_for_serving()
            try:
                start_revocation_watcher()
            except Exception as exc:  # noqa: BLE001 - the server must hear why it cannot start
                await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await door(scope, receive, send)
