"""The README and docs/contract.md tell a newcomer the truth: every environment variable the
settings read is documented in both, and nothing points outside the repository."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "authsite" / "settings.py"
# The settings' helpers that read one variable each, named by their first argument.
ENV_READERS = {"_env", "_env_int", "_env_rate", "_env_flag"}


def _is_os_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


def env_names_read(source: str) -> set[str]:
    """Names of the environment variables `source` reads: through the settings' helpers,
    `os.environ.get(...)`, `os.getenv(...)` and `os.environ[...]` (reads, not writes)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            if (isinstance(func, ast.Name) and func.id in ENV_READERS) \
                    or (isinstance(func, ast.Attribute) and func.attr == "get" and _is_os_environ(func.value)) \
                    or (isinstance(func, ast.Attribute) and func.attr == "getenv"
                        and isinstance(func.value, ast.Name) and func.value.id == "os"):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os_environ(node.value) \
                and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
    return names


def settings_env_names() -> set[str]:
    return env_names_read(SETTINGS.read_text())


def table_names(markdown: str, heading: str) -> set[str]:
    """Backticked upper-case names in the first column of the `| variable |` table under `heading`."""
    section = markdown.split(heading, 1)[1]
    names: set[str] = set()
    in_table = False
    for line in section.splitlines():
        if line.startswith("| variable |"):
            in_table = True
        elif in_table and line.startswith("|"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
        elif in_table:
            break
    assert in_table, f"no configuration table under {heading}"
    return names


def test_the_parser_finds_reads_of_every_kind() -> None:
    source = (
        'import os\nA = _env("A")\nB = _env_int("B", 1)\nC = _env_rate("C", "1/1")\nD = _env_flag("D", True)\n'
        'E = os.environ.get("E", "x")\nF = os.getenv("F")\nG = os.environ["G"]\nos.environ["W"] = "written"\n'
    )
    assert env_names_read(source) == {"A", "B", "C", "D", "E", "F", "G"}


def test_the_settings_read_the_variables_a_newcomer_meets() -> None:
    read = settings_env_names()
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "AUTHSITE_VAR_DIR", "PROMETHEUS_MULTIPROC_DIR",
            "DJANGO_SECURE_SSL_REDIRECT", "THROTTLE_IP", "HASH_WORKERS"} <= read


@pytest.mark.parametrize(("document", "heading"), [("README.md", "## Configuration"),
                                                    ("docs/contract.md", "## 1. Processes and configuration")])
def test_every_variable_the_settings_read_is_in_the_configuration_table(document: str, heading: str) -> None:
    documented = table_names((ROOT / document).read_text(), heading)
    missing = settings_env_names() - documented
    assert not missing, f"{document} lacks {sorted(missing)}"
    # and the table documents nothing the settings do not read
    assert not documented - settings_env_names(), sorted(documented - settings_env_names())


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed
            if (ROOT / name).is_file() and (ROOT / name).suffix not in {".png", ".ico", ".gz", ".br"}]


def test_nothing_points_outside_the_repository() -> None:
    # Built from parts, so this file does not match itself.
    pointers = ["CONTRACT" + " §", "CONTRACT" + ".md", "PERF" + "-NOTES", ".." + "/shared"]
    hits = []
    for path in _tracked_text_files():
        text = path.read_text(errors="replace")
        for pointer in pointers:
            if pointer in text:
                hits.append(f"{path.relative_to(ROOT)}: {pointer}")
    assert not hits, hits


def test_readme_gets_a_newcomer_from_a_fresh_machine_to_the_admin() -> None:
    readme = (ROOT / "README.md").read_text()
    for needed in ("Python 3.11", "python3-venv", "postgresql", "redis-server", "wrk", "taskset", "util-linux"):
        assert needed in readme, needed
    real = readme.split("## Running it for real", 1)[1].split("\n## ", 1)[0]
    # The virtualenv exists before anything uses it.
    assert real.index("-m venv .venv") < real.index(".venv/bin/pip install -r requirements.txt") \
        < real.index(".venv/bin/python manage.py migrate")
    assert "manage.py createsuperuser" in readme and "/admin/" in readme
    assert "docs/contract.md" in readme
    assert "## Architecture" in readme
