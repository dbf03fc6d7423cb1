"""The `sync_apply` file format: every key of every section, from
syncers.config_as_code.keys (which a test holds equal to what the parser accepts)."""

from __future__ import annotations


def render() -> str:
    from syncers.config_as_code.keys import SECTIONS, TOP_LEVEL, key_default, key_meaning, key_type

    out = [
        "# YAML keys of `sync_apply`\n",
        "Generated from `syncers/config_as_code/keys.py`; a test holds it equal to the keys the "
        "parser accepts, and any other key is refused with its place in the file, e.g. "
        "`clients[0] (products): unknown key colour`.\n",
        "The top level is a mapping with any of " + ", ".join(f"`{s}`" for s in TOP_LEVEL) + ". "
        "**Default** is what a new object gets when the key is absent; on an object that already "
        "exists an absent key leaves the value as it is (for `clients[].schedules`, "
        "`notifications` and `plugins[].permissions`, the listed entries are exactly what remains).\n",
    ]
    for section in SECTIONS:
        out.append(f"## `{section.path}`\n\n{section.about}\n")
        out.append("| Key | Type | Default | Meaning |\n|---|---|---|---|")
        out += [
            f"| `{key.name}` | {key_type(section, key)} | {key_default(section, key)} | "
            f"{_cell(key_meaning(section, key))} |"
            for key in section.keys
        ]
        out.append("")
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
