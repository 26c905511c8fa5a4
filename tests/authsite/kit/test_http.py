"""The HTTP helpers shared by the views: which client address a request counts as."""

from __future__ import annotations

from authsite.kit.http import REWRITTEN_PEER, client_ip


def test_peer_rewritten_by_the_server_counts_as_one_client(rf) -> None:  # type: ignore[no-untyped-def]
    # uvicorn without --no-proxy-headers puts the header's address in the scope, port 0.
    forged = rf.post("/api/v1/auth/login", REMOTE_ADDR="203.0.113.7", REMOTE_PORT=0,
                     HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip(forged) == REWRITTEN_PEER
    direct = rf.post("/api/v1/auth/login", REMOTE_ADDR="203.0.113.7", REMOTE_PORT=51000,
                     HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert client_ip(direct) == "203.0.113.7"
