"""Password hashers for imported legacy hashes and for weak hashes wrapped inside Argon2id.

Registered in settings.PASSWORD_HASHERS; only accounts.passwords calls them. Formats are
parsed by accounts.hashformats, so a hash beyond the cost limits never reaches `verify` here
with its parameters (it is described as beyond_limits and refused unverified).

A wrapped hash is Django's "password upgrading without requiring a login": the weak digest D
that a legacy function made from the password is replaced by argon2id(D), under the algorithm
name `wrapped_<legacy kind>`, keeping only the legacy salt and cost. Verification recomputes D
from the password with the legacy function, then checks it against the Argon2id hash. D itself
is no longer stored anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Callable

import argon2
import bcrypt
from django.conf import settings
from django.contrib.auth.hashers import (
    BasePasswordHasher,
    BCryptPasswordHasher,
    BCryptSHA256PasswordHasher,
    ScryptPasswordHasher,
    mask_hash,
)
from django.utils.crypto import constant_time_compare

from accounts import hashformats
from accounts.hashformats import HashInfo


def _hex(digest: Callable[[bytes], object], password: str, salt: str = "") -> str:
    return digest((salt + password).encode()).hexdigest()  # type: ignore[attr-defined]


def _pbkdf2(name: str, password: str, iterations: str, salt: str) -> str:
    raw = hashlib.pbkdf2_hmac(name, password.encode(), salt.encode(), int(iterations))
    return base64.b64encode(raw).decode("ascii").strip()


def _bcrypt(secret: bytes, variant: str, rounds: str, salt: str) -> str:
    return bcrypt.hashpw(secret, f"${variant}${rounds}${salt}".encode("ascii")).decode("ascii")[-31:]


def _bcrypt_sha256(password: str, variant: str, rounds: str, salt: str) -> str:
    return _bcrypt(binascii.hexlify(hashlib.sha256(password.encode()).digest()), variant, rounds, salt)


# The legacy functions: password + stored fields -> the digest the legacy hash stores.
# The password is used exactly as received (UTF-8, no normalisation, no trimming).
LEGACY_DIGESTS: dict[str, Callable[..., str]] = {
    "unsalted_md5": lambda password: _hex(hashlib.md5, password),
    "md5": lambda password, salt: _hex(hashlib.md5, password, salt),
    "unsalted_sha1": lambda password: _hex(hashlib.sha1, password),
    "sha1": lambda password, salt: _hex(hashlib.sha1, password, salt),
    "pbkdf2_sha256": lambda password, iterations, salt: _pbkdf2("sha256", password, iterations, salt),
    "pbkdf2_sha1": lambda password, iterations, salt: _pbkdf2("sha1", password, iterations, salt),
    "bcrypt": lambda password, *setting: _bcrypt(password.encode(), *setting),
    "bcrypt_sha256": _bcrypt_sha256,
}


def legacy_digest(info: HashInfo, password: str) -> str:
    """Recompute the digest a legacy hash of kind `info.kind` (or the one it wraps) stores."""
    kind = info.kind.removeprefix("wrapped_")
    return LEGACY_DIGESTS[kind](password, *info.fields)


class _LegacyVerifier(BasePasswordHasher):
    """Verification of a legacy format through the single parser; never used to hash."""

    def verify(self, password: str, encoded: str) -> bool:
        info = hashformats.describe(encoded)
        if info.kind != self.algorithm or info.status not in (hashformats.WEAK, hashformats.OUTDATED):
            return False
        return constant_time_compare(legacy_digest(info, password), info.digest)

    def encode(self, password: str, salt: str) -> str:
        raise NotImplementedError("legacy formats are verified, never created")

    def decode(self, encoded: str) -> dict[str, object]:
        info = hashformats.describe(encoded)
        return {"algorithm": self.algorithm, "hash": info.digest, "salt": None, "params": info.params}

    def safe_summary(self, encoded: str) -> dict[str, object]:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "hash": mask_hash(str(decoded["hash"]))}

    def must_update(self, encoded: str) -> bool:
        return True  # a login replaces it with a current Argon2id hash

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass  # failures are padded by accounts.timing, not here


class UnsaltedMD5Hasher(_LegacyVerifier):
    """`md5$$<hex>` and the bare 32-hex digest of the password."""

    algorithm = "unsalted_md5"


class UnsaltedSHA1Hasher(_LegacyVerifier):
    """`sha1$$<hex>` and the bare 40-hex digest of the password."""

    algorithm = "unsalted_sha1"


class SHA1Hasher(_LegacyVerifier):
    """Django's salted `sha1$<salt>$<hex>`."""

    algorithm = "sha1"


class BCryptHasher(_LegacyVerifier, BCryptPasswordHasher):
    """`bcrypt$$2b$…` and bare `$2a$`/`$2b$`/`$2y$` hashes of the raw password."""

    algorithm = "bcrypt"


class BCryptSHA256Hasher(_LegacyVerifier, BCryptSHA256PasswordHasher):
    """Django's `bcrypt_sha256$$2b$…` (bcrypt of the hex SHA-256 of the password)."""

    algorithm = "bcrypt_sha256"


class ScryptHasher(ScryptPasswordHasher):
    """Django's scrypt, allowed the memory the configured limits permit (hashlib's default
    ceiling of 32 MiB would refuse sound hashes below them)."""

    @property  # type: ignore[override]
    def maxmem(self) -> int:
        return 2 * 128 * settings.PASSWORD_LIMIT_SCRYPT_N * settings.PASSWORD_LIMIT_SCRYPT_R + 2**20


class WrappedHasher(BasePasswordHasher):
    """argon2id(legacy digest), stored as `wrapped_<kind>$<legacy fields>$<argon2 params>$<salt>$<hash>`."""

    legacy = ""

    def wrap(self, info: HashInfo, costs: dict[str, int] | None = None) -> str:
        """Wrap a weak legacy hash (as described by hashformats) at the current Argon2id costs
        (or the given `costs`, m/t/p)."""
        assert info.kind == self.legacy and info.status == hashformats.WEAK
        costs = costs or {"m": settings.ARGON2_MEMORY_COST, "t": settings.ARGON2_TIME_COST,
                          "p": settings.ARGON2_PARALLELISM}
        hasher = argon2.PasswordHasher(time_cost=costs["t"], memory_cost=costs["m"], parallelism=costs["p"],
                                       hash_len=32, salt_len=16, type=argon2.Type.ID)
        inner = hasher.hash(info.digest).removeprefix("$argon2id$v=19$")
        return "$".join([self.algorithm, "$".join(info.fields), inner])

    def verify(self, password: str, encoded: str) -> bool:
        info = hashformats.describe(encoded)
        if info.kind != self.algorithm or info.status != hashformats.WRAPPED:
            return False
        params, salt, digest = encoded.rsplit("$", 3)[1:]
        try:
            return argon2.PasswordHasher().verify(f"$argon2id$v=19${params}${salt}${digest}",
                                                  legacy_digest(info, password))
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError as exc:
            raise ValueError("malformed wrapped hash") from exc

    def encode(self, password: str, salt: str) -> str:
        raise NotImplementedError("wrapped hashes are made from stored hashes by `wrap`")

    def decode(self, encoded: str) -> dict[str, object]:
        info = hashformats.describe(encoded)
        return {"algorithm": self.algorithm, "hash": encoded.rsplit("$", 1)[-1], "salt": None, "params": info.params}

    def safe_summary(self, encoded: str) -> dict[str, object]:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "hash": mask_hash(str(decoded["hash"]))}

    def must_update(self, encoded: str) -> bool:
        return True  # a login replaces it with a plain current Argon2id hash

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass


def _wrapped_class(legacy: str) -> type[WrappedHasher]:
    name = "Wrapped" + "".join(part.capitalize() for part in legacy.split("_")) + "Hasher"
    return type(name, (WrappedHasher,), {"legacy": legacy, "algorithm": f"wrapped_{legacy}", "__module__": __name__,
                                          "__doc__": f"A weak {legacy} hash wrapped inside Argon2id."})


WrappedUnsaltedMd5Hasher = _wrapped_class("unsalted_md5")
WrappedMd5Hasher = _wrapped_class("md5")
WrappedUnsaltedSha1Hasher = _wrapped_class("unsalted_sha1")
WrappedSha1Hasher = _wrapped_class("sha1")
WrappedPbkdf2Sha256Hasher = _wrapped_class("pbkdf2_sha256")
WrappedPbkdf2Sha1Hasher = _wrapped_class("pbkdf2_sha1")
WrappedBcryptHasher = _wrapped_class("bcrypt")
WrappedBcryptSha256Hasher = _wrapped_class("bcrypt_sha256")


def _costs(params: str) -> dict[str, int]:
    return {key: int(value) for key, value in (part.split("=", 1) for part in params.split(",") if part)}


def sample_hash(kind: str, params: str) -> str:
    """A hash of a random password, of this kind and parameter set (to measure what verifying
    such a hash costs on this machine)."""
    costs, secret, salt = _costs(params), secrets.token_urlsafe(16), secrets.token_hex(8)
    if kind in ("argon2id", "argon2i"):
        variant = argon2.Type.ID if kind == "argon2id" else argon2.Type.I
        return "argon2" + argon2.PasswordHasher(time_cost=costs["t"], memory_cost=costs["m"], parallelism=costs["p"],
                                                type=variant).hash(secret)
    if kind.startswith("pbkdf2_"):
        iterations = str(costs["iterations"])
        return f"{kind}${iterations}${salt}${LEGACY_DIGESTS[kind](secret, iterations, salt)}"
    if kind in ("bcrypt", "bcrypt_sha256"):
        setting = bcrypt.gensalt(costs["rounds"]).decode("ascii")
        rounds, bcrypt_salt = setting[4:6], setting[7:]
        return f"{kind}$$2b${rounds}${bcrypt_salt}{LEGACY_DIGESTS[kind](secret, '2b', rounds, bcrypt_salt)}"
    if kind == "scrypt":
        return ScryptHasher().encode(secret, salt, costs["n"], costs["r"], costs["p"])  # type: ignore[no-any-return]
    if kind in ("md5", "sha1"):
        return f"{kind}${salt}${LEGACY_DIGESTS[kind](secret, salt)}"
    if kind in ("unsalted_md5", "unsalted_sha1"):
        return f"{kind.removeprefix('unsalted_')}$${LEGACY_DIGESTS[kind](secret)}"
    if kind.startswith("wrapped_"):
        legacy = kind.removeprefix("wrapped_")
        legacy_params = ",".join(f"{key}={costs[key]}" for key in ("iterations", "rounds") if key in costs)
        info = hashformats.describe(sample_hash(legacy, legacy_params))
        wrapper = next(cls for cls in WrappedHasher.__subclasses__() if cls.legacy == legacy)
        return wrapper().wrap(info, costs)
    raise ValueError(f"no sample for kind {kind!r}")
