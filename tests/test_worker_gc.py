"""Worker processes move their start-up objects out of the garbage collector's reach (see
xcoresite.celery.freeze_long_lived_objects): in the main process before the pool forks, and
in each pool process as it starts."""

import gc

from celery.signals import worker_init, worker_process_init

from xcoresite import celery as celery_app


def _receivers(signal) -> list:
    return [ref() for _, ref in signal.receivers]


def test_worker_and_pool_processes_freeze_their_start_up_objects() -> None:
    assert celery_app.worker_checks in _receivers(worker_init)
    assert celery_app.freeze_in_pool_process in _receivers(worker_process_init)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        celery_app.freeze_in_pool_process()
        # Django's app registry, the models and the settings are now out of every collection.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
