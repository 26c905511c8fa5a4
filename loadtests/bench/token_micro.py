"""Cost of one access-token check: a verified-token cache hit versus a full Ed25519 verification.

Run as its own program in the benchmark server's environment (pinned to its cores):
    python -m loadtests.bench.token_micro [N]
It prints one JSON line: {"full_us": ..., "hit_us": ...}, microseconds per check.
"""

from __future__ import annotations

import json
import os
import sys
import time
import timeit
import uuid


def measure(n: int = 20000) -> dict[str, float]:
    """Best-of-5 microseconds per full verification (n/10 calls) and per cache hit (n calls).
    Needs configured Django settings."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.conf import settings

    from tokens import codec
    from tokens.cache import VerifiedTokenCache

    key = Ed25519PrivateKey.generate()
    now = int(time.time())
    claims = {"iss": settings.JWT_ISSUER, "aud": settings.JWT_AUDIENCE, "sub": "1", "iat": now,
              "exp": now + settings.ACCESS_TOKEN_TTL, "jti": uuid.uuid4().hex, "sid": str(uuid.uuid4())}
    token = codec.encode_access(claims, key, "bench")
    public = key.public_key()
    cache = VerifiedTokenCache(1000)

    def full() -> dict[str, object]:
        codec.unverified_kid(token)
        return codec.decode_access(token, public)

    cache.put(token, full())

    def hit() -> None:
        found = cache.get(token)
        assert found is not None and found["exp"] + settings.JWT_LEEWAY > time.time()

    full_s = min(timeit.repeat(full, number=n // 10, repeat=5)) / (n // 10)
    hit_s = min(timeit.repeat(hit, number=n, repeat=5)) / n
    return {"full_us": full_s * 1e6, "hit_us": hit_s * 1e6}


def main(argv: list[str]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    django.setup()
    print(json.dumps(measure(int(argv[0])) if argv else measure()))


if __name__ == "__main__":
    main(sys.argv[1:])
