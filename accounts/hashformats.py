"""Stored password hash formats: what kind a hash is, its cost parameters, and its status.

Pure parsing: nothing here computes a hash. `describe` is the one classification every caller
uses through accounts.passwords (login, import, inventory, metrics, admin). It never raises:
hostile or garbled input is described as `unknown`.

Statuses:
- current: Argon2id at the configured parameters;
- outdated: a sound hash that a login will replace (other Argon2 parameters, scrypt, strong
  PBKDF2 or bcrypt);
- weak: MD5, SHA-1, unsalted, PBKDF2 below 600,000 iterations, bcrypt below cost 10;
- wrapped: a weak hash wrapped inside Argon2id (see accounts.legacy_hashers);
- beyond_limits: parameters beyond the configured cost limits, never computed;
- unusable: no password can match (Django's "!" marker, or a format nobody can verify).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

CURRENT, OUTDATED, WEAK, WRAPPED, BEYOND_LIMITS, UNUSABLE = (
    "current", "outdated", "weak", "wrapped", "beyond_limits", "unusable")
STATUSES = (CURRENT, OUTDATED, WEAK, WRAPPED, BEYOND_LIMITS, UNUSABLE)

# The weak set: below these, a hash is wrapped by the bulk job.
MIN_STRONG_PBKDF2_ITERATIONS = 600_000
MIN_STRONG_BCRYPT_ROUNDS = 10
# The longest stored value accepted at import; wrapping adds a bounded Argon2 suffix to it and
# the password column holds 256 characters.
MAX_IMPORTED_LENGTH = 160

_B64 = r"[A-Za-z0-9+/]+={0,2}"
_BCRYPT = r"\$(2[aby])\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})"
_ARGON2_PARAMS = r"m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,4})"
_BCRYPT_SETTING = re.compile(r"2[aby]\$\d\d\$[./A-Za-z0-9]{22}")
# Argon2 versions 1.0 (16) and 1.3 (19); a PHC string without one is version 16.
ARGON2_VERSIONS = ("16", "19")
_PATTERNS = {
    "unsalted_md5": re.compile(r"(?:md5\$\$)?([0-9a-fA-F]{32})"),
    "unsalted_sha1": re.compile(r"(?:sha1\$\$)?([0-9a-fA-F]{40})"),
    "md5": re.compile(r"md5\$([^$\s]{1,64})\$([0-9a-fA-F]{32})"),
    "sha1": re.compile(r"sha1\$([^$\s]{1,64})\$([0-9a-fA-F]{40})"),
    "pbkdf2": re.compile(rf"(pbkdf2_sha256|pbkdf2_sha1)\$(\d{{1,12}})\$([^$\s]{{1,64}})\$({_B64})"),
    "bcrypt": re.compile(rf"(bcrypt|bcrypt_sha256)?\$?{_BCRYPT}"),
    "scrypt": re.compile(rf"scrypt\$(\d{{1,12}})\$([^$\s]{{1,64}})\$(\d{{1,6}})\$(\d{{1,6}})\$({_B64})"),
    "argon2": re.compile(rf"(?:argon2)?\$(argon2id|argon2i)\$(?:v=(\d{{1,3}})\$)?{_ARGON2_PARAMS}\$({_B64})\$({_B64})"),
}
# Wrapped: wrapped_<legacy kind>$<legacy fields>$m=..,t=..,p=..$<argon2 salt>$<argon2 hash>
WRAPPED_FIELDS = {
    "unsalted_md5": 0, "md5": 1, "unsalted_sha1": 0, "sha1": 1,
    "pbkdf2_sha256": 2, "pbkdf2_sha1": 2, "bcrypt": 3, "bcrypt_sha256": 3,
}
_WRAPPED = re.compile(rf"wrapped_([a-z0-9_]+)\$(.*)\${_ARGON2_PARAMS}\$({_B64})\$({_B64})")


class UnsupportedHash(ValueError):
    """A hash that cannot be imported; the message is the reason (never part of the hash)."""


@dataclass(frozen=True)
class HashInfo:
    """What a stored hash is, without any secret part of it."""

    kind: str  # the algorithm: argon2id, pbkdf2_sha256, unsalted_md5, wrapped_md5, unknown, ...
    params: str = ""  # its cost parameter set, e.g. "m=19456,t=2,p=1" or "iterations=260000"
    status: str = UNUSABLE
    reason: str = ""  # why it is beyond the limits or unusable
    # The form Django's hashers read (bare forms get an algorithm prefix); "" when unusable.
    encoded: str = ""
    # Legacy fields a wrap keeps (salt, iterations, bcrypt setting) and the digest it hides.
    fields: tuple[str, ...] = ()
    digest: str = ""

    @property
    def label(self) -> str:
        """`kind` plus parameter set, the unit the inventory counts."""
        return f"{self.kind} {self.params}".strip()


def _limit(name: str, value: int, limit: int, unit: str = "") -> str:
    return f"{name} {value}{unit} exceeds the limit {limit}{unit}" if value > limit else ""


def argon2_limits(m: int, t: int, p: int) -> str:
    # Argon2 itself refuses these (no pass, no lane, under 8 KiB per lane): never verifiable.
    if t < 1 or p < 1 or m < 8 * p:
        return f"argon2 parameters m={m},t={t},p={p} cannot verify"
    # The configured hashing cost is always within the limits: the service makes such hashes.
    return (_limit("argon2 memory", m, max(settings.PASSWORD_LIMIT_ARGON2_MEMORY, settings.ARGON2_MEMORY_COST), " KiB")
            or _limit("argon2 time cost", t, max(settings.PASSWORD_LIMIT_ARGON2_TIME, settings.ARGON2_TIME_COST))
            or _limit("argon2 parallelism", p, max(settings.PASSWORD_LIMIT_ARGON2_PARALLELISM,
                                                   settings.ARGON2_PARALLELISM)))


def bcrypt_limits(rounds: int) -> str:
    if rounds < 4:
        return f"bcrypt rounds {rounds} below the minimum 4"
    return _limit("bcrypt rounds", rounds, settings.PASSWORD_LIMIT_BCRYPT_ROUNDS)


def pbkdf2_limits(iterations: int) -> str:
    if iterations < 1:
        return "pbkdf2 iterations must be positive"
    return _limit("pbkdf2 iterations", iterations, settings.PASSWORD_LIMIT_PBKDF2_ITERATIONS)


def scrypt_limits(n: int, r: int, p: int) -> str:
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        return "scrypt parameters out of range"
    return (_limit("scrypt N", n, settings.PASSWORD_LIMIT_SCRYPT_N)
            or _limit("scrypt r", r, settings.PASSWORD_LIMIT_SCRYPT_R)
            or _limit("scrypt p", p, settings.PASSWORD_LIMIT_SCRYPT_P))


def _judged(kind: str, params: str, problem: str, status: str, encoded: str,
            fields: tuple[str, ...] = (), digest: str = "") -> HashInfo:
    if problem:
        return HashInfo(kind, params, BEYOND_LIMITS, problem)
    return HashInfo(kind, params, status, "", encoded, fields, digest)


def _argon2(match: re.Match[str]) -> HashInfo:
    variant, version, m, t, p, salt, digest = match.groups()
    params = f"m={m},t={t},p={p}"
    version_part = f"v={version}$" if version else ""
    encoded = f"argon2${variant}${version_part}{params}${salt}${digest}"
    current = (variant == "argon2id" and version == "19" and int(m) == settings.ARGON2_MEMORY_COST
               and int(t) == settings.ARGON2_TIME_COST and int(p) == settings.ARGON2_PARALLELISM)
    problem = (f"argon2 version {version} unknown" if version and version not in ARGON2_VERSIONS
               else argon2_limits(int(m), int(t), int(p)))
    return _judged(variant, params, problem, CURRENT if current else OUTDATED, encoded)


def _bcrypt(match: re.Match[str]) -> HashInfo:
    algorithm, variant, rounds, salt, digest = match.groups()
    kind = algorithm or "bcrypt"
    weak = int(rounds) < MIN_STRONG_BCRYPT_ROUNDS
    encoded = f"{kind}$${variant}${rounds}${salt}{digest}"
    return _judged(kind, f"rounds={int(rounds)}", bcrypt_limits(int(rounds)), WEAK if weak else OUTDATED,
                   encoded, (variant, rounds, salt), digest)


def _wrapped(match: re.Match[str]) -> HashInfo:
    legacy, middle, m, t, p, _salt, _digest = match.groups()
    count = WRAPPED_FIELDS.get(legacy)
    fields = tuple(middle.split("$")) if middle else ()
    if count is None or len(fields) != count:
        return HashInfo("unknown", reason="unknown hash format")
    kind = f"wrapped_{legacy}"
    legacy_problem = ""
    if legacy.startswith("pbkdf2"):
        legacy_problem = pbkdf2_limits(int(fields[0])) if fields[0].isdigit() else "unknown hash format"
    elif legacy.startswith("bcrypt"):
        if not _BCRYPT_SETTING.fullmatch("$".join(fields)):
            legacy_problem = "bcrypt salt or setting malformed (22 characters of ./A-Za-z0-9 expected)"
        else:
            legacy_problem = bcrypt_limits(int(fields[1]))
    legacy_params = ""
    if not legacy_problem and legacy.startswith("pbkdf2"):
        legacy_params = f"iterations={int(fields[0])},"
    elif not legacy_problem and legacy.startswith("bcrypt"):
        legacy_params = f"rounds={int(fields[1])},"
    params = f"{legacy_params}m={m},t={t},p={p}"
    problem = legacy_problem or argon2_limits(int(m), int(t), int(p))
    return _judged(kind, params, problem, WRAPPED, match.string, fields)


def describe(encoded: str) -> HashInfo:
    """Classify a stored (or about to be imported) password hash. Never raises."""
    if not isinstance(encoded, str) or not encoded or encoded.startswith("!"):
        return HashInfo("unusable", reason="no usable password")
    if len(encoded) > 256 or not encoded.isascii():
        return HashInfo("unknown", reason="unknown hash format")
    for name, pattern in _PATTERNS.items():
        match = pattern.fullmatch(encoded)
        if match is not None:
            return _PARSERS[name](match)
    match = _WRAPPED.fullmatch(encoded)
    if match is not None:
        return _wrapped(match)
    return HashInfo("unknown", reason="unknown hash format")


def _unsalted(kind: str, prefix: str) -> Callable[[re.Match[str]], HashInfo]:
    def parse(match: re.Match[str]) -> HashInfo:
        digest = match.group(1).lower()
        return HashInfo(kind, "", WEAK, "", f"{prefix}$${digest}", (), digest)
    return parse


def _salted(kind: str) -> Callable[[re.Match[str]], HashInfo]:
    def parse(match: re.Match[str]) -> HashInfo:
        salt, digest = match.group(1), match.group(2).lower()
        return HashInfo(kind, "", WEAK, "", f"{kind}${salt}${digest}", (salt,), digest)
    return parse


def _pbkdf2(match: re.Match[str]) -> HashInfo:
    kind, iterations, salt, digest = match.groups()
    weak = int(iterations) < MIN_STRONG_PBKDF2_ITERATIONS
    return _judged(kind, f"iterations={int(iterations)}", pbkdf2_limits(int(iterations)), WEAK if weak else OUTDATED,
                   match.string, (str(int(iterations)), salt), digest)


def _scrypt(match: re.Match[str]) -> HashInfo:
    n, _salt, r, p, _digest = match.groups()
    return _judged("scrypt", f"n={n},r={r},p={p}", scrypt_limits(int(n), int(r), int(p)), OUTDATED, match.string)


_PARSERS: dict[str, Callable[[re.Match[str]], HashInfo]] = {
    "unsalted_md5": _unsalted("unsalted_md5", "md5"),
    "unsalted_sha1": _unsalted("unsalted_sha1", "sha1"),
    "md5": _salted("md5"),
    "sha1": _salted("sha1"),
    "pbkdf2": _pbkdf2,
    "bcrypt": _bcrypt,
    "scrypt": _scrypt,
    "argon2": _argon2,
}
