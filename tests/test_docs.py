"""Every environment variable the project reads is documented in the README."""

import re

from .processes import ROOT


def test_every_environment_variable_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    sources = [ROOT / "xcoresite" / "settings.py", ROOT / "xcoresite" / "devstack.py"]
    names = set()
    for source in sources:
        text = source.read_text()
        names |= set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z_]+)["']""", text))
        names |= set(
            re.findall(
                r"""environ(?:\(\))?\.(?:get|str|int|float|bool|list|db)\(\s*["']([A-Z_]+)["']""", text
            )
        )
    assert len(names) > 10
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"undocumented environment variables: {missing}"


def test_readmes_rest_option_table_is_the_one_the_handlers_schema_generates() -> None:
    from syncers.handler_options import markdown_table
    from syncers.handlers.rest_schema import REST_SCHEMA

    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- options-table:rest .*?-->\n(.*?)\n<!-- /options-table:rest -->", readme, re.S)

    assert block, "README lost its generated REST option table markers"
    assert block.group(1) == markdown_table(REST_SCHEMA), (
        "README's REST option table differs from syncers/handlers/rest_schema.py; paste this:\n"
        + markdown_table(REST_SCHEMA)
    )
