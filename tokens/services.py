"""Token use cases: issue a pair at login, verify access tokens, rotate, revoke, list sessions."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import profiles
from accounts.models import User
from accounts.exceptions import InvalidCredentials, TooManyAttempts
from accounts.services import record_login
from authsite.kit import asyncdb, background, twins
from tokens import codec, metrics, queries, revocation
from tokens.cache import VerifiedTokenCache
from tokens.exceptions import InvalidToken, SessionNotFound
from tokens.keys import ActiveKey, ring
from tokens.models import RefreshToken, Session

logger = logging.getLogger(__name__)
# No token of ours comes near this; anything longer is refused before any parsing.
MAX_TOKEN_LENGTH = 4096
# Refresh tokens start with their session's family: this many hex characters.
FAMILY_LENGTH = 32
verified_cache = VerifiedTokenCache()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "token_type": "Bearer", "expires_in": self.expires_in}


@dataclass(frozen=True)
class AccessClaims:
    """The verified claims of an access token."""

    user_id: int
    session_id: str
    jti: str
    exp: int
    # The caller's profile as cached in Redis, read with the revocation check (None: not cached).
    profile: bytes | None = None


def digest_refresh_token(refresh_token: str) -> str:
    """What the database stores of a refresh token (its SHA-256, hex)."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _session_ends(session: Session) -> Any:
    """The absolute end of a session: no refresh extends it beyond SESSION_MAX_AGE."""
    return session.created_at + timedelta(seconds=settings.SESSION_MAX_AGE)


def _new_refresh(session: Session, now: Any) -> tuple[str, RefreshToken]:
    # The family prefix lets a token whose row was pruned still be recognised (reuse).
    raw = f"{session.family}{secrets.token_urlsafe(32)}"
    expires = min(now + timedelta(seconds=settings.REFRESH_TOKEN_TTL), _session_ends(session))
    row = RefreshToken(token_hash=digest_refresh_token(raw), session=session, expires_at=expires)
    return raw, row


def sign_access(user_id: int, session_id: str, key: ActiveKey | None = None) -> str:
    """A new access token of `session_id`, signed with `key` (default: the active key)."""
    now = int(time.time())
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user_id),
        "iat": now,
        "exp": now + settings.ACCESS_TOKEN_TTL,
        "jti": uuid.uuid4().hex,
        "sid": session_id,
    }
    key = key or ring.signing_key()  # async callers pass the key: no database on the loop
    return codec.encode_access(claims, key.private, key.kid)


# --- Issue ---

def _new_session(user: User, ip: str, user_agent: str, now: Any) -> tuple[Session, str, RefreshToken]:
    """A new session of `user` and its first refresh token (raw, and its row), not saved."""
    session = Session(user_id=user.pk, created_at=now, last_used_at=now, expires_at=now,
                      ip=ip[:64], user_agent=user_agent[:256], family=secrets.token_hex(FAMILY_LENGTH // 2))
    raw, row = _new_refresh(session, now)
    session.expires_at = row.expires_at
    return session, raw, row


def start_session(user: User, ip: str, user_agent: str, with_refresh: bool = True) -> tuple[Session, str]:
    """Start a session for `user`; with `with_refresh`, also its first refresh token (returned raw)."""
    now = timezone.now()
    with transaction.atomic():
        # A new session is a login: last_login rides in the same transaction (one thread hop
        # and one commit fewer). It also re-checks, under the row lock, that the password
        # verified is still the stored one and the account still active: a password change or
        # deactivation that committed while this login was hashing must not be outlived by it.
        if not record_login(user.pk, now, expected_password=user.password):
            raise InvalidCredentials()
        session, raw, row = _new_session(user, ip, user_agent, now)
        session.save(force_insert=True)
        if not with_refresh:  # a browser session: its id rides in the session cookie instead
            return session, ""
        row.session = session
        row.save()
    return session, raw


async def astart_session(user: User, ip: str, user_agent: str) -> tuple[Session, str]:
    """Async twin of `start_session` (with a refresh token): on the pool, the same checks and
    rows in one statement (tokens.queries.ainsert_login)."""
    if not asyncdb.enabled():
        return await sync_to_async(start_session)(user, ip, user_agent)
    now = timezone.now()
    session, raw, row = _new_session(user, ip, user_agent, now)
    if not await queries.ainsert_login(session, row, now, user.password):
        raise InvalidCredentials()
    return session, raw


async def aissue_pair(user: User, ip: str = "", user_agent: str = "") -> TokenPair:
    """Start a session (token family) for `user` and return its first token pair."""
    session, refresh = await astart_session(user, ip, user_agent)
    await profiles.aforget(user.pk)  # /me shows last_login
    key = await ring.asigning_key()
    return TokenPair(sign_access(user.pk, str(session.pk), key), refresh, settings.ACCESS_TOKEN_TTL)


# --- Verify ---

async def aauthenticate_access(token: str) -> AccessClaims:
    """Verify an access token (signature via the verified-token cache) and its revocation."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise InvalidToken("shape")
    claims = verified_cache.get(token)
    if claims is None:
        metrics.TOKEN_CACHE_MISSES.inc()
        kid = codec.unverified_kid(token)
        key = await ring.apublic_key(kid)
        if key is None:
            raise InvalidToken("unknown kid")
        metrics.SIGNATURE_VERIFICATIONS.inc()
        claims = codec.decode_access(token, key)
        verified_cache.put(token, claims)
    else:
        metrics.TOKEN_CACHE_HITS.inc()
    if claims["exp"] + settings.JWT_LEEWAY <= time.time():
        raise InvalidToken("expired")
    user_id = int(claims["sub"])
    # The caller's cached profile rides along in the revocation round trip (one Redis call
    # per authenticated request instead of two).
    revoked, profile = await revocation.acheck(claims["sid"], also_get=profiles.cache_key(user_id))
    if revoked:
        raise InvalidToken("revoked")
    return AccessClaims(user_id, claims["sid"], claims["jti"], claims["exp"], profile)


# --- Refresh (rotation of refresh tokens) ---

@dataclass(frozen=True)
class Rotated:
    """A refresh token was used once: the session goes on with a new pair."""

    pair: TokenPair


@dataclass(frozen=True)
class Reused:
    """An already used refresh token was presented again: its session must be revoked."""

    session_id: str


def _count_refresh(session: Session, now: Any) -> None:
    """Count one refresh against THROTTLE_REFRESH (saved with the session), or raise
    TooManyAttempts: refreshing must not be a free way to add rows."""
    count, seconds = settings.THROTTLE_REFRESH
    if not count:
        return
    start = session.refresh_window_start
    if start is None or start <= now - timedelta(seconds=seconds):
        session.refresh_window_start, session.refresh_count = now, 0
    elif session.refresh_count >= count:
        raise TooManyAttempts((start + timedelta(seconds=seconds) - now).total_seconds() + 1)
    session.refresh_count += 1


def _io(step: Any, *args: Any) -> twins.Io:
    # A rotation's `db` is sync (OrmRotation) or async (PoolRotation), driven by the matching twin.
    return twins.Io(step, step, args)


def _take(row: RefreshToken, session: Session, now: Any, db: Any) -> twins.Core[bool]:
    """Mark `row` used; False when it was used already and this is not a retry."""
    if row.used_at is None:
        row.used_at = now
        yield _io(db.mark_used, row)
        return True
    grace = settings.REFRESH_RETRY_GRACE  # 0: no retries, every second use is reuse
    if not grace or row.used_at < now - timedelta(seconds=grace) or row.expires_at <= now:
        return False
    # Presented again just after its rotation: the client probably never got the answer. Its
    # successor, never used, dies (used and expired: presenting it later is reuse).
    return bool((yield _io(db.end_unused, session, now)))


def _store(new_row: RefreshToken, used: RefreshToken, now: Any, db: Any) -> twins.Core[None]:
    """Save the session's new refresh token. Reuse detection needs only the token just used
    (and one superseded by a retry); older used tokens are still recognised by their family
    prefix. So the oldest other used row becomes the new token: no row per refresh, and no
    more statements than an insert."""
    if not (yield _io(db.recycle, used, new_row, now)):
        yield _io(db.insert, new_row)


def _pruned_family_member(refresh_token: str, db: Any) -> twins.Core[Reused]:
    """An unknown refresh token that starts with a live session's family was issued to it and
    used long ago (its row was pruned): reuse. Anything else is just unknown."""
    family = refresh_token[:FAMILY_LENGTH]
    if len(refresh_token) > FAMILY_LENGTH and all(c in "0123456789abcdef" for c in family):
        sid = yield _io(db.live_family_session, family)
        if sid is not None:
            return Reused(str(sid))
    raise InvalidToken("unknown refresh")


def _rotation(refresh_token: str, ip: str, key: ActiveKey, db: Any) -> twins.Core[Rotated | Reused]:
    """The one core of a refresh (see authsite.kit.twins), run inside one transaction: use a
    refresh token once, replacing it with a new one in the same session. The access token is
    signed in the transaction too: a signing failure rolls the rotation back. `db` reads and
    writes: tokens.queries.OrmRotation or PoolRotation."""
    now = timezone.now()
    row = yield _io(db.locked_refresh, digest_refresh_token(refresh_token))
    if row is None:
        return (yield from _pruned_family_member(refresh_token, db))
    session = row.session
    if (session.revoked_at is not None or not session.user.is_active or _session_ends(session) <= now
            or (row.used_at is None and row.expires_at <= now)):
        raise InvalidToken("refresh no longer valid")
    _count_refresh(session, now)
    if not (yield from _take(row, session, now, db)):
        return Reused(str(session.pk))  # the family is compromised
    raw, new_row = _new_refresh(session, now)
    yield from _store(new_row, row, now, db)
    session.last_used_at = now
    session.expires_at = new_row.expires_at
    if ip:
        session.ip = ip[:64]
    yield _io(db.save_session, session)
    access = sign_access(session.user_id, str(session.pk), key)
    return Rotated(TokenPair(access, raw, settings.ACCESS_TOKEN_TTL))


def _check_shape(refresh_token: str) -> None:
    if not refresh_token or len(refresh_token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("shape")


def _revoke_reused(outcome: Reused) -> None:
    """A used refresh token came back: revoke its whole session (raises InvalidToken)."""
    logger.warning("security: refresh token reuse detected",
                   extra={"event": "refresh_reuse", "session_id": outcome.session_id})
    revocation.revoke_sessions(session_ids=[outcome.session_id], reason="refresh_reuse")
    raise InvalidToken("refresh reuse")


def refresh(refresh_token: str, ip: str = "", key: ActiveKey | None = None) -> TokenPair:
    """Exchange a refresh token for a new pair; a reused one revokes its whole session."""
    _check_shape(refresh_token)
    key = key or ring.signing_key()
    with transaction.atomic():
        outcome = twins.run(_rotation(refresh_token, ip, key, queries.OrmRotation()))
    if isinstance(outcome, Reused):
        _revoke_reused(outcome)
    return outcome.pair  # type: ignore[union-attr]


async def arefresh(refresh_token: str, ip: str = "") -> TokenPair:
    """Async twin of `refresh`: on the pool, the rotation's transaction on one pooled connection."""
    key = await ring.asigning_key()
    if not asyncdb.enabled():
        return await sync_to_async(refresh)(refresh_token, ip, key)
    _check_shape(refresh_token)
    async with asyncdb.transaction() as conn:
        outcome = await twins.arun(_rotation(refresh_token, ip, key, queries.PoolRotation(conn)))
    if isinstance(outcome, Reused):
        await sync_to_async(_revoke_reused)(outcome)  # rare: the revocation path stays the ORM's
    return outcome.pair  # type: ignore[union-attr]


# --- Revoke ---

def _other_refresh(refresh_token: str | None) -> str | None:
    """The digest of a logout's optional refresh token, if it has a sane length."""
    if refresh_token and len(refresh_token) <= MAX_TOKEN_LENGTH:
        return digest_refresh_token(refresh_token)
    return None


def logout(claims: AccessClaims, refresh_token: str | None = None) -> None:
    """End the caller's session, and the session of `refresh_token` if it is the caller's too."""
    revocation.revoke_sessions(session_ids=[claims.session_id], reason="logout")
    digest = _other_refresh(refresh_token)
    if digest is not None:
        other = queries.session_of_refresh(digest, claims.user_id).first()
        if other is not None:
            revocation.revoke_sessions(session_ids=[other], reason="logout")


async def alogout(claims: AccessClaims, refresh_token: str | None = None) -> None:
    """Async twin of `logout`: on the async pool, one statement revokes both sessions. Like the
    other revocations, it finishes even if the client goes away meanwhile."""
    await background.uncancellable(_alogout(claims, refresh_token))


async def _alogout(claims: AccessClaims, refresh_token: str | None) -> None:
    if not asyncdb.enabled():
        await sync_to_async(logout)(claims, refresh_token)
        return
    ids = [claims.session_id]
    digest = _other_refresh(refresh_token)
    if digest is not None:
        other = await queries.asession_of_refresh(digest, claims.user_id)
        if other is not None:
            ids.append(other)
    await revocation.arevoke_sessions(session_ids=ids, reason="logout")


def revoke_user_sessions(user_id: int, reason: str) -> list[str]:
    """End every session of a user (logout-all, password change, deactivation, deletion)."""
    return revocation.revoke_sessions(user_id=user_id, reason=reason)


async def alogout_all(claims: AccessClaims) -> None:
    await background.uncancellable(sync_to_async(revoke_user_sessions)(claims.user_id, "logout_all"))


def revoke_session(user_id: int | None, session_id: str, reason: str = "revoked") -> None:
    """Revoke one live session; with `user_id`, only if it belongs to that user."""
    try:
        uuid.UUID(session_id)
    except ValueError as exc:
        raise SessionNotFound() from exc
    if not revocation.revoke_sessions(session_ids=[session_id], user_id=user_id, reason=reason):
        raise SessionNotFound()


async def arevoke_session(user_id: int, session_id: str) -> None:
    await background.uncancellable(sync_to_async(revoke_session)(user_id, session_id))


# --- Housekeeping ---

def purge_expired() -> dict[str, int]:
    """Delete refresh tokens past their expiry (used or not, they can no longer be accepted),
    sessions that ended more than SESSION_HISTORY_DAYS ago, and revocation journal rows no
    access token can need any more. Returns counts."""
    now = timezone.now()
    tokens_deleted, _ = RefreshToken.objects.filter(expires_at__lt=now).delete()
    horizon = now - timedelta(days=settings.SESSION_HISTORY_DAYS)
    # delete() counts cascaded rows too: read the sessions' own count.
    _, per_model = (Session.objects.filter(expires_at__lt=horizon) |
                    Session.objects.filter(revoked_at__lt=horizon)).delete()
    return {"refresh_tokens": tokens_deleted, "sessions": per_model.get(Session._meta.label, 0),
            "revocations": revocation.purge_journal()}
