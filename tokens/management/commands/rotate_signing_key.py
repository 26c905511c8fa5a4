"""`manage.py rotate_signing_key`: retire the active Ed25519 signing key and activate a new one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tokens import keys


class Command(BaseCommand):
    help = (
        "Retire the active signing key and create a new active one (Ed25519, private half encrypted "
        "with a key derived from DJANGO_SECRET_KEY). New access tokens are signed with the new key; "
        "tokens signed before stay valid, because the retired key stays published in JWKS until "
        "every token it signed has expired. Also the way out after DJANGO_SECRET_KEY changed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        row = keys.rotate_signing_key()
        self.stdout.write(self.style.SUCCESS(f"New active signing key: {row.kid}"))
        self.stdout.write("Published in /.well-known/jwks.json:")
        grace = keys.retired_grace()
        for key in keys.published_keys():
            if key.is_active:
                state = "active"
            else:
                until = (key.retired_at + grace).isoformat(timespec="seconds")  # type: ignore[operator]
                state = f"retired, published until {until} (its tokens stay valid until they expire)"
            self.stdout.write(f"  {key.kid}  {state}")
