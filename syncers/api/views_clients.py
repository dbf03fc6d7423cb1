"""Clients: list, detail, run now, pause, resume. Each calls the service the admin's button
and the command call, and writes the admin's log entry."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from syncers import selectors
from syncers.models import SyncClient, SyncRun
from syncers.ops.status import client_status
from syncers.permissions import may_see_client, user_can, visible_client_ids
from syncers.run_context import extras_note
from syncers.services import (
    ClientPaused,
    client_disable,
    client_pause,
    client_pause_text,
    client_resume,
    sync_run_request,
)

from .common import actions_of, audit, errors, load_client, refuse, valid, who
from .errors import Conflict
from .serializers import (
    ClientDetailOut,
    ClientOut,
    ClientPageOut,
    ErrorOut,
    ListQuery,
    PauseIn,
    ResumeIn,
    ResumeOut,
    RunNowIn,
    RunQueuedOut,
)


def client_data(
    request: Request, client: SyncClient, *, active_run: int | bool | None = False
) -> dict[str, Any]:
    """What the client list shows of one client (no connection, config or credentials)."""
    if active_run is False:
        run = selectors.client_active_run(client=client)
        active_run = run.pk if run else None
    return {
        "id": client.pk,
        "name": client.name,
        "description": client.description,
        "handler": client.handler,
        "queue": client.queue,
        "state": client.state,
        "state_label": client.get_state_display(),
        "pause_reason": client.pause_reason,
        "paused_by": client.paused_by,
        "paused_until": client.paused_until,
        "run_refused": client_pause_text(client),
        "active_run": active_run,
        "actions": actions_of(request, client),
    }


class ClientList(APIView):
    @extend_schema(
        operation_id="clients_list",
        parameters=[ListQuery],
        responses={200: ClientPageOut, **errors(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        """The clients the token's user may see (as the admin's client list), by name."""
        if not may_see_client(request.user):
            raise refuse(request.user, "see any sync client")
        page = valid(ListQuery, request.query_params.dict())
        qs = SyncClient.objects.order_by("name")
        visible = visible_client_ids(request.user)
        if visible is not None:
            qs = qs.filter(pk__in=visible)
        total = qs.count()
        rows = selectors.client_list_queryset(qs)[page["offset"] : page["offset"] + page["limit"]]
        # active_run_id: annotated by selectors.client_list_queryset
        results = [client_data(request, c, active_run=c.active_run_id) for c in rows]  # type: ignore[attr-defined]
        return Response({"count": total, "results": results})


class ClientDetail(APIView):
    @extend_schema(responses={200: ClientDetailOut, **errors(401, 403, 404)})
    def get(self, request: Request, client: str) -> Response:
        """State, pause, next fires of each schedule, last run (as `sync_status <client>`)."""
        target = load_client(request, client)
        status_ = client_status(target)
        detail = {
            **client_data(request, target),
            **{k: status_[k] for k in ("error_level", "failures_in_a_row", "needs_operator", "last_run")},
            "schedules": status_["schedules"],
            "deletions_waiting": status_["deletions_waiting"],
            "failed_records": selectors.client_failed_count(client=target),
        }
        return Response(detail)


class RunNow(APIView):
    @extend_schema(
        request=RunNowIn,
        responses={
            202: RunQueuedOut,
            409: OpenApiResponse(
                ErrorOut, description="The client is paused: `reason` says why (send force: true)."
            ),
            **errors(400, 401, 403, 404, 415),
        },
    )
    def post(self, request: Request, client: str) -> Response:
        """Queue a run now, through the same queue and pipeline as a scheduled run."""
        target = load_client(request, client, "run")
        data = valid(RunNowIn, request.data)
        if data["force"] and not user_can(request.user, "pause", target):
            # Running past a pause overrides it: in the admin only who may pause can (resume,
            # then run), so force needs the pause permission as well as run.
            raise refuse(
                request.user, f"force a run of client {target.name} past its pause (needs pause too)"
            )
        try:
            run = sync_run_request(
                client=target,
                trigger=SyncRun.Trigger.API,
                user=request.user,
                force=data["force"],
                params=data["params"],
                full=data["full"],
            )
        except ClientPaused as exc:
            raise PausedConflict(exc) from None
        except DjangoValidationError as exc:  # params that do not fit the client's source
            raise exceptions.ValidationError({"params": exc.messages}) from None
        what = "Run once anyway although paused" if run.forced else "Run now"
        audit(request, target, f"{what}: queued run #{run.pk}{extras_note(run.context)}")
        body = {
            "run": run.pk,
            "client": target.name,
            "status": run.status,
            "forced": run.forced,
            "url": reverse("api-run", args=[run.pk]),
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class PausedConflict(Conflict):
    def __init__(self, exc: ClientPaused) -> None:
        super().__init__(f"{exc}: resume it or send force: true")
        self.reason = exc.reason


class Pause(APIView):
    @extend_schema(request=PauseIn, responses={200: ClientOut, **errors(400, 401, 403, 404, 415)})
    def post(self, request: Request, client: str) -> Response:
        """Pause (scheduled runs are recorded as skipped) until resumed or `until`; or disable."""
        target = load_client(request, client, "pause")
        data = valid(PauseIn, request.data)
        reason, until = data["reason"], data.get("until")
        if data["disable"]:
            target = client_disable(client=target, who=who(request), reason=reason)
            audit(request, target, f"Disabled: {reason}")
        else:
            target = client_pause(client=target, who=who(request), reason=reason, until=until)
            ends = f" until {until:%Y-%m-%d %H:%M %Z}" if until else ""
            audit(request, target, f"Paused{ends}: {reason}")
        return Response(client_data(request, target))


class Resume(APIView):
    @extend_schema(request=ResumeIn, responses={200: ResumeOut, **errors(400, 401, 403, 404, 415)})
    def post(self, request: Request, client: str) -> Response:
        """Back to active; missed runs are not made up. run_now: one run at once."""
        data = valid(ResumeIn, request.data)
        target = load_client(request, client, "pause", *(["run"] if data["run_now"] else []))
        run = client_resume(client=target, who=who(request), run_now=data["run_now"])
        not_run = client_pause_text(target) if data["run_now"] and run is None else ""
        if not_run:
            how = f", not run: {not_run}"
        else:
            how = f", queued run #{run.pk}" if run else " (missed runs skipped)"
        audit(request, target, f"Resumed{how}")
        return Response(
            {"client": client_data(request, target), "run": run.pk if run else None, "not_run": not_run}
        )
