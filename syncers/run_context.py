"""Extra context a run can be given: query parameters merged into the source's own (`params`)
and a forced complete listing (`full`). A schedule gives it to the runs it fires; an operator
gives it to one run now (sync_run --full/--param, the API's run-now body, the admin's "Run a
full listing now"). Kept as plain data: the values are copied onto the run (SyncRun.context),
and the pipeline reads them from there, so a run shows and replays exactly what it was given."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from syncers.registry import SyncHandler

MAX_PARAMS_BYTES = 4_000
SCALARS = (str, int, float, bool)


def schedule_context(*, schedule_id: int, params: Mapping[str, Any], full: bool) -> dict[str, Any]:
    """What a run fired by this schedule records (only the keys that say something)."""
    return {"schedule": schedule_id, **_given(params, full)}


def request_context(
    *, handler: SyncHandler, config: Mapping[str, Any], params: Mapping[str, Any] | None, full: bool
) -> dict[str, Any]:
    """What a run asked for now records; ValidationError (naming what is wrong) when `params`
    would not make a valid config for this client, checked as a schedule's params are."""
    if params:
        config_with_params(handler, config, params)
    return _given(params, full)


def _given(params: Mapping[str, Any] | None, full: bool) -> dict[str, Any]:
    """The keys that say something: params when there are any, full only when asked for."""
    context: dict[str, Any] = {}
    if params:
        context["params"] = dict(params)
    if full:
        context["full"] = True
    return context


def config_with_params(
    handler: SyncHandler, config: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    """The client's config with `params` merged over its own query parameters, validated by the
    handler as a client's config is (ValidationError naming what is wrong)."""
    if not params:
        return handler.clean_config(config)
    check_params(params)
    own = handler.clean_config(config)
    if "params" not in own:
        raise ValidationError(f"The {handler.name} source takes no query parameters.")
    if clash := sorted(set(params) & handler.reserved_params(own)):
        raise ValidationError(
            f"{', '.join(repr(c) for c in clash)}: set by the source itself (paging or incremental "
            "cursor); a schedule cannot override it."
        )
    merged = {**config, "params": {**(config.get("params") or {}), **params}}
    return handler.clean_config(merged)


def check_params(params: Any) -> None:
    if not isinstance(params, Mapping):
        raise ValidationError('Give a JSON object of query parameters, e.g. {"region": "eu"}.')
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"Query parameter names must be non-empty strings, not {key!r}.")
        if value is not None and not isinstance(value, SCALARS):
            raise ValidationError(f"Query parameter {key!r} must be a string, number or true/false.")
    if len(json.dumps(dict(params))) > MAX_PARAMS_BYTES:
        raise ValidationError(f"Query parameters over {MAX_PARAMS_BYTES} bytes of JSON.")


def describe_context(context: Mapping[str, Any], trigger: str = "") -> str:
    """'fired by schedule 3 with {region: eu}, full listing', 'started by command, full
    listing'; '' when the run was given no context."""
    extras = describe_extras(context.get("params") or {}, bool(context.get("full")))
    if context.get("schedule"):
        return f"fired by schedule {context['schedule']}" + (f" {extras}" if extras else "")
    if not extras:
        return ""
    joint = " " if extras.startswith("with") else ", "
    return f"started by {trigger or 'an operator'}{joint}{extras}"


def extras_note(context: Mapping[str, Any]) -> str:
    """' (with {region: eu}, full listing)' for an audit line; '' without extras."""
    extras = describe_extras(context.get("params") or {}, bool(context.get("full")))
    return f" ({extras})" if extras else ""


def describe_extras(params: Mapping[str, Any], full: bool) -> str:
    """'with {region: eu}, full listing', 'full listing' or '' (keys sorted: the same text
    whatever order the database gives them back in)."""
    parts = ["with {" + ", ".join(f"{k}: {params[k]}" for k in sorted(params)) + "}"] if params else []
    if full:
        parts.append("full listing")
    return ", ".join(parts)
