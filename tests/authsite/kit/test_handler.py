"""authsite.kit.handler: each request borrows a request thread instead of starting one; sync work
of a request stays on its thread, which hands its database connection back when it ends."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connections

from accounts.models import User
from authsite.kit.handler import LendingASGIHandler
from tests.support.asgi import acall, call
from tests.support.tokens import issue_pair

PASSWORD = "a-long-enough-password-0123"


def request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("request")]


@pytest.fixture
def handler() -> LendingASGIHandler:
    return LendingASGIHandler()


@pytest.fixture
def bearer(transactional_db: None) -> dict[str, str]:
    user = User.objects.create_user("member@example.com", PASSWORD)
    return {"Authorization": f"Bearer {issue_pair(user).access_token}"}


def test_a_request_that_runs_no_sync_code_makes_no_thread_hop(handler: LendingASGIHandler) -> None:
    answer = call(handler, "GET", "/healthz")
    assert answer.status == 200
    (thread,) = handler._idle
    assert thread.used is False


def test_sequential_requests_reuse_one_thread(handler: LendingASGIHandler, bearer: dict[str, str]) -> None:
    before = len(request_threads())
    for _ in range(20):
        assert call(handler, "GET", "/api/v1/auth/sessions", headers=bearer).status == 200
    assert len(handler._idle) == 1
    assert len(request_threads()) <= before + 1


def test_orm_work_runs_on_the_borrowed_thread_and_its_connection_is_closed_at_the_end(
        handler: LendingASGIHandler, bearer: dict[str, str]) -> None:
    answer = call(handler, "GET", "/api/v1/auth/sessions", headers=bearer)
    assert answer.status == 200 and len(answer.json()["sessions"]) == 1
    (thread,) = handler._idle
    assert thread.used is True
    # request_finished ran on that thread: its connection went back (CONN_MAX_AGE = 0).
    assert thread.submit(lambda: connections["default"].connection).result(timeout=5) is None


def test_concurrent_requests_each_get_their_own_thread(handler: LendingASGIHandler, bearer: dict[str, str]) -> None:
    async def many() -> list[int]:
        answers = await asyncio.gather(*(acall(handler, "GET", "/api/v1/auth/sessions", headers=bearer)
                                         for _ in range(6)))
        return [a.status for a in answers]

    assert asyncio.run(many()) == [200] * 6
    # Six requests in flight at once borrowed six threads, each used by its own request.
    assert len({id(thread) for thread in handler._idle}) == len(handler._idle) == 6
    assert all(thread.used for thread in handler._idle)


def test_threads_beyond_the_idle_limit_are_shut_down(handler: LendingASGIHandler, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("authsite.kit.handler.MAX_IDLE_THREADS", 1)
    first, second = handler._borrow(), handler._borrow()
    handler._give_back(first)
    handler._give_back(second)
    assert handler._idle == [first]
    assert second._shutdown
