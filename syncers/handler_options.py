"""A handler's options, declared once: validation (`clean_options`), the admin's config form
(`form_schema`) and the docs' option table (`markdown_table`, on the generated handler options reference) all read the same declaration,
so a plugin's handler that sets `options` gets all three for free."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from django.core.exceptions import ValidationError

from syncers.wording import listed

Kind = Literal["choice", "string", "integer", "mapping", "json"]


@dataclass(frozen=True)
class Option:
    """One source option. `default` None means absent unless set; `style_defaults` overrides
    it per pagination style; `styles` lists the styles it applies to (empty: all)."""

    name: str
    kind: Kind
    help: str
    default: Any = None
    style_defaults: Mapping[str, Any] = field(default_factory=dict)
    styles: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    blank: bool = False  # a string that may be empty ("" means none)
    entries: str = "names and values"  # what a mapping holds, for its error message
    default_text: str = ""  # how to describe a default the handler computes
    handler_checks: bool = False  # the handler's own clean_config checks the value's type

    def applies_to(self, style: str | None) -> bool:
        return not self.styles or style is None or style in self.styles

    def default_for(self, style: str | None) -> Any:
        return self.style_defaults.get(style, self.default) if style else self.default

    def describe_default(self) -> str:
        if self.default_text:
            return self.default_text
        if self.style_defaults:
            return "per style: " + ", ".join(f"{s} `{v}`" for s, v in self.style_defaults.items())
        if self.default is None:
            return "none"
        return f"`{_literal(self.default)}`"

    def check(self, value: Any) -> str | None:
        """The problem with `value`, naming the option; None when it is fine."""
        if self.handler_checks:
            return None
        name = f"'{self.name}'"
        if self.kind == "choice" and value not in self.choices:
            return f"{name} must be one of: {', '.join(self.choices)} (got {value!r})."
        if self.kind == "integer":
            if not is_integer(value) or (self.minimum is not None and value < self.minimum):
                return _range_error(name, self.minimum, self.maximum)
            if self.maximum is not None and value > self.maximum:
                return _range_error(name, self.minimum, self.maximum)
        if self.kind == "string":
            if self.blank and not isinstance(value, str):
                return f"{name} must be a string (empty for none)."
            if not self.blank and not (isinstance(value, str) and value.strip()):
                return f"{name} must be a non-empty string."
        if self.kind == "mapping" and not isinstance(value, dict):
            return f"{name} must be a JSON object of {self.entries}."
        return None


@dataclass(frozen=True)
class OptionSchema:
    """All options of one handler; `style_option` names the choice that selects the
    pagination style (options with `styles` apply to some styles only)."""

    options: tuple[Option, ...]
    style_option: str | None = None

    def __post_init__(self) -> None:
        names = [o.name for o in self.options]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate option names in {names}")

    def get(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    @property
    def names(self) -> set[str]:
        return {o.name for o in self.options}

    def styles(self) -> tuple[str, ...]:
        chooser = self.get(self.style_option) if self.style_option else None
        return chooser.choices if chooser else ()

    def defaults(self, style: str | None) -> dict[str, Any]:
        """The defaults that apply to `style`, options without one left out."""
        return {
            o.name: o.default_for(style)
            for o in self.options
            if o.applies_to(style) and o.default_for(style) is not None
        }


def clean_options(
    schema: OptionSchema, config: Any, base: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The full config (the operator's values over `base` over the schema's defaults for the
    chosen style) and every problem found, each naming its option. Unknown options, a bad
    style and options of another style raise at once: nothing else is worth checking then."""
    if not isinstance(config, Mapping):
        raise ValidationError("The source config must be a JSON object.")
    base = base or {}
    unknown = set(config) - schema.names
    if unknown:
        raise ValidationError(f"{listed('Unknown source option', sorted(unknown))}.")
    style = None
    if schema.style_option:
        chooser = schema.get(schema.style_option)
        assert chooser is not None
        style = config.get(chooser.name, base.get(chooser.name, chooser.default))
        if problem := chooser.check(style):
            raise ValidationError(problem)
        foreign = sorted(k for k in config if not schema.get(k).applies_to(style))  # type: ignore[union-attr]
        if foreign:
            raise ValidationError(
                f"{listed('Option', [repr(k) for k in foreign])} {'does' if len(foreign) == 1 else 'do'} not apply to "
                f"{schema.style_option} {style!r}."
            )
    applicable = {k: v for k, v in base.items() if k in schema.names and schema.get(k).applies_to(style)}  # type: ignore[union-attr]
    cfg = {**schema.defaults(style), **applicable, **config}
    if style is not None:
        cfg[schema.style_option] = style
    errors = [p for o in schema.options if o.name in cfg and (p := o.check(cfg[o.name]))]
    return cfg, errors


def form_schema(schema: OptionSchema, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the admin's config form needs (JSON-serialisable): each option's input, with the
    handler's own `defaults` (its default_config) in place of the schema's."""
    options = [
        replace(o, default=defaults[o.name], default_text="", style_defaults={})
        if defaults
        and o.name in defaults
        and defaults[o.name]
        != o.default_for(defaults.get(schema.style_option) if schema.style_option is not None else None)
        else o
        for o in schema.options
    ]
    return {
        "style_option": schema.style_option,
        "options": [
            {
                "name": o.name,
                "kind": o.kind,
                "help": o.help,
                "default": o.default,
                "style_defaults": dict(o.style_defaults),
                "default_text": o.describe_default(),
                "styles": list(o.styles),
                "choices": list(o.choices),
                "minimum": o.minimum,
                "maximum": o.maximum,
            }
            for o in options
        ],
    }


def markdown_table(schema: OptionSchema) -> str:
    """The option table of a handler, as the generated handler options reference shows it."""
    rows = ["| Option | Applies to | Default | Meaning |", "|---|---|---|---|"]
    for o in schema.options:
        where = ", ".join(f"`{s}`" for s in o.styles) if o.styles else "all"
        meaning = o.help + (f" One of {', '.join(f'`{c}`' for c in o.choices)}." if o.choices else "")
        rows.append(f"| `{o.name}` | {where} | {o.describe_default()} | {meaning} |")
    return "\n".join(rows)


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _range_error(name: str, low: int | None, high: int | None) -> str:
    low_text = f" from {low}" if low is not None else ""
    return f"{name} must be an integer{low_text}" + (f" to {high}." if high is not None else " up.")


def _literal(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
