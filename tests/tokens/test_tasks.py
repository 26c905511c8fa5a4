"""Housekeeping jobs: expired rows are purged, live ones kept; through a real Celery worker."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts import tasks as account_tasks
from accounts.models import ThrottleCounter, User
from tests.e2e.test_celery import celery_worker
from tests.support.servers import free_port, server_env
from tokens import revocation, tasks
from tokens.models import RefreshToken, Revocation, Session
from tests.support.tokens import issue_pair

PASSWORD = "correct horse battery staple"


def _expire(user: User) -> tuple[Session, Session]:
    """Two sessions: one ended long ago (expired refresh tokens), one live."""
    issue_pair(user)
    issue_pair(user)
    old, live = Session.objects.filter(user=user).order_by("created_at")
    long_ago = timezone.now() - timedelta(days=60)
    Session.objects.filter(pk=old.pk).update(expires_at=long_ago)
    RefreshToken.objects.filter(session=old).update(expires_at=long_ago)
    return old, live


@pytest.mark.django_db
def test_purge_keeps_live_sessions_and_tokens() -> None:
    user = User.objects.create_user("purge@example.com", PASSWORD)
    old, live = _expire(user)
    ThrottleCounter.objects.create(key="thr:test:old", count=3, expires_at=timezone.now() - timedelta(seconds=1))
    ThrottleCounter.objects.create(key="thr:test:new", count=3, expires_at=timezone.now() + timedelta(minutes=5))
    assert tasks.purge_expired() == {"refresh_tokens": 1, "sessions": 1, "revocations": 0}
    assert list(Session.objects.values_list("pk", flat=True)) == [live.pk]
    assert RefreshToken.objects.filter(session=live).count() == 1
    assert account_tasks.purge_expired_counters() == 1
    assert list(ThrottleCounter.objects.values_list("key", flat=True)) == ["thr:test:new"]


@pytest.mark.server
def test_purge_removes_expired_sessions_on_a_real_worker(transactional_db: None, tmp_path: Path) -> None:
    user = User.objects.create_user("purge-worker@example.com", PASSWORD)
    old, live = _expire(user)
    with celery_worker(server_env(), tmp_path / "celery.log", f"purge-{free_port()}@localhost"):
        tasks.purge_expired.delay()
        deadline = time.monotonic() + 30
        while Session.objects.filter(pk=old.pk).exists():
            assert time.monotonic() < deadline, (tmp_path / "celery.log").read_text(errors="replace")
            time.sleep(0.2)
    assert Session.objects.filter(pk=live.pk).exists()


@pytest.mark.django_db
def test_purge_counts_sessions_not_their_cascaded_tokens() -> None:
    user = User.objects.create_user("purge-count@example.com", PASSWORD)
    issue_pair(user)
    # Revoked long ago, its refresh token not yet expired: deleted with the session (cascade).
    Session.objects.update(revoked_at=timezone.now() - timedelta(days=60))
    assert tasks.purge_expired() == {"refresh_tokens": 0, "sessions": 1, "revocations": 0}
    assert not RefreshToken.objects.exists()


@pytest.mark.django_db
def test_purge_keeps_the_revocation_journal_that_access_tokens_may_need() -> None:
    user = User.objects.create_user("journal@example.com", PASSWORD)
    issue_pair(user)
    issue_pair(user)
    issue_pair(user)
    revocation.revoke_sessions(user_id=user.pk, reason="test")
    old, older, recent = Revocation.objects.order_by("id")
    long_ago = timezone.now() - timedelta(seconds=2 * revocation.key_ttl() + 1)
    Revocation.objects.filter(pk__in=[old.pk, older.pk]).update(revoked_at=long_ago)
    assert tasks.purge_expired()["revocations"] == 2
    assert list(Revocation.objects.values_list("pk", flat=True)) == [recent.pk]
