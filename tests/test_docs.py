"""README.md is the short front door (what it is, the picture, the two commands, a 5-minute tour)
and everything else lives in the documentation site: every environment variable the project reads
is in the site's environment reference, the REST option table is the one the handler schema
generates, and README stays short with every docs link landing on a page of the site's nav."""

import re

import yaml

from .processes import ROOT

README_MAX_LINES = 170  # "fits on two screens" (issue 17)


def _rendered(page: str) -> str:
    """A generated reference page as `make docs` writes it (Django is set up by the test run)."""
    from docs.gen.hooks import render_pages

    return render_pages()[page]


def test_every_environment_variable_is_in_the_environment_reference() -> None:
    reference = _rendered("reference/environment.md")
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
    missing = sorted(n for n in names if f"| `{n}` |" not in reference)
    assert not missing, f"environment variables missing from reference/environment.md: {missing}"


def test_the_variables_readme_sets_to_pick_real_services_are_read_by_the_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    settings = (ROOT / "xcoresite" / "settings.py").read_text()
    exported = re.findall(r"^export ([A-Z_]+)=", readme, re.MULTILINE)
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"} <= set(exported)
    assert all(re.search(rf"""env(?:\.\w+)?\(\s*["']{name}["']""", settings) for name in exported)


def test_the_rest_option_table_is_the_one_the_handlers_schema_generates() -> None:
    from syncers.handler_options import markdown_table
    from syncers.handlers.rest_schema import REST_SCHEMA

    table = markdown_table(REST_SCHEMA)
    assert table in _rendered("reference/handler-options.md")
    # A hand-pasted copy anywhere else would drift from the schema: the concept page links instead.
    header = table.splitlines()[0]
    copies = [p for p in [ROOT / "README.md", *ROOT.glob("docs/**/*.md")] if header in p.read_text()]
    assert not copies, f"hand-copied REST option table in {copies}: link reference/handler-options.md"
    assert "(../reference/handler-options.md)" in (ROOT / "docs/concepts/rest-source.md").read_text()


def _nav_pages(nav: object) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_nav_pages(item) for item in nav))
    if isinstance(nav, dict):
        return set().union(*(_nav_pages(value) for value in nav.values()))
    return set()


def test_readme_fits_on_two_screens() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert 60 < len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"
    )


def test_every_docs_link_in_the_readme_is_a_page_of_the_sites_nav() -> None:
    readme = (ROOT / "README.md").read_text()
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # !!python tags stay text
    nav = _nav_pages(config["nav"])
    links = re.findall(r"\]\((docs/[^)#\s]*)(?:#[^)\s]*)?\)", readme)
    assert len(links) > 20
    missing = sorted({link for link in links if link.removeprefix("docs/") not in nav})
    assert not missing, f"README links to pages that are not in mkdocs.yml nav: {missing}"
    # Every other relative link points at a file of the repository.
    others = re.findall(r"\]\((?!docs/|https?://|#)([^)#\s]+)", readme)
    assert not [link for link in others if not (ROOT / link).exists()]
    # Written pages exist on disk; the reference pages are generated at build time (docs/gen/).
    from docs.gen.hooks import GENERATED

    absent = sorted(
        link
        for link in set(links)
        if not (ROOT / link).exists() and link.removeprefix("docs/") not in GENERATED
    )
    assert not absent, f"README links to docs pages missing on disk: {absent}"


def test_the_sites_home_page_includes_the_readme_sections_it_names() -> None:
    """docs/index.md shows README's intro, two commands and picture through pymdownx.snippets
    (one text in two places); a section it names must stay marked in README."""
    readme = (ROOT / "README.md").read_text()
    included = re.findall(r'^--8<-- "README\.md:([\w-]+)"$', (ROOT / "docs" / "index.md").read_text(), re.M)
    assert {"what", "two-commands", "picture"} <= set(included)
    for name in included:
        start, end = f"<!-- --8<-- [start:{name}] -->", f"<!-- --8<-- [end:{name}] -->"
        assert readme.count(start) == readme.count(end) == 1 and readme.index(start) < readme.index(end), name
