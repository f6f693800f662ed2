"""Product endpoints that raise events, mounted under /api/."""
from django.urls import path

from plugins_core.host import product_api

urlpatterns = [
    path("files/", product_api.FileListView.as_view(), name="file-list"),
    path("files/<path:path>", product_api.FileDetailView.as_view(), name="file-detail"),
    path("webhooks/inbound/<str:source>", product_api.InboundWebhookView.as_view(), name="webhook-inbound"),
]
