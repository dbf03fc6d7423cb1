"""A handler's options are declared once: the declaration validates configs (naming the
option), supplies defaults per pagination style and feeds the admin form; a plugin's handler
that declares options gets all of it without code of its own."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from syncers.handler_options import Option, OptionSchema, form_schema, markdown_table
from syncers.registry import SyncHandler, get_handler

SCHEMA = OptionSchema(
    style_option="mode",
    options=(
        Option("mode", "choice", "How to page.", default="a", choices=("a", "b")),
        Option("size", "integer", "Per request.", default=10, minimum=1, maximum=50),
        Option("token", "string", "Only for b.", default="t", styles=("b",)),
        Option("param", "string", "Size parameter.", style_defaults={"a": "n", "b": "limit"}, blank=True),
        Option("extra", "mapping", "Extra parameters.", default={}, entries="extra parameters"),
    ),
)


class PluginHandler(SyncHandler):
    """What a plugin writes: options only, no clean_config of its own."""

    name = "test_plugin_handler"
    options = SCHEMA


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"mode": "c"}, "'mode' must be one of: a, b (got 'c')."),
        ({"size": 0}, "'size' must be an integer from 1 to 50."),
        ({"size": "5"}, "'size' must be an integer from 1 to 50."),
        ({"size": True}, "'size' must be an integer from 1 to 50."),
        ({"token": "x"}, "Option 'token' does not apply to mode 'a'."),
        ({"mode": "b", "token": " "}, "'token' must be a non-empty string."),
        ({"param": 3}, "'param' must be a string (empty for none)."),
        ({"extra": []}, "'extra' must be a JSON object of extra parameters."),
        ({"colour": 1}, "Unknown source option colour."),
        ({"colour": 1, "shape": 2}, "Unknown source options colour, shape."),
        ([], "The source config must be a JSON object."),
    ],
)
def test_a_plugin_handler_declaring_options_refuses_bad_values_naming_the_option(
    config: Any, message: str
) -> None:
    with pytest.raises(ValidationError) as err:
        PluginHandler().clean_config(config)

    assert message in err.value.messages


def test_defaults_follow_the_chosen_style_and_the_operators_values_win() -> None:
    handler = PluginHandler()

    assert handler.clean_config({}) == {"mode": "a", "size": 10, "param": "n", "extra": {}}
    assert handler.clean_config({"mode": "b", "param": ""}) == {
        "mode": "b",
        "size": 10,
        "token": "t",
        "param": "",
        "extra": {},
    }


def test_the_form_schema_and_the_table_describe_every_option() -> None:
    form = form_schema(SCHEMA)
    table = markdown_table(SCHEMA)

    assert form["style_option"] == "mode"
    assert [o["name"] for o in form["options"]] == ["mode", "size", "token", "param", "extra"]
    assert form["options"][2]["styles"] == ["b"] and form["options"][1]["maximum"] == 50
    assert "| `token` | `b` | `t` | Only for b. |" in table
    assert "| `param` | all | per style: a `n`, b `limit` | Size parameter. |" in table


def test_a_handler_without_options_takes_any_object() -> None:
    class Free(SyncHandler):
        name = "free"

    assert Free().clean_config({"anything": [1]}) == {"anything": [1]}


def test_the_rest_handler_validates_from_its_schema() -> None:
    rest = get_handler("rest")

    assert rest.options is not None and rest.options.get("start_page").styles == ("page",)
    with pytest.raises(ValidationError, match=r"'start_page' must be an integer from 0 up\."):
        rest.clean_config({"start_page": -1})


def test_option_names_are_unique() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        OptionSchema(options=(Option("a", "string", "x"), Option("a", "integer", "y")))


def test_the_form_shows_a_handlers_own_defaults() -> None:
    demo = get_handler("demo_products")

    options = {o["name"]: o for o in form_schema(demo.options, demo.default_config)["options"]}

    assert (options["path"]["default"], options["path"]["default_text"]) == ("/products", "`/products`")
    assert options["page_param"]["default"] == "page"
