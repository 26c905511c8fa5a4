"""manage.py tune_argon2: parameters within the budget, environment lines, OWASP warning."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command

from accounts import tuning


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("tune_argon2", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_parameters_within_the_budget_and_the_lines_to_set_them() -> None:
    out, _ = run("--target-ms", "20", "--max-memory", "16")
    memory = int(re.search(r"ARGON2_MEMORY_COST=(\d+)", out).group(1))  # type: ignore[union-attr]
    time_cost = int(re.search(r"ARGON2_TIME_COST=(\d+)", out).group(1))  # type: ignore[union-attr]
    assert 8192 <= memory <= 16384 and time_cost >= 1 and "ARGON2_PARALLELISM=1" in out
    assert re.search(r"about [\d.]+ logins/s per core", out)


def test_warns_below_the_owasp_minimum() -> None:
    _, err = run("--target-ms", "1", "--max-memory", "8")
    assert "below the OWASP minimum" in err


@pytest.mark.parametrize("args", [["--target-ms", "0"], ["--max-memory", "1"], ["--parallelism", "0"]])
def test_refuses_nonsense(args: list[str]) -> None:
    with pytest.raises(CommandError):
        run(*args)


def test_owasp_minimums() -> None:
    assert tuning.Tuning(19456, 2, 1, 0.02).meets_owasp
    assert tuning.Tuning(65536, 1, 1, 0.02).meets_owasp
    assert not tuning.Tuning(19456, 1, 1, 0.02).meets_owasp
    assert not tuning.Tuning(8192, 3, 1, 0.02).meets_owasp
