"""Property-based fuzzing of the whole JSON API from its own OpenAPI document (schemathesis).

For each role (admin, teacher, student) every operation gets a bounded number of generated
requests, half of them aimed at real objects of a seeded school (so the handlers get past
"not found"). Every answer must be < 500 and conform to the document: status code declared,
JSON body matching the declared schema. Counts are printed for docs/SECURITY.md.
"""

from __future__ import annotations

import functools
import os
from collections import Counter

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Operations whose happy path ends the session the fuzzer uses; fuzzed for one role only.
SESSION_ENDING = {"POST /api/auth/logout", "POST /api/auth/password", "POST /api/auth/refresh"}
STATS: Counter = Counter()


@schemathesis.serializer("application/sdp", "application/trickle-ice-sdpfrag")
def _sdp_text(_ctx, value) -> bytes:
    """The SFU plugin's WHIP/WHEP bodies are SDP text: fuzz them as such."""
    return value if isinstance(value, bytes) else str(value).encode()


def _real_ids(s) -> dict[str, int | str]:
    return {
        "class_id": s.klass.id,
        "schedule_id": s.schedule.id,
        "user_id": s.student.id,
        "config_id": s.config.id,
    }


def _fuzz(strategy, label: str, headers: dict, role: str, failures: list[str]) -> None:
    """Run one operation's examples; keep the first failure of each operation, go on."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @given(case=strategy)
    def run(case):
        response = case.call(headers=headers)
        STATS[role] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception as exc:
            if not any(f.startswith(label + " ") for f in failures):
                failures.append(
                    f"{label} -> {response.status_code} {case.path_parameters} "
                    f"{case.query} {case.body!r:.200}: {str(exc)[:700]}"
                )

    run()


@functools.cache
def _operations(app) -> list[tuple]:
    """The app's operations from its OpenAPI document, each with its strategy for any path
    ids: read and built once for the three roles (the same app answers all three; the
    document and the strategies do not depend on who asks, and the derandomized examples
    drawn from them are the same as from strategies built anew)."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    return [(operation, operation.as_strategy()) for operation in operations]


@pytest.mark.parametrize("role", ["admin", "teacher", "student"])
def test_fuzz_every_operation(role, app, school, login):
    who = {"admin": school.admin, "teacher": school.teacher, "student": school.student}[role]
    api = login(who)
    headers = {"Authorization": f"Bearer {api.token}"}
    ids = _real_ids(school)
    failures: list[str] = []
    operations = _operations(app)
    assert len(operations) >= 80, "the document lost operations"
    for operation, any_ids in operations:
        label = f"{operation.method.upper()} {operation.path}"
        if label in SESSION_ENDING and role != "admin":
            continue
        names = {p.name for p in operation.path_parameters}
        known = {k: v for k, v in ids.items() if k in names}
        strategy = any_ids
        if known and len(known) == len(names):
            strategy = st.one_of(strategy, operation.as_strategy(path_parameters=known))

        _fuzz(strategy, label, headers, role, failures)
    print(f"\nfuzz {role}: {STATS[role]} requests over {len(operations)} operations")
    assert not failures, "\n".join(failures)
