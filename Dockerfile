# authsite image: web (uvicorn), worker and beat (Celery) and the migrate step all run from it.
FROM python:3.11-slim

# FORWARDED_ALLOW_IPS="": uvicorn must never rewrite the client address from X-Forwarded-For,
# even when started directly; authsite applies TRUSTED_PROXY_COUNT itself.
ENV FORWARDED_ALLOW_IPS="" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# The admin's CSS and JavaScript, content-hashed and compressed, served by WhiteNoise. The build
# needs a secret only to load the settings; the running containers get their own.
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --noinput -v 0 \
    && useradd --system --uid 10001 --home-dir /app authsite \
    && mkdir -p /app/var \
    && chown -R authsite /app/var
USER authsite

EXPOSE 8000
# Liveness only (no I/O); the compose file probes readiness with /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["python", "-m", "authsite.serve", "--host", "0.0.0.0", "--port", "8000"]
