"""Every key `sync_apply` accepts, section by section, as data: the reference page
(docs/gen/yaml_keys.py) renders it, and tests/test_docs_site.py compares it with the keys the
parser's `refuse_unknown` calls accept, so neither can change without the other.

A key that sets a model field names it: its type, default and meaning are read from the field
(help_text), so the admin and the file are described by the same words."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from django.db import models

from gateway.models import Connection
from syncers.models import NotificationRoute, SyncClient, SyncSchedule

from .clients import BOUNDS, CLIENT_FIELDS, CONNECTION_FIELDS, CONTEXT


@dataclass(frozen=True)
class Key:
    name: str
    meaning: str = ""  # empty: the model field's help_text
    type: str = ""  # empty: from the model field
    default: str = ""  # empty: the model field's default ("required" when there is none)
    field: str = ""  # the model field the key sets; empty: the key's own name, if a field


@dataclass(frozen=True)
class Section:
    path: str  # where in the file, e.g. "clients[].schedules[]"
    about: str
    model: type[models.Model] | None
    keys: tuple[Key, ...]


SECTIONS: tuple[Section, ...] = (
    Section(
        "connections[]",
        "Gateway connections, matched by name. A secret is never written in the file.",
        Connection,
        (
            Key("name", default="required"),
            Key(
                "secret_env",
                "Name of the environment variable holding the token, password, API key or client "
                "secret; `sync_apply` fails if it is not set.",
                type="string",
                default="none (no secret)",
            ),
            *(Key(name) for name in CONNECTION_FIELDS),
        ),
    ),
    Section(
        "clients[]",
        "Sync clients, matched by name; applied after the connections.",
        SyncClient,
        (
            Key("name", default="required"),
            Key(
                "connection",
                "Name of a connection declared in the file or already in the database.",
                type="string",
                default="required",
            ),
            Key(
                "schedules",
                "When it runs: exactly the listed schedules (see `clients[].schedules[]`); "
                "absent or empty removes them all.",
                type="list of mappings",
                default="none",
            ),
            *(Key(name) for name in CLIENT_FIELDS),
        ),
    ),
    Section(
        "clients[].schedules[]",
        "One schedule: exactly one of `cron`, `every` or `at` says when.",
        SyncSchedule,
        (
            Key("cron", default="none"),
            Key("timezone", "IANA time zone the cron expression is read in (with `cron`)."),
            Key("every", "Interval length, with `period`.", default="none"),
            Key("period", "Unit of the interval (with `every`)."),
            Key(
                "at",
                "Date and time of a one-shot run: ISO 8601 with a UTC offset.",
                field="run_at",
                default="none",
            ),
            Key("enabled"),
            *(Key(name) for name in (*BOUNDS, *CONTEXT)),
        ),
    ),
    Section(
        "notifications[]",
        "Notification routes: when the section is present, exactly the listed ones. Exactly one of "
        "`email`, `webhook` or `webhook_env` says where a route goes.",
        NotificationRoute,
        (
            Key("email", "An e-mail address.", type="string", default="none"),
            Key("webhook", "A webhook URL.", type="string", default="none"),
            Key(
                "webhook_env",
                "Name of an environment variable holding the webhook URL (for URLs with a token); "
                "read when sending.",
                field="target_env",
                default="none",
            ),
            Key("level", "Lowest level the route gets.", field="min_level"),
            Key("client", "Name of a client; absent: every client.", type="string", default="every client"),
            Key("enabled", "Disabled routes send nothing."),
        ),
    ),
    Section(
        "plugins[]",
        "Installed plugins, matched by name; plugins the file does not name are left as they are.",
        None,
        (
            Key("name", "The plugin's name.", type="string", default="required"),
            Key("enabled", "Enable or disable the plugin.", type="boolean", default="unchanged"),
            Key(
                "config", "The plugin's config, validated by the plugin.", type="mapping", default="unchanged"
            ),
            Key(
                "permissions",
                "Exactly the decided permissions (see `plugins[].permissions[]`); a requested one the "
                "file does not list goes back to requested, one added by hand is removed.",
                type="list of mappings",
                default="unchanged",
            ),
        ),
    ),
    Section(
        "plugins[].permissions[]",
        "One decided permission.",
        None,
        (
            Key(
                "resource",
                "What the plugin may touch, e.g. `service:scheduler`.",
                type="string",
                default="required",
            ),
            Key("actions", "What it may do there, e.g. `write`.", type="string", default="required"),
            Key("state", "`granted` or `refused`.", type="string", default="granted"),
        ),
    ),
    Section(
        "jobs[]",
        "Static jobs, matched by id: each runs a callable registered with `@sync_job` in an app's "
        "`sync_jobs` module on a trigger; with `--prune`, jobs the file does not name are deleted.",
        None,
        (
            Key("id", "The job's id (letters, digits, `.`, `_`, `-`).", type="string", default="required"),
            Key(
                "func",
                "Name of a registered job callable (never an import path).",
                type="string",
                default="required",
            ),
            Key("trigger", "`interval`, `cron` or `date`.", type="string", default="required"),
            Key(
                "kwargs",
                "Arguments passed to the callable (JSON values, no secrets).",
                type="mapping",
                default="empty",
            ),
            Key("enabled", "Disabled jobs do not fire.", type="boolean", default="`true`"),
            *(
                Key(
                    unit,
                    f"`interval`: every this many {unit} (exactly one unit).",
                    type="integer",
                    default="none",
                )
                for unit in ("weeks", "days", "hours", "minutes", "seconds")
            ),
            Key("cron", "`cron`: a five-field cron expression.", type="string", default="none"),
            Key("timezone", "`cron`: the IANA time zone it is read in.", type="string", default="`UTC`"),
            Key(
                "run_date",
                "`date`: when it runs once, ISO 8601 with a UTC offset, in the future.",
                type="date-time",
                default="none",
            ),
        ),
    ),
)

TOP_LEVEL = ("connections", "clients", "notifications", "plugins", "jobs")


def key_type(section: Section, key: Key) -> str:
    if key.type:
        return key.type
    field = _field(section, key)
    if field.choices:
        return "one of " + ", ".join(f"`{value}`" for value, _ in field.choices)
    if isinstance(field, models.JSONField):
        return "list" if field.default is list else "mapping"
    for kind, name in _TYPES:
        if isinstance(field, kind):
            return name
    return "string"


def key_default(section: Section, key: Key) -> str:
    if key.default:
        return key.default
    field = _field(section, key)
    if not field.has_default():
        return "empty" if field.blank else "required"
    default = field.default
    if callable(default) and default not in (dict, list):  # e.g. default_queue() reads a setting
        setting = re.search(r"settings\.([A-Z_]+)", inspect.getsource(default))
        return f"the `{setting[1]}` setting" if setting else f"`{default.__name__}()`"
    value = field.get_default()
    if value in ("", [], {}):
        return "empty"
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def key_meaning(section: Section, key: Key) -> str:
    return key.meaning or str(_field(section, key).help_text)


def _field(section: Section, key: Key) -> models.Field:
    assert section.model is not None, f"{section.path}.{key.name} needs type, default and meaning"
    f = section.model._meta.get_field(key.field or key.name)
    assert isinstance(f, models.Field), f"{section.path}.{key.name}: a reverse relation"
    return f


_TYPES: tuple[tuple[type[models.Field], str], ...] = (
    (models.BooleanField, "boolean"),
    (models.IntegerField, "integer"),
    (models.FloatField, "number"),
    (models.DateTimeField, "date-time"),
)
