"""List actions and pages of the console through the admin's own views: retry selected failed
records, enable/disable schedules in bulk (beat's entries follow), pause or disable clients,
filter the client list by state, search it, and the test-fetch page."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django_celery_beat.models import PeriodicTask

from fakeapi.control import FakeApi
from syncers.models import FailedRecord, SyncBatch, SyncClient, SyncRun, SyncSchedule


def changelist_names(admin_client, query: str = "") -> list[str]:
    response = admin_client.get(f"/admin/syncers/syncclient/{query}")
    assert response.status_code == 200
    return sorted(c.name for c in response.context["cl"].result_list)


@pytest.mark.django_db
def test_retry_selected_failed_records_stages_only_those_in_a_new_run(admin_client, make_client) -> None:
    client = make_client()
    picked, other = (
        FailedRecord.objects.create(client=client, external_id=str(i), payload=f'{{"id": {i}}}', reason="x")
        for i in (1, 2)
    )

    response = admin_client.post(
        "/admin/syncers/failedrecord/",
        {"action": "retry_selected", "_selected_action": [picked.pk], "index": "0"},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages[0].startswith("Re-staged 1 failed record of products in <a href")
    run = SyncRun.objects.get()
    assert (run.status, run.fetched, run.fetch_done) == ("running", 1, True)
    assert SyncBatch.objects.get(run=run).size == 1
    # Both stay listed: the picked one leaves when its batch loads (or counts an attempt).
    assert set(FailedRecord.objects.all()) == {picked, other}


@pytest.mark.django_db
def test_bulk_disable_and_enable_schedules_reach_beats_entries(admin_client, make_client) -> None:
    clients = [make_client("orders"), make_client("products")]
    for client in clients:
        SyncSchedule.objects.create(client=client, kind="cron", cron="*/5 * * * *", timezone="UTC")
    ids = [c.pk for c in clients]

    admin_client.post(
        "/admin/syncers/syncclient/", {"action": "disable_schedules", "_selected_action": ids, "index": "0"}
    )
    assert not PeriodicTask.objects.filter(task="syncers.scheduled_sync", enabled=True).exists()
    assert PeriodicTask.objects.filter(task="syncers.scheduled_sync").count() == 2

    admin_client.post(
        "/admin/syncers/syncclient/", {"action": "enable_schedules", "_selected_action": ids, "index": "0"}
    )
    assert PeriodicTask.objects.filter(task="syncers.scheduled_sync", enabled=True).count() == 2


@pytest.mark.django_db
def test_the_pause_action_disables_with_its_box_ticked_and_refuses_an_end_for_that(
    admin_client, make_client
) -> None:
    orders, products = make_client("orders"), make_client("products")
    pause = {"action": "pause", "_selected_action": [orders.pk, products.pk], "index": "0"}

    refused = admin_client.post(
        "/admin/syncers/syncclient/", {**pause, "reason": "x", "hours": "2", "disable": "on"}
    )
    assert refused.status_code == 200, "the form again, with the error"
    assert "stays disabled until resumed" in refused.content.decode()
    assert set(SyncClient.objects.values_list("state", flat=True)) == {"active"}

    admin_client.post("/admin/syncers/syncclient/", {**pause, "reason": "supplier gone", "disable": "on"})

    for client in (orders, products):
        client.refresh_from_db()
        assert (client.state, client.pause_reason, client.paused_by, client.paused_until) == (
            "disabled",
            "supplier gone",
            "admin",
            None,
        )
    assert changelist_names(admin_client, "?state=disabled") == ["orders", "products"]
    assert LogEntry.objects.filter(change_message="Disabled: supplier gone").count() == 2


@pytest.mark.django_db
def test_the_pause_page_names_what_it_pauses_and_the_client_page_says_who_and_when_in_words(
    admin_client, make_client
) -> None:
    orders, products = make_client("orders"), make_client("products")
    one = admin_client.post(
        "/admin/syncers/syncclient/", {"action": "pause", "_selected_action": [orders.pk]}
    )
    assert one.context["title"] == "Pause orders"
    both = admin_client.post(
        "/admin/syncers/syncclient/", {"action": "pause", "_selected_action": [orders.pk, products.pk]}
    )
    assert both.context["title"] == "Pause 2 clients"

    admin_client.post(
        "/admin/syncers/syncclient/",
        {
            "action": "pause",
            "_selected_action": [orders.pk],
            "index": "0",
            "reason": "vendor window",
            "hours": "2",
        },
    )
    page = admin_client.get(f"/admin/syncers/syncclient/{orders.pk}/change/").content.decode()
    assert "· by admin, just now</span>" in page and "0\xa0minutes" not in page and "0 minutes" not in page


@pytest.mark.django_db
def test_client_list_filters_by_state_including_running_and_searches(admin_client, make_client) -> None:
    orders, products, stock = make_client("orders"), make_client("products"), make_client("stock")
    SyncClient.objects.filter(pk=products.pk).update(state="paused", pause_reason="audit")
    SyncClient.objects.filter(pk=stock.pk).update(state="backoff", error_level=2)
    SyncRun.objects.create(client=orders, trigger="admin", status="running")

    assert changelist_names(admin_client, "?state=paused") == ["products"]
    assert changelist_names(admin_client, "?state=backoff") == ["stock"]
    assert changelist_names(admin_client, "?state=running") == ["orders"]
    assert changelist_names(admin_client, "?q=prod") == ["products"]
    assert changelist_names(admin_client, "?q=fake-api") == ["orders", "products", "stock"]  # connection name
    page = admin_client.get("/admin/syncers/syncclient/").content.decode()
    assert "backoff L2" in page and "audit" in page and "sync-badge sync-running" in page


@pytest.mark.django_db
def test_test_fetch_page_lists_the_mapped_records(admin_client, make_client, api: FakeApi) -> None:
    client = make_client(config={"page_size": 50})
    posted = admin_client.post(f"/admin/syncers/syncclient/{client.pk}/test-fetch/")
    assert posted.status_code == 302, "POST, then GET the result's own URL"
    page = admin_client.get(posted["Location"]).content.decode()
    assert "Page 1: 50 records" in page and "Nothing was stored" in page
    assert page.count("<code>") == 20  # the first 20 records, each with its external id
    assert "&quot;id&quot;: 1," in page and "{&#x27;id&#x27;" not in page, "pretty JSON, not a repr"
    assert admin_client.get(posted["Location"]).content.decode().count("<code>") == 20, "reloads"
    assert api.stats()["pages"] == {"1": 1}, "a reload shows the kept result, it does not fetch again"
    assert not SyncRun.objects.exists()
    gone = admin_client.get(f"/admin/syncers/syncclient/{client.pk}/test-fetch/unknown-token/")
    assert gone.status_code == 404 and "no longer kept" in gone.content.decode()


@pytest.mark.django_db
def test_a_cancel_request_on_a_running_run_is_shown_on_the_run_and_in_the_lists(
    admin_client, make_client
) -> None:
    client = make_client()
    run = SyncRun.objects.create(client=client, trigger="schedule", status="running")
    page = admin_client.get(f"/admin/syncers/syncclient/{client.pk}/change/").content.decode()
    assert f"Cancel run #{run.pk}" in page

    admin_client.post(f"/admin/syncers/syncrun/{run.pk}/cancel/")

    progress = admin_client.get(f"/admin/syncers/syncrun/{run.pk}/progress/").json()
    assert (progress["status"], progress["cancel_requested"], progress["final"]) == ("running", True, False)
    assert progress["cancel_note"] == "cancel requested by admin: it stops between pages and batches"
    assert (
        progress["cancel_note"]
        in admin_client.get(f"/admin/syncers/syncrun/{run.pk}/change/").content.decode()
    )
    assert "(cancel requested)" in admin_client.get("/admin/syncers/syncrun/").content.decode()


@pytest.mark.django_db
def test_the_failed_records_list_shows_attempts_first_and_last_seen(admin_client, make_client) -> None:
    failed = FailedRecord.objects.create(
        client=make_client(), external_id="7", payload='{"id": 7}', reason="x", attempts=3
    )

    page = admin_client.get("/admin/syncers/failedrecord/").content.decode()
    detail = admin_client.get(f"/admin/syncers/failedrecord/{failed.pk}/change/").content.decode()

    for column in ("attempts", "created_at", "last_seen_at"):  # attempts, first seen, last seen
        assert f"column-{column}" in page
    assert "last seen" in detail.lower() and "record key" in detail.lower()


@pytest.mark.django_db
def test_revoking_tokens_says_how_many_with_the_right_plural(admin_client, django_user_model) -> None:
    from syncers.api.tokens import api_token_create
    from syncers.models import ApiToken

    user = django_user_model.objects.get(username="admin")
    tokens = [api_token_create(user=user, name=name)[0].pk for name in ("ci-deploy", "nightly", "backup")]
    for picked, said in ((tokens[:1], "Revoked 1 token."), (tokens[1:], "Revoked 2 tokens.")):
        response = admin_client.post(
            "/admin/syncers/apitoken/",
            {"action": "revoke", "_selected_action": picked, "index": "0"},
            follow=True,
        )
        assert said in [str(m) for m in response.context["messages"]]
    assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()
