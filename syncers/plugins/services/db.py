"""The db service: rows of tables opened to plugins (registry.register_table), each call
checked against `db.<table>` (read or write). Lookups may name only the table's own
columns, so a join cannot reach a table the plugin was not granted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from django.db import models, transaction
from django.db.models import F

from syncers.plugins.errors import PluginError
from syncers.plugins.grants import require
from syncers.plugins.registry import table_model
from syncers.wording import listed


class DbService:
    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def table(self, name: str) -> Table:
        return Table(self.plugin, name, table_model(name))

    def atomic(self) -> AbstractContextManager[Any]:
        """A transaction: the plugin's writes inside commit together (or not at all)."""
        return transaction.atomic()

    def on_commit(self, fn: Callable[[], Any]) -> None:
        """Run `fn` once the current transaction has committed (at once outside one). An
        error in `fn` is logged, not raised: the transaction has committed already."""
        transaction.on_commit(fn, robust=True)


class Table:
    def __init__(self, plugin: str, name: str, model: type[models.Model]) -> None:
        self.plugin, self.name, self.model = plugin, name, model
        self._columns = {f.attname: f for f in model._meta.concrete_fields}
        self._columns.update({f.name: f for f in model._meta.concrete_fields if not f.is_relation})

    def _check(self, action: str) -> None:
        require(self.plugin, f"db.{self.name}", action)

    def _where(self, lookups: Mapping[str, Any]) -> dict[str, Any]:
        for key in lookups:
            column, *rest = key.split("__")
            column = "pk" if column == "pk" else column
            field = self.model._meta.pk if column == "pk" else self._columns.get(column)
            if field is None or len(rest) > 1 or (rest and field.get_lookup(rest[0]) is None):
                raise PluginError(f"{self.name}: {key!r} is not a column (or column__lookup) of this table")
        return dict(lookups)

    def _values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(values) - set(self._columns)
        if unknown:
            raise PluginError(f"{self.name}: {listed('no column', sorted(unknown))}")
        return dict(values)

    def _manager(self) -> models.Manager[Any]:
        # A plugin's model is any Model subclass; its `objects` manager is the one plugins
        # query (Model itself declares none).
        return self.model.objects  # type: ignore[attr-defined]

    def _rows(self, qs: models.QuerySet[Any]) -> list[dict[str, Any]]:
        return list(qs.values(*(f.attname for f in self.model._meta.concrete_fields)))

    # --- reads --------------------------------------------------------------------------

    def get(self, **lookups: Any) -> dict[str, Any] | None:
        self._check("read")
        rows = self._rows(self._manager().filter(**self._where(lookups))[:2])
        if len(rows) > 1:
            raise PluginError(f"{self.name}: more than one row matches {lookups}")
        return rows[0] if rows else None

    def filter(
        self, *, order_by: Sequence[str] = (), limit: int | None = None, **lookups: Any
    ) -> list[dict[str, Any]]:
        self._check("read")
        self._where({o.lstrip("-"): None for o in order_by})
        qs = self._manager().filter(**self._where(lookups)).order_by(*order_by)
        return self._rows(qs[:limit] if limit is not None else qs)

    def count(self, **lookups: Any) -> int:
        self._check("read")
        return self._manager().filter(**self._where(lookups)).count()

    # --- writes -------------------------------------------------------------------------

    def insert(self, **values: Any) -> int:
        self._check("write")
        return self._manager().create(**self._values(values)).pk

    def upsert(self, rows: Iterable[Mapping[str, Any]], *, key: Sequence[str], update: Sequence[str]) -> int:
        """Insert rows, or update the `update` columns of rows whose `key` columns exist."""
        self._check("write")
        objs = [self.model(**self._values(r)) for r in rows]
        self._values(dict.fromkeys([*key, *update]))
        self._manager().bulk_create(
            objs, update_conflicts=True, unique_fields=list(key), update_fields=list(update)
        )
        return len(objs)

    def update(self, where: Mapping[str, Any], **values: Any) -> int:
        """Set columns on matching rows; returns how many matched (a compare-and-set)."""
        self._check("write")
        return self._manager().filter(**self._where(where)).update(**self._values(values))

    def increment(self, where: Mapping[str, Any], **deltas: int) -> int:
        """Add to counters in the database (`col = col + n`), safe with concurrent writers."""
        self._check("write")
        self._values(deltas)
        return (
            self._manager()
            .filter(**self._where(where))
            .update(**{col: F(col) + int(n) for col, n in deltas.items()})
        )

    def delete(self, **lookups: Any) -> int:
        self._check("write")
        if not lookups:
            raise PluginError(f"{self.name}: delete needs at least one lookup")
        return self._manager().filter(**self._where(lookups)).delete()[0]
