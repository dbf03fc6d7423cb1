"""End to end through the HTTP API: a token starts a run, a real Celery worker fetches from the
fake API (a real HTTP server) and loads, and the run endpoint reports the exact counts; pause
and resume through the API as a script would."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fakeapi.control import FakeApi
from syncers.models import ClientGrant, SyncedRecord, SyncRun

from .test_api import Api, api_for, operator, staff  # noqa: F401  (operator is a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker")]


def poll_run(http: Api, run_id: int, timeout: float = 60) -> dict[str, Any]:
    """GET /api/runs/<id>/ until `final`, as a script would (not a timing assertion)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        body = http.get(f"/api/runs/{run_id}/").json()
        seen.append(body["status"])
        if body["final"]:
            return body
        time.sleep(0.2)
    raise AssertionError(f"run #{run_id} not final after {timeout}s: {seen[-5:]}")


def test_a_token_runs_a_sync_and_polls_it_to_the_exact_counts(api: FakeApi, make_client, operator) -> None:  # noqa: F811
    client = make_client()
    http = api_for(operator)

    queued = http.post("/api/clients/products/run/")

    assert queued.status_code == 202, queued.json()
    assert queued.json()["url"] == f"/api/runs/{queued.json()['run']}/"
    run = poll_run(http, queued.json()["run"])
    assert run["status"] == "succeeded", run["error"]
    # 250 records in pages of 50: five full pages, then an empty one that ends the listing.
    assert (run["pages"], run["fetched"], run["percent"]) == (6, 250, 100)
    assert run["counts"] == {"created": 250, "updated": 0, "unchanged": 0, "failed": 0}
    assert (run["trigger"], run["triggered_by"], run["error"]) == ("api", "operator", "")
    assert SyncedRecord.objects.filter(client=client).count() == 250


def test_paused_through_the_api_run_now_is_refused_until_resumed(api: FakeApi, make_client, operator) -> None:  # noqa: F811
    make_client()
    http = api_for(operator)

    paused = http.post("/api/clients/products/pause/", {"reason": "vendor maintenance"})
    refused = http.post("/api/clients/products/run/")
    resumed = http.post("/api/clients/products/resume/", {"run_now": True})

    assert paused.json()["run_refused"] == "paused by operator: vendor maintenance"
    assert refused.status_code == 409 and refused.json()["reason"] == "paused by operator: vendor maintenance"
    assert resumed.status_code == 200 and resumed.json()["client"]["state"] == "active"
    run = poll_run(http, resumed.json()["run"])
    assert run["status"] == "succeeded" and run["counts"]["created"] == 250
    assert SyncRun.objects.count() == 1, "the refused run now left no run behind"


def test_a_token_granted_run_and_pause_on_one_client_starts_watches_pauses_and_resumes_it(
    api: FakeApi, make_client, django_user_model
) -> None:
    """The issue's "done": a script with the token of a user who, in the admin, may run and
    pause this one client (a grant, no model-wide permission) does exactly that, and no more."""
    client, other = make_client(), make_client("orders")
    ops = staff(django_user_model, "ops")
    ClientGrant.objects.create(client=client, user=ops, can_run=True, can_pause=True)
    http = api_for(ops)

    started = http.post("/api/clients/products/run/")
    assert started.status_code == 202, started.json()
    run = poll_run(http, started.json()["run"])
    assert run["status"] == "succeeded" and run["counts"]["created"] == 250

    until = (timezone.now() + timedelta(hours=2)).isoformat()
    paused = http.post("/api/clients/products/pause/", {"reason": "vendor maintenance", "until": until})
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert http.post("/api/clients/products/run/").status_code == 409
    resumed = http.post("/api/clients/products/resume/", {"run_now": True})
    assert resumed.status_code == 200 and resumed.json()["client"]["state"] == "active"
    again = poll_run(http, resumed.json()["run"])
    assert again["status"] == "succeeded" and again["counts"]["unchanged"] == 250

    beyond = {
        "cancel": http.post(f"/api/runs/{again['id']}/cancel/"),
        "retry": http.post("/api/clients/products/failed-records/retry/"),
        "see another client": http.get(f"/api/clients/{other.name}/"),
        "run another client": http.post(f"/api/clients/{other.name}/run/"),
        "health of every client": http.get("/api/health/"),
    }
    assert {what: r.status_code for what, r in beyond.items()} == dict.fromkeys(beyond, 403)
    assert SyncRun.objects.filter(client=other).count() == 0
