"""authsite: project wiring (settings, URLs, ASGI, Celery, error mapping)."""

from authsite.celery import app as celery_app

__all__ = ("celery_app",)
