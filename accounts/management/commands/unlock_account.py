"""`manage.py unlock_account [EMAIL] [--ip IP]`: clear failed-login counters of an account, of a
client address, or both."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import throttling
from accounts.emails import canonical_email
from accounts.models import User


class Command(BaseCommand):
    help = ("Clear failed-login counters. With EMAIL (any form of it): the account's own counter and "
            "its account+IP counters for every address. With --ip: that address's login and signup "
            "counters. Give EMAIL, --ip, or both.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", nargs="?", help="the account's email")
        parser.add_argument("--ip", help="clear this client address's login and signup counters")

    def handle(self, *args: Any, **options: Any) -> None:
        email = canonical_email(options["email"]) if options["email"] is not None else None
        if email == "":
            raise CommandError("EMAIL is empty")
        ip = self.address(options["ip"])
        if email is None and ip is None:
            raise CommandError("give an EMAIL, --ip IP, or both")
        removed = throttling.unlock(email, ip)
        if email is not None and not User.objects.filter(email=email).exists():
            self.stderr.write(f"note: no account has the email {email}")
        what = " and ".join(part for part in (email, ip and f"address {ip}") if part)
        self.stdout.write(self.style.SUCCESS(f"Unlocked {what}: removed {removed} counter(s)."))

    @staticmethod
    def address(raw: str | None) -> str | None:
        """The --ip value in its standard form (None when not given)."""
        if raw is None:
            return None
        try:
            return str(ipaddress.ip_address(raw.strip()))
        except ValueError as exc:
            raise CommandError(f"--ip: not an IP address: {raw!r}") from exc
