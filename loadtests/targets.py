"""Where load may be sent: this machine only (shared by the Locust file and the benchmark)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str | None) -> bool:
    """True for http(s) URLs naming this machine only."""
    if not host:
        return False
    name = urlsplit(host).hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
