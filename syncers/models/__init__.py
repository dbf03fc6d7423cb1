"""The rows: clients and schedules, runs and staged batches (the sync log), the record
ledger and failed records, leases, grants, tokens, notifications, plugin rows. Models import
only what is below them; import them from here."""

from . import plugins  # noqa: F401  (registers the plugin models; import them from .plugins)
from .api_tokens import ApiToken
from .clients import SyncClient, SyncSchedule
from .grants import ClientGrant
from .jobs import StaticJob
from .lease import Lease
from .notifications import Notification, NotificationRoute
from .records import FailedRecord, PendingDeletion, SyncedRecord
from .runs import SyncBatch, SyncRun
from .webhooks import HookDelivery

__all__ = [
    "ApiToken",
    "ClientGrant",
    "FailedRecord",
    "HookDelivery",
    "Lease",
    "Notification",
    "NotificationRoute",
    "PendingDeletion",
    "StaticJob",
    "SyncBatch",
    "SyncClient",
    "SyncRun",
    "SyncSchedule",
    "SyncedRecord",
]
