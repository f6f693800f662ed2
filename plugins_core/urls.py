from django.urls import include, path

from plugins_core import api, dev_api
from plugins_core.events import api as events_api
from plugins_core.webhooks import api as webhooks_api

urlpatterns = [
    path("", include("plugins_core.jobs.urls")),
    path("events/", events_api.EventListView.as_view(), name="event-list"),
    path("events/catalog", events_api.EventCatalogView.as_view(), name="event-catalog"),
    # <str:>, not <int:>: a non-integer id is a 400 naming it, not a 404 from the resolver.
    path("events/<str:pk>", events_api.EventDetailView.as_view(), name="event-detail"),
    path("invocations", events_api.TenantInvocationListView.as_view(), name="invocation-list"),
    path("invocations/<int:pk>/replay", dev_api.ReplayView.as_view(), name="invocation-replay"),
    path("me", api.MeView.as_view(), name="me"),
    path("plugins/", api.InstallationListView.as_view(), name="plugin-list"),
    path("plugins/upload", api.UploadView.as_view(), name="plugin-upload"),
    path("plugins/dev", dev_api.NewDevBuildView.as_view(), name="plugin-dev-new"),
    path("plugins/test-event", events_api.TestEventView.as_view(), name="plugin-test-event"),
    path("plugins/<int:pk>", api.InstallationDetailView.as_view(), name="plugin-detail"),
    path("plugins/<int:pk>/", api.InstallationDetailView.as_view()),
    path("plugins/<int:pk>/enable", api.InstallationEnableView.as_view(), name="plugin-enable"),
    path("plugins/<int:pk>/disable", api.InstallationDisableView.as_view(), name="plugin-disable"),
    path("plugins/<int:pk>/submit", api.InstallationSubmitView.as_view(), name="plugin-submit"),
    path("plugins/<int:pk>/secrets", api.InstallationSecretListView.as_view(), name="plugin-secrets"),
    path("plugins/<int:pk>/secrets/<str:name>", api.InstallationSecretView.as_view(), name="plugin-secret"),
    path("plugins/<int:pk>/config", api.InstallationConfigView.as_view(), name="plugin-config"),
    path("plugins/<int:pk>/dev", dev_api.DevBuildView.as_view(), name="plugin-dev"),
    path("plugins/<int:pk>/invocations", events_api.InvocationListView.as_view(), name="plugin-invocations"),
    path("plugins/<int:pk>/webhooks/deliveries", webhooks_api.DeliveryListView.as_view(), name="plugin-webhook-deliveries"),
    path("plugins/<int:pk>/webhooks/deliveries/<int:delivery_id>", webhooks_api.DeliveryDetailView.as_view(),
         name="plugin-webhook-delivery"),
    path("plugins/<int:pk>/webhooks/deliveries/<int:delivery_id>/redeliver", webhooks_api.RedeliverView.as_view(),
         name="plugin-webhook-redeliver"),
]
