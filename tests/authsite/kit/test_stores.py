"""authsite.kit.stores.amget: the MGETs of one event-loop turn share one round trip to the real
Redis; each caller gets its own values; a failure reaches every caller as "use the fallback"."""

from __future__ import annotations

import asyncio

import pytest
import redis

from authsite.kit import stores
from tests.support.counting import count_calls


def counting_mgets() -> list[int]:
    """Count the MGET commands this loop's client sends (each still goes to Redis)."""
    return count_calls(stores.aclient(), "mget")


@pytest.fixture
def client() -> redis.Redis:
    return stores.client()  # type: ignore[return-value]


def test_concurrent_mgets_share_one_round_trip_and_get_their_own_values(client: redis.Redis) -> None:
    client.mset({"k:a": b"1", "k:b": b"2", "k:c": b"3"})

    async def concurrently() -> tuple[list[list[bytes | None] | None], int]:
        sent = counting_mgets()
        answers = await asyncio.gather(stores.amget(["k:a", "k:b"]), stores.amget(["k:c"]),
                                       stores.amget(["k:missing", "k:a"]))
        return list(answers), sent[0]

    assert asyncio.run(concurrently()) == ([[b"1", b"2"], [b"3"], [None, b"1"]], 1)


def test_mgets_of_later_turns_are_sent_on_their_own(client: redis.Redis) -> None:
    client.set("k:a", b"1")

    async def one_after_another() -> tuple[list[list[bytes | None] | None], int]:
        sent = counting_mgets()
        return [await stores.amget(["k:a"]), await stores.amget(["k:a"])], sent[0]

    assert asyncio.run(one_after_another()) == ([[b"1"], [b"1"]], 2)


def test_a_cancelled_caller_leaves_the_others_their_answer(client: redis.Redis) -> None:
    client.set("k:a", b"1")

    async def one_cancelled() -> list[bytes | None] | None:
        gone = asyncio.ensure_future(stores.amget(["k:gone"]))
        kept = asyncio.ensure_future(stores.amget(["k:a"]))
        await asyncio.sleep(0)
        gone.cancel()
        return await kept

    assert asyncio.run(one_cancelled()) == [b"1"]


def test_an_unreachable_redis_sends_every_caller_to_its_fallback(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    async def concurrently() -> list[list[bytes | None] | None]:
        return list(await asyncio.gather(stores.amget(["k:a"]), stores.amget(["k:b"])))

    assert asyncio.run(concurrently()) == [None, None]
    assert not stores.available()  # marked down: the next callers skip it at once


def test_without_redis_there_is_nothing_to_ask(settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""
    assert asyncio.run(stores.amget(["k:a"])) is None
