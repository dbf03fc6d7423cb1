from django.apps import AppConfig


class SyncersConfig(AppConfig):
    name = "syncers"
    verbose_name = "Sync clients"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (registers checks and signal receivers)
        from .registry import autodiscover

        autodiscover()
