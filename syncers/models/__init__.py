from .clients import SyncClient, SyncSchedule
from .lease import Lease
from .records import FailedRecord, SyncedRecord
from .runs import SyncBatch, SyncRun

__all__ = [
    "FailedRecord",
    "Lease",
    "SyncBatch",
    "SyncClient",
    "SyncRun",
    "SyncSchedule",
    "SyncedRecord",
]
