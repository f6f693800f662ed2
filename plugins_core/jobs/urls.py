"""Job endpoints, under /api/ (included by plugins_core.urls)."""
from django.urls import path

from plugins_core.jobs import api

urlpatterns = [
    path("plugins/<int:pk>/jobs", api.JobListView.as_view(), name="plugin-jobs"),
    path("plugins/<int:pk>/jobs/<str:name>/run-now", api.RunNowView.as_view(), name="plugin-job-run-now"),
    path("plugins/<int:pk>/job-runs", api.JobRunListView.as_view(), name="plugin-job-runs"),
    path("plugins/<int:pk>/job-runs/<int:run_id>", api.JobRunDetailView.as_view(), name="plugin-job-run"),
]
