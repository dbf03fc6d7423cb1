"""cProfile inside each worker pool process, for `python -m bench --profile`: the worker
imports this module (`--include bench.profile_worker`), every pool process profiles itself
from its start and writes var/profile/worker-<pid>.prof after each task, so the stats are on
disk whenever the bench stops the worker."""

from __future__ import annotations

import cProfile
import os
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, worker_process_init

OUT = Path(__file__).resolve().parent.parent / "var" / "profile"
_profiler: cProfile.Profile | None = None


@worker_process_init.connect
def _start(**_: Any) -> None:
    global _profiler
    OUT.mkdir(parents=True, exist_ok=True)
    _profiler = cProfile.Profile()
    _profiler.enable()


@task_postrun.connect
def _dump(**_: Any) -> None:
    if _profiler is not None:
        _profiler.disable()
        _profiler.dump_stats(OUT / f"worker-{os.getpid()}.prof")
        _profiler.enable()


def report(limit: int = 30) -> str:
    """The pool processes' profiles merged: top functions by own time and by cumulative time."""
    import io
    import pstats

    files = sorted(str(p) for p in OUT.glob("worker-*.prof"))
    if not files:
        return "no profiles written"
    out = io.StringIO()
    stats = pstats.Stats(*files, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()
