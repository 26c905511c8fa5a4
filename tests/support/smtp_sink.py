"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping what it receives.

It can refuse the next messages with a given reply (`451 …` for a temporary failure, `550 …`
for a permanent one), and hold its reply to a message until the test releases it (to kill a
worker after the message arrived but before the sender learned it was accepted).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.servers import free_port


@dataclass
class Sink:
    """The handler: received messages, scripted refusals, an optional hold before replying."""

    messages: list[EmailMessage] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    attempts: int = 0
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            if self.refusals:
                return self.refusals.pop(0)
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        self.arrived.set()
        if self.hold is not None:
            # The message is in; the sender hears nothing until the test lets it go.
            while not self.hold.is_set():
                await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} mail(s), got {len(self.messages)}")


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "no text/plain part"
    return part.get_content()


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "no text/html part"
    return part.get_content()


def link_token(message: EmailMessage, path: str) -> str:
    """The token of the link to `path` in the mail's plain-text part."""
    found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", text_part(message))
    assert found, text_part(message)
    return found.group(1)


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    """A running SMTP sink on 127.0.0.1 (its port in `sink.port`)."""
    sink = Sink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        if sink.hold is not None:
            sink.hold.set()
        controller.stop()
