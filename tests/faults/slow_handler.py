"""A test-only sync handler whose *load* is slow: the fake API's products, but in processes the
fault harness starts (FAULT_MARKER_DIR set) every record's id lookup, which the load step does
inside the batch's transaction, sleeps `record_delay` seconds. Workers import it with
`--include tests.faults.slow_handler`; it registers the way a plugin's handler does.

Each slowed lookup appends "<unix time> <record id>" to FAULT_MARKER_DIR/load-<pid>.log, so a
test can see which pid is inside which batch, and when. `slow_rows` does the same for a
destination client, as its before_write hook."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from syncers.destinations.hooks import HookContext, Row, before_write
from syncers.handlers.demo import DemoProductsHandler
from syncers.registry import register

NAME = "fault_slow_products"


@register
class SlowLoadProductsHandler(DemoProductsHandler):
    name = NAME
    label = "Fault tests: products with a slow load"

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        options = dict(config)
        delay = options.pop("record_delay", 0.0)
        return {**super().clean_config(options), "record_delay": delay}

    def external_id(self, record: Any, config: Mapping[str, Any]) -> str | None:
        delay = float(config.get("record_delay") or 0)
        folder = os.environ.get("FAULT_MARKER_DIR")
        if delay and folder:
            _mark(folder, record)
            time.sleep(delay)
        return super().external_id(record, config)


def _mark(folder: str, record: Any) -> None:
    record_id = record.get("id") if isinstance(record, dict) else None
    with open(os.path.join(folder, f"load-{os.getpid()}.log"), "a") as out:
        out.write(f"{time.time():.3f} {record_id}\n")


@before_write
def slow_rows(ctx: HookContext, rows: list[Row]) -> list[Row]:
    """A slow destination load: in fault-harness processes each row about to be written
    sleeps FAULT_HOOK_DELAY seconds (default 0.08) inside the batch's transaction, marked
    like the slow handler's lookups ("<time> <sku number>")."""
    folder = os.environ.get("FAULT_MARKER_DIR")
    if folder:
        delay = float(os.environ.get("FAULT_HOOK_DELAY", "0.08"))
        for row in rows:
            _mark(folder, {"id": int(row["sku"].split("-")[1])})
            time.sleep(delay)
    return rows
