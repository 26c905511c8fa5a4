"""Schemathesis fuzzing of the OpenAPI document served at /api/v1/schema, against a real uvicorn.

Every operation gets a bounded number of schema-conforming (positive) and schema-violating
(negative) requests. Never a 5xx; positive requests get documented statuses, content types,
headers and bodies; negative ones are refused with a 4xx.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import (
    FailureGroup,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import User
from tests.support.tokens import issue_pair

MAX_EXAMPLES = 25
POSITIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                   response_headers_conformance, response_schema_conformance]
NEGATIVE_CHECKS = [not_a_server_error, negative_data_rejection]


def _fuzz(operation: Any, mode: GenerationMode, base: str, user: User, failures: list[str]) -> int:
    """Run the bounded examples of one operation in one mode; return how many were sent."""
    sent = [0]
    bearer = bool(operation.definition.raw.get("security"))

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                         phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
                         suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        headers = None
        if bearer:
            # A fresh session per case: logout / password change must not void the next case;
            # negative bodies then reach the parser instead of stopping at a 401.
            headers = {"Authorization": f"Bearer {issue_pair(user).access_token}"}
        response = case.call(base_url=base, headers=headers, timeout=30)
        sent[0] += 1
        try:
            case.validate_response(response, checks=POSITIVE_CHECKS if mode is GenerationMode.POSITIVE
                                   else NEGATIVE_CHECKS, headers=headers)
        except (AssertionError, FailureGroup) as exc:
            reasons = "; ".join(str(e).splitlines()[0] for e in getattr(exc, "exceptions", [exc]))
            failures.append(f"{operation.label} [{mode.value}] {response.status_code}: {reasons}\n"
                            f"  {case.as_curl_command()}\n  -> {response.text[:300]}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # No input to break: an operation without parameters or body has no negative cases.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return sent[0]


@pytest.mark.server
def test_fuzzed_requests_get_documented_answers_and_never_a_5xx(live_server_factory) -> None:  # type: ignore[no-untyped-def]
    user = User.objects.create_user("fuzz@example.com", "correct horse battery staple")
    # Throttling off: otherwise most fuzzed logins and signups would only ever see a 429.
    off = {"THROTTLE_IP": "0/0", "THROTTLE_ACCOUNT": "0/0", "THROTTLE_ACCOUNT_IP": "0/0"}
    with live_server_factory(workers=1, **off) as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/schema")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 13, [op.label for op in operations]
        failures: list[str] = []
        sent = 0
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                sent += _fuzz(operation, mode, base, user, failures)
    assert sent >= 10 * len(operations), sent  # the fuzzing really ran
    assert not failures, f"{len(failures)} failing case(s):\n" + "\n".join(failures[:20])
