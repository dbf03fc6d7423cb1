"""Extra context on a schedule: `params` merged into the source's query parameters for the runs
it fires, and `full: true` forcing a complete listing of an incremental client (so the run may
delete). Checked against the handler's options, recorded on the run, fired by a real beat
through a real worker against the fake API."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from catalog.models import Product
from fakeapi.control import FakeApi
from syncers.config_as_code import ConfigError, apply_config, export_config
from syncers.models import SyncClient, SyncRun, SyncSchedule
from syncers.run_context import describe_context
from syncers.selectors import run_wait_final
from syncers.services import sync_run_request

from .processes import start_beat, wait_until
from .test_destinations import DESTINATION, categories  # noqa: F401  (the fixture)


def fire_once_soon(client: SyncClient, **context: object) -> SyncSchedule:
    """An hourly schedule whose first fire is two seconds from now: beat fires it once."""
    start = timezone.now() + timedelta(seconds=2)
    return SyncSchedule.objects.create(
        client=client, kind="interval", every=1, period="hours", start=start, **context
    )


def scheduled_run(client: SyncClient) -> SyncRun:
    run = wait_until(
        lambda: SyncRun.objects.filter(client=client, trigger=SyncRun.Trigger.SCHEDULE).first(),
        timeout=30,
        what="the scheduled run",
    )
    return run_wait_final(run_id=run.pk, timeout=60)


def run_now(client: SyncClient) -> SyncRun:
    run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, who="tester")
    return run_wait_final(run_id=run.pk, timeout=60)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["region", "eu"], "JSON object of query parameters"),
        ({"region": {"code": "eu"}}, "'region' must be a string, number or true/false"),
        ({"page": 3}, "'page': set by the source itself"),
        ({"per_page": 1000}, "'per_page': set by the source itself"),
    ],
)
def test_params_are_checked_against_the_clients_source_options_at_the_field(
    make_client, params, message
) -> None:
    schedule = SyncSchedule(client=make_client(), kind="interval", every=1, params=params)
    with pytest.raises(ValidationError) as err:
        schedule.full_clean()
    assert message in " ".join(err.value.message_dict["params"])


@pytest.mark.django_db
def test_yaml_takes_params_and_full_exports_them_back_and_names_the_path_of_bad_ones(make_client) -> None:
    make_client()
    data = {"clients": export_config()["clients"]}
    data["clients"][0]["schedules"] = [
        {"cron": "0 3 * * 0", "full": True},
        {"every": 1, "period": "hours", "params": {"region": "eu"}},
    ]
    apply_config(data)
    assert export_config()["clients"][0]["schedules"] == [
        {"cron": "0 3 * * 0", "timezone": "UTC", "full": True},
        {"every": 1, "period": "hours", "params": {"region": "eu"}},
    ]
    assert apply_config({"clients": export_config()["clients"]}).changes == [], "idempotent"
    out = StringIO()
    call_command("sync_schedules", "products", stdout=out)
    assert "(full listing)" in out.getvalue() and "(with {region: eu})" in out.getvalue()

    for schedule, message in [
        (
            {"every": 1, "params": {"cursor": "x", "page": 2}},
            "schedules[0]: params: 'page': set by the source",
        ),
        ({"every": 1, "params": "region=eu"}, "clients[0] (products).schedules[0].params: a mapping"),
        ({"every": 1, "full": "yes"}, "schedules[0].full: true or false"),
    ]:
        data["clients"][0]["schedules"] = [schedule]
        with pytest.raises(ConfigError) as err:
            apply_config(data)
        assert message in str(err.value)


def test_the_run_page_text_names_the_schedule_and_its_context() -> None:
    assert (
        describe_context({"schedule": 3, "params": {"region": "eu"}})
        == "fired by schedule 3 with {region: eu}"
    )
    assert describe_context({"schedule": 4, "full": True}) == "fired by schedule 4 full listing"
    assert describe_context({}) == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker")
def test_a_schedule_with_params_fires_a_run_whose_every_request_carries_them(
    api: FakeApi, make_client
) -> None:
    client = make_client(config={"page_size": 50, "params": {"lang": "de"}})
    schedule = fire_once_soon(client, params={"region": "eu"})
    beat = start_beat()
    try:
        run = scheduled_run(client)
    finally:
        beat.stop()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.fetched, run.created) == (250, 250)
    assert run.context == {"schedule": schedule.pk, "params": {"region": "eu"}}
    queries = [c["query"] for c in api.calls("/products")]
    assert len(queries) == 6, "five full pages and the empty one that ends the listing"
    assert all(q.get("region") == "eu" and q.get("lang") == "de" for q in queries), queries
    client.refresh_from_db()
    assert client.config["params"] == {"lang": "de"}, "the client's own config is unchanged"

    calls = len(api.calls("/products"))
    assert run_now(client).context == {}
    assert not any("region" in c["query"] for c in api.calls("/products")[calls:]), (
        "only that schedule's runs"
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker", "categories")
def test_a_full_schedule_lists_an_incremental_client_completely_and_may_delete(
    api: FakeApi, make_client
) -> None:
    client = make_client(
        handler="rest",
        config={"path": "/catalog/products", "page_size": 100, "incremental": {"field": "updated_at"}},
        batch_size=100,
        destination={**DESTINATION, "on_missing": "delete"},
    )
    run_now(client)
    api.delete([5])
    incremental = run_now(client)
    assert not incremental.listing_complete and incremental.deleted == 0
    assert Product.objects.count() == 250
    calls = len(api.calls("/catalog/products"))

    schedule = fire_once_soon(client, full=True)
    beat = start_beat()
    try:
        run = scheduled_run(client)
    finally:
        beat.stop()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.context == {"schedule": schedule.pk, "full": True}
    sent = [c["query"] for c in api.calls("/catalog/products")[calls:]]
    assert sent and not any("updated_since" in q for q in sent), "no cursor: the whole listing"
    assert (run.fetched, run.listing_complete, run.deleted) == (249, True, 1)
    assert not Product.objects.filter(sku="SKU-0000005").exists()
    client.refresh_from_db()
    assert "updated_since" in client.checkpoint, "the next incremental run has its cursor back"
