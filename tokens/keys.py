"""Ed25519 signing keys: creation, encryption at rest, rotation, JWKS, and the in-process ring.

Private keys are stored encrypted (Fernet, key derived from DJANGO_SECRET_KEY by HKDF). Each
process keeps a `KeyRing` in memory: the active key for signing, refreshed every
SIGNING_KEY_REFRESH_SECONDS, and public keys by kid, reloaded when an unknown kid shows up
(at most once a second, so junk kids cannot hammer the database).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from cryptography.fernet import Fernet, InvalidToken as FernetError, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from tokens.models import SigningKey

logger = logging.getLogger(__name__)
# The JWK set is served from memory this long: under load /jwks costs no query, and a key
# rotated by another process is published within this time.
JWKS_CACHE_SECONDS = 1.0
_jwks_cache: dict[str, Any] = {"at": float("-inf"), "document": None}

UNKNOWN_KID_RELOAD_INTERVAL = 1.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _fernet_for(secret: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authsite signing keys v1").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _fernet() -> Fernet:
    return _fernet_for(settings.SECRET_KEY)


def _fernets() -> MultiFernet:
    """SECRET_KEY first (encrypts), then SECRET_KEY_FALLBACKS (decrypt only)."""
    return MultiFernet([_fernet(), *(_fernet_for(secret) for secret in settings.SECRET_KEY_FALLBACKS)])


def public_jwk(raw_public: bytes, kid: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw_public), "kid": kid, "alg": "EdDSA", "use": "sig"}


def thumbprint(raw_public: bytes) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), used as the kid."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw_public)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def _new_key_row() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey(kid=thumbprint(raw_public), public_key=raw_public,
                      private_key_encrypted=_fernet().encrypt(raw_private), is_active=True)


def decrypt_private(row: SigningKey) -> Ed25519PrivateKey:
    """The private key of `row`; one still encrypted under a fallback secret key is decrypted
    with it, and every such key is re-encrypted under DJANGO_SECRET_KEY."""
    token = bytes(row.private_key_encrypted)
    try:
        raw = _fernet().decrypt(token)
    except FernetError:
        try:
            raw = _fernets().decrypt(token)
        except FernetError as exc:
            raise RuntimeError(
                f"cannot decrypt signing key {row.kid}: DJANGO_SECRET_KEY changed? List the previous one "
                "in DJANGO_SECRET_KEY_FALLBACKS, or run `manage.py rotate_signing_key` to create a new key."
            ) from exc
        reencrypt_keys()
    return Ed25519PrivateKey.from_private_bytes(raw)


def reencrypt_keys() -> int:
    """Re-encrypt under DJANGO_SECRET_KEY every private key still encrypted under a fallback;
    returns how many."""
    current, every = _fernet(), _fernets()
    count = 0
    for pk, token in SigningKey.objects.values_list("pk", "private_key_encrypted"):
        token = bytes(token)
        try:
            current.decrypt(token)
            continue
        except FernetError:
            pass
        try:
            rotated = every.rotate(token)
        except FernetError:
            continue  # under none of the known keys: left for an operator to rotate away
        SigningKey.objects.filter(pk=pk).update(private_key_encrypted=rotated)
        count += 1
    if count:
        logger.info("security: signing keys re-encrypted under the current secret key",
                    extra={"event": "signing_keys_reencrypted", "count": count})
    return count


def rotate_signing_key() -> SigningKey:
    """Retire the active key (it stays in JWKS while its tokens can be valid) and activate a new one."""
    with transaction.atomic():
        now = timezone.now()
        list(SigningKey.objects.select_for_update().filter(is_active=True))
        SigningKey.objects.filter(is_active=True).update(is_active=False, retired_at=now)
        row = _new_key_row()
        row.save()
    ring.invalidate()
    logger.info("security: signing key rotated", extra={"event": "signing_key_rotated", "kid": row.kid})
    return row


def ensure_active() -> SigningKey:
    """The active key, created on first use."""
    row = SigningKey.objects.filter(is_active=True).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            row = _new_key_row()
            row.save()
            return row
    except IntegrityError:  # another process created it first
        return SigningKey.objects.get(is_active=True)


def retired_grace() -> timedelta:
    """How long after retirement a key's tokens can still be valid.

    A worker may sign with a key up to SIGNING_KEY_REFRESH_SECONDS after it was retired
    elsewhere, and such a token lives ACCESS_TOKEN_TTL (+ clock leeway).
    """
    return timedelta(seconds=settings.ACCESS_TOKEN_TTL + settings.SIGNING_KEY_REFRESH_SECONDS + settings.JWT_LEEWAY)


def published_keys() -> list[SigningKey]:
    """The active key and every retired key whose tokens can still be valid."""
    ensure_active()
    cutoff = timezone.now() - retired_grace()
    return list(SigningKey.objects.filter(Q(is_active=True) | Q(retired_at__gt=cutoff)).order_by("-created_at"))


def _fresh_jwks() -> dict[str, Any] | None:
    at, document = _jwks_cache["at"], _jwks_cache["document"]
    return document if time.monotonic() - at < JWKS_CACHE_SECONDS else None


def jwks() -> dict[str, Any]:
    """The published keys as a JWK set (served from memory for JWKS_CACHE_SECONDS)."""
    document = _fresh_jwks()
    if document is None:
        document = {"keys": [public_jwk(bytes(row.public_key), row.kid) for row in published_keys()]}
        _jwks_cache.update(at=time.monotonic(), document=document)
    return document


async def ajwks() -> dict[str, Any]:
    """Async twin of `jwks`: no thread hop while the cached set is fresh."""
    document = _fresh_jwks()
    return document if document is not None else await sync_to_async(jwks)()


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private: Ed25519PrivateKey


class KeyRing:
    """Per-process cache of loaded key objects, so that signing and verifying never decrypt or
    parse a key per call.

    Public keys are kept with the moment they stop being trusted (retirement + grace; none for
    the active key) and the set is re-read every SIGNING_KEY_REFRESH_SECONDS, so a retired key
    stops verifying here exactly when it leaves JWKS.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: ActiveKey | None = None
        self._active_loaded = 0.0
        # kid -> (key, trusted until as a UNIX time, or None while active)
        self._public: dict[str, tuple[Ed25519PublicKey, float | None]] = {}
        self._public_loaded = 0.0

    def invalidate(self) -> None:
        """Re-read the keys from the database on next use (known public keys are kept)."""
        with self._lock:
            self._active = None
            self._public_loaded = 0.0
            _jwks_cache["at"] = float("-inf")

    def reset(self) -> None:
        """Forget every loaded key, as in a new process."""
        with self._lock:
            self._active = None
            self._public, self._public_loaded = {}, 0.0
            _jwks_cache["at"] = float("-inf")

    def _load_active(self) -> ActiveKey:
        row = ensure_active()
        active = ActiveKey(row.kid, decrypt_private(row))
        with self._lock:
            self._active, self._active_loaded = active, time.monotonic()
            self._public[row.kid] = (active.private.public_key(), None)
        return active

    def _load_public(self) -> None:
        grace = retired_grace()
        loaded = {
            row.kid: (Ed25519PublicKey.from_public_bytes(bytes(row.public_key)),
                      None if row.is_active or row.retired_at is None else (row.retired_at + grace).timestamp())
            for row in published_keys()
        }
        with self._lock:
            self._public, self._public_loaded = loaded, time.monotonic()

    def active_is_fresh(self) -> bool:
        return self._active is not None and time.monotonic() - self._active_loaded < settings.SIGNING_KEY_REFRESH_SECONDS

    def _public_is_fresh(self) -> bool:
        return time.monotonic() - self._public_loaded < settings.SIGNING_KEY_REFRESH_SECONDS

    def _trusted(self, kid: str) -> Ed25519PublicKey | None:
        entry = self._public.get(kid)
        if entry is None:
            return None
        key, until = entry
        return key if until is None or time.time() < until else None

    def signing_key(self) -> ActiveKey:
        if self.active_is_fresh():
            return self._active  # type: ignore[return-value]
        return self._load_active()

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The trusted public key for `kid`, re-reading the published set when it is due or
        when `kid` is new to us (at most once a second)."""
        unknown = kid not in self._public
        if not self._public_is_fresh() or (
                unknown and time.monotonic() - self._public_loaded >= UNKNOWN_KID_RELOAD_INTERVAL):
            self._load_public()
        return self._trusted(kid)

    async def asigning_key(self) -> ActiveKey:
        if self.active_is_fresh():
            return self._active  # type: ignore[return-value]
        return await sync_to_async(self._load_active)()

    async def apublic_key(self, kid: str) -> Ed25519PublicKey | None:
        if self._public_is_fresh() and kid in self._public:
            return self._trusted(kid)
        return await sync_to_async(self.public_key)(kid)


ring = KeyRing()
