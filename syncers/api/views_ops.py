"""Failed records (list, retry), deletions held by the mass-deletion guard (list, approve,
reject), plugin actions and health: the services the admin, `sync_failed`,
`sync_retry_failed`, `sync_deletions`, `plugin_call` and `sync_status` call."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from syncers import selectors
from syncers.destinations.deletions import (
    deletions_waiting,
    pending_deletion_approve,
    pending_deletion_reject,
)
from syncers.models import FailedRecord, PendingDeletion
from syncers.models.plugins import InstalledPlugin
from syncers.ops.status import health_report
from syncers.permissions import may_see_rows, sees_all_clients
from syncers.plugins import PluginError
from syncers.plugins.operations import UnknownJob, plugin_call, plugin_job_set_enabled
from syncers.plugins.services.scheduler import describe_jobs
from syncers.services import failed_records_retry
from syncers.wording import deletions_approved, deletions_rejected

from .common import MAX_ID, audit, errors, load_client, refuse, valid, who
from .errors import Conflict
from .serializers import (
    DecisionOut,
    DeletionsOut,
    ErrorOut,
    FailedListOut,
    FailedQuery,
    HealthOut,
    PluginActionOut,
    PluginJobOut,
    PluginJobsOut,
    RetryIn,
    RetryOut,
)


class FailedList(APIView):
    @extend_schema(parameters=[FailedQuery], responses={200: FailedListOut, **errors(400, 401, 403, 404)})
    def get(self, request: Request, client: str) -> Response:
        """The client's failed records, newest first, payloads included (as `sync_failed --json`)."""
        target = load_client(request, client)
        if not may_see_rows(request.user, FailedRecord, target.pk):
            raise refuse(request.user, f"see failed records of {target.name}")
        limit = valid(FailedQuery, request.query_params.dict())["limit"]
        rows = selectors.client_failed_records(client=target, limit=limit)
        total = selectors.client_failed_count(client=target)
        return Response({"client": target.name, "total": total, "failed": rows})


class FailedRetry(APIView):
    @extend_schema(request=RetryIn, responses={200: RetryOut, **errors(400, 401, 403, 404, 409, 415)})
    def post(self, request: Request, client: str) -> Response:
        """Re-stage failed records (these ids, or all) as batches of a new run. 409 while a run
        is queued or running, while the client is failing, or when none are left."""
        target = load_client(request, client, "retry")
        ids = valid(RetryIn, request.data).get("ids")
        try:
            outcome = failed_records_retry(client=target, who=who(request), record_ids=ids)
        except ValueError as exc:
            raise Conflict(f"{target.name}: {exc}") from None
        run = f"run #{outcome.run.pk}" if outcome.run else "no run"
        audit(
            request,
            target,
            f"Retry failed records: {outcome.staged} re-staged in {run}, {outcome.superseded} superseded",
        )
        body = {
            "staged": outcome.staged,
            "superseded": outcome.superseded,
            "run": getattr(outcome.run, "pk", None),
        }
        return Response(body)


def _pending(held: PendingDeletion | None) -> dict[str, Any] | None:
    if held is None:
        return None
    return {
        "id": held.pk,
        "action": held.action,
        "reason": held.reason,
        "run": held.run_id,
        "created_at": held.created_at,
        "keys": held.keys,
    }


class Deletions(APIView):
    @extend_schema(responses={200: DeletionsOut, **errors(401, 403, 404)})
    def get(self, request: Request, client: str) -> Response:
        """Deletions waiting for approval, with their keys (as `sync_deletions --list`); null: none."""
        target = load_client(request, client)
        held = deletions_waiting(target) if target.destination else None
        return Response({"client": target.name, "waiting": _pending(held)})


class DeletionDecision(APIView):
    decision = ""

    @extend_schema(request=None, responses={200: DecisionOut, **errors(401, 403, 404, 409)})
    def post(self, request: Request, client: str, held: int) -> Response:
        """Approve (exactly the listed keys are applied) or reject (the rows stay). Needs edit."""
        target = load_client(request, client, "edit")
        pending = PendingDeletion.objects.filter(pk=held, client=target).first() if held <= MAX_ID else None
        if pending is None:
            raise exceptions.NotFound(f"held: no held deletions #{held} of {target.name}")
        applied = None
        try:
            if self.decision == "approve":
                applied = pending_deletion_approve(pending=pending, who=who(request))
                text = deletions_approved(len(pending.keys), applied, pending.action)
            else:
                pending_deletion_reject(pending=pending, who=who(request))
                text = deletions_rejected(len(pending.keys))
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        audit(request, target, text)
        body = {
            "client": target.name,
            "decision": self.decision,
            "keys": len(pending.keys),
            "applied": applied,
            "message": text,
        }
        return Response(body)


class PluginAction(APIView):
    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={
            200: PluginActionOut,
            422: OpenApiResponse(
                ErrorOut, description="The plugin's action raised an error (recorded on its run)."
            ),
            **errors(400, 401, 403, 404, 409, 415),
        },
    )
    def post(self, request: Request, name: str, action: str) -> Response:
        """Call a plugin's action with the body as its JSON payload (as the admin's "call an
        action" page and `plugin_call`). Needs the change permission on installed plugins.
        409 when the plugin refuses (disabled, a permission not granted)."""
        plugin = installed_plugin(name)
        if not request.user.has_perm("syncers.change_installedplugin"):
            raise refuse(request.user, f"call actions of plugin {plugin.name}")
        if action not in plugin.actions:
            raise exceptions.ValidationError({"action": [f"one of {', '.join(plugin.actions) or 'none'}"]})
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"payload": ["the body must be a JSON object"]})
        try:
            result = plugin_call(
                name=plugin.name, action=action, payload=dict(request.data), who=who(request)
            )
        except (PluginError, ValidationError) as exc:
            raise Conflict(" ".join(getattr(exc, "messages", None) or [str(exc)])) from None
        except Exception as exc:  # the plugin's own code failed: recorded on its plugin run
            raise ActionFailed(f"{plugin.name} {action} failed: {type(exc).__name__}: {exc}") from None
        return Response({"plugin": plugin.name, "action": action, "result": result})


def installed_plugin(name: str) -> InstalledPlugin:
    plugin = InstalledPlugin.objects.filter(name=name[:200]).first() if "\x00" not in name else None
    if plugin is None:
        raise exceptions.NotFound(f"name: no installed plugin '{name[:100]}'")
    return plugin


class PluginJobs(APIView):
    @extend_schema(responses={200: PluginJobsOut, **errors(401, 403, 404)})
    def get(self, request: Request, name: str) -> Response:
        """The plugin's jobs with their method, arguments, schedule and next run (what its
        `ctx.scheduler.jobs()` returns, as its admin page and `plugins --json` show them).
        Needs the view (or change) permission on installed plugins."""
        plugin = installed_plugin(name)
        user = request.user
        if not (
            user.has_perm("syncers.view_installedplugin") or user.has_perm("syncers.change_installedplugin")
        ):
            raise refuse(user, f"see plugin {plugin.name}")
        return Response({"plugin": plugin.name, "jobs": describe_jobs(plugin.name)})


class PluginJobSwitch(APIView):
    enabled: bool = False  # set per route: pause or resume

    @extend_schema(request=None, responses={200: PluginJobOut, **errors(401, 403, 404)})
    def post(self, request: Request, name: str, job: str) -> Response:
        """Pause or resume one of the plugin's jobs (its `pause_job` / `resume_job`, as
        `plugin_ctl <plugin> pause-job|resume-job`), written to the plugin audit log. Needs
        the change permission on installed plugins."""
        plugin = installed_plugin(name)
        if not request.user.has_perm("syncers.change_installedplugin"):
            raise refuse(request.user, f"change jobs of plugin {plugin.name}")
        try:
            described = plugin_job_set_enabled(
                name=plugin.name, job_id=job, enabled=self.enabled, who=who(request)
            )
        except UnknownJob as exc:
            raise exceptions.NotFound(f"job: {exc}") from None
        return Response(described)


class ActionFailed(exceptions.APIException):
    status_code = 422
    default_code = "action_failed"


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
def no_such_endpoint(request: Request) -> Response:
    raise exceptions.NotFound(f"no API endpoint {request.path[:200]} (see /api/docs/)")


class Health(APIView):
    @extend_schema(
        responses={
            200: HealthOut,
            503: OpenApiResponse(HealthOut, description="Unhealthy: `sync_status` would exit 1."),
            **errors(401, 403),
        }
    )
    def get(self, request: Request) -> Response:
        """The document `sync_status --json` prints; 200 when healthy, 503 when something needs
        an operator (where `sync_status` exits 1). Needs the view permission on every client."""
        if not sees_all_clients(request.user):
            raise refuse(request.user, "see the health of every client")
        report = health_report()
        return Response(report.as_dict(), status=200 if report.healthy else 503)
