"""The new access token is signed inside the refresh transaction: a signing failure leaves the
presented refresh token unused, so the client's retry is not mistaken for reuse."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.support.client_api import login
from tokens import codec, services

pytestmark = pytest.mark.django_db


def test_a_signing_failure_rolls_the_rotation_back(api: Client, user: User, monkeypatch: pytest.MonkeyPatch,
                                                   settings: object) -> None:
    settings.REFRESH_RETRY_GRACE = 0  # type: ignore[attr-defined]  # no retry window to hide behind
    pair = login(api, user.email)

    def failing_signer(*args: object, **kwargs: object) -> str:
        raise RuntimeError("signer unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(codec, "encode_access", failing_signer)
        with pytest.raises(RuntimeError):
            services.refresh(pair["refresh_token"])
    again = services.refresh(pair["refresh_token"])
    assert again.refresh_token != pair["refresh_token"]
    assert services.refresh(again.refresh_token).access_token
