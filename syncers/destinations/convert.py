"""Typing: each mapped value through its model field's own to_python, null/blank/choices
checks and validators. One converter closure per field per batch (a per-value look at the
field's kind cost a quarter of the load); foreign keys resolved by natural key with one
query per batch per FK field.

A value that fails makes its record a failed record whose reason names the field:
`price: "NaN" is not a valid decimal`, `category: category 'x9' not found`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models

from .config import FieldMap
from .shapes import holds, kind_of, wrong_kind

Converter = Callable[[Any], Any]


class ValueError_(Exception):
    """A value a field refuses; str() is the failed record's reason."""


def shown(raw: Any) -> str:
    text = json.dumps(raw, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def converter(f: models.Field, name: str, path: str) -> Converter:
    """The function that turns a raw JSON value into the value `f` stores, or raises
    ValueError_ with the reason. Built once per field per batch."""
    kind = kind_of(f)
    is_text = isinstance(f, models.CharField | models.TextField) and not f.choices
    is_json = isinstance(f, models.JSONField)
    is_datetime = isinstance(f, models.DateTimeField)
    max_length = getattr(f, "max_length", None)
    null, blank = f.null, f.blank
    own_validate = type(f).validate is not models.Field.validate or bool(f.choices)
    own_run_validators = type(f).run_validators is not models.Field.run_validators
    validators = list(f.validators)
    empty = list(f.empty_values)

    def missing() -> Any:
        if null:
            return None
        raise ValueError_(f"{name}: required, but the record has no value at '{path}'")

    def text(raw: Any) -> Any:
        if raw is None:
            return missing()
        if isinstance(raw, str):
            value = raw
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            value = str(raw)
        else:
            raise ValueError_(
                wrong_kind(name, path, raw, kind) or f"{name}: {shown(raw)} is not a valid {kind}"
            )
        if not value and not blank:
            raise ValueError_(f"{name}: may not be empty")
        if max_length is not None and len(value) > max_length:
            raise ValueError_(f"{name}: {len(value)} characters, over max_length {max_length}")
        return value

    def general(raw: Any) -> Any:
        if raw is None:
            return missing()
        if not is_json and isinstance(raw, dict | list):
            raise ValueError_(wrong_kind(name, path, raw, kind))
        try:
            value = f.to_python(raw)
        except ValidationError:
            raise ValueError_(f"{name}: {shown(raw)} is not a valid {kind}") from None
        if is_datetime and value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # naive timestamps from an API read as UTC
        try:
            # Only what Field.validate would check for this value (choices, null, blank),
            # and the validators without Field.run_validators's loop set-up: a third of
            # the typing's time. A failure asks Django again, for its own wording.
            if own_validate or value is None or value in empty:
                f.validate(value, None)
            if own_run_validators:
                f.run_validators(value)
            elif validators and value not in empty:
                try:
                    for validator in validators:
                        validator(value)
                except ValidationError:
                    f.run_validators(value)
        except ValidationError as exc:
            raise ValueError_(f"{name}: {' '.join(exc.messages)}") from None
        return value

    return text if is_text else general


def fk_value_converter(fm: FieldMap) -> Converter:
    """For a foreign key: the natural-key value typed by the target's lookup field."""
    target = fm.lookup_field
    inner = converter(target, fm.name, fm.path)
    null = fm.field.null

    def convert(raw: Any) -> Any:
        if raw is None:
            if null:
                return None
            raise ValueError_(f"{fm.name}: required, but the record has no value at '{fm.path}'")
        return inner(raw)

    return convert


def m2m_value_converter(fm: FieldMap) -> Converter:
    """For a many-to-many field: the record's list of natural keys, each typed by the
    target's lookup field, duplicates dropped (order kept). Anything but a list is refused;
    a missing value is no links when the field may be blank."""
    target = fm.lookup_field
    inner = converter(target, fm.name, fm.path)
    blank = fm.field.blank

    def convert(raw: Any) -> list[Any]:
        if raw is None:
            if blank:
                return []
            raise ValueError_(f"{fm.name}: required, but the record has no list at '{fm.path}'")
        if not isinstance(raw, list):
            raise ValueError_(wrong_kind(fm.name, fm.path, raw, fm.lookup, many=True))
        keys = []
        for value in raw:
            if value is None or isinstance(value, dict | list):
                raise ValueError_(
                    f"{fm.name}: the list at '{fm.path}' holds {holds(value)}, not only {fm.lookup} values"
                )
            keys.append(inner(value))
        return list(dict.fromkeys(keys))

    return convert


def resolve_fk(fm: FieldMap, values: Iterable[Any]) -> dict[Any, Any]:
    """{natural key: primary key} of the targets that exist: one query for the batch."""
    wanted = {v for v in values if v is not None}
    if not wanted:
        return {}
    target = fm.target
    # usually the pk; a many-to-many's through rows always point at the target's pk
    to_field = (
        target._meta.pk.attname
        if fm.is_m2m
        else cast("models.ForeignKey[Any, Any]", fm.field).target_field.attname
    )
    return dict(
        target._default_manager.filter(**{f"{fm.lookup}__in": wanted}).values_list(fm.lookup, to_field)
    )


def fk_missing(fm: FieldMap, value: Any) -> str:
    """Also for one missing key of a many-to-many field."""
    return f"{fm.name}: {fm.target._meta.verbose_name} {value!r} not found"
