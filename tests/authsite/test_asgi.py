"""authsite/asgi.py: importing the application starts nothing; a serving process starts its
revocation watcher at the ASGI lifespan startup, and moves what it loaded out of the cycle
collector's way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORT_ONLY = """
import threading
import authsite.asgi
print(sorted(t.name for t in threading.enumerate()))
"""

LIFESPAN = """
import asyncio, gc, logging, logging.config, threading
import uvicorn.config
# As `uvicorn authsite.asgi:application` does before it imports the application.
logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
from authsite.asgi import application
from authsite.kit.logging import RefusalSampler

async def main():
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []
    async def receive():
        return incoming.pop(0)
    async def send(message):
        sent.append(message["type"])
    await application({"type": "lifespan"}, receive, send)
    access = logging.getLogger("uvicorn.access")
    print(sent, sorted(t.name for t in threading.enumerate()), "access", len(access.handlers),
          any(isinstance(f, RefusalSampler) for f in access.filters), logging._srcfile is None,
          "frozen", gc.get_freeze_count())

asyncio.run(main())
"""


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_importing_the_application_starts_no_watcher() -> None:
    assert "revocation-watcher" not in _run(IMPORT_ONLY)


def test_the_lifespan_startup_starts_the_watcher() -> None:
    out = _run(LIFESPAN)
    assert "['lifespan.startup.complete', 'lifespan.shutdown.complete']" in out
    assert "revocation-watcher" in out


def test_the_lifespan_startup_freezes_what_was_loaded_out_of_the_collectors_way() -> None:
    frozen = int(_run(LIFESPAN).split("frozen")[1])
    assert frozen > 10_000  # Django, the apps and their modules


def test_the_lifespan_startup_samples_refusals_in_uvicorns_own_access_log() -> None:
    # Under plain uvicorn its access logger keeps its handler; the sampler is added to it, and
    # records skip the caller lookup.
    assert "access 1 True True frozen" in _run(LIFESPAN)
