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


def _snippet_table() -> list[list[str]]:
    """The rows of the HTTP API page's table of the scheduler and worker documents' snippets."""
    page = (ROOT / "docs" / "concepts" / "http-api.md").read_text()
    section = page.split("## The scheduler and worker documents, snippet by snippet", 1)[1]
    table = section.split("\n| ", 1)[1].split("\n\n", 1)[0]
    lines = ["| " + table.split("\n", 1)[0], *table.splitlines()[1:]]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def test_every_command_and_endpoint_the_snippet_table_names_exists_with_its_options() -> None:
    """The table promises a working command or HTTP call for each snippet of the scheduler and
    worker documents: each command exists with the options and verbs it is shown with, and each
    endpoint is a route of the API (not its JSON 404)."""
    from django.core.management import get_commands, load_command_class
    from django.urls import resolve

    from syncers.api.views_ops import no_such_endpoint

    rows = _snippet_table()
    assert len(rows) >= 15, rows
    commands = get_commands()
    for snippet, _python, command, http in rows:
        pieces = re.findall(r"`([^`]+)`", command)
        named = [p for p in pieces if p.split()[0] in commands]
        assert named or command.startswith("—"), f"{snippet}: no command in {command!r}"
        for piece in named:
            name, *words = piece.split()
            parser = load_command_class(commands[name], name).create_parser("manage.py", name)
            options = set(parser._option_string_actions)
            verbs = {c for a in parser._actions if not a.option_strings and a.choices for c in a.choices}
            for word in (w.strip("[]()|") for w in words):
                if word.startswith("--"):
                    assert word.split("=")[0] in options, f"{snippet}: {name} has no {word}"
                elif verbs and re.fullmatch(r"[a-z][a-z-]+", word):
                    assert word in verbs, f"{snippet}: {name} has no verb {word}"
        for method_path in re.findall(r"`((?:GET|POST) /api/[^` ]+)", http):
            path = re.sub(r"<(\w+)>", lambda m: "7" if m[1] == "id" else "demo", method_path.split()[1])
            assert resolve(path).func is not no_such_endpoint, f"{snippet}: no endpoint {method_path}"
