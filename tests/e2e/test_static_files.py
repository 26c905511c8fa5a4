"""The admin is styled under a real uvicorn: WhiteNoise serves its CSS and JavaScript from the
browser stack, before collectstatic (from Django's own folders, a fresh clone) and after it
(content-hashed, compressed, cached for a year, as in the Docker image). Production mode serves
the admin over plain http only when DJANGO_SECURE_SSL_REDIRECT=0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import django
import httpx
import pytest

from tests.support.servers import ROOT

ADMIN_STATIC = Path(django.__file__).parent / "contrib" / "admin" / "static"
YEAR = "max-age=315360000"
PLAIN_HTTP = {"DJANGO_SECURE_SSL_REDIRECT": "0"}


def stylesheets(html: str) -> list[str]:
    return re.findall(r'href="(/static/[^"]+\.css)"', html)


def scripts(html: str) -> list[str]:
    return re.findall(r'src="(/static/[^"]+\.js)"', html)


def collectstatic(var_dir: Path) -> None:
    result = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                            env={**os.environ, "AUTHSITE_VAR_DIR": str(var_dir)}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.server
def test_admin_css_and_js_are_served_before_collectstatic(live_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with live_server_factory(AUTHSITE_VAR_DIR=str(tmp_path / "fresh"), **PLAIN_HTTP) as base:
        page = httpx.get(f"{base}/admin/login/")
        assert page.status_code == 200
        css = stylesheets(page.text)
        assert "/static/admin/css/base.css" in css  # plain names: nothing was collected
        for url in css + scripts(page.text):
            response = httpx.get(f"{base}{url}")
            assert response.status_code == 200, url
            assert response.content == (ADMIN_STATIC / url.removeprefix("/static/")).read_bytes(), url
        base_css = httpx.get(f"{base}/static/admin/css/base.css")
        assert base_css.headers["content-type"].startswith("text/css")
        assert YEAR not in base_css.headers["cache-control"]  # a plain name may change: short cache
        assert httpx.get(f"{base}/static/admin/css/nowhere.css").status_code == 404
        # Outside the static prefix nothing changed: the API still answers as before.
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}


@pytest.mark.server
def test_collected_files_have_hashed_names_and_a_long_cache(live_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    var_dir = tmp_path / "collected"
    collectstatic(var_dir)
    with live_server_factory(AUTHSITE_VAR_DIR=str(var_dir), **PLAIN_HTTP) as base:
        page = httpx.get(f"{base}/admin/login/")
        assert page.status_code == 200
        css = stylesheets(page.text)
        hashed = [url for url in css if re.fullmatch(r"/static/admin/css/base\.[0-9a-f]{12}\.css", url)]
        assert hashed, css
        response = httpx.get(f"{base}{hashed[0]}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/css")
        assert YEAR in response.headers["cache-control"] and "immutable" in response.headers["cache-control"]
        assert response.content == (var_dir / "static" / hashed[0].removeprefix("/static/")).read_bytes()
        gzipped = httpx.get(f"{base}{hashed[0]}", headers={"Accept-Encoding": "gzip"})
        assert gzipped.headers["content-encoding"] == "gzip" and gzipped.content == response.content
        for url in css + scripts(page.text):
            assert httpx.get(f"{base}{url}").status_code == 200, url
        # The plain name still answers (an old page in a browser), with a short cache.
        plain = httpx.get(f"{base}/static/admin/css/base.css")
        assert plain.status_code == 200 and YEAR not in plain.headers["cache-control"]
        # Conditional requests and ranges come from WhiteNoise too.
        etag = response.headers["etag"]
        assert httpx.get(f"{base}{hashed[0]}", headers={"If-None-Match": etag}).status_code == 304
        part = httpx.get(f"{base}{hashed[0]}", headers={"Range": "bytes=0-9", "Accept-Encoding": "identity"})
        assert part.status_code == 206 and part.content == response.content[:10]
    # Bodies go out as async iterators: Django has nothing to warn about on any of these files.
    server_output = "".join(log.read_text() for log in tmp_path.glob("uvicorn-*.log"))
    assert "StreamingHttpResponse" not in server_output and "Traceback" not in server_output


@pytest.mark.server
def test_production_redirects_the_admin_to_https_unless_told_not_to(live_server_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # An empty value is left out of the server's environment: the production default.
    with live_server_factory(AUTHSITE_VAR_DIR=str(tmp_path / "prod"), DJANGO_SECURE_SSL_REDIRECT="") as base:
        redirected = httpx.get(f"{base}/admin/login/")
        assert redirected.status_code == 301
        assert redirected.headers["location"].startswith("https://")
        assert httpx.get(f"{base}/healthz").status_code == 200  # probes stay on plain http
    with live_server_factory(AUTHSITE_VAR_DIR=str(tmp_path / "prod"), **PLAIN_HTTP) as base:
        page = httpx.get(f"{base}/admin/login/")
        assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in page.text
