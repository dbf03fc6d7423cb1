"""Management commands and their flags, from each command's own argparse parser
(`Command().create_parser('manage.py', name)`): nothing is run, nothing is copied."""

from __future__ import annotations

import argparse

from django.core.management import get_commands, load_command_class

from .env_vars import ROOT

# Options every Django command has; listed once at the top instead of under every command.
DJANGO_COMMON = {
    "help",
    "version",
    "verbosity",
    "settings",
    "pythonpath",
    "traceback",
    "no_color",
    "force_color",
    "skip_checks",
}


def project_commands() -> dict[str, str]:
    """Command name → app, for the commands this repository's apps define."""
    apps = {p.parent.parent.parent.name for p in ROOT.glob("*/management/commands/*.py")}
    return {name: app for name, app in sorted(get_commands().items()) if app in apps}


def command_parser(name: str) -> argparse.ArgumentParser:
    app = project_commands()[name]
    return load_command_class(app, name).create_parser("manage.py", name)


def render() -> str:
    out = [
        "# Management commands\n",
        "Generated from each command's argparse parser. Every command also takes Django's common "
        "options (`--verbosity`, `--settings`, `--pythonpath`, `--traceback`, `--no-color`, "
        "`--force-color`, and `--skip-checks` where the command checks). Run "
        "`python manage.py <command> --help` for the same text.\n",
    ]
    for name, app in project_commands().items():
        out.append(_command(name, app))
    return "\n".join(out)


def _command(name: str, app: str) -> str:
    parser = command_parser(name)
    lines = [f"## `{name}`\n", f"*{app}* — {_text(parser.description or '')}\n"]
    return "\n".join(lines + _arguments(parser, f"manage.py {name}"))


def _arguments(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    """Usage and argument table of one parser, then one sub-section per sub-command."""
    actions = [a for a in parser._actions if a.dest not in DJANGO_COMMON]
    subcommands = [a for a in actions if isinstance(a, argparse._SubParsersAction)]
    actions = [a for a in actions if a not in subcommands]
    usage = " ".join([prefix, *(_usage(a) for a in actions)])
    if subcommands:
        usage += " {" + ",".join(subcommands[0].choices) + "} ..."
    lines = [f"```\n{usage}\n```\n"]
    if actions:
        lines += ["| Argument | Default | Meaning |", "|---|---|---|"]
        lines += [f"| {_names(a)} | {_default(a)} | {_meaning(a)} |" for a in actions]
        lines.append("")
    for group in subcommands:
        helps = {choice.dest: choice.help for choice in group._choices_actions}
        for verb, sub in group.choices.items():
            lines.append(f"### `{prefix.split()[-1]} {verb}`\n\n{_text(helps.get(verb) or '')}\n")
            lines += _arguments(sub, f"{prefix} {verb}")
    return lines


def _meaning(action: argparse.Action) -> str:
    text = _text(action.help or "")
    if action.choices and not action.option_strings:
        text += ("; " if text else "") + "one of " + ", ".join(f"`{c}`" for c in action.choices)
    return text


def _names(action: argparse.Action) -> str:
    names = action.option_strings or [action.dest]
    metavar = "" if action.nargs == 0 or not action.option_strings else f" {_metavar(action)}"
    return ", ".join(f"`{n}{metavar}`" for n in names)


def _metavar(action: argparse.Action) -> str:
    if action.choices:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return str(action.metavar or action.dest.upper())


def _usage(action: argparse.Action) -> str:
    if not action.option_strings:
        word = _metavar(action) if action.metavar or action.choices else action.dest
        return {"+": f"{word} [{word} ...]", "*": f"[{word} ...]", "?": f"[{word}]"}.get(
            str(action.nargs), word
        )
    flag = (
        action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    )
    text = flag if action.nargs == 0 else f"{flag} {_metavar(action)}"
    return text if action.required else f"[{text}]"


def _default(action: argparse.Action) -> str:
    if action.required or action.default in (None, argparse.SUPPRESS) or action.nargs == 0:
        return ""
    if not action.option_strings and action.nargs in ("+",):
        return ""
    return f"`{action.default}`"


def _text(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("%%", "%")
