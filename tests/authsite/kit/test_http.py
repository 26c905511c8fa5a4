"""The HTTP helpers shared by the views: which client address a request counts as."""

from __future__ import annotations

import pytest

from authsite.kit.exceptions import ValidationFailed
from authsite.kit.http import UNKNOWN_CLIENT, client_ip, read_json_object


def test_peer_rewritten_by_the_server_counts_as_one_client(rf) -> None:  # type: ignore[no-untyped-def]
    # uvicorn without --no-proxy-headers puts the header's address in the scope, port 0.
    forged = rf.post("/api/v1/auth/login", REMOTE_ADDR="203.0.113.7", REMOTE_PORT=0,
                     HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip(forged) == UNKNOWN_CLIENT
    direct = rf.post("/api/v1/auth/login", REMOTE_ADDR="203.0.113.7", REMOTE_PORT=51000,
                     HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(direct) == "203.0.113.7"


def test_a_rewritten_peer_with_any_port_counts_as_the_unknown_client(rf) -> None:  # type: ignore[no-untyped-def]
    for forwarded, port in (("203.0.113.9:1", 1), ("[2001:db8::9]:7", 7), ("evil", 0)):
        host = forwarded.rsplit(":", 1)[0].strip("[]") if forwarded != "evil" else "evil"
        request = rf.post("/api/v1/auth/login", REMOTE_ADDR=host, REMOTE_PORT=port, HTTP_X_FORWARDED_FOR=forwarded)
        assert client_ip(request) == UNKNOWN_CLIENT, forwarded


def test_a_trusted_proxy_entry_is_reduced_to_its_address(rf, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXY_COUNT = 1
    for entry, expected in (("198.51.100.7:4711", "198.51.100.7"), ("[2001:DB8::7]:443", "2001:db8::7"),
                            ("2001:db8::7", "2001:db8::7")):
        request = rf.post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"203.0.113.1, {entry}")
        assert client_ip(request) == expected
    # Not an address: the proxy's own address (the peer) is used, never the text.
    junk = rf.post("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="evil")
    assert client_ip(junk) == "10.0.0.2"


def test_an_optional_body_of_blanks_that_json_does_not_allow_is_invalid(rf) -> None:  # type: ignore[no-untyped-def]
    assert read_json_object(rf.post("/", b" \r\n\t", content_type="application/json"), optional=True) == {}
    with pytest.raises(ValidationFailed):
        read_json_object(rf.post("/", b"\x0b", content_type="application/json"), optional=True)
