"""Static files (the admin's CSS and JavaScript) served by WhiteNoise from the browser stack.

WhiteNoise's middleware is synchronous, and the browser stack (BrowserOnlyMiddleware) runs only
natively async middleware. StaticFilesMiddleware keeps WhiteNoise's file table, headers, caching
rules, compression and range handling, and answers from a coroutine: a request for anything but
a known static file costs one dictionary lookup; a static file is opened and read in a worker
thread, so no file I/O runs on the event loop.

StaticStorage gives content-hashed names (cached for a year) once `manage.py collectstatic` has
run, and plain names, served straight from the apps' folders, before it: the admin is styled on a
fresh clone as well as in the Docker image.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedManifestStaticFilesStorage

GetResponse = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def _body(content: bytes) -> AsyncIterator[bytes]:
    yield content


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise as natively async middleware: static files answered, everything else passed on."""

    async_capable = True
    sync_capable = False

    def __init__(self, get_response: GetResponse):
        super().__init__(get_response)
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponse:  # type: ignore[override]
        if not request.path_info.startswith(self.static_prefix):
            return await self.get_response(request)  # type: ignore[misc]
        response = await sync_to_async(self._answer, thread_sensitive=False)(request)
        if response is None:
            return await self.get_response(request)  # type: ignore[misc]
        return response

    def _answer(self, request: HttpRequest) -> HttpResponse | None:
        """WhiteNoise's response for a static file, its body already read; None for other paths."""
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return None
        response = self.serve(static_file, request)
        content = b""
        if response.file_to_stream is not None:
            with response.file_to_stream as handle:
                content = handle.read()
        # An async body: Django would otherwise warn on every file about a sync iterator.
        response.streaming_content = _body(content)
        return response


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed names after collectstatic; the plain name of a file it has not collected."""

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:
            # Not collected (a fresh clone before collectstatic): StaticFilesMiddleware serves
            # the plain name from the app's own static folder.
            return name
