"""`python -m authsite.serve`: the README's wrapper around uvicorn.

Same as `uvicorn authsite.asgi:application --workers $WEB_CONCURRENCY`, plus the flags that
matter in production: uvicorn's own X-Forwarded-For rewriting is off, because authsite decides
which hops to trust itself (TRUSTED_PROXY_COUNT); a forged header must not change the client.
"""

from __future__ import annotations

import argparse
import os

import uvicorn


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    from django.conf import settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=settings.WEB_CONCURRENCY)
    args = parser.parse_args()
    uvicorn.run(
        "authsite.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        # uvicorn's own lines (startup, access log) use the service's format: JSON in production.
        log_config=settings.LOGGING,
    )


if __name__ == "__main__":
    main()
