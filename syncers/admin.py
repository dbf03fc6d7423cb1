"""What Django's admin autodiscovery imports (`<app>.admin`): the operator console's
registrations, which live in syncers.console. The plugin admin registers from
SyncersConfig.ready() instead (syncers.apps), the moment plugins are discovered."""

from syncers.console import beat, clients, jobs, notify, runs, tokens  # noqa: F401  (they register their admins)
