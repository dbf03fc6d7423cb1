"""Wrong-kind paths: a mapped path whose value is of the wrong kind for its model field (an
object or a list into a text or number column, a single value into a many-to-many field).

Where the mapping alone shows it, config refuses it (path_conflicts: one mapped path reads
inside another, so the outer one holds an object or a list). Where it takes data, the load's
per-record reason and "Test fetch" say what the path holds and what to map instead
(wrong_kind, wrong_kind_summary)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from django.db import models


class MappedField(Protocol):
    """What these checks read of a mapped field (config.FieldMap): shapes sits below config
    and convert, which import it, so it names the fields it reads instead of importing them."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def field(self) -> models.Field: ...

    @property
    def lookup(self) -> str: ...

    @property
    def lookup_field(self) -> models.Field: ...


SCALAR, LIST, ANY = "a single value", "a list", "any value"

# The kind of value each model field takes, as the reasons and "Test fetch" name it.
_KIND = (
    (models.BooleanField, "boolean"),
    (models.DecimalField, "decimal"),
    (models.FloatField, "number"),
    (models.IntegerField, "integer"),
    (models.DateTimeField, "date/time"),
    (models.DateField, "date"),
    (models.TimeField, "time"),
    (models.UUIDField, "UUID"),
    (models.JSONField, "JSON value"),
    (models.CharField, "text"),
    (models.TextField, "text"),
)


def kind_of(f: models.Field) -> str:
    return next((kind for cls, kind in _KIND if isinstance(f, cls)), type(f).__name__)


def wanted(f: models.Field) -> str:
    """What the value at a field's path must be: a list for a many-to-many field, anything
    for a JSONField, a single value (text, number, boolean, date) otherwise."""
    if f.many_to_many:
        return LIST
    if isinstance(f, models.JSONField):
        return ANY
    return SCALAR


def path_conflicts(fields: Sequence[MappedField]) -> list[str]:
    """Errors, each at its `fields.<name>`, for paths the mapping itself shows to hold the
    wrong kind: a path another mapped path reads inside (so an object, or a list when the
    next part is a number) mapped into a single-value field, or into a many-to-many field
    when read inside by name."""
    errors: list[str] = []
    for outer in fields:
        need = wanted(outer.field)
        if need == ANY:
            continue
        prefix = outer.path.strip(".") + "."
        for inner in fields:
            if inner is outer or not inner.path.strip(".").startswith(prefix):
                continue
            step = inner.path.strip(".")[len(prefix) :].split(".")[0]
            holds = "a list or an object" if step.isdigit() else "an object"
            if need == LIST and step.isdigit():
                continue  # tags and tags.0: a list, as a many-to-many field wants
            errors.append(
                f"fields.{outer.name}: '{outer.path}' holds {holds} (fields.{inner.name} reads "
                f"'{inner.path}' inside it), but {outer.name} ({type(outer.field).__name__}) "
                f"takes {need}"
            )
            break
    return errors


def holds(raw: Any) -> str:
    """What a JSON value is, in words."""
    if isinstance(raw, dict):
        return "an object" if raw else "an empty object"
    if isinstance(raw, list):
        return "a list" if raw else "an empty list"
    if raw is None:
        return "null"
    text = json.dumps(raw, ensure_ascii=False, default=str)  # a single value: shown as itself
    return text if len(text) <= 40 else text[:37] + "..."


def wrong_kind(name: str, path: str, raw: Any, kind: str, *, many: bool = False) -> str:
    """The reason for a value of the wrong kind at `path`, or "" when the kind is right:
    what the path holds, what the field takes, and where to point instead. `kind`: what
    one value must be (e.g. "decimal"); `many`: the field takes a list of them."""
    if many:
        if raw is None or isinstance(raw, list):
            return ""
        return f"{name}: '{path}' holds {holds(raw)}, not a list of {kind} values"
    if isinstance(raw, dict):
        hint = f"; map a path inside it, e.g. '{path}.{next(iter(raw))}'" if raw else ""
        return f"{name}: '{path}' holds {holds(raw)}, not a {kind} value{hint}"
    if isinstance(raw, list):
        hint = f"; map a path to one element, e.g. '{path}.0'" if raw else ""
        return f"{name}: '{path}' holds {holds(raw)}, not a {kind} value{hint}"
    return ""


def wrong_kind_summary(fields: Iterable[MappedField], records: Sequence[Any]) -> list[str]:
    """For "Test fetch": per mapped field whose path holds the wrong kind in some of the
    records, one line saying in how many, what it holds and what to map instead."""
    from syncers.handlers.mapping import value_at

    lines = []
    objects = [r for r in records if isinstance(r, dict)]
    for fm in fields:
        need = wanted(fm.field)
        if need == ANY:
            continue
        target = fm.lookup_field if fm.lookup else fm.field
        many = need == LIST
        kind = fm.lookup if many else kind_of(target)
        found = [
            m for r in objects if (m := wrong_kind(fm.name, fm.path, value_at(r, fm.path), kind, many=many))
        ]
        if found:
            first = found[0].split(": ", 1)[1]
            lines.append(f"fields.{fm.name}: in {len(found)} of {len(objects)} records {first}")
    return lines
