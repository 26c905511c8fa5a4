"""docker-compose.yml and the Dockerfile agree with the settings and docs/contract.md (no Docker
engine runs here, so the files are checked as data)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_docs import settings_env_names

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = {"migrate", "web", "worker", "beat"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def test_the_services_of_the_issue_exist(compose: dict[str, Any]) -> None:
    assert {"db", "redis", "web", "worker", "beat", "migrate"} <= set(compose["services"])


def test_app_services_are_built_from_the_dockerfile(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        build = compose["services"][name]["build"]
        assert build["context"] == "."
        assert (ROOT / build["dockerfile"]).is_file()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in dockerfile
    assert "COPY requirements.txt" in dockerfile


def test_commands_are_the_contract_processes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    web = command(services["web"])
    assert web[:3] == ["python", "-m", "authsite.serve"] and web[web.index("--host") + 1] == "0.0.0.0"
    assert (ROOT / "authsite" / "serve.py").is_file()
    assert command(services["worker"])[:4] == ["celery", "-A", "authsite", "worker"]
    assert command(services["beat"])[:4] == ["celery", "-A", "authsite", "beat"]
    assert command(services["migrate"])[:3] == ["python", "manage.py", "migrate"]
    assert services["migrate"]["restart"] == "no"
    cmd_line = re.search(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert cmd_line is not None and yaml.safe_load(cmd_line.group(1)) == web  # image default = web


def test_environment_uses_only_variables_the_settings_read(compose: dict[str, Any]) -> None:
    read = settings_env_names()
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert isinstance(env, dict)
        assert set(env) <= read, set(env) - read
        assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"} <= set(env)
        assert env["DATABASE_URL"].startswith("postgres://") and "@db:" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert ":?" in env["DJANGO_SECRET_KEY"]  # compose refuses to start without a secret


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("db", "redis", "web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    for name in ("web", "worker", "beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["db"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", "reports"} <= ignored


def test_readme_documents_every_variable_and_command_compose_uses(compose: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    for name in APP_SERVICES:
        for var in compose["services"][name]["environment"]:
            assert f"`{var}`" in readme, var
    assert "docker compose up" in readme
    assert "python -m authsite.serve" in readme
    assert "celery -A authsite worker" in readme or "`worker`" in readme


def test_the_stack_serves_plain_http_on_localhost(compose: dict[str, Any]) -> None:
    # No TLS proxy stands in front of `web`: the admin must not redirect to https by default.
    for name in APP_SERVICES:
        assert compose["services"][name]["environment"]["DJANGO_SECURE_SSL_REDIRECT"] \
            == "${DJANGO_SECURE_SSL_REDIRECT:-0}"
    published = compose["services"]["web"]["ports"]
    assert all(port.startswith("127.0.0.1:") for port in published)  # localhost only
    # The choice is explained right above it.
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("DJANGO_SECURE_SSL_REDIRECT:"))
    assert lines[at - 1].strip().startswith("#") and "TLS" in " ".join(lines[at - 3:at])


def test_the_image_collects_static_files_at_build() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    run_lines = [line for line in dockerfile.splitlines() if "collectstatic" in line]
    assert run_lines and "--noinput" in run_lines[0]
    # Collected before the image drops root, by the copy of the code the image runs.
    assert dockerfile.index("COPY . .") < dockerfile.index("collectstatic") < dockerfile.index("USER authsite")
    assert "whitenoise==" in (ROOT / "requirements.txt").read_text()


def test_the_build_step_collects_the_admin_files_and_bakes_in_no_secret(tmp_path: Path) -> None:
    # The Dockerfile's collectstatic command, run as the build runs it: no database, no Redis, no
    # secret in the environment but the one on the command line.
    dockerfile = (ROOT / "Dockerfile").read_text()
    step = re.search(r"^RUN (.*?collectstatic[^\\&]*)", dockerfile, re.MULTILINE)
    assert step is not None
    command = step.group(1).strip().replace("python ", f"{sys.executable} ", 1)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AUTHSITE_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    static = tmp_path / "var" / "static"
    assert (static / "staticfiles.json").is_file()
    assert list(static.glob("admin/css/base.*.css.gz"))  # hashed and compressed
    assert not (tmp_path / "var" / "secret_key").exists()
