"""Records pushed to POST /hooks/<client>/ go through the same pipeline as fetched ones."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
from cryptography.fernet import Fernet
from django.test import Client, override_settings

from syncers.hooks import SIGNATURE_HEADER, signed_headers
from syncers.models import FailedRecord, SyncedRecord, SyncRun
from syncers.selectors import run_wait_final

from .processes import ROOT

SECRET = "hook-secret-for-tests"


@pytest.fixture
def hooked(make_client):
    client = make_client()
    client.set_hook_secret(SECRET)
    client.save(update_fields=["hook_secret_ciphertext"])
    return client


def push(http: Client, name: str, body: bytes, signature: str | None = None, **headers: str):
    signed = signed_headers(SECRET, body)
    if signature is not None:
        signed[SIGNATURE_HEADER] = signature
    return http.post(
        f"/hooks/{name}/", data=body, content_type="application/json", headers={**signed, **headers}
    )


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
    wrong = push(Client(), hooked.name, b"[{}]", signature="sha256=" + "0" * 64)
    no_hook = push(Client(), "no-hook", b"[{}]")
    unknown = push(Client(), "nope", b"[{}]")
    assert wrong.status_code == no_hook.status_code == unknown.status_code == 401
    assert wrong.content == no_hook.content == unknown.content, "whether a client exists is not told"


@pytest.mark.django_db
def test_a_replayed_delivery_is_refused_and_an_old_one_is_refused_by_its_timestamp(hooked) -> None:
    body = json.dumps([{"id": 1, "price": 10}]).encode()
    headers = signed_headers(SECRET, body)
    first = Client().post(
        f"/hooks/{hooked.name}/", data=body, content_type="application/json", headers=headers
    )
    replay = Client().post(
        f"/hooks/{hooked.name}/", data=body, content_type="application/json", headers=headers
    )
    yesterday = signed_headers(SECRET, body, timestamp=int(time.time()) - 86400)
    old = Client().post(
        f"/hooks/{hooked.name}/", data=body, content_type="application/json", headers=yesterday
    )

    assert first.status_code == 202
    assert (replay.status_code, replay.json()["error"]) == (
        409,
        "this delivery was accepted before (same timestamp and signature)",
    )
    assert old.status_code == 401 and "more than 300 s away from our clock" in old.json()["error"]
    assert SyncRun.objects.count() == 1


@pytest.mark.django_db
def test_the_signature_covers_the_timestamp(hooked) -> None:
    body = b'[{"id": 1}]'
    headers = signed_headers(SECRET, body, timestamp=int(time.time()) - 10)
    headers["X-Xcoresite-Timestamp"] = str(int(time.time()))  # a fresh time on an older signature

    answer = Client().post(
        f"/hooks/{hooked.name}/", data=body, content_type="application/json", headers=headers
    )

    assert answer.status_code == 401 and not SyncRun.objects.exists()


@pytest.mark.django_db
def test_a_refused_delivery_can_be_sent_again_once_fixed(hooked) -> None:
    body = b'[{"id": 1}]'
    headers = signed_headers(SECRET, body)
    hooked.state = "disabled"
    hooked.save(update_fields=["state"])
    refused = Client().post(
        f"/hooks/{hooked.name}/", data=body, content_type="application/json", headers=headers
    )
    hooked.state = "active"
    hooked.save(update_fields=["state"])
    again = Client().post(
        f"/hooks/{hooked.name}/", data=body, content_type="application/json", headers=headers
    )

    assert (refused.status_code, again.status_code) == (409, 202)


@pytest.mark.django_db
def test_a_secret_no_key_decrypts_answers_503_with_a_log_line(hooked, caplog) -> None:
    other_key = Fernet.generate_key().decode()
    with override_settings(GATEWAY_ENCRYPTION_KEYS=[other_key]):
        answer = push(Client(), hooked.name, b'[{"id": 1}]')

    assert answer.status_code == 503 and not SyncRun.objects.exists()
    assert "cannot be decrypted with GATEWAY_ENCRYPTION_KEYS" in caplog.text


def _security_page_block(language: str, marker: str) -> str:
    page = (ROOT / "docs" / "concepts" / "security.md").read_text()
    blocks = re.findall(rf"```{language}\n(.*?)```", page, flags=re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")  # the accepted batch loads before teardown truncates the tables
@pytest.mark.parametrize("language", ["sh", "python"])
def test_the_security_pages_signing_examples_are_accepted(live_server, make_client, language: str) -> None:
    client = make_client("demo-products")
    client.set_hook_secret(SECRET)
    client.save(update_fields=["hook_secret_ciphertext"])
    code = _security_page_block(language, "X-Xcoresite-Timestamp").replace(
        "http://127.0.0.1:8000", live_server.url
    )

    if language == "sh":
        done = subprocess.run(
            ["bash", "-c", code], env={**os.environ, "HOOK_SECRET": SECRET}, capture_output=True
        )
        assert done.returncode == 0 and b'"records": 1' in done.stdout, done
    else:
        exec(code, {"HOOK_SECRET": SECRET})  # the snippet as a sender would paste it

    run = run_wait_final(run_id=SyncRun.objects.get(client=client).pk, timeout=30)
    assert (run.trigger, run.status, run.fetched, run.created) == ("webhook", "succeeded", 1, 1)
