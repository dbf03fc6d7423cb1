"""Who may take which operator action: model-wide permissions and per-client grants (to a
user or a group). Actions a user may not take are absent from the page and refused on POST
with 403; every action taken writes an admin log entry without secrets."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.test import Client

from gateway.models import Connection
from syncers.models import ClientGrant, FailedRecord, SyncClient, SyncRun
from syncers.permissions import allowed_actions, user_can

PASSWORD = "correct horse battery staple"
SECRET = "sk-live-CANARY-0123456789"


def staff(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", PASSWORD, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="syncers", codename__in=codenames)
    )
    return user


def logged_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def endpoints(client: SyncClient, run: SyncRun) -> dict[str, str]:
    """Every operator verb's POST endpoint, by the action it needs."""
    base = f"/admin/syncers/syncclient/{client.pk}"
    return {
        "run": f"{base}/run-now/",
        "pause": f"{base}/pause/",
        "resume": f"{base}/resume/",
        "cancel": f"/admin/syncers/syncrun/{run.pk}/cancel/",
        "retry": f"{base}/retry-failed/",
        "test fetch": f"{base}/test-fetch/",
    }


@pytest.fixture
def two_clients(make_client) -> tuple[SyncClient, SyncClient]:
    return make_client("orders"), make_client("products")


@pytest.mark.django_db
def test_a_user_without_permissions_is_refused_every_operator_verb_with_403(
    django_user_model, two_clients
) -> None:
    orders, _ = two_clients
    run = SyncRun.objects.create(client=orders, trigger="admin")
    viewer = logged_in(staff(django_user_model, "viewer", "view_syncclient", "view_syncrun"))

    for action, url in endpoints(orders, run).items():
        assert viewer.post(url, {"reason": "x"}).status_code == 403, action
    assert SyncRun.objects.get(pk=run.pk).status == "queued"
    assert not LogEntry.objects.exists()

    page = viewer.get(f"/admin/syncers/syncclient/{orders.pk}/change/").content.decode()
    for button in [
        "run-now-button",
        "pause-button",
        "resume-button",
        "cancel-run-button",
        "test-fetch-button",
    ]:
        assert button not in page, button


@pytest.mark.django_db
def test_post_only_verbs_answer_405_to_a_get(admin_client, two_clients) -> None:
    orders, _ = two_clients
    run = SyncRun.objects.create(client=orders, trigger="admin")
    for action, url in endpoints(orders, run).items():
        if action != "pause":  # GET of pause shows the form asking for a reason
            assert admin_client.get(url).status_code == 405, action
    assert not SyncRun.objects.exclude(pk=run.pk).exists()


@pytest.mark.django_db
def test_grants_make_a_pause_only_and_a_run_only_operator_per_client(django_user_model, two_clients) -> None:
    orders, products = two_clients
    other = SyncClient.objects.create(name="warehouse", connection=orders.connection, handler="demo_products")
    pauser = staff(django_user_model, "pauser")  # no model-wide permission at all
    ClientGrant.objects.create(client=orders, user=pauser, can_pause=True)
    runners = Group.objects.create(name="runners")
    pauser.groups.add(runners)
    ClientGrant.objects.create(client=products, group=runners, can_run=True)

    assert allowed_actions(pauser, orders) == {"pause"}
    assert allowed_actions(pauser, products) == {"run"}
    assert allowed_actions(pauser, other) == frozenset()
    browser = logged_in(pauser)

    listing = browser.get("/admin/syncers/syncclient/").context["cl"].result_list
    assert sorted(c.name for c in listing) == ["orders", "products"]
    orders_page = browser.get(f"/admin/syncers/syncclient/{orders.pk}/change/").content.decode()
    assert "pause-button" in orders_page and "run-now-button" not in orders_page
    products_page = browser.get(f"/admin/syncers/syncclient/{products.pk}/change/").content.decode()
    assert "run-now-button" in products_page and "pause-button" not in products_page
    assert browser.get(f"/admin/syncers/syncclient/{other.pk}/change/").status_code == 302  # "doesn't exist"

    assert browser.post(f"/admin/syncers/syncclient/{orders.pk}/run-now/").status_code == 403
    assert browser.post(f"/admin/syncers/syncclient/{products.pk}/pause/", {"reason": "x"}).status_code == 403
    assert browser.post(f"/admin/syncers/syncclient/{other.pk}/run-now/").status_code == 403
    assert not SyncRun.objects.exists()

    assert browser.post(f"/admin/syncers/syncclient/{products.pk}/run-now/").status_code == 302
    assert list(SyncRun.objects.values_list("client__name", "triggered_by")) == [("products", "pauser")]
    assert (
        browser.post(f"/admin/syncers/syncclient/{orders.pk}/pause/", {"reason": "vendor outage"}).status_code
        == 302
    )
    orders.refresh_from_db()
    assert (orders.state, orders.pause_reason) == ("paused", "vendor outage")


@pytest.mark.django_db
def test_a_list_action_over_a_client_without_the_grant_is_refused_whole(
    django_user_model, two_clients
) -> None:
    orders, products = two_clients
    runner = staff(django_user_model, "runner")
    ClientGrant.objects.create(client=orders, user=runner, can_run=True)
    ClientGrant.objects.create(client=products, user=runner, can_pause=True)
    browser = logged_in(runner)

    response = browser.post(
        "/admin/syncers/syncclient/",
        {"action": "run_now", "_selected_action": [orders.pk, products.pk], "index": "0"},
    )
    assert response.status_code == 403
    assert not SyncRun.objects.exists()


@pytest.mark.django_db
def test_model_wide_permissions_cover_every_client_and_cancel_retry_are_separate(
    django_user_model, two_clients
) -> None:
    orders, products = two_clients
    canceller = staff(django_user_model, "canceller", "view_syncclient", "cancel_syncclient")
    assert user_can(canceller, "cancel", orders) and user_can(canceller, "cancel", products)
    assert not user_can(canceller, "retry", orders)
    assert not user_can(canceller, "run") and not user_can(canceller, "pause")
    run = SyncRun.objects.create(client=products, trigger="admin")

    browser = logged_in(canceller)
    assert browser.post(f"/admin/syncers/syncclient/{orders.pk}/retry-failed/").status_code == 403
    assert browser.post(f"/admin/syncers/syncrun/{run.pk}/cancel/").status_code == 302
    run.refresh_from_db()
    assert (run.status, run.cancel_requested_by) == ("cancelled", "canceller")


@pytest.mark.django_db
def test_every_action_writes_an_audit_entry_without_the_connections_secret(
    admin_client, admin_user, two_clients, api
) -> None:
    orders, _ = two_clients
    connection = Connection.objects.get(pk=orders.connection_id)
    connection.auth_kind = Connection.AuthKind.BEARER
    connection.set_secret(SECRET)
    connection.save()
    FailedRecord.objects.create(client=orders, external_id="7", payload='{"id": 7}', reason="test")
    base = f"/admin/syncers/syncclient/{orders.pk}"

    admin_client.post(f"{base}/test-fetch/")
    admin_client.post(f"{base}/retry-failed/")
    SyncRun.objects.filter(client=orders).update(status="succeeded")  # the retry run, as if done
    admin_client.post(f"{base}/run-now/")
    run = SyncRun.objects.filter(client=orders, status="queued").get()
    admin_client.post(f"/admin/syncers/syncrun/{run.pk}/cancel/")
    admin_client.post(f"{base}/pause/", {"reason": "maintenance", "hours": "1"})
    admin_client.post(f"{base}/resume/", {"run_now": "1"})

    entries = list(LogEntry.objects.filter(object_id=str(orders.pk)).order_by("pk"))
    messages = [e.change_message for e in entries]
    expected = [
        "Test fetch (",
        "Retry failed records: 1 re-staged in run #",
        "Run now: queued run #",
        f"Cancel run #{run.pk}: cancelled",
        "Paused until ",
        "Resumed, queued run #",
    ]
    assert len(messages) == len(expected)
    for message, start in zip(messages, expected, strict=True):
        assert message.startswith(start), (message, start)
    assert all(e.user == admin_user for e in entries)
    assert not any(SECRET in m for m in messages)


@pytest.mark.django_db
def test_an_edit_grant_lets_a_user_change_that_client_only(django_user_model, two_clients) -> None:
    orders, products = two_clients
    editor = staff(django_user_model, "editor", "view_syncclient")
    ClientGrant.objects.create(client=orders, user=editor, can_edit=True)
    browser = logged_in(editor)
    assert (
        'name="_save"' not in browser.get(f"/admin/syncers/syncclient/{products.pk}/change/").content.decode()
    )

    form = {
        **{k: getattr(orders, k) for k in ("name", "handler", "batch_size", "queue")},
        "description": "edited through a grant",
        "connection": orders.connection_id,
        "config": '{"page_size": 50}',
        "pause_durations": "",
        "notify_emails": "",
        "schedules-TOTAL_FORMS": "0",
        "schedules-INITIAL_FORMS": "0",
        "_save": "Save",
    }
    assert browser.post(f"/admin/syncers/syncclient/{orders.pk}/change/", form).status_code == 302
    orders.refresh_from_db()
    assert orders.description == "edited through a grant"
    refused = browser.post(f"/admin/syncers/syncclient/{products.pk}/change/", {**form, "name": "products"})
    assert refused.status_code == 403
