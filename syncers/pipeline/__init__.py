"""The sync pipeline: lease → fetch → stage/chunk → load → log, one step per module.

`run_sync(run_id)` and `load_and_finalise(batch_id)` are the entry points; `reconcile()`
re-sends what the broker may have lost."""

from .enqueue import enqueue_run
from .inline import run_inline
from .reconcile import reconcile
from .run import load_and_finalise, run_sync

__all__ = ["enqueue_run", "load_and_finalise", "reconcile", "run_inline", "run_sync"]
