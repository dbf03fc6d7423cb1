from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway (outgoing connections)"

    def ready(self) -> None:
        from . import checks, logfilters  # noqa: F401  (registers the system checks)

        logfilters.install()
