"""Per-batch hooks of a destination, registered in code and named in the client's
destination (`hooks: {before_write: "catalog.sync:prepare"}`). A name is looked up here and
nowhere else: operator input never becomes an import path.

Register from a `sync_handlers` module of your app (autodiscovered like handlers):

    from syncers.destinations.hooks import after_write

    @after_write
    def reindex(ctx, result): ...

The name is "<module>:<function>", e.g. "catalog.sync:refresh_category_counts".

- before_write(ctx, rows) -> rows: `rows` are the typed rows about to be written (dicts of
  model field -> value, FKs as the target's primary key under "<field>_id"); return the rows
  to write (each the dict given, changed or not, or a copy of it with the same natural key).
  Drop a row by leaving it out; reject it with `ctx.reject(row, reason)`: it becomes a failed
  record with that reason.
- after_write(ctx, result): runs inside the batch's transaction after the write; `result`
  holds the created, updated and deleted keys. Raising rolls the batch back, and the batch is
  retried like any failed batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
_hooks: dict[str, dict[str, Callable[..., Any]]] = {"before_write": {}, "after_write": {}}


@dataclass
class HookContext:
    """What a hook may use: the client's id and name, the run and batch, the model."""

    client_id: int
    client_name: str
    run_id: int | None
    batch_id: int | None
    model: type
    rejected: list[tuple[Row, str]] = field(default_factory=list)

    def reject(self, row: Row, reason: str) -> None:
        """Keep `row` out of the write; its record becomes a failed record with `reason`."""
        self.rejected.append((row, reason))


@dataclass
class WriteResult:
    created: list[str] = field(default_factory=list)  # natural keys (see destinations.load.key_text)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def hook_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def _register(kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    name = hook_name(fn)
    existing = _hooks[kind].get(name)
    if existing is not None and existing is not fn:
        raise ValueError(f"{kind} hook {name!r} is already registered")
    _hooks[kind][name] = fn
    return fn


def before_write(fn: Callable[[HookContext, list[Row]], list[Row]]) -> Callable[..., Any]:
    """Decorator: register a before_write hook under "<module>:<function>"."""
    return _register("before_write", fn)


def after_write(fn: Callable[[HookContext, WriteResult], None]) -> Callable[..., Any]:
    """Decorator: register an after_write hook under "<module>:<function>"."""
    return _register("after_write", fn)


def registered_hooks(kind: str) -> dict[str, Callable[..., Any]]:
    return dict(_hooks.get(kind, {}))


def get_hook(kind: str, name: str) -> Callable[..., Any]:
    try:
        return _hooks[kind][name]
    except KeyError:
        raise LookupError(f"no registered {kind} hook {name!r}") from None
