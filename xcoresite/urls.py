from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from syncers.hooks import receive
from syncers.views import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("syncers.api.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("hooks/<slug:name>/", receive, name="sync-hook"),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
