"""Asking for a reset tells nothing about the address: same answer, same queued tasks, same
hashing (none), and the same throttling, whether or not an account exists."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from accounts.models import User
from tests.support import broker
from tests.support.argon2_spy import Argon2Spy, argon2_spy  # noqa: F401
from tests.support.client_api import API, PASSWORD, assert_error, post_json

RESET = f"{API}/password-reset"


def ask(api: Client, email: str, ip: str = "10.0.0.1") -> Any:
    return post_json(api, RESET, {"email": email}, REMOTE_ADDR=ip)


@pytest.fixture
def accounts(db: None) -> None:
    User.objects.create_user("known@example.com", PASSWORD)
    User.objects.create_user("inactive@example.com", PASSWORD, is_active=False)
    User.objects.create_user("nopassword@example.com", None)


def shape(response: Any) -> tuple[int, bytes, str, set[str]]:
    return response.status_code, response.content, response["Content-Type"], set(response.headers)


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["known@example.com", "inactive@example.com", "nopassword@example.com"])
def test_known_and_unknown_addresses_get_the_same_answer_tasks_and_hashing(
        api: Client, accounts: None, argon2_spy: Argon2Spy, email: str) -> None:
    argon2_spy.reset()
    unknown = ask(api, "nobody@example.com", ip="10.0.0.2")
    unknown_tasks = broker.take_all()
    unknown_hashes = list(argon2_spy.calls)
    argon2_spy.reset()
    known = ask(api, email, ip="10.0.0.3")
    known_tasks = broker.take_all()
    assert shape(known) == shape(unknown)
    assert known.status_code == 202
    assert [t.task for t in known_tasks] == [t.task for t in unknown_tasks] == ["accounts.tasks.send_password_reset"]
    assert argon2_spy.calls == unknown_hashes == []


@pytest.mark.django_db
def test_throttled_per_address_alike_for_known_and_unknown(api: Client, accounts: None, store: str) -> None:
    with override_settings(THROTTLE_MAIL_EMAIL=(2, 900), THROTTLE_MAIL_IP=(100, 900)):
        answers = {}
        for email in ("known@example.com", "nobody@example.com"):
            for n in range(2):
                assert ask(api, email, ip=f"10.1.0.{n}").status_code == 202
            answers[email] = ask(api, email, ip="10.1.0.9")
            assert_error(answers[email], 429, "too_many_attempts")
            assert 1 <= int(answers[email]["Retry-After"]) <= 900
        assert shape(answers["known@example.com"]) == shape(answers["nobody@example.com"])
        # Another form of the same address is the same address.
        assert ask(api, " KNOWN@Example.com", ip="10.1.0.8").status_code == 429
    # The throttled requests queued nothing: four tasks for four accepted requests.
    assert len(broker.take_all()) == 4


@pytest.mark.django_db
def test_throttled_per_client_ip(api: Client, accounts: None, store: str) -> None:
    with override_settings(THROTTLE_MAIL_EMAIL=(100, 900), THROTTLE_MAIL_IP=(3, 600)):
        for n in range(3):
            assert ask(api, f"someone{n}@example.com", ip="10.2.0.1").status_code == 202
        refused = ask(api, "known@example.com", ip="10.2.0.1")
        assert_error(refused, 429, "too_many_attempts")
        assert 1 <= int(refused["Retry-After"]) <= 600
        assert ask(api, "known@example.com", ip="10.2.0.2").status_code == 202


@pytest.mark.django_db
def test_throttles_can_be_disabled(api: Client, accounts: None) -> None:
    with override_settings(THROTTLE_MAIL_EMAIL=(0, 0), THROTTLE_MAIL_IP=(0, 0)):
        for _ in range(5):
            assert ask(api, "known@example.com").status_code == 202
