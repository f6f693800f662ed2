"""Top-level URLs: the admin, the API and its docs, plugin routes, the marketplace."""
from django.contrib import admin
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


def healthz(request):
    """200 when the web process is up and its database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def readyz(request):
    """200 when events and jobs are moving, else 503 naming what is stuck (plugins_core/health.py)."""
    from plugins_core import health

    body = health.report(health.readiness())
    return JsonResponse(body, status=200 if body["status"] == "ready" else 503)


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("", include("plugins_core.runtime_urls")),  # /metrics and /admin/plugyard/runtime/
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("plugins_core.urls")),
    path("api/", include("tenants.urls")),
    path("ext/", include("plugins_core.ext_urls")),
    path("api/", include("devices.urls")),
    path("api/", include("plugins_core.host.urls")),
    path("", include("tenants.page_urls")),  # /members/ and /accounts/set-password/
    path("", include("marketplace.urls")),
]
