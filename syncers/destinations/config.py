"""A client's destination: parse and validate the operator's `destination` dict into a
Destination the loader uses. Every error names its place in the dict (`fields.price`,
`key`, `on_missing`), so the admin shows it at the field and sync_apply at the YAML path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from syncers.validators import DESTINATION, provides
from syncers.wording import listed

from .shapes import SCALAR, path_conflicts, wanted

ON_MISSING = ("keep", "soft", "delete")
DEFAULT_MAX_DELETE_FRACTION = 0.10
KNOWN_KEYS = frozenset(
    {
        *("model", "key", "fields", "on_missing", "soft_delete_field"),
        *("max_delete_fraction", "max_delete_rows", "hooks", "store_json"),
    }
)
HOOK_KINDS = ("before_write", "after_write")


@dataclass(frozen=True)
class FieldMap:
    """One model field and where its value is in the record."""

    name: str  # model field name
    path: str  # dotted path in the record
    field: models.Field
    lookup: str = ""  # FK or many-to-many: the target model's natural-key field
    column: str = ""

    @property
    def is_m2m(self) -> bool:
        return bool(self.field.many_to_many)

    @property
    def is_fk(self) -> bool:
        return bool(self.lookup) and not self.is_m2m

    @property
    def target(self) -> type[models.Model]:
        """A relation's target model (FK or many-to-many)."""
        return target_of(self.field)

    @property
    def lookup_field(self) -> models.Field:
        """The target's natural-key field (FK or many-to-many)."""
        return field_of(self.target, self.lookup)


@dataclass(frozen=True)
class Destination:
    model: type[models.Model]
    label: str  # "app_label.ModelName"
    key: tuple[str, ...]
    fields: tuple[FieldMap, ...]
    on_missing: str = "keep"
    soft_delete_field: str = ""
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION
    max_delete_rows: int | None = None
    hooks: dict[str, str] = field(default_factory=dict)
    store_json: bool = False

    @property
    def key_maps(self) -> tuple[FieldMap, ...]:
        return tuple(f for f in self.fields if f.name in self.key)

    @property
    def soft_field(self) -> models.Field | None:
        return field_of(self.model, self.soft_delete_field) if self.soft_delete_field else None


def field_of(model: type[models.Model], name: str) -> models.Field:
    """`model`'s forward field `name`: a destination maps forward fields only (read_destination
    refuses reverse relations), so anything else here is a bug."""
    f = model._meta.get_field(name)
    assert isinstance(f, models.Field), f"{model._meta.label}.{name} is a reverse relation"
    return f


def through_of(f: models.ManyToManyField) -> type[models.Model]:
    """A many-to-many field's link table model (resolved once the apps are loaded)."""
    through = f.remote_field.through
    assert isinstance(through, type), f"{f}: unresolved through model"
    return through


def target_of(f: models.Field) -> type[models.Model]:
    """The model a relation field points to (resolved once the apps are loaded)."""
    target = f.related_model
    assert isinstance(target, type), f"{f} is not a resolved relation"
    return target


def is_set(raw: Any) -> bool:
    """An empty destination (the default) means the generic records table only."""
    return bool(raw)


@provides(DESTINATION)
def parse_destination(raw: Any) -> Destination:
    """The Destination for `raw`; ValidationError listing every problem, each with its place."""
    if not isinstance(raw, Mapping):
        raise ValidationError("a destination is a mapping with model, key and fields")
    errors: list[str] = []
    if unknown := sorted(set(raw) - KNOWN_KEYS):
        errors.append(f"{listed('unknown key', unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}")
    model = _model(raw.get("model"), errors)
    if model is None:
        raise ValidationError(errors)
    label = model._meta.label
    fields = _fields(model, label, raw.get("fields"), errors)
    key = _key(model, label, raw.get("key"), {f.name for f in fields}, errors)
    on_missing, soft = _on_missing(model, label, raw, errors)
    fraction, max_rows = _guard(raw, errors)
    hooks = _hooks(raw.get("hooks"), errors)
    store_json = raw.get("store_json", False)
    if not isinstance(store_json, bool):
        errors.append("store_json: true or false")
    if errors:
        raise ValidationError(errors)
    return Destination(
        model=model,
        label=label,
        key=key,
        fields=fields,
        on_missing=on_missing,
        soft_delete_field=soft,
        max_delete_fraction=fraction,
        max_delete_rows=max_rows,
        hooks=hooks,
        store_json=bool(store_json),
    )


def _model(value: Any, errors: list[str]) -> type[models.Model] | None:
    if not isinstance(value, str) or value.count(".") != 1:
        errors.append("model: an installed model as 'app_label.ModelName', e.g. 'catalog.Product'")
        return None
    try:
        return apps.get_model(value)
    except LookupError:
        errors.append(f"model: no installed model '{value}'")
        return None


def _fields(model: type[models.Model], label: str, raw: Any, errors: list[str]) -> tuple[FieldMap, ...]:
    if not isinstance(raw, Mapping) or not raw:
        errors.append("fields: a mapping of model field -> dotted path in the record")
        return ()
    found = []
    for name, spec in raw.items():
        where = f"fields.{name}"
        try:
            f = model._meta.get_field(name)
        except FieldDoesNotExist:
            errors.append(f"{where}: {label} has no field '{name}'")
            continue
        if not isinstance(f, models.Field):  # a reverse relation (the checks below refused it too)
            errors.append(f"{where}: '{name}' is not a column this destination can write")
            continue
        if (
            isinstance(f, models.ManyToManyField)
            and not f.auto_created
            and not through_of(f)._meta.auto_created
        ):
            errors.append(
                f"{where}: '{name}' is a many-to-many with its own through model "
                f"({through_of(f)._meta.label}); only a plain many-to-many can be mapped"
            )
            continue
        if not f.many_to_many and (
            not getattr(f, "concrete", False) or f.one_to_many or (f.primary_key and f.auto_created)
        ):
            errors.append(f"{where}: '{name}' is not a column this destination can write")
            continue
        if f.auto_created and not f.concrete:
            errors.append(f"{where}: '{name}' is not a column this destination can write")
            continue
        lookup = ""
        if isinstance(spec, Mapping):
            if unknown := sorted(set(spec) - {"path", "lookup"}):
                errors.append(f"{where}: {listed('unknown key', unknown)}; known: lookup, path")
            path, lookup = spec.get("path"), spec.get("lookup", "")
        else:
            path = spec
        if not isinstance(path, str) or not path.strip("."):
            errors.append(f"{where}: a dotted path string into the record, e.g. 'pricing.amount'")
            continue
        if f.is_relation:
            if not isinstance(lookup, str) or not lookup:
                kind = "many-to-many field" if f.many_to_many else "foreign key"
                errors.append(f"{where}: a {kind} needs {{path: ..., lookup: <unique field of the target>}}")
                continue
            if not _lookup_ok(f, lookup, where, errors):
                continue
        elif lookup:
            errors.append(
                f"{where}: lookup is only for foreign keys and many-to-many fields; '{name}' is a {type(f).__name__}"
            )
            continue
        found.append(FieldMap(name=name, path=path, field=f, lookup=lookup, column=f.column or ""))
    errors += path_conflicts(found)
    return tuple(found)


def _lookup_ok(f: models.Field, lookup: str, where: str, errors: list[str]) -> bool:
    target = target_of(f)
    try:
        tf = target._meta.get_field(lookup)
    except FieldDoesNotExist:
        errors.append(f"{where}: lookup: {target._meta.label} has no field '{lookup}'")
        return False
    if not isinstance(tf, models.Field) or tf.is_relation or wanted(tf) != SCALAR:  # rels are relations
        errors.append(
            f"{where}: lookup: {target._meta.label}.{lookup} is a {type(tf).__name__}; "
            "a natural key is a single value (text, number, date, UUID)"
        )
        return False
    if not (tf.unique or _unique_together(target, (lookup,))):
        errors.append(f"{where}: lookup: {target._meta.label}.{lookup} is not unique")
        return False
    return True


def _unique_together(model: type[models.Model], names: tuple[str, ...]) -> bool:
    """A UniqueConstraint without condition on exactly these fields, or unique_together."""
    wanted = set(names)
    for c in model._meta.constraints:
        plain = isinstance(c, models.UniqueConstraint) and c.condition is None and not c.expressions
        if plain and set(c.fields) == wanted:  # type: ignore[attr-defined]  # plain: a UniqueConstraint
            return True
    return any(set(t) == wanted for t in model._meta.unique_together)


def _key(
    model: type[models.Model], label: str, raw: Any, mapped: set[str], errors: list[str]
) -> tuple[str, ...]:
    key = (raw,) if isinstance(raw, str) else raw
    if not isinstance(key, list | tuple) or not key or not all(isinstance(k, str) for k in key):
        errors.append("key: the model field (or list of fields) that identifies a record, e.g. [sku]")
        return ()
    key = tuple(key)
    for name in key:
        if name not in mapped:
            errors.append(f"key: '{name}' must be one of the mapped fields")
            return key
    for name in key:
        if wanted(field_of(model, name)) != SCALAR:
            kind = type(field_of(model, name)).__name__
            errors.append(f"key: '{name}' is a {kind}; a key is made of single-value fields")
            return key
    if len(key) == 1:
        f = field_of(model, key[0])
        if f.unique or _unique_together(model, key):
            return key
        errors.append(f"key: {label}.{key[0]} has no unique constraint (unique=True or a UniqueConstraint)")
    elif not _unique_together(model, key):
        errors.append(f"key: {label} has no UniqueConstraint on exactly ({', '.join(key)})")
    return key


def _on_missing(
    model: type[models.Model], label: str, raw: Mapping[str, Any], errors: list[str]
) -> tuple[str, str]:
    on_missing = raw.get("on_missing", "keep")
    soft = raw.get("soft_delete_field", "")
    if on_missing not in ON_MISSING:
        errors.append(f"on_missing: one of {', '.join(ON_MISSING)} (got {on_missing!r})")
        return "keep", ""
    if on_missing != "soft":
        if soft:
            errors.append("soft_delete_field: only with on_missing: soft")
        return on_missing, ""
    if not isinstance(soft, str) or not soft:
        errors.append("soft_delete_field: on_missing: soft needs a boolean or nullable date/time field")
        return on_missing, ""
    try:
        f = model._meta.get_field(soft)
    except FieldDoesNotExist:
        errors.append(f"soft_delete_field: {label} has no field '{soft}'")
        return on_missing, soft
    if not (isinstance(f, models.BooleanField) or (isinstance(f, models.DateTimeField) and f.null)):
        errors.append(f"soft_delete_field: {label}.{soft} must be a BooleanField or a nullable DateTimeField")
    if soft in (raw.get("fields") or {}):
        errors.append(f"soft_delete_field: '{soft}' is also mapped under fields; the sync sets it itself")
    return on_missing, soft


def _guard(raw: Mapping[str, Any], errors: list[str]) -> tuple[float, int | None]:
    fraction = raw.get("max_delete_fraction", DEFAULT_MAX_DELETE_FRACTION)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
        errors.append(f"max_delete_fraction: a number from 0 to 1, e.g. 0.10 (got {fraction!r})")
        fraction = DEFAULT_MAX_DELETE_FRACTION
    rows = raw.get("max_delete_rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
        errors.append(f"max_delete_rows: a whole number >= 0, or leave it out (got {rows!r})")
        rows = None
    return float(fraction), rows


def _hooks(raw: Any, errors: list[str]) -> dict[str, str]:
    from .hooks import registered_hooks

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        errors.append("hooks: a mapping with before_write and/or after_write")
        return {}
    hooks = {}
    for kind, name in raw.items():
        if kind not in HOOK_KINDS:
            errors.append(f"hooks.{kind}: unknown hook kind; known: {', '.join(HOOK_KINDS)}")
            continue
        known = registered_hooks(kind)
        if name not in known:
            listed = ", ".join(sorted(known)) or "none registered"
            errors.append(f"hooks.{kind}: no registered {kind} hook '{name}' (registered: {listed})")
            continue
        hooks[kind] = name
    return hooks
