"""The code map: every package of the product with the first paragraph of its own docstring,
every module directly in `syncers/` with its first line, and the import contracts that
`make lint` holds them to (from pyproject.toml). Read with `ast`, so a new package or module
appears by itself, and one without a docstring stops the build."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from .env_vars import ROOT

TOP = ("xcoresite", "gateway", "syncers", "catalog", "fakeapi")
# Django's own conventions, whose contents say what they are.
CONVENTIONAL = {"migrations", "management", "commands", "templatetags"}


def docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(), str(path))) or ""


def first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n")[0].split())


def packages() -> list[Path]:
    """Every product package (a folder with `__init__.py`) but Django's conventional ones."""
    found = []
    for top in TOP:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            package = init.parent
            if not CONVENTIONAL & set(package.relative_to(ROOT).parts):
                found.append(package)
    return found


def undocumented() -> list[str]:
    """Packages and `syncers/` modules without a docstring (the build refuses them)."""
    modules = [m for m in sorted((ROOT / "syncers").glob("*.py")) if m.name != "__init__.py"]
    paths = [p / "__init__.py" for p in packages()] + modules
    return [str(p.relative_to(ROOT)) for p in paths if not docstring(p)]


def render() -> str:
    missing = undocumented()
    if missing:
        raise ValueError(f"code map: no docstring in {', '.join(missing)}: say what it owns")
    out = [
        "# Code map\n",
        "Generated from the code at every build: each package with the first paragraph of its "
        "docstring (what it owns and what it may import), then the modules directly in "
        "`syncers/`, then the import contracts `make lint` checks.\n",
        "## Packages\n",
        "| Package | Owns |",
        "|---|---|",
    ]
    for package in packages():
        dotted = ".".join(package.relative_to(ROOT).parts)
        out.append(f"| `{dotted}` | {first_paragraph(docstring(package / '__init__.py'))} |")
    out += ["", "## Modules directly in `syncers/`\n", "| Module | Is |", "|---|---|"]
    for module in sorted((ROOT / "syncers").glob("*.py")):
        if module.name != "__init__.py":
            out.append(f"| `syncers.{module.stem}` | {first_paragraph(docstring(module))} |")
    out += ["", "## Import contracts\n", "Checked by `lint-imports` in `make lint`:\n"]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for contract in config["tool"]["importlinter"]["contracts"]:
        out.append(f"- {contract['name']} ({contract['type']})")
    return "\n".join(out) + "\n"
