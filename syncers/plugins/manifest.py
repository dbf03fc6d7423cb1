"""A plugin's manifest (name, version, mode, requested permissions, config schema, actions)
and the grammar of permission resources:

    db.<table>   cache.<key>   service:scheduler   service:worker   gateway:<connection>   plugin:<name>

with `*` matching any characters (`db.sync_*`, `cache.sync:*`, `gateway:*`, or just `*`).
Actions: db/cache/gateway `read`, `write`; service:scheduler `read`, `write`;
service:worker and plugin `execute`; `*` means all of a resource's actions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError

from syncers.validators import PLUGIN_GRANT, provides

from .schema import check_schema

MODES = ("trusted", "restricted")
KIND_ACTIONS: dict[str, frozenset[str]] = {
    "db.": frozenset({"read", "write"}),
    "cache.": frozenset({"read", "write"}),
    "gateway:": frozenset({"read", "write"}),
    "service:scheduler": frozenset({"read", "write"}),
    "service:worker": frozenset({"execute"}),
    "plugin:": frozenset({"execute"}),
}
ALL_ACTIONS = frozenset().union(*KIND_ACTIONS.values())
_PATTERN = re.compile(
    r"^(\*|db\.[A-Za-z0-9_*]+|cache\.[A-Za-z0-9_:.*-]+|service:[a-z*]+|gateway:[A-Za-z0-9_.*-]+|plugin:[a-z0-9_*]+)$"
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+([.+-][0-9A-Za-z.+-]+)?$")


@dataclass(frozen=True)
class Permission:
    """One requested permission: `Permission("db.sync_*", "read", "write")`."""

    resource: str
    actions: tuple[str, ...]

    def __init__(self, resource: str, *actions: str) -> None:
        object.__setattr__(self, "resource", resource)
        object.__setattr__(self, "actions", tuple(actions))

    @property
    def actions_text(self) -> str:
        return ",".join(self.actions)


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    description: str = ""
    mode: str = "restricted"
    permissions: tuple[Permission, ...] = ()
    config_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    actions: tuple[str, ...] = ()
    # What a duplicate job id does: "replace" the existing job, or "error" (JobConflict).
    job_conflict: str = "replace"

    def check(self) -> None:
        """Raise ValueError naming the first thing wrong (called when a plugin registers)."""
        if not _NAME.match(self.name):
            raise ValueError(f"plugin name {self.name!r}: lowercase letters, digits and '_'")
        if not _VERSION.match(self.version):
            raise ValueError(f"plugin {self.name}: version {self.version!r} is not like 1.5.0")
        if self.mode not in MODES:
            raise ValueError(f"plugin {self.name}: mode must be one of {MODES}, not {self.mode!r}")
        if self.job_conflict not in ("replace", "error"):
            raise ValueError(f"plugin {self.name}: job_conflict must be 'replace' or 'error'")
        for perm in self.permissions:
            try:
                validate_grant(perm.resource, perm.actions_text, mode="trusted")
            except ValidationError as exc:
                raise ValueError(f"plugin {self.name}: {'; '.join(exc.messages)}") from None
        check_schema(self.config_schema, where=f"plugin {self.name} config_schema")


def resource_actions(pattern: str) -> frozenset[str]:
    """The actions that make sense for a resource pattern (all of them for '*'-prefixed ones)."""
    for prefix, actions in KIND_ACTIONS.items():
        if pattern.startswith(prefix):
            return actions
    return ALL_ACTIONS  # "*", "service:*"


def parse_actions(text: str) -> frozenset[str]:
    return frozenset(a.strip() for a in text.split(",") if a.strip())


@provides(PLUGIN_GRANT)
def validate_grant(resource: str, actions: str, *, mode: str, state: str = "requested") -> str:
    """Check a resource pattern and its actions; return the actions normalised. A restricted
    plugin may be granted exact resources only: a wildcard grant is refused at save time."""
    errors: dict[str, list[str]] = {}
    if not _PATTERN.match(resource or ""):
        errors["resource"] = [
            f"{resource!r} is not a resource: use db.<table>, cache.<key>, service:scheduler, "
            "service:worker, gateway:<connection> or plugin:<name> ('*' as a wildcard)."
        ]
    wanted = parse_actions(actions or "")
    allowed = resource_actions(resource or "")
    bad = sorted(wanted - allowed - {"*"})
    if not wanted:
        errors["actions"] = ["Name at least one action (or *)."]
    elif bad:
        errors["actions"] = [f"{', '.join(bad)} not valid here; use {', '.join(sorted(allowed))} or *."]
    if mode == "restricted" and state == "granted" and "*" in resource:
        errors.setdefault("resource", []).append(
            "A restricted plugin can only be granted exact resources (no '*')."
        )
    if errors:
        raise ValidationError(errors)
    return "*" if "*" in wanted else ",".join(sorted(wanted))


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$")


def matches(pattern: str, resource: str) -> bool:
    """`*` matches any run of characters (also ':' and '.'); everything else literally."""
    return bool(_compiled(pattern).match(resource))


def covers(pattern: str, actions: str, resource: str, action: str) -> bool:
    granted = parse_actions(actions)
    return matches(pattern, resource) and ("*" in granted or action in granted)
