"""Fetch: pages come from the handler one at a time. A reader thread fetches the next page
while the current one is being staged, so network waits overlap database commits; the queue
is bounded, so memory stays bounded however long the listing is."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

from django.db import connection

_DONE = object()

T = TypeVar("T")


def prefetched(pages: Iterator[T], depth: int = 2, limit: int | None = None) -> Iterator[T]:
    """Yield the handler's pages, reading up to `depth` ahead in a background thread, and no
    more than `limit` pages in all (a run told to stop early must not request beyond it).
    Errors raised while fetching re-raise here, in order, after the pages before them.
    `pages` may itself be a prefetched() stage (see UnchangedFilter.ahead)."""
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Queue `item` unless the consumer has stopped (then nobody would take it)."""
        while not stop.is_set():
            try:
                box.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for read_so_far, page in enumerate(pages, start=1):
                if not offer(page):
                    return
                if limit is not None and read_so_far >= limit:
                    break
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, which decides
            offer(exc)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:  # a generator reading ahead of its own (a chained stage) stops now
                close()
            connection.close()  # the thread's own connection, if a handler used one

    # The reader logs with the run's context (client, run ids), so it runs inside a copy of it.
    reader = threading.Thread(
        target=contextvars.copy_context().run, args=(read,), name="sync-page-reader", daemon=True
    )
    reader.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join(timeout=5)
