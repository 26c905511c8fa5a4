"""Metrics of the tokens app: the verified-token cache and signature verifications."""

from __future__ import annotations

from prometheus_client import Counter

TOKEN_CACHE_HITS = Counter("authsite_token_cache_hits_total", "Access tokens found in the verified-token cache.")
TOKEN_CACHE_MISSES = Counter("authsite_token_cache_misses_total", "Access tokens not in the verified-token cache.")
SIGNATURE_VERIFICATIONS = Counter("authsite_token_signature_verifications_total",
                                  "Full Ed25519 signature verifications of access tokens.")
