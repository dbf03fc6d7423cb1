"""Records pushed to POST /hooks/<client>/ go through the same pipeline as fetched ones."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from syncers.hooks import sign
from syncers.models import FailedRecord, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final

SECRET = "hook-secret-for-tests"


@pytest.fixture
def hooked(make_client):
    client = make_client()
    client.set_hook_secret(SECRET)
    client.save(update_fields=["hook_secret_ciphertext"])
    return client


def push(http: Client, name: str, body: bytes, signature: str | None = None):
    headers = {"HTTP_X_XCORESITE_SIGNATURE": signature if signature is not None else sign(SECRET, body)}
    return http.post(f"/hooks/{name}/", data=body, content_type="application/json", **headers)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_signed_records_are_staged_and_loaded_by_the_same_pipeline(hooked) -> None:
    records = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 1, "name": "a2"}, {"name": "no id"}]

    answer = push(Client(), hooked.name, json.dumps({"records": records}).encode())

    assert answer.status_code == 202, answer.content
    run = run_wait_final(run_id=answer.json()["run"], timeout=30)
    assert (run.trigger, run.status, run.fetched, run.created, run.failed) == ("webhook", "partial", 4, 2, 1)
    assert SyncedRecord.objects.get(client=hooked, external_id="1").data["name"] == "a2"
    assert FailedRecord.objects.filter(run=run).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "signature", "status", "message"),
    [
        (b'[{"id": 1}]', "sha256=" + "0" * 64, 401, "bad X-Xcoresite-Signature"),
        (b'[{"id": 1}]', "", 401, "missing or bad"),
        (b"not json", None, 400, "not JSON"),
        (b'{"records": []}', None, 400, "non-empty JSON list"),
        (b'{"id": 1}', None, 400, "non-empty JSON list"),
    ],
)
def test_bad_pushes_get_a_clear_4xx_and_store_nothing(hooked, body, signature, status, message) -> None:
    answer = push(Client(), hooked.name, body, signature)

    assert answer.status_code == status and message in answer.json()["error"]
    assert not SyncRun.objects.exists() and not SyncedRecord.objects.exists()


@pytest.mark.django_db
def test_oversized_bodies_and_unknown_clients_are_refused(hooked, make_client) -> None:
    with override_settings(SYNC_HOOK_MAX_BYTES=100):
        answer = push(Client(), hooked.name, json.dumps([{"id": i} for i in range(50)]).encode())
    assert answer.status_code == 413 and not SyncRun.objects.exists()
    make_client("no-hook")
    assert push(Client(), "no-hook", b"[{}]").status_code == 404, "a client without a secret has no webhook"
    assert push(Client(), "nope", b"[{}]").status_code == 404
