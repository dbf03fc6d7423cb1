"""System checks refuse settings that would break at-least-once delivery."""

from django.test import override_settings

from syncers.ops.checks import check_celery_delivery


def ids() -> set[str]:
    return {e.id for e in check_celery_delivery()}


def test_the_shipped_settings_pass() -> None:
    assert ids() == set()


def test_a_time_limit_above_the_visibility_timeout_is_refused() -> None:
    with override_settings(
        CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 600}, CELERY_TASK_TIME_LIMIT=900
    ):
        assert "syncers.E001" in ids()


def test_early_acks_are_refused() -> None:
    with override_settings(CELERY_TASK_ACKS_LATE=False):
        assert "syncers.E002" in ids()
