"""Property-based tests generated from docs/openapi.yaml (schemathesis) against a live server on
PostgreSQL: for a signed-in device and for an anonymous caller, no request makes a server error and
every answer (status, content type, body, headers) conforms to the schema. Mono is the sandbox.

Bounded (MAX_EXAMPLES per operation and caller) to run in a few minutes on two cores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from knox.models import AuthToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reauth import state
from tests.factories import LinkedAccountFactory, UserFactory

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
MAX_EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def phone(transactional_db):
    """A signed-in phone's user, with accounts (ids 1-4 on a fresh table, so generated ids hit some)."""
    user = UserFactory(username="phone", password="pw-phone-12345")
    for n in range(1, 5):
        LinkedAccountFactory(user=user, mono_account_id=f"5f171a530295e231abcaf0{n:02d}")
    state.flag_for_reauth(mono_account_id="5f171a530295e231abcaf001")
    return user


def run_every_operation(base_url: str, headers: Callable[[], dict]) -> list[str]:
    """Each operation of the schema, with valid and invalid data, MAX_EXAMPLES each: the failures.

    schemathesis' Python API with Hypothesis' @given (its pytest loader does not run under pytest 9)."""
    loaded = schemathesis.openapi.from_path(str(SCHEMA))
    loaded.config.update(base_url=base_url)
    failures, operations = [], 0
    for result in loaded.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            operations += 1

            @given(case=operation.as_strategy(generation_mode=mode))
            @BOUNDED
            def check(case):
                case.call_and_validate(headers=headers(), checks=CHECKS)

            try:
                check()
            except Exception as exc:  # every operation runs; the report names all that failed
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}")
    assert operations >= 26  # 13 operations, both modes: the loop really ran
    return failures


BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # the same examples on every machine: no Hypothesis database from earlier runs
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.postgres
def test_a_signed_in_device_gets_conforming_answers_and_no_server_error(live_server, phone):
    def device() -> dict:  # a fresh token per example: a generated sign-out ends only its own
        _instance, token = AuthToken.objects.create(phone, expiry=None)
        return {"Authorization": f"Bearer {token}"}

    failures = run_every_operation(live_server.url, device)

    assert failures == [], "\n\n".join(failures)


@pytest.mark.postgres
def test_an_anonymous_caller_gets_conforming_answers_and_no_server_error(live_server, transactional_db):
    failures = run_every_operation(live_server.url, dict)

    assert failures == [], "\n\n".join(failures)
