"""The operators' URLs: `/metrics` for Prometheus and the admin's runtime page, both read-only."""
from django.contrib import admin
from django.urls import path

from plugins_core.prometheus import metrics_view
from plugins_core.runtime_admin import runtime_view

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    # Beside the admin's own URLs (config/urls.py puts these first); admin_view sends anyone
    # who is not active staff to the admin's login.
    path("admin/plugyard/runtime/", admin.site.admin_view(runtime_view), name="plugyard-runtime"),
]
