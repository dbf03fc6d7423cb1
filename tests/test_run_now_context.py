"""Extra context for a run asked for now, not only for scheduled ones: `sync_run --full` and
`--param key=value`, the API's run-now body `{"full": true, "params": {...}}` and the admin's
"Run a full listing now" all go through sync_run_request, are checked as a schedule's params
are, recorded on the run and carried out by a real worker against the fake API."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from playwright.sync_api import Page

from fakeapi.control import FakeApi
from syncers.models import SyncClient, SyncRun
from syncers.run_context import describe_context

from .test_admin_browser import PASSWORD, admin_login, queued_run_id, wait_final
from .test_admin_browser import operator as superuser  # noqa: F401  (a fixture)
from .test_api import Api, api_for, operator  # noqa: F401  (a fixture)
from .test_api_e2e import poll_run
from .test_commands_operator import history

pytest_plugins = ["tests.browser"]

INCREMENTAL = {"path": "/catalog/products", "page_size": 100, "incremental": {"field": "updated_at"}}


def sync_run(*args: str) -> SyncRun:
    call_command("sync_run", "products", "--wait", "--timeout", "60", *args, stdout=StringIO())
    return SyncRun.objects.latest("pk")


def queries(api: FakeApi, since: int) -> list[dict]:
    return [c["query"] for c in api.calls("/catalog/products")[since:]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_sync_run_full_lists_an_incremental_client_from_the_start_with_the_params_it_was_given(
    api: FakeApi, make_client
) -> None:
    make_client(handler="rest", config=INCREMENTAL, batch_size=100)
    sync_run()
    calls = len(api.calls("/catalog/products"))
    incremental = sync_run()
    assert all("updated_since" in q for q in queries(api, calls)), "the cursor is used by default"
    assert not incremental.listing_complete, "an incremental run never knows the whole listing"
    calls = len(api.calls("/catalog/products"))

    run = sync_run("--full", "--param", "region=eu", "--param", "lang=de")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.context == {"params": {"region": "eu", "lang": "de"}, "full": True}
    sent = queries(api, calls)
    assert sent and not any("updated_since" in q for q in sent), "no cursor: the whole listing"
    assert all(q.get("region") == "eu" and q.get("lang") == "de" for q in sent), sent
    assert (run.fetched, run.listing_complete) == (250, True)
    assert describe_context(run.context, run.trigger) == (
        "started by command with {lang: de, region: eu}, full listing"
    )
    assert (
        f"Run now: queued run #{run.pk} (with {{lang: de, region: eu}}, full listing) (by manage.py sync_run)"
        in [m for _, m in history(SyncClient.objects.get(name="products"))]
    ), "the client's history says what the run was given"
    assert sync_run().context == {}, "the next run is back to its own config and cursor"


@pytest.mark.django_db(transaction=True)
def test_sync_run_inline_takes_full_and_params_too(api: FakeApi, make_client) -> None:
    make_client(handler="rest", config=INCREMENTAL, batch_size=100, queue="nobody-consumes-this")
    call_command("sync_run", "products", "--inline", stdout=StringIO())
    calls = len(api.calls("/catalog/products"))

    call_command("sync_run", "products", "--inline", "--full", "--param", "region=eu", stdout=StringIO())

    run = SyncRun.objects.latest("pk")
    assert (run.status, run.context) == (SyncRun.Status.SUCCEEDED, {"params": {"region": "eu"}, "full": True})
    sent = queries(api, calls)
    assert sent and all(q.get("region") == "eu" and "updated_since" not in q for q in sent), sent
    assert (run.fetched, run.listing_complete) == (250, True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "region"], "--param 'region': give KEY=VALUE"),
        (["--param", "=eu"], "--param '=eu': give KEY=VALUE"),
        (["--param", "a=1", "--param", "a=2"], "--param a: given twice"),
        (["--param", "page=3"], "'page': set by the source itself"),
        (["--param", "updated_since=2020"], "'updated_since': set by the source itself"),
    ],
)
def test_sync_run_refuses_bad_params_naming_them_and_queues_nothing(make_client, args, message) -> None:
    make_client(handler="rest", config=INCREMENTAL)
    with pytest.raises(CommandError) as err:
        call_command("sync_run", "products", *args)
    assert message in str(err.value)
    assert not SyncRun.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_api_run_now_body_gives_the_run_full_and_params(api: FakeApi, make_client, operator) -> None:  # noqa: F811
    make_client(handler="rest", config=INCREMENTAL, batch_size=100)
    http = api_for(operator)
    assert poll_run(http, http.post("/api/clients/products/run/").json()["run"])["status"] == "succeeded"
    calls = len(api.calls("/catalog/products"))

    queued = http.post("/api/clients/products/run/", {"full": True, "params": {"region": "eu"}})

    assert queued.status_code == 202, queued.json()
    run = poll_run(http, queued.json()["run"])
    assert run["status"] == "succeeded", run["error"]
    assert run["context"] == {"params": {"region": "eu"}, "full": True}
    assert run["fetched"] == 250
    assert history(SyncClient.objects.get(name="products"))[-1] == (
        "operator",
        f"Run now: queued run #{run['id']} (with {{region: eu}}, full listing) (API token 'tests')",
    )
    sent = queries(api, calls)
    assert sent and all(q.get("region") == "eu" and "updated_since" not in q for q in sent), sent


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"params": {"page": 3}}, "params", "'page': set by the source itself"),
        ({"params": "region=eu"}, "params", "Give a JSON object of query parameters"),
        ({"params": {"region": {"code": "eu"}}}, "params", "'region' must be a string, number"),
        ({"full": "maybe"}, "full", "Must be a valid boolean"),
    ],
)
def test_api_run_now_refuses_bad_context_naming_the_field_and_queues_nothing(
    make_client,
    operator,  # noqa: F811
    body,
    field,
    message,
) -> None:
    make_client(handler="rest", config=INCREMENTAL)
    refused = Api.post(api_for(operator), "/api/clients/products/run/", body)
    assert refused.status_code == 400
    assert refused.json()["field"] == field
    assert message in refused.json()["error"]
    assert not SyncRun.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_admin_run_a_full_listing_now_ignores_the_cursor_and_the_run_page_says_so(
    page: Page,
    superuser,  # noqa: F811
    api: FakeApi,
    make_client,
) -> None:
    client = make_client(handler="rest", config=INCREMENTAL, batch_size=100)
    sync_run()
    calls = len(api.calls("/catalog/products"))
    admin_login(page, "operator", PASSWORD)
    page.goto(f"/admin/syncers/syncclient/{client.pk}/change/")

    page.click("#run-full-button")

    run = wait_final(queued_run_id(page))
    assert (run.trigger, run.triggered_by, run.context) == ("admin", "operator", {"full": True})
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.fetched == 250
    assert not any("updated_since" in q for q in queries(api, calls))
    page.goto(f"/admin/syncers/syncrun/{run.pk}/change/")
    assert page.locator(".field-context_note .readonly").inner_text() == "started by admin, full listing"


@pytest.mark.django_db
def test_a_recovery_run_asks_the_pages_after_the_checkpoint_with_the_abandoned_runs_params(
    make_client,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from syncers.pipeline import reconcile

    client = make_client(name="eu-products")
    abandoned = SyncRun.objects.create(
        client=client,
        trigger=SyncRun.Trigger.COMMAND,
        status=SyncRun.Status.RUNNING,
        started_at=timezone.now() - timedelta(hours=1),  # long past the lease: its worker died
        context={"params": {"region": "eu"}, "full": True},
    )

    reconcile()

    recovery = SyncRun.objects.get(client=client, trigger=SyncRun.Trigger.RECOVERY)
    assert SyncRun.objects.get(pk=abandoned.pk).status == SyncRun.Status.ABANDONED
    assert recovery.context == {"params": {"region": "eu"}}, "params kept; full would drop the checkpoint"
