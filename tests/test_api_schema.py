"""The served OpenAPI schema, fuzzed by schemathesis against a live server with a real token:
every operation, with generated valid and invalid input, answers without a 5xx, with a status
code, content type and body the schema documents. Bounded (max_examples) so it stays fast.

(schemathesis' own pytest loader, `from_fixture`, does not run under pytest 9, so each
operation's strategy is driven by Hypothesis here.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from syncers.api.tokens import api_token_create
from syncers.models import FailedRecord, SyncRun

from .conftest import _purge_broker
from .test_api import staff

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 12  # per operation, valid and invalid input together


@pytest.fixture
def fuzz_token(django_user_model, make_client):
    """A token whose user may do everything, and a client, a run and a failed record for the
    generated calls to find."""
    user = staff(
        django_user_model,
        "fuzzer",
        "view_syncclient",
        "change_syncclient",
        "run_syncclient",
        "pause_syncclient",
        "cancel_syncclient",
        "retry_syncclient",
        "view_syncrun",
        "view_failedrecord",
        "change_installedplugin",
    )
    client = make_client("orders")
    SyncRun.objects.create(client=client, trigger="admin", status="succeeded")
    FailedRecord.objects.create(client=client, external_id="7", payload='{"id": 7}', reason="test")
    yield api_token_create(user=user, name="schemathesis")[1]
    _purge_broker()  # runs queued by generated calls: no worker of a later test should take them


def strategy(operation, known: dict[str, object]) -> st.SearchStrategy:
    """Valid and invalid input, and valid input aimed at the objects that exist."""
    names = {p.name for p in operation.path_parameters}
    aimed = {k: v for k, v in known.items() if k in names}
    options = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    if aimed:
        options.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=aimed))
    return st.one_of(options)


@pytest.mark.django_db(transaction=True)
def test_every_operation_answers_as_documented_and_never_with_a_5xx(live_server, fuzz_token) -> None:
    headers = {"Authorization": f"Bearer {fuzz_token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json", headers=headers)
    known = {"client": "orders", "run": SyncRun.objects.get().pk, "name": "data_syncer"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, [op.label for op in operations]

    for operation in operations:

        @given(case=strategy(operation, known))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case) -> None:
            if case.operation.path != "/api/health/":
                case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS)
                return
            # Health answers 503 by design when unhealthy (no beat or worker here); never another 5xx.
            response = case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS[1:])
            assert response.status_code < 500 or (
                response.status_code == 503 and not response.json()["healthy"]
            )

        answers_as_documented()
