"""Keep beat's PeriodicTasks in step with schedules, whichever path changed them (admin,
commands, config files, shell)."""

from django.db import connection
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from syncers.models import SyncClient, SyncSchedule
from syncers.schedules.mirror import schedule_publish, schedule_unpublish


@receiver(post_save, sender=SyncSchedule, dispatch_uid="syncers.schedule_saved")
def _schedule_saved(sender: type, instance: SyncSchedule, raw: bool = False, **kwargs: object) -> None:
    if not raw:
        schedule_publish(instance)


@receiver(post_delete, sender=SyncSchedule, dispatch_uid="syncers.schedule_deleted")
def _schedule_deleted(sender: type, instance: SyncSchedule, **kwargs: object) -> None:
    schedule_unpublish(instance)


@receiver(post_save, sender=SyncClient, dispatch_uid="syncers.client_saved")
def _client_saved(sender: type, instance: SyncClient, raw: bool = False, **kwargs: object) -> None:
    # The queue and name are copied into each PeriodicTask.
    if not raw:
        for schedule in instance.schedules.select_related("periodic_task"):
            schedule_publish(schedule)


@receiver(pre_delete, sender=SyncClient, dispatch_uid="syncers.client_deleting")
def _client_deleting(sender: type, instance: SyncClient, **kwargs: object) -> None:
    # Sent inside the deletion's transaction, before any row goes. FOR UPDATE waits for every
    # load holding the client row FOR KEY SHARE (pipeline.fence) to commit, and makes later
    # ones wait and then find the client gone: the records table has no foreign key to the
    # client (SyncedRecord.client), so this is what leaves no record behind a deleted client.
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM syncers_syncclient WHERE id = %s FOR UPDATE", [instance.pk])
