"""manage.py import_users: every rejection reason with its line, counts, reruns, conflicts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts import importing, passwords
from accounts.models import User
from tests.support.legacy import FORMATS, PASSWORDS, hostile_hashes

pytestmark = pytest.mark.django_db

MD5 = FORMATS["django_md5"][0]


def write(path: Path, lines: list[object]) -> Path:
    with open(path, "wb") as out:
        for line in lines:
            out.write(line if isinstance(line, bytes) else (json.dumps(line) if not isinstance(line, str) else line)
                      .encode())
            out.write(b"\n")
    return path


def run(path: Path, *args: str) -> tuple[str, list[dict[str, str]]]:
    out = io.StringIO()
    call_command("import_users", str(path), *args, stdout=out, stderr=io.StringIO())
    with open(path.with_name(path.name + ".report.csv"), newline="") as handle:
        return out.getvalue(), list(csv.DictReader(handle))


def test_every_rejection_is_reported_with_line_email_and_reason(tmp_path: Path) -> None:
    hostile = hostile_hashes()
    lines: list[object] = [
        {"email": "Alice@Example.com", "password_hash": MD5(PASSWORDS[0])},          # 1 ok
        {"email": "not-an-email", "password_hash": MD5(PASSWORDS[0])},               # 2
        {"email": "b@example.com", "password_hash": hostile["unknown"][0]},          # 3
        {"email": "c@example.com", "password_hash": hostile["argon2 memory"][0]},    # 4
        {"email": "d@example.com", "password_hash": hostile["bcrypt 31"][0]},        # 5
        {"email": "e@example.com", "password_hash": hostile["pbkdf2 2e9"][0]},       # 6
        {"email": "ALICE@example.COM", "password_hash": MD5(PASSWORDS[1])},          # 7
        '{"email": "f@example.com", "password_hash": ',                              # 8
        "",                                                                          # 9 blank: not a row
        [1, 2],                                                                      # 10
        {"email": "g@example.com"},                                                  # 11
        {"email": "h@example.com", "password_hash": MD5("x"), "is_staff": "yes"},    # 12
        {"email": "i@example.com", "password_hash": MD5("x"), "date_joined": "soon"},  # 13
        b"\xff\xfe not utf-8",                                                       # 14
        "x" * (importing.MAX_LINE_BYTES + 10),                                       # 15
        {"email": "j@example.com", "password_hash": MD5(PASSWORDS[2]), "is_active": False,
         "date_joined": "2019-05-06T07:08:09+02:00"},                                # 16 ok
        {"email": "k@example.com", "password_hash": MD5("x"),
         "date_joined": "9999-12-31T23:59:59-05:00"},                                # 17
        {"email": "l@example.com", "password_hash": MD5("x"),
         "date_joined": "0001-01-01T00:00:00+05:00"},                                # 18
        {"email": "m@example.com", "password_hash": MD5("x"),
         "date_joined": "1899-12-31T23:59:59+00:00"},                                # 19
    ]
    output, report = run(write(tmp_path / "users.jsonl", lines))
    reasons = {int(row["line"]): (row["email"], row["reason"]) for row in report}
    assert reasons[2] == ("not-an-email", "malformed email")
    assert reasons[3] == ("b@example.com", "unknown hash format")
    assert reasons[4][1].startswith("hash beyond cost limits: argon2 memory 4194304 KiB")
    assert reasons[5][1].startswith("hash beyond cost limits: bcrypt rounds 31")
    assert reasons[6][1].startswith("hash beyond cost limits: pbkdf2 iterations 2000000000")
    assert reasons[7] == ("alice@example.com", "duplicate email (same as line 1)")
    assert reasons[8] == ("", "not valid JSON")
    assert reasons[10] == ("", "not a JSON object")
    assert reasons[11] == ("g@example.com", "password_hash missing or not a string")
    assert reasons[12] == ("h@example.com", "is_staff must be true or false")
    assert reasons[13] == ("i@example.com", "date_joined must be an ISO 8601 date-time")
    assert reasons[14] == ("", "not UTF-8")
    assert reasons[15][1].startswith("line longer than")
    assert reasons[17] == ("k@example.com", "date_joined out of range")
    assert reasons[18] == ("l@example.com", "date_joined out of range")
    assert reasons[19] == ("m@example.com", "date_joined out of range")
    assert set(reasons) == {2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 17, 18, 19}
    assert "lines 19: created 2, updated 0, skipped 0 (existing), rejected 16" in output
    alice = User.objects.get(email="alice@example.com")
    assert passwords.verify(PASSWORDS[0], alice.password).valid
    j = User.objects.get(email="j@example.com")
    assert not j.is_active and j.date_joined.isoformat() == "2019-05-06T05:08:09+00:00"
    # The report never carries a hash.
    text = (tmp_path / "users.jsonl.report.csv").read_text()
    digests = [line["password_hash"].rsplit("$", 1)[-1] for line in lines
               if isinstance(line, dict) and isinstance(line.get("password_hash"), str)]
    assert digests and not any(digest in text for digest in digests)


def test_running_the_same_file_twice_creates_nothing_new(tmp_path: Path) -> None:
    path = write(tmp_path / "u.jsonl", [{"email": f"u{i}@example.com", "password_hash": MD5(PASSWORDS[0])}
                                        for i in range(5)])
    run(path)
    output, report = run(path)
    assert User.objects.count() == 5
    assert "created 0, updated 0, skipped 5 (existing), rejected 0" in output
    assert {row["reason"] for row in report} == {"skipped: the account exists"}


def test_on_conflict_update_overwrites_hash_and_flags(tmp_path: Path) -> None:
    User.objects.create_user("u@example.com", "an old password 123")
    path = write(tmp_path / "u.jsonl", [{"email": "U@example.com", "password_hash": MD5(PASSWORDS[4]),
                                         "is_staff": True}])
    output, _ = run(path, "--on-conflict", "update")
    assert "updated 1" in output
    user = User.objects.get()
    assert user.is_staff and passwords.verify(PASSWORDS[4], user.password).valid
    assert not passwords.verify("an old password 123", user.password).valid


def test_duplicates_across_batches_are_reported_not_merged(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.IMPORT_BATCH_SIZE = 2
    path = write(tmp_path / "u.jsonl", [{"email": f"u{i % 3}@example.com", "password_hash": MD5("p")}
                                        for i in range(6)])
    output, report = run(path, "--on-conflict", "update")
    assert User.objects.count() == 3
    assert "created 3, updated 0, skipped 0 (existing), rejected 3" in output
    assert sorted(int(row["line"]) for row in report) == [4, 5, 6]


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_users", str(tmp_path / "nope.jsonl"))


def test_spreadsheet_formulas_in_emails_are_neutralised_in_the_report(tmp_path: Path) -> None:
    _, report = run(write(tmp_path / "u.jsonl", [{"email": "=HYPERLINK(1)", "password_hash": MD5("p")}]))
    assert report[0]["email"] == "'=HYPERLINK(1)"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_otherwise() -> None:
    from accounts.management.progress import Progress

    plain, terminal = io.StringIO(), Terminal()
    for out in (plain, terminal):
        progress = Progress(10, "rows", out, "import", every=0)
        progress.advance(4)
        progress.to(10)
        progress.close()
    assert plain.getvalue().splitlines() == ["import: 4/10 rows (40 %)", "import: 10/10 rows (100 %)",
                                             "import: 10/10 rows, finished"]
    assert "100%|" in terminal.getvalue() and "\r" in terminal.getvalue()


def test_updating_a_password_by_import_ends_the_sessions(tmp_path: Path) -> None:
    from tests.support.tokens import issue_pair
    from tokens.models import Session

    user = User.objects.create_user("u@example.com", "an old password 123")
    issue_pair(user)
    run(write(tmp_path / "u.jsonl", [{"email": "u@example.com", "password_hash": MD5(PASSWORDS[4])}]),
        "--on-conflict", "update")
    assert Session.objects.get(user=user).revoked_at is not None
