"""The operator console's own admin views: buttons on a client's page (run now, pause, resume,
test fetch, retry failed records), cancel and live progress of a run, and the dashboard.

Each view loads the object, checks the action against syncers.permissions (403 if refused,
405 for a GET where a POST is needed), calls one service, writes an admin log entry and
redirects. No business logic lives here."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from syncers import selectors
from syncers.console import charts, dashboard
from syncers.console.forms import PauseForm, admin_form
from syncers.destinations.deletions import (
    deletions_waiting,
    pending_deletion_approve,
    pending_deletion_reject,
)
from syncers.models import PendingDeletion, SyncClient, SyncRun
from syncers.permissions import may_see_client, sees_all_clients, user_can
from syncers.schedules.cron_preview import cron_preview, interval_preview
from syncers.services import (
    ClientPaused,
    client_disable,
    client_pause,
    client_pause_text,
    client_resume,
    client_schedules_set_enabled,
    client_test_fetch,
    failed_records_retry,
    run_cancel_request,
    sync_run_request,
)
from syncers.wording import counted, deletions_approved, deletions_rejected, named

# How long a test fetch's result page can be reloaded or gone back to.
TEST_FETCH_KEPT_SECONDS = 3600


def _fetch_key(client_pk: int, token: str) -> str:
    return f"syncers:test-fetch:{client_pk}:{token}"


def client_url(client: SyncClient | int) -> str:
    return reverse("admin:syncers_syncclient_change", args=[getattr(client, "pk", client)])


def run_url(run: SyncRun | int) -> str:
    return reverse("admin:syncers_syncrun_change", args=[getattr(run, "pk", run)])


def _require_post(request: HttpRequest) -> HttpResponse | None:
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def retry_and_report(
    model_admin: admin.ModelAdmin, request: HttpRequest, client: SyncClient, ids: list[int] | None
) -> None:
    """Retry a client's failed records (these ids, or all), log it and tell the user how it went."""
    try:
        outcome = failed_records_retry(client=client, who=request.user.get_username(), record_ids=ids)
    except ValueError as exc:
        model_admin.message_user(
            request, f"Did not retry the failed records of {client}: {exc}", messages.ERROR
        )
        return
    run = f"run #{outcome.run.pk}" if outcome.run else "no run"
    model_admin.log_change(
        request,
        client,
        f"Retry failed records: {outcome.staged} re-staged in {run}, {outcome.superseded} superseded",
    )
    text = f"Re-staged {counted(outcome.staged, 'failed record')} of {client}"
    if outcome.superseded:
        text += f", dropped {outcome.superseded} (a newer version is already stored)"
    if outcome.run:
        text = format_html('{} in <a href="{}">run #{}</a>.', text, run_url(outcome.run), outcome.run.pk)
    model_admin.message_user(request, text, messages.SUCCESS)


if TYPE_CHECKING:  # the mixins below see the ModelAdmin they are mixed into
    _ClientAdmin = admin.ModelAdmin[SyncClient]
    _RunAdmin = admin.ModelAdmin[SyncRun]
else:
    _ClientAdmin = _RunAdmin = object


class ClientViews(_ClientAdmin):
    """Mixed into SyncClientAdmin (a ModelAdmin): its extra URLs and their views."""

    admin_site: admin.AdminSite

    def client_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        views: list[tuple[str, Callable[..., HttpResponseBase], str]] = [
            ("<int:pk>/run-now/", self.run_now_view, "run_now"),
            ("<int:pk>/pause/", self.pause_view, "pause"),
            ("<int:pk>/resume/", self.resume_view, "resume"),
            ("<int:pk>/test-fetch/", self.test_fetch_view, "test_fetch"),
            ("<int:pk>/test-fetch/<str:token>/", self.test_fetch_result_view, "test_fetch_result"),
            ("<int:pk>/retry-failed/", self.retry_failed_view, "retry_failed"),
            ("<int:pk>/deletions/<int:held>/<str:decision>/", self.deletions_view, "deletions"),
            ("dashboard/", self.dashboard_view, "dashboard"),
            ("dashboard/health/", self.dashboard_health_view, "dashboard_health"),
            ("cron-preview/", self.cron_preview_view, "cron_preview"),
        ]
        return [path(route, wrap(view), name=f"syncers_syncclient_{name}") for route, view, name in views]

    def _client(self, request: HttpRequest, pk: int, *actions: str) -> SyncClient:
        client = get_object_or_404(SyncClient.objects.select_related("connection"), pk=pk)
        if not all(user_can(request.user, action, client) for action in actions):
            raise PermissionDenied
        return client

    def queue_run(self, request: HttpRequest, client: SyncClient, *, full: bool = False) -> SyncRun | None:
        try:
            run = sync_run_request(client=client, trigger=SyncRun.Trigger.ADMIN, user=request.user, full=full)
        except ClientPaused as exc:  # the admin has no force: sync_run --force is the way round
            self.message_user(
                request, f"{exc}: resume it, or run it once with sync_run --force", messages.ERROR
            )
            return None
        what = "Run a full listing now" if full else "Run now"
        self.log_change(request, client, f"{what}: queued run #{run.pk}")
        self.message_user(
            request,
            format_html('Queued <a href="{}">run #{}</a> of {}.', run_url(run), run.pk, client),
            messages.SUCCESS,
        )
        return run

    def run_now_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if refused := _require_post(request):
            return refused
        client = self._client(request, pk, "run")
        self.queue_run(request, client, full=request.POST.get("full") == "1")
        return HttpResponseRedirect(client_url(client))

    def pause_clients(self, request: HttpRequest, clients: list[SyncClient], form: PauseForm) -> None:
        hours = form.cleaned_data["hours"]
        until = timezone.now() + timedelta(hours=hours) if hours else None
        reason, who = form.cleaned_data["reason"], request.user.get_username()
        disable = form.cleaned_data["disable"]
        for client in clients:
            if disable:
                client_disable(client=client, who=who, reason=reason)
                self.log_change(request, client, f"Disabled: {reason}")
                continue
            client_pause(client=client, who=who, reason=reason, until=until)
            ends = f" until {until:%Y-%m-%d %H:%M %Z}" if until else ""
            self.log_change(request, client, f"Paused{ends}: {reason}")
        done = "Disabled" if disable else "Paused"
        self.message_user(
            request, f"{done} {counted(len(clients), 'client')}: {named(clients)}.", messages.SUCCESS
        )

    def pause_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        client = self._client(request, pk, "pause")
        form = PauseForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            self.pause_clients(request, [client], form)
            return HttpResponseRedirect(client_url(client))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Pause {client.name}",
            "form": form,
            "adminform": admin_form(form),
            "clients": [client],
            "opts": SyncClient._meta,
            "original": client,
        }
        return TemplateResponse(request, "admin/syncers/syncclient/pause.html", context)

    def resume_clients(self, request: HttpRequest, clients: list[SyncClient], *, run_now: bool) -> None:
        quietly = []  # resumed without a run: one message for all of them
        for client in clients:
            run = client_resume(client=client, who=request.user.get_username(), run_now=run_now)
            if run is None and run_now:
                how = f", not run: {client_pause_text(client)}"
                self.message_user(
                    request,
                    f"Resumed {client.name}, but did not run it: {client_pause_text(client)}",
                    messages.WARNING,
                )
            elif run is not None:
                how = f", queued run #{run.pk}"
                self.message_user(
                    request,
                    format_html(
                        'Resumed {} and queued <a href="{}">run #{}</a>.', client.name, run_url(run), run.pk
                    ),
                    messages.SUCCESS,
                )
            else:
                how = " (missed runs skipped)"
                quietly.append(client)
            self.log_change(request, client, f"Resumed{how}")
        if quietly:
            text = (
                f"Resumed {counted(len(quietly), 'client')}: {named(quietly)} (missed runs are not made up)."
            )
            self.message_user(request, text, messages.SUCCESS)

    def set_schedules(self, request: HttpRequest, clients: list[SyncClient], *, enabled: bool) -> None:
        verb = "Enabled" if enabled else "Disabled"
        total = 0
        for client in clients:
            changed = client_schedules_set_enabled(client=client, enabled=enabled)
            total += changed
            if changed:
                self.log_change(request, client, f"{verb} {counted(changed, 'schedule')}")
        self.message_user(
            request,
            f"{verb} {counted(total, 'schedule')} of {counted(len(clients), 'client')}; beat follows.",
        )

    def resume_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if refused := _require_post(request):
            return refused
        run_now = request.POST.get("run_now") == "1"
        client = self._client(request, pk, "pause", *(["run"] if run_now else []))
        self.resume_clients(request, [client], run_now=run_now)
        return HttpResponseRedirect(client_url(client))

    def _test_fetch_client(self, request: HttpRequest, pk: int) -> SyncClient:
        client = get_object_or_404(SyncClient.objects.select_related("connection"), pk=pk)
        if not (user_can(request.user, "run", client) or user_can(request.user, "edit", client)):
            raise PermissionDenied
        return client

    def test_fetch_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST fetches, keeps the result in the cache and redirects to its own URL, so the
        result page survives reload and Back without fetching again."""
        if refused := _require_post(request):
            return refused
        client = self._test_fetch_client(request, pk)
        result = client_test_fetch(client=client)
        outcome = result.error or f"page {result.page}, {counted(result.page_records, 'record')}"
        self.log_change(request, client, f"Test fetch ({result.seconds:.1f}s): {outcome[:200]}")
        token = secrets.token_urlsafe(12)
        kept = {"result": result, "at": timezone.now(), "by": request.user.get_username()}
        cache.set(_fetch_key(client.pk, token), kept, TEST_FETCH_KEPT_SECONDS)
        return HttpResponseRedirect(
            reverse("admin:syncers_syncclient_test_fetch_result", args=[client.pk, token])
        )

    def test_fetch_result_view(self, request: HttpRequest, pk: int, token: str) -> HttpResponse:
        client = self._test_fetch_client(request, pk)
        kept = cache.get(_fetch_key(client.pk, token))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test fetch: {client.name}",
            "result": kept and kept["result"],
            "kept": kept,
            "kept_minutes": TEST_FETCH_KEPT_SECONDS // 60,
            "opts": SyncClient._meta,
            "original": client,
        }
        status = 200 if kept else 404
        return TemplateResponse(request, "admin/syncers/syncclient/test_fetch.html", context, status=status)

    def deletions_view(self, request: HttpRequest, pk: int, held: int, decision: str) -> HttpResponse:
        """Approve (apply exactly the listed keys) or reject deletions the guard held back."""
        if refused := _require_post(request):
            return refused
        client = self._client(request, pk, "edit")
        pending = get_object_or_404(PendingDeletion, pk=held, client=client)
        try:
            if decision == "approve":
                applied = pending_deletion_approve(pending=pending, who=request.user.get_username())
                text = deletions_approved(len(pending.keys), applied, pending.action)
            elif decision == "reject":
                pending_deletion_reject(pending=pending, who=request.user.get_username())
                text = deletions_rejected(len(pending.keys))
            else:
                raise Http404("approve or reject")
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(client_url(client))
        self.log_change(request, client, text)
        self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(client_url(client))

    def retry_failed_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if refused := _require_post(request):
            return refused
        client = self._client(request, pk, "retry")
        retry_and_report(self, request, client, None)
        return HttpResponseRedirect(client_url(client))

    def cron_preview_view(self, request: HttpRequest) -> JsonResponse:
        if not may_see_client(request.user):
            raise PermissionDenied
        if "every" in request.GET:  # an interval row
            preview = interval_preview(request.GET["every"], request.GET.get("period", ""))
        else:
            preview = cron_preview(request.GET.get("cron", ""), request.GET.get("timezone", "UTC"))
        return JsonResponse(
            {
                "words": preview.words,
                "fires": [f.strftime("%a %d %b %Y %H:%M %Z") for f in preview.fires],
                "notes": preview.notes,
                "error": preview.error,
            }
        )

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not sees_all_clients(request.user):
            raise PermissionDenied
        now = timezone.now()
        week = now - timedelta(days=7)
        context = {
            **self.admin_site.each_context(request),
            "title": "Sync dashboard",
            "opts": SyncClient._meta,
            "hourly": charts.stacked_bars(
                dashboard.runs_per_bucket(unit="hour", count=24, now=now),
                label_format="%H:%M",
                title="runs per hour",
            ),
            "daily": charts.stacked_bars(
                dashboard.runs_per_bucket(unit="day", count=14, now=now),
                label_format="%d %b",
                title="runs per day",
            ),
            "legend": charts.legend(),
            "day_totals": dashboard.records_synced(since=now - timedelta(days=1)),
            "week_totals": dashboard.records_synced(since=week),
            "slowest": dashboard.slowest_clients(since=week),
            "failing": dashboard.most_failing_clients(since=week),
            # Pinging workers waits about a second for replies: the page asks for the health
            # checks separately (dashboard_health_view) so it renders without that wait.
            "checks": dashboard.HEALTH_CHECKS,
        }
        return TemplateResponse(request, "admin/syncers/dashboard.html", context)

    def dashboard_health_view(self, request: HttpRequest) -> JsonResponse:
        if not sees_all_clients(request.user):
            raise PermissionDenied
        checks = dashboard.health_checks()
        return JsonResponse({"checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]})


class RunViews(_RunAdmin):
    """Mixed into SyncRunAdmin: live progress (JSON) and cancel."""

    admin_site: admin.AdminSite

    def run_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/progress/", wrap(self.progress_view), name="syncers_syncrun_progress"),
            path("<int:pk>/cancel/", wrap(self.cancel_view), name="syncers_syncrun_cancel"),
        ]

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        run = get_object_or_404(SyncRun.objects.select_related("client"), pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return JsonResponse(selectors.run_progress(run=run))

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if refused := _require_post(request):
            return refused
        run = get_object_or_404(SyncRun.objects.select_related("client"), pk=pk)
        if not user_can(request.user, "cancel", run.client):
            raise PermissionDenied
        try:
            run = run_cancel_request(run=run, who=request.user.get_username())
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            done = run.status == SyncRun.Status.CANCELLED
            text = (
                f"Cancelled run #{run.pk}."
                if done
                else f"Cancel requested for run #{run.pk}: it stops between pages and batches."
            )
            # Logged in the client's history, where operators look for what was done to it.
            self.log_change(
                request,
                run.client,  # type: ignore[arg-type]
                f"Cancel run #{run.pk}: {'cancelled' if done else 'requested'}",
            )
            self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(safe_next(request) or run_url(run))


def safe_next(request: HttpRequest) -> str | None:
    """The form's `next` if it stays on this site (never an open redirect), else None."""
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else None


def client_console(request: HttpRequest, client: SyncClient) -> dict[str, Any]:
    """What the client page shows above the form: actions allowed, current run, failures."""
    active = selectors.client_active_run(client=client)
    user = request.user
    return {
        "can": {
            action: user_can(user, action, client) for action in ("run", "pause", "cancel", "retry", "edit")
        },
        "active_run": active,
        "progress": selectors.run_progress(run=active) if active else None,
        "failed_count": selectors.client_failed_count(client=client),
        "paused": client.state != SyncClient.State.ACTIVE,
        "deletions_waiting": deletions_waiting(client) if client.destination else None,
        "run_refused": client_pause_text(client),  # the Run now button is disabled with this title
    }
