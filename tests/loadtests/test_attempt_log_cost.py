"""loadtests/attempt_log_cost.py times the audit log's parts and reports their share of a login."""

from __future__ import annotations

import re

import pytest

from accounts.models import LoginAttempt
from loadtests import attempt_log_cost


@pytest.mark.django_db
def test_it_prints_each_part_and_the_share_and_leaves_no_rows(capsys: pytest.CaptureFixture[str]) -> None:
    kept = LoginAttempt.objects.create(at="2026-01-01T00:00:00Z", email="real@example.com", outcome="success",
                                       source="api")
    attempt_log_cost.main()
    out = capsys.readouterr().out
    assert re.search(r"record\(\) on the request path +\d+\.\d+ us per login", out), out
    assert re.search(r"batched write, off the path +\d+\.\d+ us per login \(bulk insert of 500\)", out), out
    assert re.search(r"share of a login: request path \d+\.\d+ %, all work \d+\.\d+ %", out), out
    assert list(LoginAttempt.objects.all()) == [kept]
