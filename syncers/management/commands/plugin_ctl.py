"""What the plugin admin does, from the shell: start (on_start), stop (on_stop), enable,
disable, configure (checked against the plugin's schema), and grant or refuse permissions;
and one job at a time what the plugin's scheduler does: pause-job, resume-job, remove-job.
Each is written to the plugin audit log with --by as the actor, as the admin writes the user."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from syncers.management.cli import dumps, record_action
from syncers.models.plugins import InstalledPlugin, PluginPermission
from syncers.plugins import PluginError
from syncers.plugins.config import plugin_row
from syncers.plugins.operations import (
    permission_decide,
    plugin_configure,
    plugin_job_remove,
    plugin_job_set_enabled,
    plugin_set_enabled,
    plugin_start,
    plugin_stop,
)

VERBS = ("start", "stop", "enable", "disable", "configure", "grant", "refuse")
JOB_VERBS = ("pause-job", "resume-job", "remove-job")


class Command(BaseCommand):
    help = (
        "plugin_ctl <plugin> start|stop|enable|disable, configure --config '{...}', or "
        "grant|refuse --resource RESOURCE (repeatable) | --requested, or "
        "pause-job|resume-job|remove-job --job ID (the jobs `plugins` lists)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("plugin", help="plugin name (its manifest name)")
        parser.add_argument("verb", choices=VERBS + JOB_VERBS, help="what to do")
        parser.add_argument("--job", help="pause-job/resume-job/remove-job: the job's id")
        parser.add_argument("--config", help="configure: the whole config, a JSON object")
        parser.add_argument(
            "--resource", dest="resources", action="append", default=[], help="grant/refuse: this permission"
        )
        parser.add_argument(
            "--requested", action="store_true", help="grant/refuse: every permission awaiting a decision"
        )
        parser.add_argument("--by", default="manage.py plugin_ctl", help="who acts (for the audit log)")

    def handle(
        self,
        *args: Any,
        plugin: str,
        verb: str,
        config: str | None,
        resources: list[str],
        requested: bool,
        job: str | None,
        by: str,
        **options: Any,
    ) -> None:
        if (config is not None) != (verb == "configure"):
            raise CommandError("--config goes with configure, and configure needs it")
        if (resources or requested) and verb not in ("grant", "refuse"):
            raise CommandError("--resource and --requested go with grant or refuse")
        if (job is not None) != (verb in JOB_VERBS):
            raise CommandError("--job goes with pause-job, resume-job or remove-job, and they need it")
        try:
            row = plugin_row(plugin)
            if verb in ("grant", "refuse"):
                self._decide(row, grant=verb == "grant", resources=resources, requested=requested, by=by)
            elif verb == "configure":
                self._configure(row, config or "", by=by)
            elif verb in JOB_VERBS:
                self._job(row, verb, job or "", by=by)
            else:
                self._switch(row, verb, by=by)
        except (PluginError, ValidationError) as exc:
            raise CommandError(f"{plugin} {verb}: {' '.join(_messages(exc))}") from None
        except CommandError:
            raise
        except Exception as exc:  # the plugin's own on_start/on_stop; recorded as its last error
            raise CommandError(f"{plugin} {verb} failed: {type(exc).__name__}: {exc}") from None

    def _switch(self, row: InstalledPlugin, verb: str, *, by: str) -> None:
        if verb == "start":
            plugin_start(name=row.name, who=by)
            self.stdout.write(f"started {row.name} (on_start ran in this process)")
        elif verb == "stop":
            if not row.enabled:
                self.stdout.write(f"{row.name} is disabled, so it is not running; nothing to stop")
                return
            plugin_stop(name=row.name, who=by)
            self.stdout.write(f"stopped {row.name} (on_stop ran in this process)")
        else:
            plugin_set_enabled(name=row.name, enabled=verb == "enable", who=by)
            self.stdout.write(
                f"enabled {row.name}"
                if verb == "enable"
                else f"disabled {row.name}: its calls and tasks are refused and its jobs paused"
            )

    def _job(self, row: InstalledPlugin, verb: str, job_id: str, *, by: str) -> None:
        if verb == "remove-job":
            plugin_job_remove(name=row.name, job_id=job_id, who=by)
            self.stdout.write(f"removed job {job_id} of {row.name}")
            return
        plugin_job_set_enabled(name=row.name, job_id=job_id, enabled=verb == "resume-job", who=by)
        self.stdout.write(f"{'resumed' if verb == 'resume-job' else 'paused'} job {job_id} of {row.name}")

    def _configure(self, row: InstalledPlugin, text: str, *, by: str) -> None:
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config is not valid JSON: {exc}") from None
        if not isinstance(config, dict):
            raise CommandError(f"--config must be a JSON object, not {type(config).__name__}")
        saved = plugin_configure(name=row.name, config=config, who=by)
        record_action(saved, "Changed config.", by=by)  # what the admin's form save logs
        self.stdout.write(f"configured {row.name}: {dumps(saved.config)}")

    def _decide(
        self, row: InstalledPlugin, *, grant: bool, resources: list[str], requested: bool, by: str
    ) -> None:
        if bool(resources) == requested:
            raise CommandError("say which: --resource RESOURCE (repeatable) or --requested")
        perms = row.permissions.order_by("resource")
        if requested:
            chosen = list(perms.filter(state=PluginPermission.State.REQUESTED))
            if not chosen:
                raise CommandError(f"no permission of {row.name} awaits a decision")
        else:
            chosen = list(perms.filter(resource__in=resources))
            missing = sorted(set(resources) - {p.resource for p in chosen})
            if missing:
                known = ", ".join(perms.values_list("resource", flat=True)) or "none"
                raise CommandError(f"{row.name} has no permission {', '.join(missing)} (it has: {known})")
        with transaction.atomic():  # all of them or, if one cannot be granted, none
            for perm in chosen:
                permission_decide(permission=perm, grant=grant, who=by)
        verb = "granted" if grant else "refused"
        for perm in chosen:
            self.stdout.write(f"{verb} {row.name}: {perm.resource} [{perm.actions}]")


def _messages(exc: Exception) -> list[str]:
    return list(getattr(exc, "messages", None) or [str(exc)])
