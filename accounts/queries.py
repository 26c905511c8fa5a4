"""The account reads and writes of the hot paths (login, signup, /me), as coroutines.

Each runs on the async pool (authsite.kit.asyncdb) when it is enabled, else on the ORM through
`sync_to_async`; both give the same answers. The SQL is compiled from the same
querysets the ORM path runs (authsite.kit.asyncorm). Sync callers keep the ORM.
"""

from __future__ import annotations

from functools import cache

from asgiref.sync import sync_to_async
from django.db.models import QuerySet

from accounts.emails import canonical_email
from accounts.models import User
from authsite.kit import asyncdb, asyncorm


def login_filter(user_id: int, password: str) -> QuerySet[User]:
    """The row a login may record itself on: the account, still active, still holding the hash
    just verified (its UPDATE is the compare-and-swap and takes the row lock)."""
    return User.objects.filter(pk=user_id, password=password, is_active=True)


_BY_EMAIL = asyncorm.Query("accounts.user_by_email",
                           lambda email: asyncorm.first_of(User.objects.filter(email=email)),
                           email="someone@example.com")
_EMAIL_TAKEN = asyncorm.Query("accounts.email_taken",
                              lambda email: User.objects.filter(email=email).query.exists(),
                              email="someone@example.com")
_REHASH = asyncorm.Query(
    "accounts.store_rehash",
    lambda pk, old, new: asyncorm.update_query(User.objects.filter(pk=pk, password=old), password=new),
    pk=1, old="old-hash", new="new-hash")


@cache
def _active_user(only: tuple[str, ...] | None) -> asyncorm.Query:
    def build(pk: int) -> QuerySet[User]:
        users = User.objects.filter(pk=pk, is_active=True)
        return asyncorm.first_of(users.only(*only) if only else users)
    return asyncorm.Query(f"accounts.active_user:{','.join(only or ())}", build, pk=1)


async def afind_user(email: str) -> User | None:
    """The user with this canonical email, or None."""
    if asyncdb.enabled():
        return await _BY_EMAIL.first(email=email)  # type: ignore[no-any-return]
    return await User.objects.filter(email=email).afirst()


async def aactive_user(user_id: int, only: tuple[str, ...] | None = None) -> User | None:
    """The active user with this id (loading only the fields `only` names, when given), or None."""
    if asyncdb.enabled():
        return await _active_user(only).first(pk=user_id)  # type: ignore[no-any-return]
    users = User.objects.filter(pk=user_id, is_active=True)
    return await (users.only(*only) if only else users).afirst()


async def aemail_taken(email: str) -> bool:
    """Whether an account has this canonical email."""
    if asyncdb.enabled():
        return await _EMAIL_TAKEN.fetchone(email=email) is not None
    return await User.objects.filter(email=email).aexists()


async def acreate_user(email: str, password: str) -> User:
    """Create the account with an encoded `password`, every other field at its model default.

    Raises django's IntegrityError when the email is taken (a concurrent signup). On the pool no
    model signal is sent: the accounts receivers have nothing to do for a new row.
    """
    if not asyncdb.enabled():
        return await User.objects.acreate(email=email, password=password)
    user = User(email=canonical_email(email), password=password)
    await asyncorm.ainsert(user)
    return user


async def astore_rehash(user_id: int, old: str, new: str) -> bool:
    """`UserQuerySet.store_rehash` (compare-and-swap of hash `old` for `new`), async."""
    if asyncdb.enabled():
        return bool(await _REHASH.execute(pk=user_id, old=old, new=new))
    return await sync_to_async(User.objects.store_rehash)(user_id, old, new)
