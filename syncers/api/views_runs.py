"""Runs: detail with live progress (what the admin's progress bar polls) and cancel."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from syncers.models import SyncRun
from syncers.selectors import run_progress
from syncers.services import run_cancel_request

from .common import audit, errors, load_run, who
from .errors import Conflict
from .serializers import RunOut


def run_data(run: SyncRun) -> dict[str, Any]:
    return {
        **run_progress(run=run),
        "client": run.client.name,
        "trigger": run.trigger,
        "triggered_by": run.triggered_by,
        "forced": run.forced,
        "context": run.context or {},
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "deleted": run.deleted,
        "older": run.older,
        "notes": run.notes,
    }


class RunDetail(APIView):
    @extend_schema(responses={200: RunOut, **errors(401, 403, 404)})
    def get(self, request: Request, run: int) -> Response:
        """Status, phase, pages, batches, counts so far (final once `final` is true), error."""
        return Response(run_data(load_run(request, run)))


class RunCancel(APIView):
    @extend_schema(request=None, responses={200: RunOut, **errors(401, 403, 404, 409)})
    def post(self, request: Request, run: int) -> Response:
        """A queued run ends cancelled at once; a running one stops between pages and batches.
        409 when it has already ended."""
        target = load_run(request, run, "cancel")
        try:
            target = run_cancel_request(run=target, who=who(request))
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        done = target.status == SyncRun.Status.CANCELLED
        audit(request, target.client, f"Cancel run #{target.pk}: {'cancelled' if done else 'requested'}")
        return Response(run_data(target))
