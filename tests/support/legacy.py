"""Legacy password hashes made the way other applications made them, for import tests.

Each maker takes a password and returns the stored hash exactly as the legacy application
wrote it; nothing here goes through authsite's own code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Callable

import argon2
import bcrypt


def _salt() -> str:
    return secrets.token_hex(6)


def _pbkdf2(name: str, iterations: int) -> Callable[[str], str]:
    def make(password: str) -> str:
        salt = _salt()
        raw = hashlib.pbkdf2_hmac(name.removeprefix("pbkdf2_"), password.encode(), salt.encode(), iterations)
        return f"{name}${iterations}${salt}${base64.b64encode(raw).decode()}"
    return make


def _bcrypt(prefix: str, rounds: int = 4, django: str = "") -> Callable[[str], str]:
    def make(password: str) -> str:
        secret = password.encode()
        if django == "bcrypt_sha256":
            secret = binascii.hexlify(hashlib.sha256(secret).digest())
        value = bcrypt.hashpw(secret, bcrypt.gensalt(rounds)).decode()
        value = f"${prefix}$" + value[4:]  # PHP writes $2y$, old libraries $2a$
        return f"{django}${value}" if django else value
    return make


def _argon2(variant: argon2.Type, prefix: str, m: int = 8192, t: int = 1, p: int = 1) -> Callable[[str], str]:
    def make(password: str) -> str:
        return prefix + argon2.PasswordHasher(time_cost=t, memory_cost=m, parallelism=p, type=variant).hash(password)
    return make


def _scrypt(password: str) -> str:
    salt, n, r, p = _salt(), 2**10, 8, 1
    raw = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, dklen=64)
    return f"scrypt${n}${salt}${r}${p}${base64.b64encode(raw).decode()}"


def _salted(name: str) -> Callable[[str], str]:
    def make(password: str) -> str:
        salt = _salt()
        return f"{name}${salt}${hashlib.new(name, (salt + password).encode()).hexdigest()}"
    return make


# name -> (maker, status the import leaves it in)
FORMATS: dict[str, tuple[Callable[[str], str], str]] = {
    "django_pbkdf2_sha256_weak": (_pbkdf2("pbkdf2_sha256", 1000), "weak"),
    "django_pbkdf2_sha256": (_pbkdf2("pbkdf2_sha256", 600_000), "outdated"),
    "django_pbkdf2_sha1": (_pbkdf2("pbkdf2_sha1", 1000), "weak"),
    "django_argon2id": (_argon2(argon2.Type.ID, "argon2"), "outdated"),
    "django_argon2i": (_argon2(argon2.Type.I, "argon2"), "outdated"),
    "django_bcrypt_sha256": (_bcrypt("2b", django="bcrypt_sha256"), "weak"),
    "django_bcrypt": (_bcrypt("2b", django="bcrypt"), "weak"),
    "django_bcrypt_strong": (_bcrypt("2b", rounds=10, django="bcrypt"), "outdated"),
    "django_scrypt": (_scrypt, "outdated"),
    "django_md5": (_salted("md5"), "weak"),
    "django_sha1": (_salted("sha1"), "weak"),
    "django_unsalted_md5": (lambda pw: "md5$$" + hashlib.md5(pw.encode()).hexdigest(), "weak"),
    "django_unsalted_sha1": (lambda pw: "sha1$$" + hashlib.sha1(pw.encode()).hexdigest(), "weak"),
    "bcrypt_2a": (_bcrypt("2a"), "weak"),
    "bcrypt_2b": (_bcrypt("2b"), "weak"),
    "bcrypt_2y": (_bcrypt("2y"), "weak"),
    "argon2id_phc": (_argon2(argon2.Type.ID, ""), "outdated"),
    "argon2i_phc": (_argon2(argon2.Type.I, ""), "outdated"),
    "hex_md5": (lambda pw: hashlib.md5(pw.encode()).hexdigest(), "weak"),
    "hex_sha1": (lambda pw: hashlib.sha1(pw.encode()).hexdigest().upper(), "weak"),
}

# Passwords that must be verified exactly as received.
PASSWORDS = [
    "correct horse battery staple",
    "  spaces at both ends  ",
    "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e",  # precomposed (NFC)
    "cafe\u0301 cre\u0300me bru\u0302le\u0301e",  # the same text decomposed (NFD)
    "\u043f\u0430\u0440\u043e\u043b\u044c-\u65e5\u672c\u8a9e-\U0001f511",
]


def hostile_hashes() -> dict[str, tuple[str, str]]:
    """Hashes an import must refuse: name -> (hash, words the reason contains)."""
    salt = base64.b64encode(b"0123456789abcdef").decode().rstrip("=")
    return {
        "argon2 memory": (f"$argon2id$v=19$m=4194304,t=1,p=1${salt}${salt}{salt}", "argon2 memory"),
        "bcrypt 31": ("$2b$31$" + "a" * 53, "bcrypt rounds"),
        "pbkdf2 2e9": (f"pbkdf2_sha256$2000000000$abc${salt}=", "pbkdf2 iterations"),
        "unknown": ("crypt$abc$def", "unknown hash format"),
        # Parameters no Argon2 or bcrypt implementation can verify against.
        "argon2 no passes": (f"$argon2id$v=19$m=1,t=0,p=0${salt}${salt}", "argon2 parameters m=1,t=0,p=0"),
        "argon2 memory below 8p": (f"$argon2id$v=19$m=8,t=1,p=2${salt}${salt}", "argon2 parameters m=8,t=1,p=2"),
        "argon2 version 99": (f"$argon2id$v=99$m=8192,t=1,p=1${salt}${salt}", "argon2 version 99"),
        "wrapped argon2 no passes": (f"wrapped_md5$abc$m=19456,t=0,p=1${salt}${salt}", "argon2 parameters"),
        "wrapped bcrypt salt": (f"wrapped_bcrypt$2b$04$not-a-salt$m=19456,t=2,p=1${salt}${salt}", "bcrypt salt"),
    }
