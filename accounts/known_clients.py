"""Known clients (OWASP's "device cookies"): proof that a client logged in to an account before.

After a successful login the client gets a token, signed with DJANGO_SECRET_KEY (or one of
DJANGO_SECRET_KEY_FALLBACKS), that names the account (a digest of its canonical email) and a
random client id, valid KNOWN_CLIENT_TTL seconds. An API client sends it back as `client_token`
in its next login; the admin keeps it in a cookie. A login attempt that carries a valid token
for the account it names is counted against that client's own counter instead of the account's:
a stranger's failed guesses can lock the account against unknown clients only, never its owner.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core import signing

SALT = "authsite.known-client"
# No token of ours comes near this; anything longer is ignored unparsed.
MAX_LENGTH = 512


def _account(email: str) -> str:
    return hashlib.sha256(f"known-client:{email}".encode()).hexdigest()[:32]


def issue(email: str, client_id: str | None = None) -> str:
    """A token for canonical `email`: for `client_id` (kept across logins) or a new client."""
    return signing.dumps({"a": _account(email), "c": client_id or secrets.token_urlsafe(16)},
                         salt=SALT, compress=False)


def client_id(token: object, email: str) -> str | None:
    """The client id of a valid, unexpired token issued for canonical `email`; None otherwise."""
    if not isinstance(token, str) or not token or len(token) > MAX_LENGTH:
        return None
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.KNOWN_CLIENT_TTL)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or data.get("a") != _account(email) or not isinstance(data.get("c"), str):
        return None
    return data["c"]
