"""Registers the built-in plugins and their tables through the same autodiscovered hook
(`<app>.sync_plugins`) a third-party plugin app uses."""

from .models.plugins import SyncItem, SyncLog, SyncProgress
from .plugins import register, register_table
from .plugins.reference.data_syncer import DataSyncerPlugin
from .plugins.reference.gateway import GatewayPlugin

register(GatewayPlugin)
register(DataSyncerPlugin)
for model in (SyncLog, SyncProgress, SyncItem):
    register_table(model)
