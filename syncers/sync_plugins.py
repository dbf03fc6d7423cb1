"""Registers the built-in plugins and their tables through the same autodiscovered hook
(`<app>.sync_plugins`) a third-party plugin app uses."""

from syncers.models.plugins import SyncItem, SyncLog, SyncProgress
from syncers.plugins import register, register_table
from syncers.plugins.reference.data_syncer import DataSyncerPlugin
from syncers.plugins.reference.gateway import GatewayPlugin

register(GatewayPlugin)
register(DataSyncerPlugin)
for model in (SyncLog, SyncProgress, SyncItem):
    register_table(model)
