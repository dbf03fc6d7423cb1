"""Pause states, error levels and notifications: the client protects itself and tells people once.

Time is controlled by moving `paused_until` into the past, never by sleeping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from fakeapi.control import FakeApi
from syncers.alerts.notify import notify
from syncers.alerts.pause import record_failure
from syncers.hooks import signed_headers
from syncers.models import Notification, SyncClient, SyncRun
from syncers.pipeline import reconcile
from syncers.selectors import run_wait_final
from syncers.services import client_disable, client_pause, client_resume, sync_run_request, sync_run_scheduled

from .processes import wait_until


def state(client: SyncClient) -> tuple[str, int, int]:
    client.refresh_from_db()
    return client.state, client.error_level, client.consecutive_failures


@pytest.mark.django_db
@override_settings(SYNC_PAUSE_DURATIONS=[10, 20, 40], SYNC_MAX_FAILURES=10)
def test_transient_failures_escalate_through_the_configured_pause_durations(make_client) -> None:
    client = make_client()
    waits = []
    for _ in range(4):
        before = timezone.now()
        events = record_failure(client_id=client.pk, kind="TransientError", error="HTTP 503")
        client.refresh_from_db()
        waits.append(round((client.paused_until - before).total_seconds()))
    assert waits == [10, 20, 40, 40], "each level pauses longer; the last duration repeats"
    assert state(client) == ("backoff", 3, 4)
    assert [e.name for e in events] == ["escalation"]


@pytest.mark.django_db
def test_per_client_durations_and_retry_after_override_the_defaults(make_client) -> None:
    client = make_client(pause_durations=[5, 7])
    before = timezone.now()
    record_failure(client_id=client.pk, kind="TransientError", error="HTTP 429", retry_after=600)
    client.refresh_from_db()
    assert round((client.paused_until - before).total_seconds()) == 600, (
        "the API's Retry-After wins when longer"
    )
    record_failure(client_id=client.pk, kind="TransientError", error="HTTP 503")
    client.refresh_from_db()
    assert client.error_level == 2 and round((client.paused_until - timezone.now()).total_seconds()) in (6, 7)


@pytest.mark.django_db
def test_too_many_failures_in_a_row_pause_until_an_operator_resumes(make_client) -> None:
    client = make_client(max_failures=3)
    names = []
    for _ in range(3):
        names += [
            e.name for e in record_failure(client_id=client.pk, kind="PermanentError", error="HTTP 404")
        ]
    client.refresh_from_db()
    assert client.state == "paused" and "auto-paused after 3 failed runs" in client.pause_reason
    assert names == ["first_failure", "auto_pause"]
    client_resume(client=client, who="operator")
    assert state(client) == ("active", 0, 0)


@pytest.mark.django_db
def test_a_notification_goes_out_once_per_state_change_and_is_recorded(make_client) -> None:
    client = make_client(notify_emails=["team@example.com"])
    with override_settings(SYNC_NOTIFY_EMAILS={"error": ["oncall@example.com"]}):
        for _ in range(5):  # a flapping API
            events = record_failure(client_id=client.pk, kind="TransientError", error="HTTP 502")
            notify(client=client, run=None, events=events)
        auth = record_failure(client_id=client.pk, kind="AuthError", error="HTTP 401")
        notify(client=client, run=None, events=auth)

    sent = list(Notification.objects.filter(client=client).values_list("event", "recipient", "delivered"))
    assert sorted(sent) == sorted(
        [
            ("first_failure", "team@example.com", True),
            ("escalation", "team@example.com", True),
            ("auth_pause", "team@example.com", True),
            ("auth_pause", "oncall@example.com", True),
        ]
    ), "escalation is throttled to one message; errors also reach the on-call address"
    assert len(mail.outbox) == 4
    assert all("secret" not in m.body.lower() for m in mail.outbox)


@pytest.mark.django_db
def test_a_paused_client_records_scheduled_runs_as_skipped_and_makes_no_request(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    client_pause(client=client, who="operator", reason="supplier maintenance")

    runs = [sync_run_scheduled(client_id=client.pk) for _ in range(5)]  # what beat fires

    assert {r.status for r in runs} == {SyncRun.Status.SKIPPED_PAUSED}
    assert "supplier maintenance" in runs[0].error and "operator" in runs[0].error
    assert api.stats()["requests"] == 0


@pytest.mark.django_db
def test_a_disabled_client_makes_no_request_refuses_pushed_records_and_stays_off_until_resumed(
    api: FakeApi, make_client
) -> None:
    client = make_client()
    client.set_hook_secret("hook-secret")
    client.save(update_fields=["hook_secret_ciphertext"])
    client_disable(client=client, who="operator", reason="supplier retired this API")
    body = b'[{"id": 1}]'

    runs = [sync_run_scheduled(client_id=client.pk) for _ in range(3)]
    pushed = Client().post(
        f"/hooks/{client.name}/",
        data=body,
        content_type="application/json",
        headers=signed_headers("hook-secret", body),
    )
    reconcile()  # no end: nothing resumes it by itself

    assert {r.status for r in runs} == {SyncRun.Status.SKIPPED_PAUSED}
    assert runs[0].error == "client is disabled"
    assert api.stats()["requests"] == 0
    assert (pushed.status_code, pushed.json()["error"]) == (409, "client is disabled")
    assert state(client)[0] == "disabled" and client.pause_reason == "supplier retired this API"
    client_resume(client=client, who="operator")
    assert state(client) == ("active", 0, 0)
    assert sync_run_scheduled(client_id=client.pk).fetch_done and api.stats()["requests"] > 0


@pytest.mark.django_db
def test_an_operator_pause_with_an_end_resumes_by_itself(make_client) -> None:
    client = make_client()
    client_pause(client=client, who="op", reason="deploy", until=timezone.now() + timedelta(hours=1))
    SyncClient.objects.filter(pk=client.pk).update(
        paused_until=timezone.now() - timedelta(seconds=1)
    )  # time passes

    reconcile()

    assert state(client) == ("active", 0, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_auth_failure_pauses_until_resumed_and_resume_can_run_once_now(api: FakeApi, make_client) -> None:
    api.configure(fail_pages={"1": 401})
    client = make_client(notify_emails=["team@example.com"])

    failed = run_wait_final(run_id=sync_run_request(client=client, trigger="admin").pk, timeout=30)

    assert failed.status == "failed" and failed.error_kind == "AuthError"
    assert state(client)[0] == "auth"
    told = Notification.objects.get(client=client, event="auth_pause")
    assert told.delivered and told.recipient == "team@example.com" and "HTTP 401" in told.body
    assert sync_run_scheduled(client_id=client.pk).status == "skipped_paused"
    api.configure(fail_pages={})
    run = client_resume(client=client, who="op", run_now=True)
    assert run_wait_final(run_id=run.pk, timeout=30).status == "succeeded"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_a_temporary_pause_ends_with_a_probe_that_escalates_or_recovers(api: FakeApi, make_client) -> None:
    client = make_client()
    client.connection.max_retries = 0
    client.connection.save()
    api.configure(fail_pages={"1": 503})
    run_wait_final(run_id=sync_run_request(client=client, trigger="admin").pk, timeout=30)
    assert state(client)[:2] == ("backoff", 1)

    def pause_ends() -> None:
        SyncClient.objects.filter(pk=client.pk).update(paused_until=timezone.now() - timedelta(seconds=1))

    pause_ends()
    reconcile()  # starts one probe run; the API still fails
    wait_until(lambda: state(client)[1] == 2, timeout=30, what="the failed probe to escalate")
    assert api.stats()["requests"] == 2, "the probe made one request, no full run"

    api.configure(fail_pages={})
    pause_ends()
    reconcile()
    wait_until(lambda: state(client) == ("active", 0, 0), timeout=30, what="recovery")
    recovered = SyncRun.objects.filter(client=client, status="succeeded").get()
    assert recovered.trigger == "recovery" and recovered.created == 250
    events = list(Notification.objects.filter(client=client).values_list("event", flat=True))
    assert set(events) <= {"first_failure", "escalation", "recovery"}


@pytest.mark.django_db
def test_webhooks_reach_a_real_http_receiver_in_slack_format(api: FakeApi, make_client) -> None:
    client = make_client()
    hooks = [(f"{api.url}/webhook", "warning"), ("http://127.0.0.1:9/closed", "error")]
    with override_settings(SYNC_NOTIFY_WEBHOOKS=hooks, SYNC_NOTIFY_WEBHOOK_FORMAT="slack"):
        notify(
            client=client,
            run=None,
            events=record_failure(client_id=client.pk, kind="AuthError", error="HTTP 401"),
        )

    (auth,) = api.webhooks()  # the enforced pause (error), not also its first failure
    assert set(auth) == {"text"} and "auth pause" in auth["text"] and "HTTP 401" in auth["text"]
    sent = Notification.objects.filter(channel="webhook")
    # Recorded by host only: a webhook URL's path often holds its token.
    assert set(sent.values_list("event", "recipient", "delivered")) == {
        ("auth_pause", "http://127.0.0.1:9/…", False),  # a dead receiver is recorded, not lost
        ("auth_pause", f"{api.url}/…", True),
    }


@pytest.mark.django_db
def test_pausing_a_connection_pauses_every_client_using_it(api: FakeApi, make_client) -> None:
    from gateway.services import connection_pause, connection_resume

    first, second = make_client("first"), make_client("second")
    connection_pause(connection=first.connection, reason="supplier API down for everyone")

    runs = [sync_run_scheduled(client_id=c.pk) for c in (first, second)]

    assert [r.status for r in runs] == ["skipped_paused", "skipped_paused"]
    assert "connection fake-api is paused: supplier API down for everyone" in runs[1].error
    assert api.stats()["requests"] == 0
    connection_resume(connection=first.connection)
    sync_run_scheduled(client_id=second.pk)
    assert api.stats()["requests"] == 6, "after resuming, the client syncs again"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_one_401_sends_each_recipient_one_notification_the_auth_pause(api: FakeApi, make_client) -> None:
    api.configure(fail_pages={"1": 401})
    client = make_client(notify_emails=["team@example.com", "oncall@example.com"])

    failed = run_wait_final(run_id=sync_run_request(client=client, trigger="admin").pk, timeout=30)

    assert failed.status == "failed" and state(client)[0] == "auth"
    sent = sorted(Notification.objects.filter(client=client).values_list("recipient", "event"))
    assert sent == [("oncall@example.com", "auth_pause"), ("team@example.com", "auth_pause")], (
        "the first failure caused the pause: one message, the most severe"
    )


@pytest.mark.django_db
def test_resume_and_run_with_its_connection_paused_resumes_and_says_why_it_did_not_run(
    admin_client: Client, make_client
) -> None:
    from gateway.services import connection_pause

    client = make_client()
    client_pause(client=client, who="op", reason="vendor window")
    connection_pause(connection=client.connection, reason="supplier API down for everyone")

    response = admin_client.post(
        "/admin/syncers/syncclient/",
        {"action": "resume_and_run", "_selected_action": [client.pk], "index": "0"},
        follow=True,
    )

    said = [str(m) for m in response.context["messages"]]
    assert (
        f"Resumed {client.name}, but did not run it: connection fake-api: supplier API down for everyone"
        in said
    )
    assert state(client)[0] == "active" and not SyncRun.objects.filter(client=client).exists()
