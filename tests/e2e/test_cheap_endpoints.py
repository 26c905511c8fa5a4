"""/metrics only for scrapers; /readyz and /jwks cheap under load. Real uvicorn where it
matters (client addresses through a trusted proxy, broker connections to a private Redis)."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from tests.support.private_redis import private_redis

pytestmark = pytest.mark.server


def test_metrics_answer_scrapers_only(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(TRUSTED_PROXY_COUNT="1", METRICS_TOKEN="scrape-secret-0123456789") as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        public = http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"})
        assert public.status_code == 404 and public.json()["error"] == "not_found"
        assert http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5",
                                             "Authorization": "Bearer wrong"}).status_code == 404
        scraper = http.get("/metrics", headers={"X-Forwarded-For": "10.20.30.40"})
        assert scraper.status_code == 200 and "authsite_" in scraper.text
        bearer = http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5",
                                               "Authorization": "Bearer scrape-secret-0123456789"})
        assert bearer.status_code == 200


def test_readyz_under_load_opens_no_broker_connection_per_call(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    with private_redis() as broker, \
            live_server_factory(CELERY_BROKER_URL=broker.url) as server, \
            httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/readyz").status_code == 200
        before = broker.client().info("stats")["total_connections_received"]
        for _ in range(30):
            assert http.get("/readyz").status_code == 200
        opened = broker.client().info("stats")["total_connections_received"] - before
        assert opened <= 10, opened


@pytest.mark.django_db
def test_jwks_under_load_does_not_query_the_database_per_call(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    first = client.get("/.well-known/jwks.json")
    assert first.status_code == 200
    with django_assert_max_num_queries(2):
        for _ in range(30):
            assert client.get("/.well-known/jwks.json").json() == first.json()
