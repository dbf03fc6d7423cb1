"""System checks for the settings the pipeline's promises rest on."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register("syncers")
def check_celery_delivery(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    expected = {
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        "CELERY_TASK_SERIALIZER": "json",
        "CELERY_ACCEPT_CONTENT": ["json"],
    }
    for name, value in expected.items():
        if getattr(settings, name, None) != value:
            errors.append(
                Error(
                    f"{name} must be {value!r}: tasks are redelivered after a crash only then.",
                    id="syncers.E002",
                )
            )
    visibility = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}).get("visibility_timeout")
    limit = getattr(settings, "CELERY_TASK_TIME_LIMIT", None)
    if visibility is not None and (limit is None or limit >= visibility):
        errors.append(
            Error(
                f"CELERY_TASK_TIME_LIMIT ({limit}) must be below the broker's visibility_timeout "
                f"({visibility}); otherwise a long task is delivered again while it still runs.",
                hint="Lower CELERY_TASK_TIME_LIMIT or raise CELERY_VISIBILITY_TIMEOUT.",
                id="syncers.E001",
            )
        )
    if settings.SYNC_LEASE_TTL <= 3:
        errors.append(Error("SYNC_LEASE_TTL must be more than 3 seconds.", id="syncers.E003"))
    if settings.SYNC_IDLE_TRANSACTION_TIMEOUT < 1:
        errors.append(Error("SYNC_IDLE_TRANSACTION_TIMEOUT must be at least 1 second.", id="syncers.E004"))
    return errors


@register("syncers", Tags.security)
def check_metrics_token(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """/metrics names every client and connection with its state: not for anyone who asks."""
    if settings.SYNC_METRICS_ENABLED and not settings.SYNC_METRICS_TOKEN:
        return [
            Warning(
                "SYNC_METRICS_ENABLED is on without SYNC_METRICS_TOKEN: anyone who can reach /metrics "
                "reads every client's and connection's name and state.",
                hint="Set SYNC_METRICS_TOKEN (scrapers send 'Authorization: Bearer <token>'), or "
                "expose /metrics only on a private network.",
                id="syncers.W001",
            )
        ]
    return []
