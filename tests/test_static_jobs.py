"""Static jobs declared in the configuration file (`jobs:`): each entry is one managed beat
entry `job:<id>` running a callable registered in an autodiscovered `sync_jobs` module (never
an import path from the file); unknown names fail at their YAML path; --prune removes jobs the
file no longer names; the admin lists them read-only; beat and a real worker run them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import Page, expect

from catalog.models import Category, Product
from catalog.sync import COUNTS_KEY
from syncers.config_as_code import ConfigError, apply_config, export_config
from syncers.schedules.job_registry import sync_job
from syncers.schedules.static_jobs import static_job_run

from .processes import Service, start_beat, wait_until
from .test_admin_browser import PASSWORD, admin_login

pytest_plugins = ["tests.browser"]

CALLS: list[dict] = []


@sync_job("tests.record_call")
def record_call(**kwargs: object) -> None:
    CALLS.append(kwargs)


def jobs(*entries: dict) -> dict:
    return {"jobs": list(entries)}


HOURLY = {
    "id": "refresh_counts",
    "func": "catalog.refresh_category_counts",
    "trigger": "interval",
    "hours": 1,
}
NIGHTLY = {
    "id": "nightly",
    "func": "catalog.refresh_category_counts",
    "trigger": "cron",
    "cron": "0 3 * * *",
    "timezone": "Europe/Berlin",
}


@pytest.mark.django_db
def test_each_declared_job_is_one_managed_beat_entry_applied_idempotently_and_exported_back() -> None:
    at = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    once = {"id": "once", "func": "tests.record_call", "trigger": "date", "run_date": at.isoformat()}
    once["kwargs"] = {"user": 42}
    plan = apply_config(jobs(HOURLY, NIGHTLY, once))
    assert sorted(plan.changes) == [
        "+ job nightly: catalog.refresh_category_counts (cron)",
        "+ job once: tests.record_call (date)",
        "+ job refresh_counts: catalog.refresh_category_counts (interval)",
    ]
    hourly = PeriodicTask.objects.get(name="job:refresh_counts")
    assert hourly.task == "syncers.static_job" and hourly.enabled
    assert json.loads(hourly.kwargs) == {"job": "refresh_counts", "func": "catalog.refresh_category_counts"}
    assert (hourly.interval.every, hourly.interval.period) == (1, "hours")
    assert str(PeriodicTask.objects.get(name="job:nightly").crontab.timezone) == "Europe/Berlin"
    one_off = PeriodicTask.objects.get(name="job:once")
    assert one_off.one_off and one_off.clocked.clocked_time == at
    assert json.loads(one_off.kwargs)["kwargs"] == {"user": 42}

    exported = export_config()["jobs"]
    assert [j["id"] for j in exported] == ["nightly", "once", "refresh_counts"]
    assert apply_config(yaml.safe_load(yaml.safe_dump({"jobs": exported}))).changes == [], "idempotent"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"id": "x", "func": "myapp.tasks:sync_data", "trigger": "interval", "hours": 1},
            "jobs[0] (x).func: no registered job callable 'myapp.tasks:sync_data'",
        ),
        (
            {
                "id": "x",
                "func": "tests.record_call",
                "trigger": "interval",
                "days": 1,
                "kwargs": {"api_key": "k"},
            },
            "jobs[0] (x).kwargs: 'api_key' looks like a secret",
        ),
        (
            {"id": "x", "func": "tests.record_call", "trigger": "weekly"},
            "jobs[0] (x).trigger: interval, cron or date",
        ),
        (
            {"id": "x", "func": "tests.record_call", "trigger": "interval", "hours": 1, "minutes": 5},
            "jobs[0] (x): an interval job takes exactly one of",
        ),
        (
            {"id": "x", "func": "tests.record_call", "trigger": "cron", "cron": "* * *"},
            "jobs[0] (x).cron: A cron",
        ),
        (
            {
                "id": "x",
                "func": "tests.record_call",
                "trigger": "date",
                "run_date": "2020-01-01T00:00:00+00:00",
            },
            "jobs[0] (x).run_date: 2020-01-01T00:00:00+00:00 is in the past",
        ),
        (
            {"id": "x", "func": "tests.record_call", "trigger": "cron", "cron": "0 * * * *", "hours": 1},
            "unknown key hours",
        ),
    ],
)
def test_a_bad_job_entry_is_refused_at_its_yaml_path(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_config(jobs(entry))
    assert message in str(err.value)
    assert not PeriodicTask.objects.filter(name__startswith="job:").exists()


@pytest.mark.django_db
def test_prune_removes_the_jobs_the_file_no_longer_names(tmp_path: Path) -> None:
    apply_config(jobs(HOURLY, NIGHTLY))
    path = tmp_path / "setup.yaml"
    path.write_text(yaml.safe_dump(jobs(HOURLY)))
    call_command("sync_apply", str(path), stdout=StringIO())
    assert PeriodicTask.objects.filter(name="job:nightly").exists(), "kept without --prune"
    out = StringIO()
    call_command("sync_apply", str(path), "--prune", stdout=out)
    assert "- job nightly" in out.getvalue()
    assert list(PeriodicTask.objects.filter(name__startswith="job:").values_list("name", flat=True)) == [
        "job:refresh_counts"
    ]
    path.write_text("jobs:\n  - {id: x, func: os.system, trigger: interval, seconds: 1}\n")
    with pytest.raises(CommandError, match=r"jobs\[0\] \(x\)\.func: no registered job callable 'os.system'"):
        call_command("sync_apply", str(path))


@pytest.mark.django_db
def test_a_date_job_runs_once_however_many_messages_arrive_and_a_reapply_does_not_rearm_it() -> None:
    at = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    entry = {"id": "remind", "func": "tests.record_call", "trigger": "date", "run_date": at.isoformat()}
    apply_config(jobs({**entry, "kwargs": {"user": 42}}))
    CALLS.clear()
    message = json.loads(PeriodicTask.objects.get(name="job:remind").kwargs)
    for _ in range(2):  # two beats each sent it
        static_job_run(**message)
    assert CALLS == [{"user": 42}]
    PeriodicTask.objects.filter(name="job:remind").update(enabled=False)  # as beat does once sent
    assert apply_config(jobs({**entry, "kwargs": {"user": 42}})).changes == []
    assert not PeriodicTask.objects.get(name="job:remind").enabled, "the same date is not a new firing"


@pytest.mark.django_db(transaction=True)
def test_beat_and_a_worker_run_a_declared_interval_job_callable(worker: Service) -> None:
    Category.objects.create(code="T", name="Tools")
    Product.objects.create(
        sku="SKU-1",
        name="Hammer",
        price=9,
        category=Category.objects.get(code="T"),
        updated_at=timezone.now(),
    )
    cache.delete(COUNTS_KEY)
    every_second = {k: v for k, v in HOURLY.items() if k != "hours"} | {"seconds": 1}
    seen = len(worker.log())  # the session's worker: only what it logs from now on
    apply_config(jobs(every_second))
    beat = start_beat()
    try:
        # The worker's own word that it ran the callable, and what the callable returned.
        ran = wait_until(
            lambda: re.search(
                r"Task syncers\.static_job\[[^]]+\] succeeded in [\d.]+s: (.*)\n", worker.log()[seen:]
            ),
            timeout=30,
            what="the job's callable to run",
        )
    finally:
        beat.stop()
    assert ran[1] == "{'T': 1}"
    assert "Sending due task job:refresh_counts (syncers.static_job)" in beat.log()
    if settings.REDIS_URL:  # a cache shared with the worker; without it each process has its own
        assert cache.get(COUNTS_KEY) == {"T": 1}


@pytest.mark.django_db(transaction=True)
def test_the_admin_lists_static_jobs_read_only_as_managed_by_configuration(
    page: Page, django_user_model
) -> None:
    django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    apply_config(jobs(HOURLY))
    admin_login(page, "operator", PASSWORD)
    page.goto("/admin/syncers/staticjob/")
    expect(page.locator("#content")).to_contain_text("Managed by configuration")
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("refresh_counts")
    expect(row).to_contain_text("catalog.refresh_category_counts")
    expect(row).to_contain_text("interval: hours 1")
    assert page.locator("#content .object-tools .addlink").count() == 0, "no add button"
    task = PeriodicTask.objects.get(name="job:refresh_counts")
    page.goto(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0, "beat's own admin cannot edit it either"
