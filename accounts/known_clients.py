"""Known clients (OWASP's "device cookies"): proof that a client logged in to an account before.

After a successful login the client gets a token, signed with DJANGO_SECRET_KEY (or one of
DJANGO_SECRET_KEY_FALLBACKS), that names the account (a digest of its canonical email) and a
random client id, valid KNOWN_CLIENT_TTL seconds, and a keyed digest of the account's password
hash: any change of the password voids every token issued before it. An API client sends it back as `client_token`
in its next login; the admin keeps it in a cookie. A login attempt that carries a valid token
for the account it names is counted against that client's own counter instead of the account's:
a stranger's failed guesses can lock the account against unknown clients only, never its owner.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "authsite.known-client"
# No token of ours comes near this; anything longer is ignored unparsed.
MAX_LENGTH = 512


def _account(email: str) -> str:
    return hashlib.sha256(f"known-client:{email}".encode()).hexdigest()[:32]


def _credential(password_hash: str) -> str:
    return salted_hmac(SALT, password_hash).hexdigest()[:16]


@dataclass(frozen=True)
class Claim:
    """A validly signed, unexpired token for an account: its client id and credential mark."""

    client_id: str
    credential: str

    def holds(self, password_hash: str) -> bool:
        """Whether the token was issued while the account held `password_hash`."""
        return constant_time_compare(self.credential, _credential(password_hash))


def issue(email: str, password_hash: str, client_id: str | None = None) -> str:
    """A token for canonical `email` holding `password_hash`: for `client_id` (kept across
    logins) or a new client."""
    return signing.dumps({"a": _account(email), "c": client_id or secrets.token_urlsafe(16),
                          "k": _credential(password_hash)}, salt=SALT, compress=False)


def claim(token: object, email: str) -> Claim | None:
    """The claim of a valid, unexpired token issued for canonical `email`; None otherwise."""
    if not isinstance(token, str) or not token or len(token) > MAX_LENGTH:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.KNOWN_CLIENT_TTL)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if (not isinstance(data, dict) or data.get("a") != _account(email) or not isinstance(data.get("c"), str)
            or not isinstance(data.get("k"), str)):
        return None
    return Claim(data["c"], data["k"])
