"""The product's own bookkeeping entries in the stock "Periodic tasks" admin (the engine's
reconciler, the plugin host's) are managed like a schedule's: read-only, not deletable, and
they say whose they are."""

from __future__ import annotations

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from syncers.plugins.operations import RECONCILE_JOB

URL = "/admin/django_celery_beat/periodictask/"


@pytest.mark.django_db
def test_the_products_own_reconcile_entries_are_read_only_and_say_whose(admin_client) -> None:
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period="seconds")
    ours = [
        PeriodicTask.objects.create(name=name, task=task, interval=every)
        for name, task in (("syncers-reconcile", "syncers.reconcile"), (RECONCILE_JOB, "plugins.reconcile"))
    ]
    own = PeriodicTask.objects.create(name="operator-cleanup", task="syncers.reconcile", interval=every)

    for task in ours:
        page = admin_client.get(f"{URL}{task.pk}/change/").content.decode()
        assert "xcoresite itself (re-sends lost messages)" in page
        assert 'name="_save"' not in page and 'name="name"' not in page, "read-only"
        assert admin_client.post(f"{URL}{task.pk}/delete/", {"post": "yes"}).status_code == 403
    assert 'name="_save"' in admin_client.get(f"{URL}{own.pk}/change/").content.decode()
    assert PeriodicTask.objects.filter(pk__in=[t.pk for t in ours]).count() == 2
