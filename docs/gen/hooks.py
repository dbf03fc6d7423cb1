"""MkDocs hook (mkdocs.yml `hooks:`): set up Django, then add the reference pages, generated
from the code at every build, to the site's files. They are never committed, so they cannot
drift from the code; `mkdocs build --strict` in CI fails on a broken link or a generator error
(e.g. an environment variable without a meaning)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Page path in the site → the module whose render() writes it.
GENERATED = {
    "reference/environment.md": "env_vars",
    "reference/yaml.md": "yaml_keys",
    "reference/handler-options.md": "handler_options",
    "reference/commands.md": "commands",
    "reference/http-api.md": "http_api",
    "reference/code-map.md": "code_map",
}


def setup_django() -> None:
    """Reading the code needs Django set up; it needs no database, broker or secret, so a docs
    build without SECRET_KEY runs with DEBUG's development key."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xcoresite.settings")
    if "SECRET_KEY" not in os.environ:
        os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()


def render_pages() -> dict[str, str]:
    """Page path → Markdown, for every generated page (Django already set up)."""
    import importlib

    return {
        page: importlib.import_module(f"docs.gen.{module}").render() for page, module in GENERATED.items()
    }


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    setup_django()
    for page, text in render_pages().items():
        files.append(File.generated(config, page, content=text))
    return files
