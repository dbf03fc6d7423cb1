"""Sync handlers: classes that know how to read one kind of source page by page.

Built-in handlers register exactly the way a third-party app does: a `sync_handlers` module
in any installed app, found by autodiscovery, calls `register`. So the registry is exercised
on every run, not only by plugins.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ValidationError
from django.utils.module_loading import autodiscover_modules

from syncers.handler_options import OptionSchema, clean_options

if TYPE_CHECKING:
    from gateway.session import GatewaySession


@dataclass(frozen=True)
class Page:
    """One fetched page: its records and the checkpoint that is true once it is stored."""

    number: int
    records: list[Any]
    checkpoint: dict[str, Any]
    is_last: bool
    note: str = ""  # what the run should tell the operator (e.g. the listing changed meanwhile)
    total: int | None = None  # records the whole listing holds, when the API reports it


@dataclass
class FetchContext:
    """What a handler may use while fetching: validated config, the gateway session and the
    checkpoint to resume from (None means from the start)."""

    config: Mapping[str, Any]
    session: GatewaySession
    checkpoint: Mapping[str, Any] | None
    extras: dict[str, Any] = field(default_factory=dict)


class SyncHandler:
    """Base class. Subclasses set `name`/`label`, declare their `options` and implement
    `pages` (and `clean_config` for checks the option schema cannot express)."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    default_config: ClassVar[dict[str, Any]] = {}
    # Declared once: validated here, rendered as the admin's config form, listed in docs.
    # None: the handler takes any JSON object (edited as JSON in the admin).
    options: ClassVar[OptionSchema | None] = None

    def clean_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The full config the run uses (defaults filled in); raise ValidationError at the
        field, each message naming its option."""
        if self.options is None:
            return dict(config)
        cfg, errors = clean_options(self.options, config, self.default_config)
        if errors:
            raise ValidationError(errors)
        return cfg

    def pages(self, ctx: FetchContext) -> Iterator[Page]:
        raise NotImplementedError

    def reserved_params(self, config: Mapping[str, Any]) -> set[str]:
        """Query parameters the handler sets itself (paging, cursors): a schedule's extra
        params may not name them, they would be overwritten or break the paging."""
        return set()

    def checkpoint_after_listing(
        self, last: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Where the next run starts once a run has read the whole listing. None (the
        default) means from the start; an incremental source returns its cursor, e.g.
        {"updated_since": ...}, committed together with the run's last page."""
        return None

    def external_id(self, record: Any, config: Mapping[str, Any]) -> str | None:
        """The record's key in the source, or None when it has none (a failed record)."""
        if not isinstance(record, dict):
            return None
        value = record.get(config.get("id_field", "id"))
        if value is None or isinstance(value, (dict, list, bool)) or value == "":
            return None
        return str(value)

    def external_ids(self, records: Sequence[Any], config: Mapping[str, Any]) -> list[str | None]:
        """external_id of each record, in order. The default rule runs inline here: a method
        call per record cost about a millisecond per 1,000-record page of an unchanged re-sync."""
        if type(self).external_id is not SyncHandler.external_id:
            return [self.external_id(record, config) for record in records]
        id_field = config.get("id_field", "id")
        out: list[str | None] = []
        append = out.append
        for record in records:
            value = record.get(id_field) if isinstance(record, dict) else None
            if type(value) is str:
                append(value or None)
            elif type(value) is int:  # not bool (a subclass)
                append(str(value))
            elif value is None or isinstance(value, (dict, list, bool)) or value == "":
                append(None)
            else:
                append(str(value))
        return out


_handlers: dict[str, SyncHandler] = {}


def register(handler_cls: type[SyncHandler]) -> type[SyncHandler]:
    """Class decorator: make a handler available to sync clients by its `name`."""
    if not handler_cls.name:
        raise ValueError(f"{handler_cls.__name__} has no name")
    existing = _handlers.get(handler_cls.name)
    if existing is not None and type(existing) is not handler_cls:
        raise ValueError(f"sync handler name {handler_cls.name!r} is already taken")
    _handlers[handler_cls.name] = handler_cls()
    return handler_cls


def get_handler(name: str) -> SyncHandler:
    try:
        return _handlers[name]
    except KeyError:
        raise ValidationError(f"Unknown sync handler {name!r}.") from None


def all_handlers() -> list[SyncHandler]:
    return sorted(_handlers.values(), key=lambda h: h.name)


def handler_choices() -> list[tuple[str, str]]:
    return sorted((h.name, h.label or h.name) for h in _handlers.values())


def autodiscover() -> None:
    autodiscover_modules("sync_handlers")
