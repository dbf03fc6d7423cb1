"""The documentation site: its reference pages are generated from the code (docs/gen/), and
each is held here against an enumeration made another way — the variables grep'd from the
settings, the keys the YAML parser's own checks accept, the options the REST source accepts,
the commands on disk, the URL patterns of the API — so nothing the code has can be missing."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from docs.gen.hooks import render_pages

from .processes import ROOT


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return render_pages()


def documented(page: str, column: int = 0) -> set[str]:
    """The `names` in one column of a generated page's tables."""
    names = set()
    for line in page.splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) > column:
            names |= set(re.findall(r"`([^`]+)`", cells[column]))
    return names


def test_every_environment_variable_the_code_reads_is_in_the_reference(pages: dict[str, str]) -> None:
    read = set()
    for source in ROOT.glob("xcoresite/*.py"):
        text = source.read_text()
        read |= set(re.findall(r"""\benv(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", text))
        read |= set(re.findall(r"""os\.environ(?:\.get)?[\(\[]\s*["']([A-Z][A-Z0-9_]*)["']""", text))
    assert len(read) > 30
    missing = sorted(read - documented(pages["reference/environment.md"]))
    assert not missing, f"environment variables missing from reference/environment.md: {missing}"


def accepted_keys() -> dict[str, set[str]]:
    """Function name → keys, from every `refuse_unknown(spec, <allowed>, where)` call of the
    YAML parser, with <allowed> evaluated in its own module (constants included)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "syncers" / "config_as_code").glob("*.py"):
        name = "syncers.config_as_code" + ("" if path.stem == "__init__" else f".{path.stem}")
        module = importlib.import_module(name)
        for func in ast.walk(ast.parse(path.read_text())):
            if not isinstance(func, ast.FunctionDef):
                continue
            for call in ast.walk(func):
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "refuse_unknown":
                    code = compile(ast.Expression(call.args[1]), str(path), "eval")
                    found.setdefault(func.name, set()).update(eval(code, vars(module)))
    return found


# Which section of the file each parser function reads (a new function needs a line here).
PARSER_SECTIONS = {
    "apply_connection": "connections[]",
    "apply_client": "clients[]",
    "_schedule": "clients[].schedules[]",
    "_route": "notifications[]",
    "apply_plugins": "plugins[]",
    "_permission": "plugins[].permissions[]",
    "parse_job": "jobs[]",
}


def test_every_yaml_key_the_parser_accepts_is_in_the_reference(pages: dict[str, str]) -> None:
    import syncers.config_as_code as config_as_code
    from syncers.config_as_code.keys import SECTIONS, TOP_LEVEL

    accepted = accepted_keys()
    unmapped = sorted(set(accepted) ^ set(PARSER_SECTIONS))
    assert not unmapped, f"map these parser functions to their section in PARSER_SECTIONS: {unmapped}"
    described = {section.path: {key.name for key in section.keys} for section in SECTIONS}
    assert set(TOP_LEVEL) == set(config_as_code.SECTIONS)
    page = pages["reference/yaml.md"]
    for function, path in PARSER_SECTIONS.items():
        assert described.get(path) == accepted[function], f"{path}: keys.py and {function}() differ"
        table = page.split(f"## `{path}`", 1)[1].split("\n## ", 1)[0]
        assert accepted[function] <= documented(table), f"{path}: keys missing from reference/yaml.md"
    assert all(f"`{name}`" in page for name in TOP_LEVEL)


def test_every_rest_source_option_is_in_the_reference(pages: dict[str, str]) -> None:
    from django.core.exceptions import ValidationError

    from syncers.handlers.options import clean_rest_config
    from syncers.handlers.rest_schema import REST_SCHEMA

    options = documented(pages["reference/handler-options.md"].split("## Registered handlers")[0])
    assert REST_SCHEMA.names == options
    with pytest.raises(ValidationError, match="not_an_option"):  # the schema is what is accepted
        clean_rest_config({"not_an_option": 1}, {})


def test_every_management_command_and_flag_is_in_the_reference(pages: dict[str, str]) -> None:
    from docs.gen.commands import command_parser

    on_disk = {p.stem for p in ROOT.glob("*/management/commands/*.py") if not p.stem.startswith("_")}
    assert len(on_disk) > 20
    page = pages["reference/commands.md"]
    headings = set(re.findall(r"^## `(\w+)`$", page, re.MULTILINE))
    assert on_disk == headings
    for name in on_disk:
        section = page.split(f"## `{name}`\n", 1)[1].split("\n## ", 1)[0]
        flags = {flag for action in _actions(command_parser(name)) for flag in action.option_strings}
        flags -= {"-h", "--help", "--version", "-v", "--verbosity", "--settings", "--pythonpath"}
        flags -= {"--traceback", "--no-color", "--force-color", "--skip-checks"}
        missing = sorted(f for f in flags if f"`{f}" not in section)
        assert not missing, f"{name}: flags missing from reference/commands.md: {missing}"


def _actions(parser: Any) -> list[Any]:
    import argparse

    found = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _actions(sub)
    return found


def test_every_api_endpoint_is_in_the_reference(pages: dict[str, str]) -> None:
    from django.urls import URLPattern, get_resolver

    from syncers.api import urls as api_urls

    routes = set()
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route and route not in ("schema/", "docs/"):  # the schema and its viewer, not the API
            routes.add("/api/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    assert get_resolver().resolve("/api/clients/")  # the API is mounted at /api/
    page = pages["reference/http-api.md"]
    missing = sorted(r for r in routes if f"`{r}`" not in page)
    assert len(routes) > 10
    assert not missing, f"API endpoints missing from reference/http-api.md: {missing}"


def test_every_package_says_what_it_owns_in_the_code_map(pages: dict[str, str]) -> None:
    """A newcomer finds any behaviour in one hop: each product package (found on disk, not by
    the generator) is on the code map with its docstring, and so is each `syncers/` module."""
    from docs.gen.code_map import undocumented

    assert undocumented() == [], "a package or syncers/ module without a docstring"
    page = pages["reference/code-map.md"]
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("gateway", "syncers", "xcoresite", "catalog", "fakeapi")
        for init in (ROOT / top).rglob("__init__.py")
        if not {"migrations", "management", "templatetags"} & set(init.parts)
    }
    on_disk |= {f"syncers.{m.stem}" for m in (ROOT / "syncers").glob("*.py") if m.stem != "__init__"}
    missing = sorted(name for name in on_disk if f"| `{name}` |" not in page)
    assert len(on_disk) > 15 and not missing, f"missing from the code map: {missing}"
    linter = (ROOT / "pyproject.toml").read_text().split("[tool.importlinter]")[1]
    contracts = re.findall(r'^name = "(.+)"$', linter, re.M)
    assert contracts and all(f"- {name} (" in page for name in contracts)


def test_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("reference/environment", "reference/yaml", "reference/commands", "guarantees"):
        assert (tmp_path / "site" / page / "index.html").exists()


def test_destination_keys_page_lists_exactly_the_keys_the_destination_accepts() -> None:
    from syncers.destinations.config import KNOWN_KEYS

    page = (ROOT / "docs" / "concepts" / "destinations.md").read_text()
    table = page.split("| Key | Meaning |", 1)[1].split("\n\n", 1)[0]
    assert documented(table) & set(KNOWN_KEYS) == set(KNOWN_KEYS)
    assert {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")} == set(KNOWN_KEYS)


@pytest.mark.django_db
def test_the_yaml_guide_file_applies_as_written_and_twice_changes_nothing(monkeypatch: Any) -> None:
    import yaml

    from syncers.config_as_code import ConfigError, apply_config
    from syncers.models import SyncClient

    guide = (ROOT / "docs" / "guides" / "first-client-yaml.md").read_text()
    data = yaml.safe_load(re.search(r"```yaml\n(.*?)```", guide, re.DOTALL)[1])
    monkeypatch.setenv("SHOP_API_TOKEN", "any-token")
    first = apply_config(data)
    assert "+ client products" in first.changes
    assert SyncClient.objects.get(name="products").schedules.count() == 2
    assert apply_config(data).changes == []
    data["clients"][0]["colour"] = "red"
    with pytest.raises(ConfigError, match=re.escape("clients[0] (products): unknown key colour")):
        apply_config(data)


@pytest.mark.django_db
def test_the_own_model_guide_file_applies_as_written() -> None:
    import yaml

    from syncers.config_as_code import ConfigError, apply_config
    from syncers.models import SyncClient

    guide = (ROOT / "docs" / "guides" / "own-model.md").read_text()
    data = yaml.safe_load(re.search(r"```yaml\n(.*?)```", guide, re.DOTALL)[1])
    apply_config(data)
    assert SyncClient.objects.get(name="shop-products").destination["model"] == "catalog.Product"
    data["clients"][1]["destination"]["fields"]["prix"] = "price"
    message = "clients[1] (shop-products): destination: fields.prix: catalog.Product has no field 'prix'"
    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_config(data)


@pytest.mark.django_db(transaction=True)
def test_the_handler_guide_code_registers_a_handler_that_syncs(connection_to: Any) -> None:
    from django.core.exceptions import ValidationError

    from syncers.models import SyncClient
    from syncers.registry import get_handler
    from syncers.services import sync_run_now_here

    guide = (ROOT / "docs" / "guides" / "handler.md").read_text()
    code = re.search(r"```python\n(# myapp/sync_handlers.py\n.*?)```", guide, re.DOTALL)[1]
    exec(compile(code, "docs/guides/handler.md", "exec"), {"__name__": "myapp.sync_handlers"})
    with pytest.raises(ValidationError, match="Unknown option"):
        get_handler("shop_categories").clean_config({"colour": "red"})
    client = SyncClient(name="categories", connection=connection_to, handler="shop_categories")
    client.config = get_handler("shop_categories").clean_config({})
    client.full_clean()
    client.save()
    run = sync_run_now_here(client=client, who="test")
    assert (run.status, run.fetched, run.created) == ("succeeded", 8, 8)
    assert client.records.count() == 8
