"""Structured logs: a JSON-lines formatter, a request-id filter and a secret scrubber.

Production logs are one JSON object per line carrying the request id of the request that wrote
them. Nothing secret reaches a log line: passwords, password hashes and tokens are replaced by
`[redacted]`, whether they appear in the message, its arguments, an `extra` field or a traceback.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone
from typing import Any

import orjson

from authsite.kit.middleware import request_id

REDACTED = "[redacted]"
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}
# `extra` keys whose value is secret whatever it looks like.
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|hash|authorization|cookie|credential", re.IGNORECASE)
_SECRET_TEXT = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # JWT (header starts with {")
    r"|\$argon2(?:id|i|d)\$[^\s\"']+"  # bare Argon2 PHC string
    r"|\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"  # bare bcrypt
    r"|\b(?:argon2|pbkdf2_sha256|pbkdf2_sha1|bcrypt_sha256|bcrypt|scrypt|md5|sha1|unsalted_md5|unsalted_sha1)"
    r"\$[^\s\"']*\$[^\s\"']+"  # Django encoded hashes
    r"|\bwrapped_[a-z0-9_]+\$[^\s\"']+"  # legacy digests wrapped in Argon2id
    # A bare MD5 or SHA-1 hex digest standing alone (not part of a key, path or longer word).
    r"|(?<![\w$:./-])(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{32})(?![\w$/-])"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{16,}"  # an Authorization header value
    r"|\b[A-Za-z0-9_-]{43}\b(?=[\"'\s,}]|$)"  # a 32-byte urlsafe secret (our refresh tokens)
    r"|(?<=[?&]token=)[^\s&#\"']+"  # a mailed link's token in a logged URL (the access log)
    r"|(?i:\"?(?:password|new_password|current_password|refresh_token|access_token)\"?\s*[:=]\s*)"
    r"(?:\"[^\"]*\"|'[^']*'|\S+)",  # key: value pairs in a dumped body
)


def scrub(text: str) -> str:
    """`text` with every password, hash or token it contains replaced by [redacted]."""
    return _SECRET_TEXT.sub(REDACTED, text)


def _safe_extra(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return scrub(str(value))


class RequestIdFilter(logging.Filter):
    """Stamp each record with the id of the request being served ("-" outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs a response after the middleware's context has ended; the
            # request it attaches still carries the id.
            rid = getattr(getattr(record, "request", None), "request_id", None)
            record.request_id = rid or request_id.get()
        return True


def tune_for_serving() -> None:
    """For a serving process: stop filling LogRecord fields no formatter here prints (the
    caller's file and line, thread, process and asyncio task names), so every log call, the
    access log's above all, costs less (the Logging HOWTO's "Optimization" section); and sample
    uvicorn's access lines of 503 refusals (`RefusalSampler`). A record logged with
    `stack_info=True` then carries no stack."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+
        logging.logAsyncioTasks = False
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RefusalSampler) for f in access.filters):
        access.addFilter(RefusalSampler())


class RefusalSampler(logging.Filter):
    """On the access log: at most one line per `seconds` for answers with status `status` (503
    refusals under a flood would otherwise write a line each, at the flood's rate). The line
    that passes carries `suppressed`, the number of such lines dropped since the previous one;
    /metrics counts every refusal."""

    def __init__(self, status: int = 503, seconds: float = 1.0) -> None:
        super().__init__()
        self.status, self.seconds = status, seconds
        self.suppressed = 0
        self.next_at = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access lines: (client, method, path, http version, status).
        if not (isinstance(args, tuple) and len(args) == 5 and args[4] == self.status):
            return True
        now = time.monotonic()
        if now < self.next_at:
            self.suppressed += 1
            return False
        self.next_at = now + self.seconds
        record.suppressed, self.suppressed = self.suppressed, 0
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = _safe_extra(key, value)
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        elif record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=str).decode()


class PlainFormatter(logging.Formatter):
    """The human-readable DEBUG format, scrubbed like the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return scrub(super().format(record))
