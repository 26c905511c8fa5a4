"""Staff pages for accounts (accounts/admin.py): users and lockout counters; deactivating a
user and removing counters take effect at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import passwords
from accounts.job_models import Job
from accounts.models import ThrottleCounter, User
from tests.support.admin import PASSWORD, action, authenticates, staff, try_action, viewer  # noqa: F401
from tests.support.argon2_spy import Argon2Spy, argon2_spy  # noqa: F401
from tests.support.tokens import issue_pair

pytestmark = pytest.mark.django_db


def test_user_and_lockout_pages_render(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    for path in ("/admin/accounts/user/", "/admin/accounts/throttlecounter/",
                 f"/admin/accounts/user/{user.pk}/change/"):
        response = staff.get(path, secure=True)
        assert response.status_code == 200, path
    assert b"member@example.com" in staff.get("/admin/accounts/user/", secure=True).content


def test_deactivate_action_ends_sessions(staff: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = issue_pair(user)
    action(staff, "/admin/accounts/user/", "deactivate", [user.pk])
    user.refresh_from_db()
    assert not user.is_active
    assert not authenticates(pair.access_token)


def test_unlock_action_removes_counters(staff: Client) -> None:
    row = ThrottleCounter.objects.create(key="thr:a:x", count=9, expires_at=timezone.now() + timedelta(minutes=5))
    action(staff, "/admin/accounts/throttlecounter/", "unlock", [row.pk])
    assert not ThrottleCounter.objects.exists()


def test_add_user_form_canonicalises_and_rejects_duplicates(staff: Client) -> None:
    User.objects.create_user("taken@example.com", PASSWORD)
    response = staff.post("/admin/accounts/user/add/", {"email": " TAKEN@Example.com ", "password1": PASSWORD,
                                                        "password2": PASSWORD, "usable_password": "true"}, secure=True)
    assert response.status_code == 200  # the form again, with an error
    assert User.objects.count() == 2  # staff + taken
    response = staff.post("/admin/accounts/user/add/", {"email": " New@Example.com ", "password1": PASSWORD,
                                                        "password2": PASSWORD, "usable_password": "true"}, secure=True)
    assert response.status_code == 302, response.content[:500]
    assert User.objects.filter(email="new@example.com").exists()



def test_admin_forms_and_createsuperuser_hash_in_the_bounded_pool(staff: Client, argon2_spy: Argon2Spy,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    response = staff.post("/admin/accounts/user/add/", {"email": "pooled@example.com", "password1": PASSWORD,
                                                        "password2": PASSWORD, "usable_password": "true"}, secure=True)
    assert response.status_code == 302, response.content[:500]
    user = User.objects.get(email="pooled@example.com")
    response = staff.post(f"/admin/accounts/user/{user.pk}/password/",
                          {"password1": PASSWORD + " 2", "password2": PASSWORD + " 2", "usable_password": "true"},
                          secure=True)
    assert response.status_code == 302, response.content[:500]
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", "--email", "root@example.com", verbosity=0)
    encodes = [thread for operation, _, thread in argon2_spy.calls if operation == "encode"]
    assert len(encodes) == 3
    assert all(thread.startswith("argon2") for thread in encodes), encodes

# --- Users: list, search, hash status, actions, the user's page ---

def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_user_list_shows_hash_status_from_the_upgrade_rules_and_filters_by_it(staff: Client) -> None:
    from tests.support.client_api import argon2_hash, pbkdf2_hash

    current = User.objects.create_user("current@example.com", PASSWORD)
    outdated = User.objects.create_user("outdated@example.com")
    legacy = User.objects.create_user("legacy@example.com")
    unusable = User.objects.create_user("unusable@example.com")
    User.objects.filter(pk=outdated.pk).update(password=argon2_hash(PASSWORD, time_cost=1, memory_cost=8))
    User.objects.filter(pk=legacy.pk).update(password=pbkdf2_hash(PASSWORD))
    page = staff.get("/admin/accounts/user/", secure=True).content.decode()
    for status in ("current", "outdated: argon2id m=8,t=1,p=1", "weak: pbkdf2_sha256 iterations=1000", "unusable"):
        assert f'<td class="field-hash_status">{status}</td>' in page, status
    expected = {"current": {current, User.objects.get(email="staff@example.com")}, "outdated": {outdated},
                "weak": {legacy}, "unusable": {unusable}, "wrapped": set(), "beyond_limits": set()}
    for status, users in expected.items():
        response = staff.get(f"/admin/accounts/user/?hash_status={status}", secure=True)
        assert response.status_code == 200
        assert set(response.context["cl"].result_list) == users, status
    assert staff.get("/admin/accounts/user/?hash_status=bogus", secure=True).status_code == 200


def test_search_by_email_is_case_insensitive(staff: Client) -> None:
    User.objects.create_user("Member@Example.com", PASSWORD)
    User.objects.create_user("other@example.com", PASSWORD)
    response = staff.get("/admin/accounts/user/?q=MEMBER@EXAMPLE", secure=True)
    assert [u.email for u in response.context["cl"].result_list] == ["member@example.com"]


def test_reactivate_action_lets_the_user_log_in_again(staff: Client, client: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD, is_active=False)
    action(staff, "/admin/accounts/user/", "reactivate", [user.pk])
    user.refresh_from_db()
    assert user.is_active
    response = client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 200


def test_revoke_all_sessions_action_makes_the_access_token_401_on_me(staff: Client, client: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    bystander = User.objects.create_user("bystander@example.com", PASSWORD)
    pairs = [issue_pair(user), issue_pair(user)]
    kept = issue_pair(bystander)
    assert client.get("/api/v1/auth/me", **_bearer(pairs[0].access_token)).status_code == 200
    action(staff, "/admin/accounts/user/", "revoke_sessions", [user.pk])
    for pair in pairs:
        assert client.get("/api/v1/auth/me", **_bearer(pair.access_token)).status_code == 401
        refreshed = client.post("/api/v1/auth/refresh", {"refresh_token": pair.refresh_token},
                                content_type="application/json")
        assert refreshed.status_code == 401
    assert client.get("/api/v1/auth/me", **_bearer(kept.access_token)).status_code == 200
    user.refresh_from_db()
    assert user.is_active  # only the sessions ended


def test_force_password_reset_makes_the_password_unusable_and_ends_sessions(staff: Client, client: Client) -> None:
    user = User.objects.create_user("member@example.com", PASSWORD)
    pair = issue_pair(user)
    action(staff, "/admin/accounts/user/", "force_password_reset", [user.pk])
    user.refresh_from_db()
    assert not user.has_usable_password() and user.is_active
    assert client.get("/api/v1/auth/me", **_bearer(pair.access_token)).status_code == 401
    response = client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 401
    page = staff.get("/admin/accounts/user/?hash_status=unusable", secure=True)
    assert user in page.context["cl"].result_list
    assert not passwords.verify(PASSWORD, user.password).valid
    assert passwords.can_be_reset(user.password)
    assert b"member@example.com" in staff.get("/admin/accounts/user/?email_verified__exact=0", secure=True).content


@pytest.mark.parametrize("store_name", ["redis", "database"])
def test_unlock_action_clears_the_users_throttle(staff: Client, client: Client, store_name: str) -> None:
    from django.test import override_settings

    user = User.objects.create_user("member@example.com", PASSWORD)
    redis_url = None if store_name == "redis" else ""
    with override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(0, 0),
                           **({} if redis_url is None else {"REDIS_URL": redis_url})):
        def login(password: str) -> int:
            return client.post("/api/v1/auth/login", {"email": user.email, "password": password},
                               content_type="application/json").status_code

        assert [login("wrong password here"), login("wrong password here")] == [401, 401]
        assert login(PASSWORD) == 429
        action(staff, "/admin/accounts/user/", "unlock", [user.pk])
        assert login(PASSWORD) == 200


def test_user_page_shows_sessions_and_recent_login_attempts(staff: Client, client: Client) -> None:
    from accounts import attempts

    user = User.objects.create_user("member@example.com", PASSWORD)
    issue_pair(user, ip="10.9.8.7", user_agent="agent/1")
    client.post("/api/v1/auth/login", {"email": user.email, "password": "wrong password here"},
                content_type="application/json", REMOTE_ADDR="10.1.1.1")
    attempts.flush()
    page = staff.get(f"/admin/accounts/user/{user.pk}/change/", secure=True)
    assert page.status_code == 200
    html = page.content.decode()
    assert "10.9.8.7" in html and "agent/1" in html and "active" in html  # the session
    assert "bad credentials" in html and "10.1.1.1" in html  # the attempt
    salt, digest = user.password.rsplit("$", 2)[1:]
    assert salt[:6] not in html and digest[:6] not in html  # nothing of the salt or hash is shown
    assert "argon2id" in html


def test_add_user_form_validates_like_signup(staff: Client) -> None:
    def add(email: str, password: str) -> object:
        return staff.post("/admin/accounts/user/add/", {"email": email, "password1": password, "password2": password,
                                                        "usable_password": "true"}, secure=True)

    assert b"Enter a valid email address." in add("not-an-email", PASSWORD).content
    assert b"This password is too short." in add("new@example.com", "short").content
    assert b"Must be at most 1024 characters." in add("new@example.com", "x" * 1025).content
    assert not User.objects.filter(email="new@example.com").exists()


# --- Login attempts (the audit log) ---

def test_login_attempts_are_read_only_with_filters_and_a_date_drill_down(staff: Client) -> None:
    from accounts.models import LoginAttempt

    now = timezone.now()
    row = LoginAttempt.objects.create(at=now, email="member@example.com", ip="10.0.0.1", outcome="throttled",
                                      source="api")
    LoginAttempt.objects.create(at=now, email="other@example.com", ip="10.0.0.2", outcome="success", source="page")
    base = "/admin/accounts/loginattempt/"
    page = staff.get(base, secure=True)
    assert page.status_code == 200 and b"member@example.com" in page.content
    assert b"Add login attempt" not in page.content
    filtered = staff.get(f"{base}?outcome__exact=throttled", secure=True)
    assert list(filtered.context["cl"].result_list) == [row]
    drill = staff.get(f"{base}?at__year={now.year}&at__month={now.month}&at__day={now.day}", secure=True)
    assert drill.status_code == 200 and len(drill.context["cl"].result_list) == 2
    assert staff.get(f"{base}add/", secure=True).status_code == 403
    assert staff.post(f"{base}{row.pk}/delete/", {"post": "yes"}, secure=True).status_code == 403
    detail = staff.post(f"{base}{row.pk}/change/", {"email": "x@example.com"}, secure=True)
    assert detail.status_code == 403
    row.refresh_from_db()
    assert row.email == "member@example.com"


# --- Lockouts ---

@pytest.mark.parametrize("store_name", ["redis", "database"])
def test_lockouts_page_shows_who_is_locked_out_and_unlocks(staff: Client, client: Client, store_name: str) -> None:
    from django.test import override_settings

    user = User.objects.create_user("member@example.com", PASSWORD)
    with override_settings(THROTTLE_ACCOUNT_IP=(2, 900), THROTTLE_ACCOUNT=(0, 0), THROTTLE_IP=(0, 0),
                           **({"REDIS_URL": ""} if store_name == "database" else {})):
        def login(password: str) -> int:
            return client.post("/api/v1/auth/login", {"email": user.email, "password": password},
                               content_type="application/json", REMOTE_ADDR="203.0.113.5").status_code

        assert [login("wrong password here"), login("wrong password here"), login(PASSWORD)] == [401, 401, 429]
        page = staff.get("/admin/accounts/throttlecounter/", secure=True)
        assert page.status_code == 200
        locks = page.context["lockouts"]
        assert [(lock.email, lock.ip, lock.kind, lock.store) for lock in locks] == [
            ("member@example.com", "203.0.113.5", "account_ip", store_name)]
        assert b"member@example.com" in page.content and b"Locked out now" in page.content
        response = staff.post("/admin/accounts/throttlecounter/unlock/", {"key": locks[0].key}, secure=True)
        assert response.status_code == 302
        assert login(PASSWORD) == 200
        assert staff.get("/admin/accounts/throttlecounter/", secure=True).context["lockouts"] == []
    assert staff.get("/admin/accounts/throttlecounter/unlock/", secure=True).status_code == 405


def test_the_admin_login_is_for_staff_only_and_checks_csrf() -> None:
    User.objects.create_user("member@example.com", PASSWORD)
    User.objects.create_superuser("boss@example.com", PASSWORD)
    client = Client()
    member = client.post("/admin/login/?next=/admin/", {"username": "member@example.com", "password": PASSWORD},
                         secure=True)
    assert member.status_code == 200 and b"staff account" in member.content  # Django's refusal
    assert client.get("/admin/", secure=True).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.get("/admin/login/", secure=True)
    refused = strict.post("/admin/login/?next=/admin/", {"username": "boss@example.com", "password": PASSWORD},
                          secure=True, HTTP_REFERER="https://testserver/admin/login/")
    assert refused.status_code == 403


def test_wrap_action_enqueues_a_job_for_the_weak_hashes_of_the_selection(staff: Client, client: Client) -> None:
    from django.test import override_settings

    from accounts import hashformats, passwords, wrapping
    from accounts.job_models import Job
    from tests.support.client_api import pbkdf2_hash

    with override_settings(WRAP_BATCH_SIZE=2):
        weak = [User.objects.create_user(f"weak{i}@example.com") for i in range(3)]
        unselected = User.objects.create_user("weak-too@example.com")
        strong = User.objects.create_user("strong@example.com", PASSWORD)
        User.objects.filter(pk__in=[u.pk for u in [*weak, unselected]]).update(password=pbkdf2_hash(PASSWORD))
        action(staff, "/admin/accounts/user/", "wrap_weak_hashes", [u.pk for u in [*weak, strong]])
        job = Job.objects.get()
        assert (job.kind, job.total, job.batches.count(), job.started_by) == ("wrap", 3, 2, "staff@example.com")
        for batch_id in job.batches.values_list("pk", flat=True):  # what the bulk workers do
            assert wrapping.run_batch(batch_id)
    job.refresh_from_db()
    assert (job.state, job.done) == (Job.State.DONE, 3)
    statuses = {u.email: passwords.classify(u.password).status for u in User.objects.all()}
    assert [statuses[u.email] for u in weak] == [hashformats.WRAPPED] * 3
    assert statuses["weak-too@example.com"] == hashformats.WEAK  # not selected
    assert statuses["strong@example.com"] == hashformats.CURRENT
    response = client.post("/api/v1/auth/login", {"email": "weak0@example.com", "password": PASSWORD},
                           content_type="application/json")
    assert response.status_code == 200  # a wrapped hash still logs in
    # The command's `--wrap` does not mistake this selection job for its own unfinished job.
    from accounts import jobs
    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING)
    assert jobs.unfinished(Job.Kind.WRAP) is None



def test_staff_who_may_only_view_cannot_run_user_or_lockout_actions(viewer: Client) -> None:
    boss = User.objects.create_superuser("boss@example.com", PASSWORD)
    counter = ThrottleCounter.objects.create(key="authsite:t:a:x", count=9,
                                             expires_at=timezone.now() + timedelta(minutes=5))
    for name in ("deactivate", "reactivate", "revoke_sessions", "force_password_reset", "unlock", "wrap_weak_hashes"):
        try_action(viewer, "/admin/accounts/user/", name, [boss.pk])
    try_action(viewer, "/admin/accounts/throttlecounter/", "unlock", [counter.pk])
    boss.refresh_from_db()
    assert boss.is_active and boss.has_usable_password()
    assert ThrottleCounter.objects.filter(pk=counter.pk).exists()
    assert not Job.objects.exists()
