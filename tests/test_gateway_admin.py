"""The connection admin (Django test client): the secret is write-only and stays out of pages
and history; "Test connection" makes one request and reports status, latency and the
classified error without writing anything."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from fakeapi.control import FakeApi
from gateway.models import Connection

pytestmark = pytest.mark.django_db

ADD = "/admin/gateway/connection/add/"


def form(api: FakeApi, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "shop",
        "base_url": api.url,
        "headers": "{}",
        "default_params": "{}",
        "auth_kind": "none",
        "auth_name": "",
        "auth_username": "",
        "token_url": "",
        "token_scope": "",
        "secret": "",
        "connect_timeout": "5",
        "read_timeout": "30",
        "total_timeout": "120",
        "max_body_bytes": str(50 * 1024 * 1024),
        "max_retries": "3",
        "retry_budget": "20",
        "rate_limit": "0",
        "rate_burst": "1",
        "allowed_hosts": "",
    }
    return {**data, **overrides}


def change_url(conn: Connection) -> str:
    return f"/admin/gateway/connection/{conn.pk}/change/"


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_secret_is_write_only_and_absent_from_pages_and_history(
    admin_client: Client, api: FakeApi
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    response = admin_client.post(ADD, form(api, auth_kind="bearer", secret=canary))
    assert response.status_code == 302, response.content.decode()[:2000]
    conn = Connection.objects.get(name="shop")
    assert conn.reveal_secret() == canary and canary not in conn.secret_ciphertext

    page = admin_client.get(change_url(conn)).content.decode()
    assert canary not in page and conn.secret_ciphertext not in page
    assert 'type="password"' in page and "set (encrypted, write-only)" in page

    admin_client.post(change_url(conn), form(api, auth_kind="bearer", secret=canary + "-2"))
    history = " ".join(f"{e.change_message} {e.object_repr}" for e in LogEntry.objects.all())
    assert LogEntry.objects.count() == 2 and canary not in history
    assert Connection.objects.get(pk=conn.pk).reveal_secret() == canary + "-2"


def test_a_blank_secret_keeps_the_stored_one_and_clearing_is_explicit(
    admin_client: Client, api: FakeApi
) -> None:
    admin_client.post(ADD, form(api, auth_kind="bearer", secret="keep-me"))
    conn = Connection.objects.get(name="shop")
    response = admin_client.post(change_url(conn), form(api, auth_kind="bearer", name="shop-renamed"))
    assert response.status_code == 302
    assert Connection.objects.get(pk=conn.pk).reveal_secret() == "keep-me"

    refused = admin_client.post(change_url(conn), form(api, auth_kind="bearer", clear_secret="on"))
    assert refused.status_code == 200 and "needs a secret" in refused.content.decode()
    both = admin_client.post(change_url(conn), form(api, auth_kind="bearer", secret="x", clear_secret="on"))
    assert "not both" in both.content.decode()

    admin_client.post(change_url(conn), form(api, auth_kind="none", clear_secret="on"))
    assert not Connection.objects.get(pk=conn.pk).has_secret


def test_a_refused_address_is_a_form_error_at_save_time(admin_client: Client, api: FakeApi) -> None:
    response = admin_client.post(ADD, form(api, base_url="http://169.254.169.254/latest"))
    assert response.status_code == 200 and "link-local" in response.content.decode()
    assert not Connection.objects.exists()


def test_test_connection_reports_status_and_latency_and_writes_nothing(
    admin_client: Client, api: FakeApi
) -> None:
    conn = Connection.objects.create(name="shop", base_url=api.url)
    page = admin_client.get(change_url(conn)).content.decode()
    test_url = f"/admin/gateway/connection/{conn.pk}/test/"
    assert test_url in page
    assert 'name="path"' in admin_client.get(test_url).content.decode()
    before = (LogEntry.objects.count(), Connection.objects.get(pk=conn.pk).updated_at)

    ok = admin_client.post(test_url, {"path": "/health"}, follow=True)
    assert any(m.startswith("Tested shop: HTTP 200 in ") and m.endswith(" ms") for m in messages_of(ok))
    failed = admin_client.post(test_url, {"path": "/bad/flaky?key=adm&fail=9&status=503"}, follow=True)
    assert any("TransientError: HTTP 503" in m for m in messages_of(failed))
    assert [p for _, p in api.hits()].count("/bad/flaky") == 1, "one request, no retries"
    html = admin_client.post(test_url, {"path": "/bad/raw?kind=html"}, follow=True)
    assert any("not usable JSON" in m for m in messages_of(html))

    assert (LogEntry.objects.count(), Connection.objects.get(pk=conn.pk).updated_at) == before


def test_test_connection_action_classifies_auth_failures(admin_client: Client, api: FakeApi) -> None:
    conn = Connection(name="locked", base_url=f"{api.url}/auth/bearer", auth_kind="bearer")
    conn.set_secret("wrong")
    conn.save()
    response = admin_client.post(
        "/admin/gateway/connection/",
        {"action": "test_connections", "_selected_action": [conn.pk]},
        follow=True,
    )
    assert any(m.startswith("Tested locked: AuthError: HTTP 401") for m in messages_of(response))
