"""/api/…: the schema, its Swagger UI page, and the endpoints (see docs/concepts/http-api.md)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views_clients as clients
from . import views_ops as ops
from . import views_runs as runs

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs page is for people: not logged in as staff, go to the admin's login first.
    path(
        "docs/", staff_member_required(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"
    ),
    path("health/", ops.Health.as_view(), name="api-health"),
    path("clients/", clients.ClientList.as_view(), name="api-clients"),
    path("clients/<str:client>/", clients.ClientDetail.as_view(), name="api-client"),
    path("clients/<str:client>/run/", clients.RunNow.as_view(), name="api-client-run"),
    path("clients/<str:client>/pause/", clients.Pause.as_view(), name="api-client-pause"),
    path("clients/<str:client>/resume/", clients.Resume.as_view(), name="api-client-resume"),
    path("clients/<str:client>/failed-records/", ops.FailedList.as_view(), name="api-failed"),
    path("clients/<str:client>/failed-records/retry/", ops.FailedRetry.as_view(), name="api-failed-retry"),
    path("clients/<str:client>/deletions/", ops.Deletions.as_view(), name="api-deletions"),
    path(
        "clients/<str:client>/deletions/<int:held>/approve/",
        ops.DeletionDecision.as_view(decision="approve"),
        name="api-deletions-approve",
    ),
    path(
        "clients/<str:client>/deletions/<int:held>/reject/",
        ops.DeletionDecision.as_view(decision="reject"),
        name="api-deletions-reject",
    ),
    path("runs/<int:run>/", runs.RunDetail.as_view(), name="api-run"),
    path("runs/<int:run>/cancel/", runs.RunCancel.as_view(), name="api-run-cancel"),
    path("plugins/<str:name>/actions/<str:action>", ops.PluginAction.as_view(), name="api-plugin-action"),
    path("plugins/<str:name>/jobs/", ops.PluginJobs.as_view(), name="api-plugin-jobs"),
    path(
        "plugins/<str:name>/jobs/<str:job>/pause/",
        ops.PluginJobSwitch.as_view(enabled=False),
        name="api-plugin-job-pause",
    ),
    path(
        "plugins/<str:name>/jobs/<str:job>/resume/",
        ops.PluginJobSwitch.as_view(enabled=True),
        name="api-plugin-job-resume",
    ),
    re_path(r"", ops.no_such_endpoint),  # a JSON 404 for any other path under /api/, not an HTML page
]
