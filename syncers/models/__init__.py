from .clients import SyncClient, SyncSchedule
from .lease import Lease
from .notifications import Notification
from .records import FailedRecord, SyncedRecord
from .runs import SyncBatch, SyncRun

__all__ = [
    "FailedRecord",
    "Lease",
    "Notification",
    "SyncBatch",
    "SyncClient",
    "SyncRun",
    "SyncSchedule",
    "SyncedRecord",
]
