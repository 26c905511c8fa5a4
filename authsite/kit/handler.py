"""Django's ASGI handler with the request's sync thread lent from a pool.

Django runs each request in a fresh `ThreadSensitiveContext`, which starts a thread for the
request's sync work (signal receivers, ORM calls, `response.close`) and another one to join it
afterwards. Here each request borrows an idle single-thread executor instead and hands it back
when it ends: the same one-thread-per-request guarantee, without starting threads per request.

A request that never ran sync code on its thread gets no thread hop at all: Django's
`request_started` receivers (reset the query log, close obsolete connections) concern the
thread that will run the request's ORM work, and `response.close()` (which fires
`request_finished`) runs on the borrowed thread only if that thread did any work.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.exceptions import RequestAborted
from django.urls import set_script_prefix

# Idle threads kept for the next requests; more concurrent requests than this borrow threads
# that are shut down when they come back.
MAX_IDLE_THREADS = 32


class RequestThread(ThreadPoolExecutor):
    """One request's sync thread; `used` says whether this request submitted work to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self.used = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.used = True
        return super().submit(fn, *args, **kwargs)


class LendingASGIHandler(ASGIHandler):
    """Django's ASGIHandler, serving each request with a borrowed request thread."""

    def __init__(self) -> None:
        super().__init__()
        self._idle: list[RequestThread] = []

    def _borrow(self) -> RequestThread:
        thread = self._idle.pop() if self._idle else RequestThread()
        thread.used = False
        return thread

    def _give_back(self, thread: RequestThread) -> None:
        if len(self._idle) < MAX_IDLE_THREADS:
            self._idle.append(thread)
        else:
            thread.shutdown(wait=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self._borrow()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle_on(thread, scope, receive, send)
        finally:
            self._give_back(thread)

    async def handle_on(self, thread: RequestThread, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's `ASGIHandler.handle`, with thread hops only where the request used its thread."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await self._close(thread, error_response)
            return

        async def process_request() -> Any:
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while the answer was sent
            return response

        # As Django does: watch for a disconnect while the view runs, and cancel the view then.
        tasks = [asyncio.create_task(self.listen_for_disconnect(receive)), asyncio.create_task(process_request())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await self._finished(thread)
        else:
            await self._close(thread, response)
        body_file.close()

    @staticmethod
    async def _close(thread: RequestThread, response: Any) -> None:
        # request_finished closes the database connections of the thread that used them.
        if thread.used:
            await sync_to_async(response.close)()
        else:
            response.close()

    async def _finished(self, thread: RequestThread) -> None:
        if thread.used:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            signals.request_finished.send(sender=self.__class__)
