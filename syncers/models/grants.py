"""Operator controls: per-client grants of operator actions, and the cancel request of a run.

A grant lets one user or one group take chosen actions on one client, on top of the model-wide
permissions (``syncers.run_syncclient``, ``pause_syncclient``, ``cancel_syncclient``,
``retry_syncclient``, ``change_syncclient``). So a "pause-only" or a "run-only" operator is
possible, for all clients or only for some. See syncers.permissions.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from .clients import SyncClient
from .runs import SyncRun

ACTIONS = ("run", "pause", "cancel", "retry", "edit")


class ClientGrant(models.Model):
    """Lets a user or a group take some operator actions on one sync client."""

    client = models.ForeignKey(
        SyncClient,
        on_delete=models.CASCADE,
        related_name="grants",
        verbose_name="client",
        help_text="The sync client these actions are granted on.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sync_grants",
        verbose_name="user",
        help_text="Who gets the actions (or pick a group instead).",
    )
    group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sync_grants",
        verbose_name="group",
        help_text="Every member gets the actions (or pick a user instead).",
    )
    can_run = models.BooleanField("run now", default=False, help_text="Start a run now.")
    can_pause = models.BooleanField("pause / resume", default=False, help_text="Pause and resume.")
    can_cancel = models.BooleanField("cancel", default=False, help_text="Cancel a queued or running run.")
    can_retry = models.BooleanField("retry failed", default=False, help_text="Retry failed records.")
    can_edit = models.BooleanField(
        "edit", default=False, help_text="Change the client's settings and schedules."
    )
    created_at = models.DateTimeField("granted at", auto_now_add=True)

    class Meta:
        verbose_name = "client grant"
        ordering = ["client", "pk"]
        # Model-wide permissions that SyncClient does not declare itself (has_perm only looks
        # at the app label and codename, so they read as "syncers.cancel_syncclient").
        permissions = [
            ("cancel_syncclient", "Can cancel a sync client's queued or running run"),
            ("retry_syncclient", "Can retry a sync client's failed records"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="clientgrant_user_xor_group",
                violation_error_message="A grant is for a user or for a group, not both and not neither.",
            ),
            models.UniqueConstraint(
                fields=["client", "user"], condition=Q(user__isnull=False), name="clientgrant_client_user"
            ),
            models.UniqueConstraint(
                fields=["client", "group"], condition=Q(group__isnull=False), name="clientgrant_client_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.group} on {self.client}: {', '.join(self.actions) or 'nothing'}"

    @property
    def actions(self) -> list[str]:
        return [action for action in ACTIONS if getattr(self, f"can_{action}")]


# The cancel request lives on the run row so the pipeline can read it between pages and
# batches. Declared here (the operator-controls module) and added to SyncRun; moving these three
# lines into SyncRun's class body later changes nothing in the database.
SyncRun.add_to_class(
    "cancel_requested",
    models.BooleanField(
        "cancel requested",
        default=False,
        help_text="An operator asked to cancel this run; it stops between pages and batches.",
    ),
)
SyncRun.add_to_class(
    "cancel_requested_by",
    models.CharField("cancel requested by", max_length=150, blank=True, help_text="Who asked."),
)
SyncRun.add_to_class(
    "cancel_requested_at",
    models.DateTimeField("cancel requested at", null=True, blank=True, help_text="When."),
)
