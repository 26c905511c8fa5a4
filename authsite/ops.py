"""Operational endpoints: liveness, readiness, the OpenAPI document, JSON 404/500."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

from authsite import openapi
from authsite.celery import app as celery_app
from authsite.kit import stores
from authsite.kit.errors import api_endpoint, error_body, error_response
from authsite.kit.http import json_response

logger = logging.getLogger(__name__)
CHECK_TIMEOUT = 2.0


@api_endpoint("GET")
async def healthz(request: HttpRequest) -> HttpResponse:
    """The process is alive and its event loop answers (no I/O)."""
    return json_response({"status": "ok"})


def _check_database() -> None:
    # Runs on an executor thread that no request_finished signal cleans up: hand the
    # connection back (to the pool, which drops it if broken) or a connection that died with a
    # database restart would keep this check failing forever.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


async def _check_cache() -> None:
    # Embedded mode has no Redis: the database is the shared store, and the probe says so.
    if not await stores.aprobe():
        raise ConnectionError("redis does not answer")


def _connect_to_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)


# The broker is checked by opening a connection: under load (probes, a flood of /readyz) one
# check per process serves every caller for BROKER_CHECK_SECONDS.
BROKER_CHECK_SECONDS = 5.0
_broker: dict[str, Any] = {"url": None, "at": float("-inf"), "ok": False, "pending": None}


async def _probe_broker() -> None:
    try:
        await sync_to_async(_connect_to_broker, thread_sensitive=False)()
        ok = True
    except Exception:  # noqa: BLE001 - any failure means "down"
        ok = False
    _broker.update(url=settings.CELERY_BROKER_URL, at=time.monotonic(), ok=ok, pending=None)


async def _check_broker() -> None:
    fresh = (_broker["url"] == settings.CELERY_BROKER_URL
             and time.monotonic() - _broker["at"] < BROKER_CHECK_SECONDS)
    if not fresh:
        pending = _broker["pending"]
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = _broker["pending"] = asyncio.ensure_future(_probe_broker())
        # Shielded: a caller that times out does not cancel the check the others wait for.
        await asyncio.shield(pending)
    if not _broker["ok"]:
        raise ConnectionError("broker does not answer")


async def _run(name: str, check: object) -> tuple[str, bool]:
    try:
        if asyncio.iscoroutinefunction(check):
            await asyncio.wait_for(check(), CHECK_TIMEOUT)
        else:
            await asyncio.wait_for(sync_to_async(check, thread_sensitive=False)(), CHECK_TIMEOUT)  # type: ignore[arg-type]
        return name, True
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return name, False


@api_endpoint("GET")
async def readyz(request: HttpRequest) -> HttpResponse:
    """200 when the database, the cache and the broker answer; 503 naming those that do not."""
    results = dict(await asyncio.gather(
        _run("database", _check_database), _run("cache", _check_cache), _run("broker", _check_broker)
    ))
    checks = {name: "ok" if ok else "down" for name, ok in results.items()}
    down = [name for name, ok in results.items() if not ok]
    if down:
        body = error_body("unavailable", f"Not ready: {', '.join(down)} down.")
        body["checks"] = checks
        return json_response(body, status=503, headers={"Retry-After": "5"})
    return json_response({"status": "ok", "checks": checks})


@api_endpoint("GET")
async def schema(request: HttpRequest) -> HttpResponse:
    return json_response(openapi.document(), headers={"Cache-Control": "public, max-age=300"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    return error_response(500, "internal_error", "Internal server error.")

