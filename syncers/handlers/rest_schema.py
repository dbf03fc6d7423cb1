"""The generic REST source's options, declared once (see syncers.handler_options): the
config field validates them, the admin renders them as inputs, the docs' handler options reference is generated from them."""

from __future__ import annotations

from syncers.handler_options import Option, OptionSchema

MAX_PAGE_SIZE = 10_000
STYLE_NAMES = ("page", "offset", "cursor", "link", "next_url")

REST_SCHEMA = OptionSchema(
    style_option="pagination",
    options=(
        Option(
            "pagination",
            "choice",
            "How the API pages its listing (styles in the next table).",
            default="page",
            choices=STYLE_NAMES,
        ),
        Option("path", "string", "Endpoint under the connection's base URL.", default="/items"),
        Option(
            "records_path",
            "string",
            "Dotted path to the list of records in the body (`results.items`; empty: the body is the list).",
            default="data",
            blank=True,
        ),
        Option(
            "id_field",
            "string",
            "Top-level field of the *stored* record (after `fields`) that identifies it.",
            default="id",
        ),
        Option(
            "page_size",
            "integer",
            "Records per request.",
            default=100,
            minimum=1,
            maximum=MAX_PAGE_SIZE,
        ),
        Option(
            "page_size_param",
            "string",
            "Query parameter that sends `page_size` (empty: not sent).",
            style_defaults={
                "page": "per_page",
                "offset": "limit",
                "cursor": "limit",
                "link": "per_page",
                "next_url": "limit",
            },
            blank=True,
        ),
        Option(
            "params",
            "mapping",
            "Extra query parameters: on every request (page, offset, cursor), on the first one "
            "(link, next_url: later URLs come from the API).",
            default={},
            entries="extra query parameters",
        ),
        Option(
            "max_pages",
            "integer",
            "A run that reads this many pages without a last one fails (`PayloadError`).",
            default=100_000,
            minimum=1,
        ),
        Option(
            "page_param", "string", "Query parameter of the page number.", default="page", styles=("page",)
        ),
        Option("start_page", "integer", "Number of the first page.", default=1, minimum=0, styles=("page",)),
        Option(
            "offset_param", "string", "Query parameter of the offset.", default="offset", styles=("offset",)
        ),
        Option(
            "offset_overlap",
            "integer",
            "Records each request after the first re-reads before its offset, to notice deletions "
            "in between (docs: The REST source, Offset overlap); `0` switches it off; must be below "
            "`page_size`.",
            styles=("offset",),
            minimum=0,
            default_text="`5`, at most half of `page_size`",
            handler_checks=True,
        ),
        Option(
            "cursor_param",
            "string",
            "Query parameter that sends the cursor.",
            default="cursor",
            styles=("cursor",),
        ),
        Option(
            "cursor_path",
            "string",
            "Dotted path to the next cursor in the body.",
            default="next_cursor",
            styles=("cursor",),
        ),
        Option(
            "next_path",
            "string",
            "Dotted path to the next page's URL in the body (absolute or relative).",
            default="next",
            styles=("next_url",),
        ),
        Option(
            "fields",
            "mapping",
            "Target name → dotted source path: the stored record is exactly these fields (`tags.0` "
            "indexes a list; a missing path stores `null`). Without it records are stored unchanged.",
            entries="target name → dotted source path",
            handler_checks=True,
        ),
        Option(
            "incremental",
            "json",
            '`{"param": "updated_since", "field": "updated_at", "lookback_seconds": 0}`: ask only '
            "for records changed since the last run (docs: The REST source, Incremental mode).",
            handler_checks=True,
        ),
        Option(
            "total_path",
            "string",
            "Dotted path to the listing's size in the body (the `X-Total-Count` header wins), "
            "compared with what a run read (docs: The REST source, Page numbers under deletion).",
            styles=("page", "offset"),
            default_text="`meta.total`",
            handler_checks=True,
        ),
        Option(
            "version_field",
            "string",
            "Dotted path of the record's version (after `fields`): ISO 8601 timestamps (naive ones "
            "are UTC, a date alone is its midnight), epoch seconds or plain integers, also as numeric "
            "strings. A copy never replaces one with a higher version (equal: the later copy wins); "
            "a copy without a usable version never replaces one with a version. `null`: the copy "
            "served last wins, as without it.",
            default_text="the incremental field, else none",
            handler_checks=True,
        ),
    ),
)
