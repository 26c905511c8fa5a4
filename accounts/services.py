"""Account use cases: sign up, prove who you are, change your password.

Views and tasks call these; they hold the rules. All hashing goes through accounts.passwords.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts import attempts, known_clients, metrics, passwords, queries, throttling, timing, verification
from accounts.emails import canonical_email, clean_email
from accounts.exceptions import AccountUnavailable, EmailTaken, EmailUnverified, InvalidCredentials, Overloaded
from authsite.kit.exceptions import ValidationFailed
from accounts.models import LoginAttempt, User
from authsite.kit import twins

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """Who is trying to log in, from where."""

    email: str  # canonical form
    ip: str
    # A validly signed known-client token for this account (accounts.known_clients); it makes
    # the attempt a known client's only if it matches the account's current password.
    claim: known_clients.Claim | None = None

    def known_client(self, user: User | None) -> str | None:
        """The client id if the token was issued for `user`'s current password, else None."""
        if self.claim is None or user is None or not self.claim.holds(user.password):
            return None
        return self.claim.client_id

    def limits(self, known_client: str | None) -> list[throttling.Limit]:
        return throttling.limits_for(self.email, self.ip, known_client)

    def cleared_on_success(self, known_client: str | None, limits: list[throttling.Limit]) -> list[str]:
        """The counter a success resets: this client's own one, if that limit is in force (an
        unused counter needs no call to Redis)."""
        if known_client is not None:
            key = throttling.known_client_key(known_client)
        else:
            key = throttling.account_ip_key(self.email, self.ip)
        return [key] if any(lim.key == key for lim in limits) else []

    def client_token(self, user: User) -> str:
        """The known-client token to hand back after `user` logged in (same client id)."""
        return known_clients.issue(self.email, user.password, self.claim.client_id if self.claim else None)


def check_password_length(password: str, field: str = "password") -> None:
    """Fast bounds check, before any hashing: a 1 MB password is refused, never hashed."""
    if len(password) > settings.PASSWORD_MAX_LENGTH:
        raise ValidationFailed(
            "Invalid input.", {field: [f"Must be at most {settings.PASSWORD_MAX_LENGTH} characters."]}
        )


def check_password_rules(password: str, user: User, field: str = "password") -> None:
    """Length bounds, then Django's validators (common, numeric, similarity, minimum length)."""
    check_password_length(password, field)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed("Invalid input.", {field: list(exc.messages)}) from exc


def check_email(raw: str) -> str:
    try:
        return clean_email(raw)
    except ValidationError as exc:
        raise ValidationFailed("Invalid input.", {"email": list(exc.messages)}) from exc


def _refusal(outcomes: object) -> Overloaded | None:
    refusal = passwords.get_pool().refusal()
    if refusal is not None:
        outcomes.labels("overloaded").inc()  # type: ignore[attr-defined]
    return refusal


def login_refusal() -> Overloaded | None:
    """Overloaded (counted as a refused login) while the hashing pool is full, else None. The
    ASGI door asks before Django parses the request: a refusal under a flood costs next to
    nothing. (Such a refusal has not read the email, so the audit log does not see it.)"""
    return _refusal(metrics.LOGIN_OUTCOMES)


def signup_refusal() -> Overloaded | None:
    """`login_refusal` for signups."""
    return _refusal(metrics.SIGNUP_OUTCOMES)


@metrics.count_outcomes(metrics.SIGNUP_OUTCOMES, "signup", success="created")
async def asignup(raw_email: str, password: str, ip: str) -> User:
    """Create an account; raise ValidationFailed, EmailTaken, TooManyAttempts or Overloaded."""
    email = check_email(raw_email)
    check_password_rules(password, User(email=email))
    passwords.get_pool().ensure_room()
    # Every well-formed signup attempt counts against the IP, taken or not.
    await throttling.aacquire(throttling.signup_limits(ip))
    if await queries.aemail_taken(email):
        raise EmailTaken()
    encoded = await passwords.ahash(password)
    try:
        user = await queries.acreate_user(email, encoded)
    except IntegrityError as exc:  # lost a race with a concurrent signup
        raise EmailTaken() from exc
    await verification.aqueue_after_signup(user.pk)
    return user


def login_attempt(raw_email: str, password: str, ip: str, client_token: object = None) -> Attempt:
    """Validate the shape of a login attempt (no lookup, no hashing). An invalid or foreign
    `client_token` is ignored: the attempt is then an unknown client's."""
    check_password_length(password)
    email = canonical_email(raw_email)
    if len(email) > settings.EMAIL_MAX_LENGTH:
        raise ValidationFailed("Invalid input.", {"email": [f"Must be at most {settings.EMAIL_MAX_LENGTH} characters."]})
    return Attempt(email=email, ip=ip, claim=known_clients.claim(client_token, email))


def _find_user(email: str) -> User | None:
    return User.objects.filter(email=email).first()


_afind_user = queries.afind_user  # the async twin


class _Seen:
    """What the core learnt about the account, for the audit log (accounts.attempts)."""

    user_id: int | None = None
    inactive = False


def _authenticate(attempt: Attempt, password: str, seen: _Seen) -> twins.Core[User]:
    """The one core of `authenticate` / `aauthenticate` (see authsite.kit.twins)."""
    found = attempt.claim is not None
    if found:
        # A token counts only for the password it was issued for: the row is needed first.
        user = yield twins.Io(_find_user, _afind_user, (attempt.email,))
    known = attempt.known_client(user) if found else None
    limits = attempt.limits(known)
    # Counted before hashing, atomically: a burst of parallel guesses cannot overshoot a limit.
    filled = yield twins.Io(throttling.acquire, throttling.aacquire, (limits,))
    hashed = False
    try:
        if not found:
            user = yield twins.Io(_find_user, _afind_user, (attempt.email,))
        if user is None:
            yield twins.Io(passwords.dummy_verify_in_pool, passwords.adummy_verify, (password,))
            ok = False
        else:
            result = yield twins.Io(passwords.verify_in_pool, passwords.averify, (password, user.password))
            ok = result.valid and user.is_active
            seen.user_id, seen.inactive = user.pk, result.valid and not user.is_active
        hashed = True
        if ok and result.upgraded_hash:
            yield twins.Io(store_upgrade, astore_upgrade, (user, result.upgraded_hash))
    except BaseException as exc:
        # No guess was checked (pool full, database down, client gone while queued): give the
        # slot back. A guess whose hash started is paid for, even if the client left.
        if not (hashed or passwords.hash_started(exc)):
            yield twins.Io(throttling.release, throttling.arelease, (limits,))
        raise
    if not ok or user is None:
        throttling.report_lockouts(filled)
        raise InvalidCredentials()  # the acquired slot stays counted: this is the failure
    yield twins.Io(throttling.release, throttling.arelease, (limits, attempt.cleared_on_success(known, limits)))
    return user


def _log_failure(attempt: Attempt, source: str, exc: BaseException, seen: _Seen) -> None:
    outcome = attempts.outcome_of(exc)
    if outcome == LoginAttempt.BAD_CREDENTIALS and seen.inactive:
        outcome = LoginAttempt.INACTIVE
    if outcome is not None:
        attempts.record(attempt.email, attempt.ip, outcome, source, seen.user_id)


@metrics.count_outcomes(metrics.LOGIN_OUTCOMES, "login")
@timing.pad_failures
async def aauthenticate(attempt: Attempt, password: str, source: str = "api") -> User:
    """Return the user whose email and password match, or raise InvalidCredentials.

    Like django.contrib.auth.authenticate, it does not record the login: whoever starts the
    session does (`record_login`).

    `source` names the door (api, page) in the audit log (accounts.attempts), which gets one
    row per attempt without waiting for the database.

    Every failure looks the same and costs at least one Argon2 verification at the current
    parameters (unknown email, wrong password, inactive account alike). A success with an
    outdated hash stores the current Argon2id hash, unless the hash changed meanwhile.
    """
    seen = _Seen()
    try:
        # A full pool refuses before any I/O: under a flood the 503 must cost next to nothing.
        passwords.get_pool().ensure_room()
        user = await twins.arun(_authenticate(attempt, password, seen))
    except BaseException as exc:
        _log_failure(attempt, source, exc, seen)
        raise
    # Only now, with the password verified: a guesser learns nothing from this answer.
    if settings.REQUIRE_VERIFIED_EMAIL and not user.email_verified:
        raise EmailUnverified()
    attempts.record(attempt.email, attempt.ip, LoginAttempt.SUCCESS, source, user.pk)
    return user


@timing.pad_failures
def authenticate(attempt: Attempt, password: str, source: str = "admin") -> User:
    """Synchronous twin of `aauthenticate` for sync callers (the admin's login backend).

    Same throttles and hashing rules; the hashing still runs in the bounded pool, this thread
    waits for it. Leaves `last_login` to django.contrib.auth.login.
    """
    seen = _Seen()
    try:
        user = twins.run(_authenticate(attempt, password, seen))
    except BaseException as exc:
        _log_failure(attempt, source, exc, seen)
        raise
    attempts.record(attempt.email, attempt.ip, LoginAttempt.SUCCESS, source, user.pk)
    return user


def record_login(user_id: int, when: datetime, expected_password: str) -> bool:
    """Set last_login if the account is active and still holds `expected_password` (the hash
    just verified); False otherwise. Sync: runs inside the caller's transaction, and its row
    lock orders it against a concurrent password change. Callers drop the cached profile
    afterwards (accounts.profiles.forget)."""
    return bool(queries.login_filter(user_id, expected_password).update(last_login=when))


def store_upgrade(user: User, new_hash: str) -> None:
    """Replace `user`'s stored hash with `new_hash` unless it changed since `user` was read."""
    # Compare-and-swap on the old value: never overwrite a hash changed meanwhile (a password
    # change, an admin reset or a rehash job).
    _note_upgrade(user, new_hash, User.objects.store_rehash(user.pk, user.password, new_hash))


def _note_upgrade(user: User, new_hash: str, updated: bool) -> None:
    if updated:
        user.password = new_hash
    else:
        logger.info("hash upgrade skipped: hash changed concurrently", extra={"user_id": user.pk})


async def astore_upgrade(user: User, new_hash: str) -> None:
    """Async twin of `store_upgrade`."""
    _note_upgrade(user, new_hash, await queries.astore_rehash(user.pk, user.password, new_hash))


async def achange_password(user_id: int, current: str, new: str, ip: str = "") -> None:
    """Check the current password, apply rules to the new one, store it, end every session.

    Guesses of the current password count against the same throttles as logins: a stolen
    access token must not become an offline-speed oracle for the password.
    """
    check_password_length(current, "current_password")
    user = await aget_active_user(user_id)
    check_password_rules(new, user, "new_password")
    passwords.get_pool().ensure_room()
    limits = throttling.limits_for(user.email, ip)
    await throttling.aacquire(limits)
    try:
        result = await passwords.averify(current, user.password)
    except BaseException as exc:
        if not passwords.hash_started(exc):
            await throttling.arelease(limits)
        raise
    if not result.valid:
        raise ValidationFailed("Invalid input.", {"current_password": ["Incorrect password."]})
    await throttling.arelease(limits, forget=[throttling.account_ip_key(user.email, ip)])
    encoded = await passwords.ahash(new)
    # Compare-and-swap, and one transaction with the end of every session: UserQuerySet.update
    # announces the new password (credentials_changed) before it commits.
    updated = await User.objects.filter(pk=user.pk, password=user.password).aupdate(password=encoded)
    if not updated:
        raise ValidationFailed("Invalid input.", {"current_password": ["The password changed meanwhile; try again."]})


async def aget_active_user(user_id: int) -> User:
    """The active user with this id, or AccountUnavailable (deleted or deactivated)."""
    user = await User.objects.filter(pk=user_id, is_active=True).afirst()
    if user is None:
        raise AccountUnavailable()
    return user
