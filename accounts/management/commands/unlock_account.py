"""`manage.py unlock_account EMAIL [--ip IP]`: clear failed-login counters of one account."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import throttling
from accounts.emails import canonical_email
from accounts.models import User


class Command(BaseCommand):
    help = ("Clear the failed-login counters of an account (any form of its email): its own and "
            "its account+IP counters for every address. With --ip, also that address's counters.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--ip", help="also clear this client address's login and signup counters")

    def handle(self, *args: Any, **options: Any) -> None:
        email = canonical_email(options["email"])
        ip = options["ip"]
        if ip is not None:
            try:
                ip = str(ipaddress.ip_address(ip.strip()))
            except ValueError as exc:
                raise CommandError(f"--ip: not an IP address: {options['ip']!r}") from exc
        removed = throttling.unlock(email, ip)
        if not User.objects.filter(email=email).exists():
            self.stderr.write(f"note: no account has the email {email}")
        where = f" and address {ip}" if ip else ""
        self.stdout.write(self.style.SUCCESS(f"Unlocked {email}{where}: removed {removed} counter(s)."))
