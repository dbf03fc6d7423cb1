"""The REST source's options, read from syncers/handlers/options.py as it is today through one
function, `rest_options()`: when options.py becomes a full schema, only that function changes.
The one-line meanings are below; an option without one stops the build."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MEANINGS: dict[str, str] = {
    "pagination": "`page`, `offset`, `cursor`, `link` or `next_url`: how the next page is asked for.",
    "path": "Endpoint under the connection's base URL.",
    "records_path": "Dotted path to the list of records in the body (empty: the body is the list).",
    "id_field": "Top-level field of the *stored* record (after `fields`) that identifies it.",
    "page_size": "Records per request (1 to {MAX_PAGE_SIZE}).",
    "page_size_param": "Query parameter that carries `page_size` (empty: not sent).",
    "params": "Extra query parameters (a JSON object).",
    "max_pages": "A run that reads this many pages without a last one fails (`PayloadError`).",
    "page_param": "Query parameter carrying the page number.",
    "start_page": "Number of the first page.",
    "offset_param": "Query parameter carrying the offset.",
    "offset_overlap": "Records each offset request after the first reads again before its position "
    "(the default is at most half of `page_size`; `0` switches it off).",
    "cursor_param": "Query parameter carrying the cursor.",
    "cursor_path": "Dotted path to the next cursor in the body.",
    "next_path": "Dotted path to the next page's URL in the body.",
    "fields": '`{"target": "dotted.source.path"}`: the stored record is exactly these fields.',
    "incremental": '`{"param": …, "field": …, "lookback_seconds": 0}`: each run asks only for records '
    "changed since the committed cursor.",
    "version_field": "Dotted path of the record's version (after `fields`): an older copy never "
    "replaces a newer one; `null`: the copy served last wins.",
    "total_path": "Dotted path to the listing's size in the body "
    "(the `X-Total-Count` header wins), compared with what a run read.",
}


@dataclass(frozen=True)
class Option:
    name: str
    styles: tuple[str, ...]  # the pagination styles it applies to
    default: Any  # None: absent unless set
    has_default: bool


def rest_options() -> list[Option]:
    """Every option `clean_rest_config` accepts, with the styles it applies to and its default."""
    from syncers.handlers import options as o
    from syncers.handlers.totals import DEFAULT_TOTAL_PATH

    styles = tuple(o.STYLE_OPTIONS)
    found = [Option("pagination", styles, "page", True)]
    found += [Option(name, styles, value, True) for name, value in o.COMMON.items()]
    per_style: dict[str, dict[str, Any]] = {}
    for style, opts in o.STYLE_OPTIONS.items():
        for name, value in opts.items():
            per_style.setdefault(name, {})[style] = value
    for name, by_style in per_style.items():
        values = set(map(json.dumps, by_style.values()))
        default = next(iter(by_style.values())) if len(values) == 1 else by_style
        found.append(Option(name, tuple(by_style), default, True))
    for name in o.OPTIONAL:  # absent unless set; total_path then reads DEFAULT_TOTAL_PATH
        if name == "total_path":
            found.append(Option(name, tuple(o.TOTAL_STYLES), DEFAULT_TOTAL_PATH, True))
        else:
            found.append(Option(name, styles, None, False))
    return found


def render() -> str:
    from syncers.handlers.options import MAX_PAGE_SIZE

    rows = []
    for option in rest_options():
        if option.name not in MEANINGS:
            raise LookupError(f"REST option {option.name}: add its meaning to docs/gen/handler_options.py")
        meaning = MEANINGS[option.name].replace("{MAX_PAGE_SIZE}", str(MAX_PAGE_SIZE))
        rows.append(f"| `{option.name}` | {_styles(option)} | {_default(option)} | {meaning} |")
    return (
        "# Handler options (REST source)\n\n"
        "The built-in handler `rest` reads its options from the client's source config (JSON). "
        "Generated from `syncers/handlers/options.py`: missing options take these defaults; an "
        "unknown option, one that does not apply to the client's `pagination`, or a bad value is "
        "refused at the config field with a message naming it.\n\n"
        "| Option | Applies to `pagination` | Default | Meaning |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n"
        + _handlers()
    )


def _handlers() -> str:
    """The registered handlers built on the REST source, with the defaults they change."""
    from syncers.handlers.rest import RestHandler
    from syncers.registry import get_handler, handler_choices

    lines = ["## Registered handlers\n", "| Handler | Label | Defaults it changes |", "|---|---|---|"]
    for name, label in handler_choices():
        handler = get_handler(name)
        if not isinstance(handler, RestHandler):
            lines.append(f"| `{name}` | {label} | its own options (not the REST source's) |")
            continue
        changed = {k: v for k, v in handler.default_config.items() if RestHandler.default_config.get(k) != v}
        shown = ", ".join(f"`{k}`: `{json.dumps(v)}`" for k, v in changed.items()) or "none"
        lines.append(f"| `{name}` | {label} | {shown} |")
    return "\n".join(lines) + "\n"


def _styles(option: Option) -> str:
    from syncers.handlers.options import STYLE_OPTIONS

    return "all" if len(option.styles) == len(STYLE_OPTIONS) else ", ".join(f"`{s}`" for s in option.styles)


def _default(option: Option) -> str:
    if not option.has_default:
        return "none"
    if isinstance(option.default, dict) and option.default and option.name != "params":
        return ", ".join(f"`{json.dumps(v)}` ({style})" for style, v in option.default.items())
    return f"`{json.dumps(option.default)}`"
