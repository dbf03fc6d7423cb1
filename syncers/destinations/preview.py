"""What "Test fetch" shows for a destination client: the first page as model rows (typed
values) and, per row, the errors the load would raise. Reads only (FK lookups); writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models

from .config import Destination
from .load import keyed_items, type_rows


@dataclass(frozen=True)
class PreviewRow:
    key: str
    values: dict[str, Any]  # model field name -> typed value (FK, many-to-many: natural keys)
    error: str


def preview_rows(dest: Destination, records: list[Any]) -> list[PreviewRow]:
    items, failures, _ = keyed_items(records, dest, None)
    rows, typed_failures = type_rows(items, dest)
    out = [PreviewRow(f.external_id or "(none)", {}, f.reason) for f in failures]
    by_key = {f.external_id: f.reason for f in typed_failures}
    typed = {r.item.key: r.values for r in rows}
    for item in items:
        if item.key in by_key:
            out.append(PreviewRow(item.key, dict(item.raw), by_key[item.key]))
            continue
        values = typed[item.key]
        shown = {
            fm.name: item.raw[fm.name] if fm.is_fk or fm.is_m2m else values[fm.field.attname]
            for fm in dest.fields
        }
        out.append(PreviewRow(item.key, shown, ""))
    return out


def model_choices() -> list[str]:
    """Models a destination may name: those of the project's own apps (not Django's or ours)."""
    skip = {"admin", "auth", "contenttypes", "sessions", "django_celery_beat", "syncers", "gateway"}
    return sorted(m._meta.label for m in apps.get_models() if m._meta.app_label not in skip)


def field_choices(label: str) -> list[tuple[str, str]]:
    """(field name, description) of a model's writable fields, unique ones marked."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return []
    found = []
    for f in [*model._meta.concrete_fields, *model._meta.many_to_many]:
        if f.primary_key and f.auto_created:
            continue
        kind = type(f).__name__
        if isinstance(f, models.ForeignKey | models.ManyToManyField):
            kind += f" -> {f.related_model._meta.label} (lookup by a unique field)"
        notes = [n for n, on in (("unique", f.unique), ("null", f.null)) if on]
        found.append((f.name, kind + (f" [{', '.join(notes)}]" if notes else "")))
    return found
